"""The shape of every report section: one table of numbers and the charts drawn from it.

The page and the Excel workbook are both built from these structures, so they cannot disagree.
Cells are typed by their Python type: int (a count), Decimal (a score or a mean, already rounded),
Fraction (a share, shown as a percentage), str, or None (no value: nothing to average or divide by).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Union

Cell = Union[str, int, Decimal, Fraction, None]

# Scores are stored with two decimals (assessment.models.SCORE); means are shown the same way.
SCORE_PLACES = Decimal("0.01")
PERCENT_PLACES = Decimal("0.1")
NO_VALUE = "—"
# A table with more columns than this takes the section's full width, its charts above it.
NARROW_TABLE_COLUMNS = 4
TOTAL_LABEL = "合计"


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple
    tone: str = ""


@dataclass(frozen=True)
class Chart:
    """What charts.render draws: categories along one axis, one bar (or one stack of bars) each."""

    key: str
    title: str
    kind: str  # "bar" (vertical) or "hbar" (horizontal)
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    unit: str = ""
    # A fixed end of the value axis (100 for scores); otherwise a round number above the largest bar.
    scale_max: float | None = None
    # One colour per category for a single series (grades keep their colours everywhere).
    category_tones: tuple[str, ...] = ()

    @property
    def stacked(self) -> bool:
        return len(self.series) > 1


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    totals: tuple[tuple[Cell, ...], ...] = ()


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    table: Table
    charts: tuple[Chart, ...] = ()
    note: str = ""
    empty: str = "暂无数据"

    @property
    def is_empty(self) -> bool:
        return not self.table.rows

    @property
    def wide(self) -> bool:
        return len(self.table.headers) > NARROW_TABLE_COLUMNS


def share(part: int, whole: int) -> Fraction | None:
    return Fraction(part, whole) if whole else None


def mean(values: Iterable) -> Decimal | None:
    values = [Decimal(value) for value in values if value is not None]
    if not values:
        return None
    return (sum(values) / len(values)).quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)


def percent(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) * 100 / Decimal(value.denominator)
    return exact.quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)


def display(value: Cell) -> str:
    """A cell as the page shows it."""
    if value is None:
        return NO_VALUE
    if isinstance(value, Fraction):
        return f"{percent(value)}%"
    if isinstance(value, Decimal):
        return f"{value.quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)}"
    return str(value)


def is_number(value: Cell) -> bool:
    return isinstance(value, (int, Decimal, Fraction)) and not isinstance(value, bool)


def column_sums(rows: Iterable[tuple], start: int, stop: int) -> list[int]:
    """Per-column sums of the count columns rows[start:stop]."""
    rows = list(rows)
    return [sum(row[index] for row in rows) for index in range(start, stop)]
