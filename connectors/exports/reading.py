"""Opening an export: its encoding, its delimiter, the line its header is on, and its format.

Exports differ before the first data row: Excel's "CSV" is UTF-16 with a byte-order mark and
tab-delimited, Meta's has a UTF-8 mark, Google Ads and LinkedIn put a report title and date
range above the header. The header is looked for in the first lines, and each format's table
says whether a line is its header.
"""

from __future__ import annotations

import _csv
import codecs
import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from connectors.exports import Format, Match, normal

OUR_FORMAT = "budgetpilot"
HEADER_SEARCH_LINES = 30


class FormatError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Opened:
    reader: _csv.Reader  # an iterator of rows that knows its line number
    handle: IO[str]
    delimiter: str
    encoding: str
    header: list[str]
    match: Match | None  # None: our own format
    # the report lines above the header (title, date range, account), with their line numbers
    preamble: list[tuple[int, str]] = field(default_factory=list)


def encoding_of(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le"  # UTF-16 saved without its mark
    return "utf-8"


def open_export(
    path: Path, wanted: str, formats: Mapping[str, Format], our_columns: tuple[str, ...],
) -> Opened:
    """Open ``path`` positioned after its header. ``wanted`` is a format name or ``auto``."""
    with path.open("rb") as raw:
        encoding = encoding_of(raw.read(4))
    handle = path.open("r", encoding=encoding, newline="")
    try:
        sample = handle.read(64 * 1024)
        if not sample.strip():
            raise FormatError(0, "the file is empty")
        line_no, delimiter, header, match = _find_header(sample, wanted, formats, our_columns)
        handle.seek(0)
        if encoding == "utf-8" and sample.startswith("\ufeff"):
            handle.read(1)
        reader = csv.reader(handle, delimiter=delimiter)
        for _ in range(line_no):
            next(reader)
    except BaseException:
        handle.close()
        raise
    preamble = [(n + 1, text) for n, text in enumerate(sample.splitlines()[:line_no - 1])
                if text.strip()]
    return Opened(reader, handle, delimiter, encoding, header, match, preamble)


def _find_header(
    sample: str, wanted: str, formats: Mapping[str, Format], our_columns: tuple[str, ...],
) -> tuple[int, str, list[str], Match | None]:
    lines = sample.splitlines()[:HEADER_SEARCH_LINES]
    if wanted == "auto":
        candidates = dict(formats)
    else:
        candidates = {wanted: formats[wanted]} if wanted in formats else {}
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        delimiter = max((",", ";", "\t"), key=line.count)
        cells = next(csv.reader([line], delimiter=delimiter), [])
        titles = [normal(c) for c in cells]
        # Our own files have their header on line 1; one with our snake_case titles is ours
        # (platforms title theirs "Campaign ID"), and the import names the ones it lacks.
        if wanted == OUR_FORMAT or (
            wanted == "auto" and sum(c in titles for c in our_columns if "_" in c) >= 2
        ):
            return i + 1, delimiter, cells, None
        found = [m for f in candidates.values() if (m := f.match(cells)) is not None]
        if not found:
            continue
        best = max(m.score for m in found)
        top = [m for m in found if m.score == best]
        if len(top) > 1:
            names = ", ".join(m.format.name for m in top)
            raise FormatError(i + 1, f"the header fits several formats ({names}): "
                              "choose one with --format")
        return i + 1, delimiter, cells, top[0]
    raise FormatError(1, _no_header(wanted, formats, our_columns))


def _no_header(wanted: str, formats: Mapping[str, Format], our_columns: tuple[str, ...]) -> str:
    ours = f"{OUR_FORMAT}: {','.join(our_columns)}[,daily_budget]"
    if wanted != "auto":
        f = formats[wanted]
        need = "; ".join(
            f"{c}: one of {', '.join(repr(t) for t in f.titles.get(c, ()))}"
            for c in ("date", "spend", "campaign_id", "campaign_name")
        )
        return f"no {wanted} header found in the first {HEADER_SEARCH_LINES} lines ({need})"
    return (f"the header fits no known format: neither {ours} nor a platform export "
            f"({', '.join(formats)}); choose one with --format or map it in [[imports]]")
