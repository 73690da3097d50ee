"""What result a campaign buys, read from its platform's own settings.

A campaign's result kind says what its response curve counts and what the value objective
prices it by: ``conversions``, ``revenue``, ``reach``, ``engagement`` or ``video_views``.
A platform names a campaign's purpose in its own terms (Meta's campaign objective, Google's
channel and bidding strategy); each connector reads them here. A platform never says
"revenue": a sales campaign is ``conversions`` here, and the service values it by revenue
where the portfolio asks for that.
"""

from __future__ import annotations

from typing import Literal

ResultKind = Literal["conversions", "revenue", "reach", "engagement", "video_views"]
RESULT_KINDS: tuple[ResultKind, ...] = (
    "conversions", "revenue", "reach", "engagement", "video_views",
)

# Meta's campaign objectives (the outcome-based ones and the original ones campaigns created
# before Graph v17 still carry). Every other objective (sales, leads, traffic, app
# promotion, messages, ...) buys conversions.
_META: dict[str, ResultKind] = {
    "OUTCOME_AWARENESS": "reach",
    "REACH": "reach",
    "BRAND_AWARENESS": "reach",
    "LOCAL_AWARENESS": "reach",
    "OUTCOME_ENGAGEMENT": "engagement",
    "POST_ENGAGEMENT": "engagement",
    "PAGE_LIKES": "engagement",
    "EVENT_RESPONSES": "engagement",
    "VIDEO_VIEWS": "video_views",
}

# Google Ads bidding strategy types that pay per thousand impressions or per view.
_GOOGLE_CPM = frozenset({"TARGET_CPM", "MANUAL_CPM", "FIXED_CPM"})
_GOOGLE_CPV = frozenset({"TARGET_CPV", "MANUAL_CPV"})
_GOOGLE_AWARENESS_CHANNELS = frozenset({"VIDEO", "DISPLAY"})


def meta_result_kind(objective: str | None) -> ResultKind:
    """A Meta campaign's result, from its ``objective``."""
    return _META.get((objective or "").upper(), "conversions")


def google_result_kind(channel: str | None, bidding: str | None) -> ResultKind:
    """A Google Ads campaign's result, from ``advertising_channel_type`` and
    ``bidding_strategy_type``: a video or display campaign bidding per thousand impressions
    buys reach, one bidding per view buys video views; the rest (search, shopping,
    performance max, conversion-based bidding) buys conversions."""
    channel, bidding = (channel or "").upper(), (bidding or "").upper()
    if channel in _GOOGLE_AWARENESS_CHANNELS and bidding in _GOOGLE_CPM:
        return "reach"
    if bidding in _GOOGLE_CPV:
        return "video_views"
    return "conversions"
