"""The timeline's arithmetic: photos in date order cut into month or day sections, and where each
section's header and each photo's cell lie in the grid. Numpy and bisect over section arrays, no
widgets and no per-photo objects, so 100,000 photos lay out in milliseconds (gallery_view paints it)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_ZOOM = 192  # thumbnails at least this big: a header per day (zoomed in)
FEW_PHOTOS = 40  # this many photos or fewer: a header per day (a month header would hold them all)
# Dates outside these years are bogus (a camera clock never set, a file from 1970): they are
# grouped at the nearest end rather than spread over centuries of empty sections.
FIRST_YEAR, LAST_YEAR = 1900, 2200
UNKNOWN = "Unknown date"


@dataclass(frozen=True)
class Section:
    """A run of photos of one month (or day): rows start..start+count-1 of the grid."""

    start: int
    count: int
    label: str  # "March 2026", "Sat, 14 Mar 2026", "Unknown date"
    year: int | None  # None: unknown date
    month: int | None  # 1-12


def granularity(n_photos: int, thumb_size: int) -> str:
    """"day" when zoomed in or when there are few photos, else "month" (as Google Photos does)."""
    return "day" if thumb_size >= DAY_ZOOM or n_photos <= FEW_PHOTOS else "month"


def date_sections(dates: np.ndarray, by: str = "month") -> list[Section]:
    """Sections of consecutive photos that share a local month (or day). `dates` are POSIX seconds
    in the grid's order (NaN: unknown); photos in date order give one section per month, and a
    month met twice (photos out of order) gets two headers, so the grid never lies about its order."""
    dates = np.asarray(dates, dtype=np.float64)
    n = len(dates)
    if n == 0:
        return []
    known = np.isfinite(dates)
    if not known.any():
        return [Section(0, n, UNKNOWN, None, None)]
    lo_ts, hi_ts = _clamp_range(float(dates[known].min()), float(dates[known].max()))
    periods = _month_starts(lo_ts, hi_ts)
    if by == "day":
        month_bounds = np.array([p.timestamp() for p in periods])
        used = np.unique(np.clip(np.searchsorted(month_bounds, dates[known], side="right") - 1, 0, len(periods) - 2))
        periods = [d for m in used for d in _day_starts(periods[int(m)], periods[int(m) + 1])]
        periods.append(_next_month(periods[-1]))
    bounds = np.array([p.timestamp() for p in periods])
    keys = np.full(n, -1, dtype=np.int64)
    keys[known] = np.clip(np.searchsorted(bounds, dates[known], side="right") - 1, 0, len(periods) - 2)
    starts = np.concatenate(([0], np.flatnonzero(keys[1:] != keys[:-1]) + 1))
    ends = np.append(starts[1:], n)
    out = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        k = int(keys[s])
        if k < 0:
            out.append(Section(s, e - s, UNKNOWN, None, None))
            continue
        p = periods[k]
        label = (f"{MONTHS[p.month - 1]} {p.year}" if by == "month"
                 else f"{WEEKDAYS[p.weekday()]}, {p.day} {MONTHS[p.month - 1][:3]} {p.year}")
        out.append(Section(s, e - s, label, p.year, p.month))
    return out


def _clamp_range(lo: float, hi: float) -> tuple[float, float]:
    first = datetime(FIRST_YEAR, 1, 1).timestamp()
    last = datetime(LAST_YEAR, 1, 1).timestamp()
    return min(max(lo, first), last), min(max(hi, first), last)


def _month_starts(lo: float, hi: float) -> list[datetime]:
    """Local midnight of the 1st of every month from lo's month to the month after hi's."""
    a, b = datetime.fromtimestamp(lo), datetime.fromtimestamp(hi)
    out = [datetime(a.year, a.month, 1)]
    end = datetime(b.year, b.month, 1)
    while out[-1] <= end:
        out.append(_next_month(out[-1]))
    return out


def _next_month(d: datetime) -> datetime:
    return datetime(d.year + d.month // 12, d.month % 12 + 1, 1)


def _day_starts(a: datetime, b: datetime) -> list[datetime]:
    """Local midnight of every day in [a, b) (a month)."""
    return [datetime(a.year, a.month, day) for day in range(1, (b - a).days + 1)]


class GridLayout:
    """Where everything lies, in content pixels: each section is a header band (none when flat)
    followed by its photos in rows of `columns` cells. Section tops come from one cumulative sum;
    a y or a row is found by bisection, so nothing here grows with the number of photos."""

    def __init__(self, counts: list[int], columns: int, cell_w: int, cell_h: int, header_h: int,
                 gap: int = 0):
        self.columns = max(1, columns)
        self.cell_w, self.cell_h, self.header_h, self.gap = cell_w, cell_h, header_h, gap
        c = np.asarray(counts, dtype=np.int64)
        self.counts = c
        self.starts = np.concatenate(([0], np.cumsum(c)))[:-1] if len(c) else np.zeros(0, np.int64)
        self.lines = -(-c // self.columns)  # rows of cells per section (ceil)
        heights = header_h + self.lines * cell_h + gap
        self.tops = np.concatenate(([0], np.cumsum(heights)))  # len = sections + 1
        self.height = int(self.tops[-1] - gap) if len(c) else 0
        self.n = int(c.sum())
        self._starts = self.starts.tolist()
        self._tops = self.tops.tolist()

    def __len__(self) -> int:
        return len(self.counts)

    def section_of_row(self, row: int) -> int:
        return max(0, bisect.bisect_right(self._starts, row) - 1)

    def section_at(self, y: float) -> int:
        """The section whose band (header and cells) holds content y (clamped to the first/last)."""
        return min(max(0, bisect.bisect_right(self._tops, y) - 1), len(self.counts) - 1)

    def section_top(self, s: int) -> int:
        return int(self._tops[s])

    def cell(self, row: int) -> tuple[int, int]:
        """(x, y) of the row's cell, top left."""
        s = self.section_of_row(row)
        i = row - self._starts[s]
        return (i % self.columns) * self.cell_w, int(self._tops[s]) + self.header_h + (i // self.columns) * self.cell_h

    def row_at(self, x: float, y: float) -> int | None:
        """The photo whose cell holds (x, y), None on a header, a gap or past a section's last photo."""
        if not len(self.counts) or y < 0 or x < 0 or x >= self.columns * self.cell_w:
            return None
        s = self.section_at(y)
        inner = y - self._tops[s] - self.header_h
        if inner < 0 or inner >= self.lines[s] * self.cell_h:
            return None
        i = int(inner // self.cell_h) * self.columns + int(x // self.cell_w)
        return self._starts[s] + i if i < self.counts[s] else None

    def header_at(self, y: float) -> int | None:
        """The section whose header band holds content y, else None."""
        if not self.header_h or not len(self.counts) or y < 0:
            return None
        s = self.section_at(y)
        return s if y - self._tops[s] < self.header_h else None

    def rows_between(self, y0: float, y1: float) -> range:
        """The photos whose cells meet content band [y0, y1): a contiguous run, as rows follow reading order."""
        if not self.n or y1 <= y0:
            return range(0)
        first = self._first_row_from(y0)
        last = self._last_row_before(y1)
        return range(first, last + 1) if first is not None and last is not None and last >= first else range(0)

    def _first_row_from(self, y: float) -> int | None:
        s = self.section_at(max(0.0, y))
        while s < len(self.counts):
            inner = y - self._tops[s] - self.header_h
            line = max(0, math.floor(inner / self.cell_h)) if inner > 0 else 0
            if line < self.lines[s]:
                return self._starts[s] + line * self.columns
            s += 1
        return None

    def _last_row_before(self, y: float) -> int | None:
        s = self.section_at(y)
        while s >= 0:
            inner = y - self._tops[s] - self.header_h
            if inner > 0:
                line = min(int(self.lines[s]) - 1, math.ceil(inner / self.cell_h) - 1)
                if line >= 0:
                    return self._starts[s] + min(int(self.counts[s]) - 1, (line + 1) * self.columns - 1)
            s -= 1
        return None

    def row_above(self, row: int) -> int:
        s = self.section_of_row(row)
        i = row - self._starts[s]
        if i >= self.columns:
            return row - self.columns
        if s == 0:
            return row
        prev = int(self.counts[s - 1])
        last_line = (prev - 1) // self.columns
        return self._starts[s - 1] + min(last_line * self.columns + i % self.columns, prev - 1)

    def row_below(self, row: int) -> int:
        s = self.section_of_row(row)
        i, count = row - self._starts[s], int(self.counts[s])
        if i + self.columns < count:
            return row + self.columns
        if i // self.columns < (count - 1) // self.columns:
            return self._starts[s] + count - 1  # the last line is shorter: its last photo
        if s + 1 >= len(self.counts):
            return row
        return self._starts[s + 1] + min(i % self.columns, int(self.counts[s + 1]) - 1)
