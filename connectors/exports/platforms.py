"""The built-in platform exports: one table per platform's campaign-by-day report.

Titles are the ones each platform's reporting UI writes in its English export (and VK's in
Russian too), several per column where the platform has renamed it or offers variants. Dates
and decimals are as each platform writes them; a trailing total row is skipped wherever it
appears (see :mod:`connectors.exports.reading`). The social counts (reach, video views,
engagements, reactions, comments, shares, follows) are taken where an export has them.
"""

from __future__ import annotations

from connectors.exports import Format

TIKTOK = Format(
    name="tiktok",
    network="tiktok",
    description="TikTok Ads Manager custom report, campaign by day",
    titles={
        "date": ["By Day", "Date", "Stat time day"],
        "account_id": ["Advertiser ID", "Account ID"],
        "campaign_id": ["Campaign ID"],
        "campaign_name": ["Campaign name", "Campaign"],
        "currency": ["Currency"],
        "spend": ["Cost", "Total cost"],
        "impressions": ["Impressions"],
        "clicks": ["Clicks (destination)", "Clicks"],
        "conversions": ["Conversions", "Complete payment"],
        "revenue": ["Total complete payment value", "Total purchase value", "Purchase value"],
        "daily_budget": ["Campaign budget", "Budget"],
        "reach": ["Reach"],
        "video_views": ["Video views"],
        "reactions": ["Paid likes"],
        "comments": ["Paid comments"],
        "shares": ["Paid shares"],
        "follows": ["Paid follows"],
    },
    date_forms=("%Y-%m-%d", "%Y-%m-%d %H:%M:%S"),
)

SNAPCHAT = Format(
    name="snapchat",
    network="snapchat",
    description="Snapchat Ads Manager campaign report, daily",
    titles={
        "date": ["Start time"],
        "account_id": ["Ad account ID", "Account ID"],
        "campaign_id": ["Campaign ID"],
        "campaign_name": ["Campaign name", "Campaign"],
        "currency": ["Currency"],
        "spend": ["Amount spent"],
        "impressions": ["Paid impressions", "Impressions"],
        "clicks": ["Swipe ups", "Swipes"],
        "conversions": ["Purchases"],
        "revenue": ["Purchases value", "Purchase value"],
        "daily_budget": ["Campaign daily budget", "Daily budget"],
        "reach": ["Paid reach", "Reach"],
        "video_views": ["Video views"],
        "shares": ["Shares"],
    },
    date_forms=("%m/%d/%Y", "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M:%S"),
)

X = Format(
    name="x",
    network="x",
    description="X Ads campaign dashboard export, daily segments",
    titles={
        "date": ["Time", "Time period"],
        "account_id": ["Account ID", "Ads account ID"],
        "campaign_id": ["ID", "Campaign ID"],
        "campaign_name": ["Campaign", "Campaign name"],
        "currency": ["Currency"],
        "spend": ["Spend"],
        "impressions": ["Impressions"],
        "clicks": ["Clicks", "Link clicks"],
        "conversions": ["Conversions", "Website conversions", "Purchases"],
        "revenue": ["Sale amount", "Conversion sale amount", "Purchase value"],
        "daily_budget": ["Daily budget", "Campaign daily budget"],
        "engagements": ["Engagements"],
        "video_views": ["Video views"],
        "reactions": ["Likes"],
        "comments": ["Replies"],
        "shares": ["Reposts", "Retweets"],
        "follows": ["Follows"],
    },
    date_forms=("%Y-%m-%d", "%m/%d/%Y", "%b %d, %Y", "%Y-%m-%d %H:%M:%S"),
)

