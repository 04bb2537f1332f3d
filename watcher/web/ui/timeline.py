"""The overview's timeline: findings first seen per day, stacked by risk, as SVG geometry
(the template draws it; numbers and fixed words only, no package text)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from watcher.store.finding_views import RISK_ORDER

WIDTH = 720
HEIGHT = 200
_LEFT = 40  # room for the scale
_BOTTOM = 24  # room for the dates
_TOP = 10


@dataclass(frozen=True)
class Bar:
    """One risk's part of one day's column."""

    x: float
    y: float
    width: float
    height: float
    risk: str
    count: int
    day: date


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[Tick]
    peak: int
    baseline: float
    left: int
    total: int
    days: int
    risks: tuple[str, ...]


def timeline(per_day: dict[tuple[date, str], int], since: date, days: int) -> Timeline:
    """Stacked columns, one per day from ``since``, highest risk at the bottom."""
    totals = [
        sum(per_day.get((since + timedelta(days=d), r), 0) for r in RISK_ORDER) for d in range(days)
    ]
    peak = max([*totals, 1])
    plot = HEIGHT - _BOTTOM - _TOP
    step = (WIDTH - _LEFT) / days
    bars: list[Bar] = []
    ticks: list[Tick] = []
    for d in range(days):
        day = since + timedelta(days=d)
        x = _LEFT + d * step
        y = float(HEIGHT - _BOTTOM)
        for risk in RISK_ORDER:
            count = per_day.get((day, risk), 0)
            if not count:
                continue
            height = plot * count / peak
            y -= height
            bars.append(
                Bar(
                    round(x + 1, 1),
                    round(y, 1),
                    round(step - 2, 1),
                    round(height, 1),
                    risk,
                    count,
                    day,
                )
            )
        if d % 7 == 0 or (d == days - 1 and d % 7 > 3):
            ticks.append(Tick(round(x + step / 2, 1), day.strftime("%m-%d")))
    return Timeline(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        ticks=ticks,
        peak=peak,
        baseline=HEIGHT - _BOTTOM,
        left=_LEFT,
        total=sum(totals),
        days=days,
        risks=RISK_ORDER,
    )
