"""A self-contained HTML report of a clip verdict: a timeline bar of the clip, segments
coloured by status, the original broadcast times, the findings.

No scripts, no external assets (inline SVG and CSS only), every value escaped, so the web
page can embed :func:`report_fragment` as it is and ``livetrust clip verify --html`` writes
:func:`report_html` as a file.
"""

from __future__ import annotations

import html
import time
from typing import Any

__all__ = ["REPORT_CSS", "STATUS_COLOURS", "VERDICT_TEXT", "report_fragment", "report_html"]

STATUS_COLOURS = {  # colour-blind-safe (Okabe-Ito) palette
    "original": "#009E73",
    "altered": "#D55E00",
    "foreign": "#CC79A7",
    "unknown": "#999999",
}
VERDICT_TEXT = {
    "authentic": "Authentic: every second matches the anchored broadcast.",
    "edited": "Edited: original footage, but cut or re-ordered.",
    "altered": "Altered: the picture was changed or other footage spliced in.",
    "forged": "Forged: the mark does not belong to this streamer or this footage.",
    "unmarked": "Unmarked: no livetrust watermark found.",
}
_BAR_W, _BAR_H = 800, 36


def _utc(t: Any) -> str:
    if not isinstance(t, int):
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t)) + " UTC"


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def report_fragment(verdict: dict[str, Any]) -> str:
    """The report as an HTML fragment (a ``<section>``) from ``ClipVerdict.to_json()``."""
    segs = verdict.get("segments") or []
    dur = max([float(s["clip_end"]) for s in segs] + [1e-6])
    rects = []
    for s in segs:
        x = _BAR_W * float(s["clip_start"]) / dur
        w = max(1.0, _BAR_W * (float(s["clip_end"]) - float(s["clip_start"])) / dur)
        colour = STATUS_COLOURS.get(str(s["status"]), "#999999")
        title = f"{s['clip_start']}-{s['clip_end']} s {s['status']}"
        if s.get("broadcast_start") is not None:
            title += f" (broadcast {_utc(s['broadcast_start'])} – {_utc(s['broadcast_end'])})"
        rects.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{_BAR_H}" fill="{colour}">'
            f"<title>{_e(title)}</title></rect>"
        )
    for f in verdict.get("findings") or []:
        if isinstance(f.get("clip_time"), int | float):
            x = _BAR_W * float(f["clip_time"]) / dur
            rects.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{_BAR_H}" stroke="#000" '
                f'stroke-width="2"><title>{_e(f["code"])}</title></line>'
            )
    ticks = "".join(
        f'<text x="{_BAR_W * t / dur:.1f}" y="{_BAR_H + 14}" font-size="11">{t:g}s</text>'
        for t in _ticks(dur)
    )
    rows = "".join(
        f'<tr><td><span class="lt-swatch" style="background:'
        f'{STATUS_COLOURS.get(str(s["status"]), "#999")}"></span>{_e(s["status"])}</td>'
        f"<td>{float(s['clip_start']):.1f}–{float(s['clip_end']):.1f} s</td>"
        f"<td>{_e(_utc(s.get('broadcast_start')))}</td><td>{_e(_utc(s.get('broadcast_end')))}</td></tr>"
        for s in segs
    )
    findings = "".join(
        f"<li><code>{_e(f['code'])}</code> at "
        f"{'—' if f.get('clip_time') is None else _e(f['clip_time'])} s: {_e(f['detail'])}</li>"
        for f in verdict.get("findings") or []
    )
    m = verdict.get("manifest") or {}
    v = str(verdict.get("verdict"))
    legend = "".join(
        f'<span class="lt-swatch" style="background:{c}"></span>{k} '
        for k, c in STATUS_COLOURS.items()
    )
    return (
        f'<section class="lt-clip-report lt-{_e(v)}">'
        f"<h2>Clip verdict: {_e(v)}</h2><p>{_e(VERDICT_TEXT.get(v, ''))}</p>"
        f"<p>Streamer: <strong>{_e(verdict.get('streamer') or '—')}</strong></p>"
        f'<svg role="img" aria-label="clip timeline" viewBox="0 0 {_BAR_W} {_BAR_H + 18}" '
        f'width="100%" xmlns="http://www.w3.org/2000/svg">{"".join(rects)}{ticks}</svg>'
        f'<p class="lt-legend">{legend}</p>'
        "<table><thead><tr><th>status</th><th>clip</th><th>broadcast start</th>"
        f"<th>broadcast end</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h3>Findings</h3><ul>{findings or '<li>none</li>'}</ul>"
        f"<p>Manifest root <code>{_e(m.get('root') or '—')}</code>, anchor tx "
        f"<code>{_e(m.get('anchor_tx') or '—')}</code></p></section>"
    )


def _ticks(dur: float) -> list[float]:
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600) if dur / s <= 10), 1200)
    return [float(t) for t in range(0, int(dur) + 1, step)]


# The fragment's own rules; a page embedding the fragment includes them (services/api/pages.py).
REPORT_CSS = """
.lt-clip-report table{border-collapse:collapse;margin:1rem 0}
.lt-clip-report td,.lt-clip-report th{border:1px solid #ccc;padding:.25rem .5rem;font-size:.9rem}
.lt-swatch{display:inline-block;width:.9em;height:.9em;margin-right:.3em;vertical-align:middle}
.lt-legend{font-size:.85rem}
"""


_PAGE_CSS = "body{font-family:system-ui,sans-serif;margin:2rem;max-width:900px;color:#222}"


def report_html(verdict: dict[str, Any], title: str = "livetrust clip report") -> str:
    """A complete HTML document (inline CSS, inline SVG, no scripts, no external requests)."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_PAGE_CSS}{REPORT_CSS}</style></head>"
        f"<body>{report_fragment(verdict)}</body></html>\n"
    )
