"""Which Meta conversion action types contain which, so a config never counts one twice.

Meta reports one event under several action types at once: ``purchase`` and
``omni_purchase`` are totals across the channels an event can come from (the website pixel
or Conversions API, the app, on-Facebook shops, offline), and each channel also has its own
type (``offsite_conversion.fb_pixel_purchase``, ``app_custom_event.fb_mobile_purchase``,
``onsite_web_purchase``, ``onsite_web_app_purchase``, ``onsite_conversion.purchase``,
``offline_conversion.purchase``). Summing a total with one of its parts, or two totals
(``omni_purchase`` already holds ``purchase``), doubles conversions and revenue. Two parts of
one family (pixel and app purchases) do not overlap and may be listed together.
"""

from __future__ import annotations

from collections.abc import Iterable

# Prefixes of the per-channel types, longest first (``onsite_web_app_`` before ``onsite_web_``).
CHANNEL_PREFIXES = (
    "offsite_conversion.fb_pixel_",
    "app_custom_event.fb_mobile_",
    "onsite_web_app_",
    "onsite_web_",
    "onsite_app_",
    "onsite_conversion.",
    "offline_conversion.",
)
TOTAL_PREFIX = "omni_"
# The same event goes by different names in different channels.
EVENT_ALIASES = {
    "initiated_checkout": "initiate_checkout",  # omni_initiated_checkout, fb_mobile_...
    "content_view": "view_content",  # app_custom_event.fb_mobile_content_view
    "added_payment_info": "add_payment_info",
    "lead_grouped": "lead",  # onsite_conversion.lead_grouped: leads on Facebook forms
}


def family(action_type: str) -> tuple[str, bool]:
    """(the event an action type counts, whether it is a total over channels)."""
    name = action_type.strip()
    for prefix in CHANNEL_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            event = name[len(prefix):]
            return EVENT_ALIASES.get(event, event), False
    if name.startswith(TOTAL_PREFIX) and len(name) > len(TOTAL_PREFIX):
        event = name[len(TOTAL_PREFIX):]
        return EVENT_ALIASES.get(event, event), True
    return EVENT_ALIASES.get(name, name), True


def overlaps(action_types: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs (total, type it already contains) found in one list of action types."""
    types = list(dict.fromkeys(t.strip() for t in action_types))
    found: list[tuple[str, str]] = []
    for i, first in enumerate(types):
        for second in types[i + 1:]:
            (event1, total1), (event2, total2) = family(first), family(second)
            if event1 != event2 or not (total1 or total2):
                continue  # other events, or two parts of one event: no overlap
            if total2 and not total1:
                found.append((second, first))
            elif total1 and total2 and second.startswith(TOTAL_PREFIX):
                found.append((second, first))  # omni_purchase holds purchase
            else:
                found.append((first, second))
    return found


def check_action_types(action_types: Iterable[str]) -> str | None:
    """Why this list would count conversions twice, or None when it is sound."""
    pairs = overlaps(action_types)
    if not pairs:
        return None
    named = "; ".join(f"{total!r} already contains {part!r}" for total, part in pairs)
    return (
        f"conversion_action_types mixes action types that overlap ({named}): conversions and "
        "revenue would be counted twice; keep the total or its parts, not both"
    )