LINKEDIN = Format(
    name="linkedin",
    network="linkedin",
    description="LinkedIn Campaign Manager campaign performance report, daily",
    titles={
        "date": ["Start Date (in UTC)", "Start Date", "Day"],
        "account_id": ["Account ID"],
        "campaign_id": ["Campaign ID"],
        "campaign_name": ["Campaign Name", "Campaign"],
        "currency": ["Currency"],
        "spend": ["Total Spent"],
        "impressions": ["Impressions"],
        "clicks": ["Clicks"],
        "conversions": ["Conversions"],
        "revenue": ["Total Conversion Value", "Conversion Value"],
        "daily_budget": ["Daily Budget"],
        "reach": ["Reach"],
        "video_views": ["Video Views"],
        "engagements": ["Total Engagements"],
        "reactions": ["Reactions"],
        "comments": ["Comments"],
        "shares": ["Shares"],
        "follows": ["Follows"],
    },
    date_forms=("%m/%d/%Y", "%Y-%m-%d"),
    # The report lines above the header name the account: "Account: NAME (ID)", or the id
    # alone, or "Account ID: ID".
    account_lines=(
        r"account(?: name)?:\s*.*\((?P<id>[0-9]+)\)",
        r"account(?: id)?:\s*(?P<id>[0-9]+)",
    ),
)

VK = Format(
    name="vk",
    network="vk",
    description="VK Ads statistics export by day (Russian or English titles)",
    titles={
        "date": ["Дата", "Date", "Day"],
        "account_id": ["ID кабинета", "Account ID"],
        "campaign_id": ["ID кампании", "Campaign ID"],
        "campaign_name": ["Кампания", "Название кампании", "Campaign", "Campaign name"],
        "currency": ["Валюта", "Currency"],
        "spend": ["Потрачено", "Расход", "Spent"],
        "impressions": ["Показы", "Shows", "Impressions"],
        "clicks": ["Клики", "Clicks"],
        "conversions": ["Результаты", "Конверсии", "Results", "Conversions"],
        "revenue": ["Доход", "Ценность конверсий", "Revenue", "Conversion value"],
        "daily_budget": ["Дневной бюджет", "Daily budget"],
        "reach": ["Охват", "Reach"],
    },
    date_forms=("%d.%m.%Y", "%Y-%m-%d"),
)

META = Format(
    name="meta",
    network="meta",
    description="Meta Ads Manager export (campaigns, breakdown by day)",
    titles={
        "date": ["Day", "Reporting starts"],
        "account_id": ["Account ID"],
        "campaign_id": ["Campaign ID"],
        "campaign_name": ["Campaign name"],
        "currency": ["Currency"],
        "spend": ["Amount spent"],  # "Amount spent (EUR)": the currency from the title
        "impressions": ["Impressions"],
        "clicks": ["Link clicks", "Clicks (all)"],
        "conversions": ["Purchases", "Results"],
        "revenue": ["Purchases conversion value", "Purchase conversion value"],
        "daily_budget": ["Campaign budget", "Ad set budget"],
        "reach": ["Reach"],
        "video_views": ["3-second video plays"],
        "engagements": ["Post engagements"],
        "reactions": ["Post reactions"],
        "comments": ["Post comments"],
        "shares": ["Post shares"],
        "follows": ["Page likes", "Follows or likes"],
    },
    date_forms=("%Y-%m-%d",),
)

GOOGLE = Format(
    name="google",
    network="google",
    description="Google Ads report download (campaigns, segmented by day)",
    titles={
        "date": ["Day"],
        "account_id": ["Customer ID", "Account ID"],
        "campaign_id": ["Campaign ID"],
        "campaign_name": ["Campaign"],
        "currency": ["Currency code", "Currency"],
        "spend": ["Cost"],
        "impressions": ["Impr.", "Impressions"],
        "clicks": ["Clicks"],
        "conversions": ["Conversions"],
        "revenue": ["Conv. value", "Conversion value"],
        "daily_budget": ["Budget"],
        "video_views": ["Views", "Video views"],
        "engagements": ["Engagements"],
    },
    date_forms=("%Y-%m-%d", "%b %d, %Y", "%A, %B %d, %Y"),
)

PLATFORMS: dict[str, Format] = {
    f.name: f for f in (TIKTOK, SNAPCHAT, X, LINKEDIN, VK, META, GOOGLE)
}
