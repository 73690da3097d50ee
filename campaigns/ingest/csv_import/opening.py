"""Opening an import file: the asked format, readable text, and our header's columns."""

from __future__ import annotations

from pathlib import Path

from campaigns.config import Settings
from campaigns.errors import ImportRejected
from campaigns.ingest.csv_import.cells import OPTIONAL, REQUIRED, CellParser
from campaigns.ingest.csv_import.choose import format_names, import_formats
from connectors.exports.reading import OUR_FORMAT, FormatError, Opened, open_export


def open_file(path: Path, format: str, settings: Settings) -> Opened:
    """Open ``path`` in the asked format, or reject it when it is missing or unreadable."""
    if not path.exists():
        raise ImportRejected(str(path), [f"{path}: no such file"])
    formats = import_formats(settings)
    if format not in formats and format not in ("auto", OUR_FORMAT):
        raise ImportRejected(str(path), [f"{path}: unknown format {format!r} (one of "
                                         f"{', '.join(format_names(settings))})"])
    try:
        return open_export(path, format, formats, REQUIRED)
    except FormatError as e:
        where = f"line {e.line}: " if e.line else ""
        raise ImportRejected(str(path), [f"{path}: {where}{e.message}"]) from e
    except UnicodeDecodeError as e:
        raise ImportRejected(str(path), [f"{path}: not UTF-8 or UTF-16 text ({e.reason})"]) from e
    except OSError as e:
        raise ImportRejected(str(path), [f"{path}: cannot be read: {e.strerror or e}"]) from e


def header_is_ours(header: list[str], parser: CellParser) -> bool:
    """Whether our format's header has every required column, none of them twice."""
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        parser.fail(1, None, f"missing column(s): {', '.join(missing)} "
                    f"(expected {','.join(REQUIRED)}[,daily_budget])")
        return False
    dupes = sorted({h for h in header if header.count(h) > 1 and h in REQUIRED + OPTIONAL})
    if dupes:
        parser.fail(1, None, f"column(s) appear twice: {', '.join(dupes)}")
        return False
    return True
