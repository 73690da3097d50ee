"""The column checks of a CSV import: a set or a C-speed match per column, a careful
per-cell look (``campaigns.ingest.csv_import.cells``) only at the cells that do not pass whole."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from campaigns.ingest.csv_import.cells import (
    NETWORK_RE,
    PLAIN_DECIMAL,
    CellParser,
    plain_counts,
    plain_decimals,
)
from connectors.currencies import is_currency


class ColumnChecks:
    """Mixed into the import's state: needs ``parser`` and ``label`` (column -> file title)."""

    parser: CellParser
    label: dict[str, str]

    def _dates(self, col: tuple[str, ...], lines: Sequence[int]) -> tuple[list[str], list[int]]:
        """Each cell as an ISO date and as a day number; a file holds few distinct dates."""
        parsed = {v: self.parser.parse_date(v) for v in set(col)}
        bad = {v for v, d in parsed.items() if isinstance(d, str)}
        if bad:
            for v, line in zip(col, lines, strict=True):
                if v in bad:
                    self.parser.fail(line, self.label["date"], str(parsed[v]))
            return [], []
        dates = {v: d for v, d in parsed.items() if not isinstance(d, str)}  # all: none bad
        iso = {v: d.isoformat() for v, d in dates.items()}
        ordinal = {v: d.toordinal() for v, d in dates.items()}
        return list(map(iso.__getitem__, col)), list(map(ordinal.__getitem__, col))

    def _lookup(
        self, col: tuple[str, ...], lines: Sequence[int], column: str,
        cache: dict[str, str | None], check: Callable[[str], str | None],
    ) -> list[str]:
        for v in set(col) - cache.keys():
            cache[v] = check(v)
        if any(cache[v] is None for v in set(col)):
            for v, line in zip(col, lines, strict=True):
                if cache[v] is None:
                    self.parser.fail(line, self.label[column], self._why(column, v))
            return []
        return [cache[v] for v in col]  # type: ignore[misc]  # no None left: returned above

    @staticmethod
    def _network(v: str) -> str | None:
        name = v.strip().lower()
        return name if NETWORK_RE.match(name) else None

    @staticmethod
    def _currency(v: str) -> str | None:
        code = v.strip().upper()
        return code if is_currency(code) else None

    @staticmethod
    def _why(column: str, v: str) -> str:
        if column == "network":
            return f"{v!r} is not a network name (letters, digits, _ . -)"
        return f"{v.strip()!r} is not an ISO 4217 currency code"

    def _ids(self, col: tuple[str, ...], lines: Sequence[int], column: str) -> list[str]:
        out = list(map(str.strip, col))
        if not all(out):
            for v, line in zip(out, lines, strict=True):
                if not v:
                    self.parser.fail(line, column, "is empty")
        return out

    def _money(
        self, col: tuple[str, ...], lines: Sequence[int], column: str, *,
        required: bool = False, blank: str | None = "0",
    ) -> list[Any]:
        if plain_decimals(col):
            return list(col)
        out: list[Any] = []
        for v, line in zip(col, lines, strict=True):
            if PLAIN_DECIMAL(v):
                out.append(v)
                continue
            number = self.parser.number(v, line, column, required=required)
            out.append(blank if number is None else str(number))
        return out

    def _counts(self, col: tuple[str, ...], lines: Sequence[int], column: str) -> list[Any]:
        if plain_counts(col):
            return list(col)  # digits only: both databases read the text as a number
        return [self.parser.count(v, line, column) for v, line in zip(col, lines, strict=True)]

    def _optional_counts(
        self, col: tuple[str, ...], lines: Sequence[int], column: str
    ) -> list[Any]:
        """Counts a file may leave blank: a blank cell is None (not reported), not 0."""
        if plain_counts(col):
            return list(col)
        return [None if not v.strip() else self.parser.count(v, line, column)
                for v, line in zip(col, lines, strict=True)]
