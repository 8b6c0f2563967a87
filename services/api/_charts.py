"""Small server-rendered SVG charts: pages show them with no JavaScript and no chart library.

Each function returns SVG markup (``markupsafe.Markup``) with every text value escaped, a
``<title>`` for screen readers and a ``data-chart`` attribute the browser tests look for.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

__all__ = ["bar_chart", "line_chart", "qr_svg"]


def _fmt(x: float) -> str:
    return f"{x:.1f}"


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    name: str,
    title: str,
    unit: str = "",
    band: tuple[float, float] | None = None,
    width: int = 320,
    height: int = 140,
) -> Markup:
    """A line of labelled values; ``band`` shades the allowed range and points outside it
    are drawn red (temperatures against the product's cold-chain range)."""
    pad_l, pad_r, pad_t, pad_b = 34, 8, 10, 22
    values = [v for _, v in points]
    lo = min([*values, *(band or ())]) if values else 0.0
    hi = max([*values, *(band or ())]) if values else 1.0
    if hi - lo < 1e-9:
        hi = lo + 1.0
    margin = (hi - lo) * 0.1
    lo, hi = lo - margin, hi + margin
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def x(i: int) -> float:
        return pad_l + (w * i / (len(points) - 1) if len(points) > 1 else w / 2)

    def y(v: float) -> float:
        return pad_t + h * (hi - v) / (hi - lo)

    parts: list[str] = []
    if band is not None:
        parts.append(
            f'<rect x="{pad_l}" y="{_fmt(y(band[1]))}" width="{w}" '
            f'height="{_fmt(y(band[0]) - y(band[1]))}" class="band"/>'
        )
        for b in band:
            parts.append(
                f'<text x="{pad_l - 4}" y="{_fmt(y(b) + 3)}" class="axis" text-anchor="end">'
                f"{escape(f'{b:g}{unit}')}</text>"
            )
    parts.append(
        f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" class="axis-line"/>'
    )
    if points:
        path = " ".join(f"{_fmt(x(i))},{_fmt(y(v))}" for i, (_, v) in enumerate(points))
        parts.append(f'<polyline points="{path}" class="line"/>')
        for i, (label, v) in enumerate(points):
            bad = band is not None and not (band[0] <= v <= band[1])
            parts.append(
                f'<circle cx="{_fmt(x(i))}" cy="{_fmt(y(v))}" r="3.5" '
                f'class="{"dot bad" if bad else "dot"}"><title>{escape(label)}: '
                f"{escape(f'{v:g}{unit}')}</title></circle>"
            )
        first, last = points[0][0], points[-1][0]
        parts.append(
            f'<text x="{pad_l}" y="{height - 6}" class="axis">{escape(first)}</text>'
            f'<text x="{pad_l + w}" y="{height - 6}" class="axis" text-anchor="end">'
            f"{escape(last)}</text>"
        )
    return _svg(name, title, width, height, parts)


def _svg(name: str, title: str, width: int, height: int, parts: Sequence[str]) -> Markup:
    """The frame every chart shares: viewBox, ``data-chart`` name, ``<title>``."""
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" data-chart="{escape(name)}" role="img">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )


def bar_chart(
    bars: Sequence[tuple[str, float]],
    *,
    name: str,
    title: str,
    horizontal: bool = False,
    width: int = 320,
    height: int = 140,
    label_every: int = 1,
    row: int = 18,
    label_w: int = 110,
) -> Markup:
    """Bars with their value at the tip and their label.

    Vertical (default): a series, every ``label_every``-th label under its bar. Horizontal:
    one ``row`` per bar with the label left of it, so long labels (business steps) stay
    readable on a phone; the height follows the number of bars."""
    top = max([v for _, v in bars] + [1.0])
    parts: list[str] = []
    if horizontal:
        height = row * max(len(bars), 1) + 6
        length = width - label_w - 30
    else:
        pad_l, pad_t, pad_b = 8, 16, 22
        length = height - pad_t - pad_b
        slot = (width - 2 * pad_l) / max(len(bars), 1)
        base = pad_t + length
        parts.append(
            f'<line x1="{pad_l}" y1="{base}" x2="{width - pad_l}" y2="{base}" class="axis-line"/>'
        )
    for i, (label, v) in enumerate(bars):
        size = length * v / top
        tip = f"<title>{escape(label)}: {v:g}</title>"
        if horizontal:
            y, mid = 3 + i * row, 3 + i * row + row * 0.65
            parts.append(
                f'<text x="{label_w - 6}" y="{_fmt(mid)}" class="axis" text-anchor="end">'
                f"{escape(label)}</text>"
                f'<rect x="{label_w}" y="{y + 2}" width="{_fmt(size)}" height="{row - 5}" '
                f'class="bar">{tip}</rect>'
                f'<text x="{_fmt(label_w + size + 4)}" y="{_fmt(mid)}" class="value">{v:g}</text>'
            )
            continue
        x = pad_l + i * slot + slot * 0.15
        centre = _fmt(x + slot * 0.35)
        parts.append(
            f'<rect x="{_fmt(x)}" y="{_fmt(base - size)}" width="{_fmt(slot * 0.7)}" '
            f'height="{_fmt(size)}" class="bar">{tip}</rect>'
        )
        if v:
            parts.append(
                f'<text x="{centre}" y="{_fmt(base - size - 3)}" class="value" '
                f'text-anchor="middle">{v:g}</text>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{centre}" y="{height - 6}" class="axis" text-anchor="middle">'
                f"{escape(label)}</text>"
            )
    return _svg(name, title, width, height, parts)


def qr_svg(url: str) -> Markup:
    """The QR code (segno, error correction M) for ``url`` as inline SVG."""
    import segno

    qr = segno.make(url, error="m")
    svg = qr.svg_inline(scale=4, dark="#111", light="#fff", title=url)
    return Markup(svg)
