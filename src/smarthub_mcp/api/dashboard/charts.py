"""Charts as data for an inline SVG the templates draw (macros.html `bar_chart`): no JS library.

Pure functions: a series of (label, value) in, bar geometry out. Every chart also has its table
(the same numbers, for screen readers and for copying).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WIDTH, HEIGHT, GAP = 600, 160, 2


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    shown: str
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Chart:
    title: str
    bars: list[Bar]
    peak: str
    width: int = WIDTH
    height: int = HEIGHT


def bar_chart(title: str, series: list[tuple[str, int]], shown: list[str]) -> Chart:
    """Bars scaled to the largest value; `shown` is each value as people read it."""
    top = max((v for _, v in series), default=0) or 1
    slot = WIDTH / max(len(series), 1)
    bars = []
    for i, ((label, value), text) in enumerate(zip(series, shown, strict=True)):
        h = round(HEIGHT * max(value, 0) / top, 1)
        bars.append(Bar(label, value, text, round(i * slot + GAP / 2, 1), round(HEIGHT - h, 1),
                        round(max(slot - GAP, 1), 1), h))
    peak = shown[max(range(len(series)), key=lambda i: series[i][1])] if series else "0"
    return Chart(title, bars, peak)


def last_days(days: int, today: datetime | None = None) -> list[str]:
    """The ISO dates of the last `days` days, oldest first, today (UTC) last."""
    end = (today or datetime.now(UTC)).date()
    return [(end - timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
