"""Inline SVG bar charts for report.html, written by hand (no charting library on the Lambda's path).

Why not a library (docs/report.md, measured 2026-12-01): pygal 3.1.3, the smallest SVG charting
package on PyPI we found, is 552 KB installed plus importlib-metadata and zipp (916 KB in all), and its
default output loads its tooltip script from kozea.github.io, which a self-contained report must not do;
this module is under 5 KB and its charts are a few KB each.

Every text that reaches the SVG (suite names, labels, source names: user data) is escaped with
`html.escape`; numbers are formatted by this module. A value of None is drawn as no bar, labelled "n/m".
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

PALETTE = ("#8c8c8c", "#1f77b4", "#ff7f0e", "#2ca02c")
_WIDTH = 640
_PLOT_TOP, _PLOT_BOTTOM, _PLOT_LEFT = 34, 200, 48
_HEIGHT = 260


@dataclass(frozen=True)
class Series:
    """One coloured series of a grouped bar chart: a value (or None) per category."""

    name: str
    values: tuple[float | None, ...]


def _format(value: float, percent: bool) -> str:
    return f"{value * 100:.1f}%" if percent else f"{value:g}"


def _axis(y_max: float, percent: bool) -> list[str]:
    parts = []
    for step in range(5):
        fraction = step / 4
        y = _PLOT_BOTTOM - fraction * (_PLOT_BOTTOM - _PLOT_TOP)
        parts.append(
            f'<line x1="{_PLOT_LEFT}" y1="{y:.1f}" x2="{_WIDTH - 8}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{_PLOT_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(_format(y_max * fraction, percent))}</text>"
        )
    return parts


def _bars(categories: list[str], series: list[Series], y_max: float, percent: bool) -> list[str]:
    group = (_WIDTH - 8 - _PLOT_LEFT) / max(len(categories), 1)
    bar = group * 0.8 / max(len(series), 1)
    parts = []
    for index, category in enumerate(categories):
        x0 = _PLOT_LEFT + index * group + group * 0.1
        for number, one in enumerate(series):
            value = one.values[index] if index < len(one.values) else None
            x = x0 + number * bar
            if value is None:
                parts.append(
                    f'<text x="{x + bar / 2:.1f}" y="{_PLOT_BOTTOM - 4}" text-anchor="middle">n/m</text>'
                )
                continue
            height = max(min(value / y_max, 1.0), 0.0) * (_PLOT_BOTTOM - _PLOT_TOP) if y_max else 0.0
            tip = escape(f"{one.name} {category}: {_format(value, percent)}")
            parts.append(
                f'<rect x="{x:.1f}" y="{_PLOT_BOTTOM - height:.1f}" width="{bar * 0.95:.1f}" '
                f'height="{height:.1f}" fill="{PALETTE[number % len(PALETTE)]}"><title>{tip}</title></rect>'
            )
        parts.append(
            f'<text x="{x0 + group * 0.4:.1f}" y="{_PLOT_BOTTOM + 16}" text-anchor="middle">'
            f"{escape(category[:24])}</text>"
        )
    return parts


def _legend(series: list[Series]) -> list[str]:
    parts = []
    for number, one in enumerate(series):
        x = _PLOT_LEFT + number * 150
        colour = PALETTE[number % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{_HEIGHT - 22}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{_HEIGHT - 12}">{escape(one.name)}</text>'
        )
    return parts


def bar_chart(
    title: str,
    categories: list[str],
    series: list[Series],
    *,
    y_max: float | None = None,
    percent: bool = True,
) -> str:
    """A grouped bar chart as one `<svg>` element: a group per category, a bar per series."""
    values = [v for one in series for v in one.values if v is not None]
    top = y_max if y_max is not None else max([*values, 0.0]) or 1.0
    body = [
        f'<text x="{_WIDTH / 2:.0f}" y="18" text-anchor="middle" font-weight="bold">{escape(title)}</text>',
        *_axis(top, percent),
        *_bars(categories, series, top, percent),
        *_legend(series),
    ]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}" font-family="sans-serif" '
        f'font-size="11">' + "".join(body) + "</svg>"
    )
