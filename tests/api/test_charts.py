"""The SVG chart builders: one bar per value, scaled to the largest, every label escaped."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.api._charts import bar_chart, line_chart

BARS = st.lists(
    st.tuples(st.text(max_size=12), st.floats(min_value=0, max_value=1e6)), min_size=1, max_size=12
)


@pytest.mark.parametrize("horizontal", [False, True])
@given(bars=BARS)
def test_bar_chart_draws_each_bar_to_scale(horizontal: bool, bars: list[tuple[str, float]]) -> None:
    svg = str(bar_chart(bars, name="n", title="<t>", horizontal=horizontal))
    assert svg.startswith("<svg") and 'data-chart="n"' in svg and "<title>&lt;t&gt;</title>" in svg
    rects = re.findall(r'<rect [^>]*width="([\d.]+)" height="([\d.]+)" class="bar"', svg)
    sizes = [float(w if horizontal else h) for w, h in rects]
    assert len(sizes) == len(bars)
    top = max([v for _, v in bars] + [1.0])  # values under 1 are drawn against 1
    full = (320 - 110 - 30) if horizontal else (140 - 16 - 22)
    for size, (_, v) in zip(sizes, bars, strict=True):
        assert size == pytest.approx(full * v / top, abs=0.06)


def test_labels_are_escaped() -> None:
    evil = "<script>x</script>"
    for svg in (
        bar_chart([(evil, 1.0)], name="a", title="t"),
        bar_chart([(evil, 1.0)], name="a", title="t", horizontal=True),
        line_chart([(evil, 1.0), ("b", 2.0)], name="a", title="t"),
    ):
        assert "<script>" not in str(svg) and "&lt;script&gt;" in str(svg)
