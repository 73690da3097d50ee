"""Which formats an import may use, and the plan for a platform export once it is open."""

from __future__ import annotations

from typing import Any

from campaigns.ingest.csv_import.cells import CellParser
from connectors.exports import Format, from_config
from connectors.exports.platforms import PLATFORMS
from connectors.exports.reading import OUR_FORMAT, FormatError, Opened
from connectors.exports.translate import Plan, plan_for


def import_formats(settings: Any) -> dict[str, Format]:
    """The formats ``--format`` accepts besides ours: the platforms', then the config's."""
    return {**PLATFORMS, **{m.name: from_config(m) for m in settings.imports}}


def format_names(settings: Any) -> list[str]:
    return ["auto", OUR_FORMAT, *import_formats(settings)]


def plan_export(
    opened: Opened, parser: CellParser, *, account: str | None, currency: str | None
) -> Plan | None:
    """How a platform export maps onto our columns (None for our own format)."""
    if opened.match is None:
        if account or currency:
            parser.fail(1, None, "--account and --currency are for platform exports: "
                        "our format has account_id and currency columns")
        return None
    try:
        plan = plan_for(opened.match, opened.header, account=account, currency=currency,
                        decimal_comma=opened.delimiter == ";", preamble=opened.preamble)
    except FormatError as e:
        parser.fail(e.line, None, e.message)
        return None
    parser.date_hint = plan.date_hint
    return plan
