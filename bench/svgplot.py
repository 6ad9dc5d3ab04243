"""A few line charts drawn as SVG by hand (no plotting library in the environment)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


@dataclass
class Series:
    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    color: str = PALETTE[0]
    dashed: bool = False


@dataclass
class Chart:
    title: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    #: Categorical x: points evenly spaced and labelled with these values.
    x_categories: Sequence[float] | None = None
    xlabel: str = ""
    note: str = ""


def nice_ticks(top: float, count: int = 5) -> list[float]:
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    n = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(n + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 10000:
        return f"{v / 1000:g}k"
    return f"{v:g}"


def _text(x: float, y: float, s: str, *, size: int = 11, anchor: str = "middle", **kw: str) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(s)}</text>"
    )


def render_chart(chart: Chart, x0: float, y0: float, w: float, h: float) -> list[str]:
    left, right, top, bottom = 58.0, 12.0, 28.0, 52.0
    pw, ph = w - left - right, h - top - bottom
    px, py = x0 + left, y0 + top
    out = [_text(x0 + w / 2, y0 + 16, chart.title, size=13, font_weight="bold")]
    ys = [y for s in chart.series for y in s.ys if y is not None and math.isfinite(y)]
    ticks = nice_ticks(max(ys) * 1.05 if ys else 1.0)
    ymax = ticks[-1] or 1.0
    if chart.x_categories is not None:
        cats = list(chart.x_categories)
        span = max(len(cats) - 1, 1)

        def xpos(x: float) -> float:
            i = cats.index(x) if x in cats else 0
            return px + (pw * (i / span) if len(cats) > 1 else pw / 2)

        xticks = [(xpos(c), _fmt(c)) for c in cats]
    else:
        xs = [x for s in chart.series for x in s.xs]
        lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1

        def xpos(x: float) -> float:
            return px + pw * (x - lo) / (hi - lo)

        xticks = [(xpos(v), _fmt(v)) for v in nice_ticks(hi) if lo <= v <= hi]

    def ypos(y: float) -> float:
        return py + ph - ph * (y / ymax)

    out.append(
        f'<rect x="{px:.1f}" y="{py:.1f}" width="{pw:.1f}" height="{ph:.1f}" '
        'fill="none" stroke="#444"/>'
    )
    for t in ticks:
        y = ypos(t)
        out.append(
            f'<line x1="{px:.1f}" y1="{y:.1f}" x2="{px + pw:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        out.append(_text(px - 5, y + 4, _fmt(t), size=10, anchor="end"))
    for x, label in xticks:
        out.append(
            f'<line x1="{x:.1f}" y1="{py + ph:.1f}" x2="{x:.1f}" y2="{py + ph + 4:.1f}" '
            'stroke="#444"/>'
        )
        out.append(_text(x, py + ph + 16, label, size=10))
    if chart.xlabel:
        out.append(_text(px + pw / 2, py + ph + 32, chart.xlabel, size=11))
    cy = py + ph / 2
    out.append(
        _text(x0 + 14, cy, chart.ylabel, size=11, transform=f"rotate(-90 {x0 + 14:.1f} {cy:.1f})")
    )
    for s in chart.series:
        pts = [
            (xpos(x), ypos(y))
            for x, y in zip(s.xs, s.ys, strict=False)
            if y is not None and math.isfinite(y)
        ]
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>'
            )
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{s.color}"/>')
    # Legend, under the plot.
    lx, ly = px, py + ph + 46
    for s in chart.series:
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<line x1="{lx:.1f}" y1="{ly - 4:.1f}" x2="{lx + 18:.1f}" y2="{ly - 4:.1f}" '
            f'stroke="{s.color}" stroke-width="2"{dash}/>'
        )
        out.append(_text(lx + 22, ly, s.name, size=10, anchor="start"))
        lx += 30 + 6.2 * len(s.name)
    if chart.note:
        out.append(_text(px + pw - 4, py + 14, chart.note, size=10, anchor="end", fill="#555"))
    return out


def render(charts: Sequence[Chart], *, title: str, subtitle: str = "", cols: int = 2) -> str:
    cw, ch = 520.0, 300.0
    rows = math.ceil(len(charts) / cols)
    width, height = cw * cols, ch * rows + 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        _text(width / 2, 22, title, size=16, font_weight="bold"),
        _text(width / 2, 40, subtitle, size=11, fill="#555"),
    ]
    for i, chart in enumerate(charts):
        parts.extend(render_chart(chart, (i % cols) * cw, 50 + (i // cols) * ch, cw, ch))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
