"""Inline SVG charts, drawn on the server: no chart library, no script, readable without CSS colours
(each series also has a legend and the page shows the same numbers in a table). Pure functions."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[float]


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** (len(str(int(v))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if v <= step * mag:
            return step * mag
    return 10 * mag


def stacked_bars(
    title: str,
    labels: Sequence[str],
    stacks: Sequence[Series],
    line: Series | None = None,
    line_max: float = 1.0,
    width: int = 760,
    height: int = 260,
) -> Markup:
    """Vertical stacked bars (e.g. answered + abandoned per interval) with an optional 0..line_max line
    on the right axis (e.g. service level). `line` values may be None (no calls): the line breaks there."""
    uid = next(_ids)
    left, right, top, bottom = 44, 44 if line else 12, 12, 40
    pw, ph = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    totals = [sum(s.values[i] for s in stacks) for i in range(len(labels))]
    ymax = _nice_max(max(totals, default=0))
    if all(float(v).is_integer() for v in totals):  # counts: whole-number ticks
        ymax = max(4, -(-int(ymax) // 4) * 4)
    slot = pw / n
    bar = max(2.0, min(28.0, slot * 0.7))
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart{uid}-t" preserveAspectRatio="xMidYMid meet">',
        f'<title id="chart{uid}-t">{escape(title)}</title>',
    ]
    for i in range(5):  # horizontal grid and left axis ticks
        y = top + ph - ph * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{ymax * i / 4:g}</text>')
        if line:
            pct = f"{line_max * i / 4 * 100:g} %"
            out.append(f'<text x="{left + pw + 6}" y="{y + 4:.1f}">{escape(pct)}</text>')
    every = max(1, round(n / 12))  # at most ~12 x labels
    for i, lab in enumerate(labels):
        x = left + slot * i + (slot - bar) / 2
        y = top + ph
        for k, s in enumerate(stacks):
            v = s.values[i]
            if v <= 0:
                continue
            h = ph * v / ymax
            y -= h
            out.append(
                f'<rect class="s{k}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(lab)} · {escape(s.label)}: {v:g}</title></rect>"
            )
        if i % every == 0:
            cx = left + slot * i + slot / 2
            out.append(f'<text x="{cx:.1f}" y="{top + ph + 16}" text-anchor="middle">{escape(lab)}</text>')
    if line:
        pts, path = [], []
        for i, v in enumerate(line.values):
            if v is None:
                if pts:
                    path.append(pts)
                pts = []
                continue
            cx = left + slot * i + slot / 2
            cy = top + ph - ph * min(v, line_max) / line_max
            pts.append(f"{cx:.1f},{cy:.1f}")
        if pts:
            path.append(pts)
        for p in path:
            if len(p) == 1:
                x, y = p[0].split(",")
                out.append(f'<circle class="line" cx="{x}" cy="{y}" r="3"/>')
            else:
                out.append(f'<polyline class="line" points="{" ".join(p)}"/>')
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def line_chart(
    title: str,
    labels: Sequence[str],
    lines: Sequence[Series],
    width: int = 760,
    height: int = 240,
) -> Markup:
    """Percentages over time, one polyline per series (class `l0`, `l1`…); None values break the line.
    The axis goes from 0 to a round value above the highest point."""
    uid = next(_ids)
    left, right, top, bottom = 52, 12, 12, 40
    pw, ph = width - left - right, height - top - bottom
    n = max(len(labels), 1)
    highest = max((v for s in lines for v in s.values if v is not None), default=0.0)
    ymax = _nice_max(highest * 1000) / 1000 if highest > 0 else 0.01
    slot = pw / n
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart{uid}-t" preserveAspectRatio="xMidYMid meet">',
        f'<title id="chart{uid}-t">{escape(title)}</title>',
    ]
    for i in range(5):
        y = top + ph - ph * i / 4
        out.append(f'<line class="grid" x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{ymax * i / 4 * 100:.3g} %</text>'
        )
    every = max(1, round(n / 12))
    for i, lab in enumerate(labels):
        if i % every == 0:
            cx = left + slot * i + slot / 2
            out.append(f'<text x="{cx:.1f}" y="{top + ph + 16}" text-anchor="middle">{escape(lab)}</text>')
    for k, s in enumerate(lines):
        runs: list[list[tuple[float, float, float]]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
                continue
            runs[-1].append((left + slot * i + slot / 2, top + ph - ph * min(v, ymax) / ymax, v))
        for run in runs:
            if len(run) > 1:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y, _v in run)
                out.append(f'<polyline class="l{k}" points="{pts}"/>')
            for x, y, v in run:
                out.append(
                    f'<circle class="l{k}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                    f"<title>{escape(s.label)}: {v * 100:.2f} %</title></circle>"
                )
    out.append(f'<line class="axis" x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}"/>')
    out.append("</svg>")
    return Markup("".join(out))


def horizontal_stacks(
    title: str, labels: Sequence[str], stacks: Sequence[Series], unit: str = "h", width: int = 760
) -> Markup:
    """One horizontal stacked bar per label (e.g. agent → ready/talk/wrap/pause hours)."""
    uid = next(_ids)
    row_h, left, right, top = 30, 170, 20, 8
    height = top + row_h * max(len(labels), 1) + 28
    pw = width - left - right
    totals = [sum(s.values[i] for s in stacks) for i in range(len(labels))]
    xmax = _nice_max(max(totals, default=0))
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-labelledby="chart{uid}-t">',
        f'<title id="chart{uid}-t">{escape(title)}</title>',
    ]
    for i in range(5):
        x = left + pw * i / 4
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{height - 24}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">{xmax * i / 4:g} {escape(unit)}</text>'
        )
    for r, lab in enumerate(labels):
        y = top + row_h * r + 6
        short = lab if len(lab) <= 24 else lab[:23] + "…"
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(short)}</text>')
        x = float(left)
        for k, s in enumerate(stacks):
            v = s.values[r]
            if v <= 0:
                continue
            w = pw * v / xmax
            out.append(
                f'<rect class="s{k}" x="{x:.1f}" y="{y}" width="{w:.1f}" height="18">'
                f"<title>{escape(lab)} · {escape(s.label)}: {v:.2f} {escape(unit)}</title></rect>"
            )
            x += w
    out.append("</svg>")
    return Markup("".join(out))
