"""Negative-list screening: every category in both languages (hits and near misses), the
caption formats, Chinese text handling, repetition, list validation, the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from services._errors import NegativeListInvalid, ScriptUnreadable
from services._screening import (
    FLAG_SEVERITY,
    Line,
    Severity,
    load_negative_list,
    normalise,
    parse_script,
    read_script,
    screen_file,
    screen_lines,
)
from services.cli import app

NL = load_negative_list()

# (category, manipulative line, ordinary line on the same topic that must not be flagged)
CASES = [
    ("false_scarcity", "zh", "家人们只剩最后3单了", "库存还有两千箱，不用着急"),
    ("false_scarcity", "zh", "错过今天再等一年", "今天没卖完明天还有"),
    ("false_scarcity", "en", "Only 3 left, hurry!", "We have 3 sizes left to show you"),
    ("false_scarcity", "en", "Once they're gone, they're gone", "Plenty left in the cold store"),
    ("fake_price_anchor", "zh", "原价199，今天直播间只要39.9", "今天的价格是39.9一箱"),
    ("fake_price_anchor", "zh", "全网最低价", "价格和店铺平时一样"),
    ("fake_price_anchor", "en", "Original price $99, today only $19.99", "Today's price is $19.99"),
    ("fake_price_anchor", "en", "We're selling below cost", "One fixed price, nothing hidden"),
    ("health_claim", "zh", "这个蜂蜜能降血糖", "这款蜂蜜是食品，不能治病"),
    ("health_claim", "zh", "每天一把核桃，防癌抗癌", "核桃富含不饱和脂肪酸"),
    ("health_claim", "en", "This honey cures diabetes", "This honey does not cure anything"),
    ("health_claim", "en", "It lowers your blood pressure", "Ask your doctor about fruit"),
    ("fake_hardship", "zh", "我妈住院了，卖不出去就没钱治", "我妈每天早上帮忙打包"),
    ("fake_hardship", "zh", "今年滞销，卖不出去只能烂在地里", "今年雨水多，果子偏小"),
    ("fake_hardship", "en", "My dad has cancer, please buy", "My dad started the orchard"),
    ("fake_hardship", "en", "Please help us, save our farm", "We had a hard year, fruit is good"),
    ("vulnerable_pressure", "zh", "花呗也要买", "可以用花呗付款"),
    ("vulnerable_pressure", "zh", "不下单的不是真家人", "感谢家人们的支持"),
    ("vulnerable_pressure", "en", "Real fans buy, fake fans watch", "Thank you fans for watching"),
    ("vulnerable_pressure", "en", "Don't ask your husband, just order", "Ask us anything"),
    ("farmer_impersonation", "zh", "我不是主播，就是个普通农民", "我们家种了二十年葡萄"),
    ("farmer_impersonation", "en", "I'm not a salesman, just a simple farmer", "I'm the farmer"),
]


def flagged(text: str) -> list[str]:
    return [f.category for f in screen_lines([Line(1, text)], NL) if f.severity >= FLAG_SEVERITY]


@pytest.mark.parametrize(("category", "lang", "bad", "good"), CASES)
def test_each_category_hits_and_spares(category: str, lang: str, bad: str, good: str) -> None:
    assert category in flagged(bad), f"{lang}: {bad!r} not flagged as {category}"
    assert flagged(good) == [], f"{lang}: ordinary line {good!r} flagged"


def test_every_category_has_rules_in_both_languages() -> None:
    cats = {c for c, *_ in CASES}
    for cat in cats:
        langs = {r.lang for r in NL.rules if r.category == cat}
        assert langs == {"zh", "en"}, cat


def test_identity_claims_are_low_and_not_flagged() -> None:
    found = screen_lines([Line(1, "这个草莓是我们自家大棚种的")], NL)
    assert [f.category for f in found] == ["identity_claim"]
    assert found[0].severity is Severity.LOW
    assert flagged("All of these are from my own farm") == []


def test_chinese_patterns_never_use_word_boundaries() -> None:
    """\\b never matches between two CJK characters: a Chinese rule using it is dead."""
    for rule in NL.rules:
        if rule.lang == "zh":
            assert not any("\\b" in p.pattern for p in rule.patterns), rule.id
    assert re.search(r"\b剩\b", "只剩3单") is None  # why: the trap the list avoids


def test_full_width_digits_and_spaces_are_normalised() -> None:
    assert normalise("只剩　最后３单") == "只剩 最后3单"
    assert "false_scarcity" in flagged("只剩　最后３单")
    assert "false_scarcity" in flagged("ＯＮＬＹ 3 LEFT")


def test_labelled_set_precision() -> None:
    """The benchmark's target, guarded: precision >= 0.95 on each language's labelled set."""
    from benchmarks.bench_screening import measure

    for lang in ("zh", "en"):
        r = measure(lang)
        assert r["manipulative"] >= 100 and r["ordinary"] >= 100
        assert r["precision"] >= 0.95, (lang, r["false_alarms"])
        assert r["recall"] >= 0.8, (lang, r["misses"])


SRT = """1
00:00:01,000 --> 00:00:03,500
家人们，<i>只剩最后3单</i>了！

2
00:31:04,000 --> 00:31:06,000
Only 3 left,
hurry!

3
01:02:04,000 --> 01:02:06,000
手慢无
"""

VTT = """WEBVTT

NOTE written by the stream tool

intro
00:01.000 --> 00:04.000
<v Host>Original price $99, today only $19.99

00:10.500 --> 00:12.000
Welcome everyone
"""


def test_srt_times_lines_and_repetition(tmp_path: Path) -> None:
    p = tmp_path / "captions.srt"
    p.write_text(SRT, encoding="utf-8")
    report = screen_file(p)
    assert report.format == "srt" and report.lines == 3
    first = report.findings[0]
    assert (first.rule, first.start, first.end, first.line) == (
        "zh.scarcity.only_left",
        1.0,
        3.5,
        3,
    )
    assert "<i>" not in first.text
    second = next(f for f in report.findings if f.rule == "en.scarcity.only_left")
    assert second.text == "Only 3 left, hurry!" and second.start == 31 * 60 + 4
    rep = [f for f in report.findings if f.rule == "repeat.scarcity"]
    assert len(rep) == 1 and rep[0].severity is Severity.HIGH


def test_repetition_needs_the_span(tmp_path: Path) -> None:
    p = tmp_path / "short.txt"
    p.write_text("[00:00:01] 只剩3单\n[00:05:00] 只剩2单\n[00:10:00] 只剩1单\n", encoding="utf-8")
    report = screen_file(p)
    assert report.format == "transcript"
    assert [f.start for f in report.findings] == [1.0, 300.0, 600.0]
    assert not any(f.rule == "repeat.scarcity" for f in report.findings)


def test_webvtt(tmp_path: Path) -> None:
    p = tmp_path / "c.vtt"
    p.write_text(VTT, encoding="utf-8")
    report = screen_file(p)
    assert report.format == "vtt" and report.lines == 2
    assert [(f.category, f.start) for f in report.findings] == [("fake_price_anchor", 1.0)]
    assert report.findings[0].text.startswith("Original price")


def test_plain_script_and_gbk_file(tmp_path: Path) -> None:
    p = tmp_path / "script.txt"
    p.write_bytes("开场白\n\n这个茶可以降血压，比药还管用\n".encode("gb18030"))
    report = screen_file(p)
    assert report.format == "script"
    assert [(f.category, f.line, f.start) for f in report.findings] == [("health_claim", 3, None)]


def test_transcript_stamp_forms() -> None:
    fmt, lines = parse_script("00:01 hello\n(1:02:03) only 2 left\n[12:00.5]：仅剩五箱\n")
    assert fmt == "transcript"
    assert [ln.start for ln in lines] == [1.0, 3723.0, 720.5]


def test_unreadable_inputs(tmp_path: Path) -> None:
    with pytest.raises(ScriptUnreadable):
        read_script(tmp_path / "missing.srt")
    binary = tmp_path / "video.mp4"
    binary.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)))
    with pytest.raises(ScriptUnreadable):
        read_script(binary)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('version = "x"\n', "no rules"),
        ('version = "x"\n[[rule]]\nid = "a"\n', "patterns"),
        (
            'version="x"\n[[rule]]\nid="a"\ncategory="c"\nseverity="low"\nlang="en"\n'
            'patterns=["(unclosed"]\nexplanation="e"\nsource="s"\n',
            "bad pattern",
        ),
        (
            'version="x"\n[[rule]]\nid="a"\ncategory="c"\nseverity="dire"\nlang="en"\n'
            'patterns=["a"]\nexplanation="e"\nsource="s"\n',
            "severity",
        ),
        ("not toml [", "TOML"),
    ],
)
def test_malformed_lists_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "list.toml"
    p.write_text(text)
    with pytest.raises(NegativeListInvalid, match=message):
        load_negative_list(p)


def test_shipped_list_is_documented() -> None:
    assert NL.version and NL.sha256.startswith("sha256:")
    for r in NL.rules:
        assert r.explanation and r.source and r.lang in ("zh", "en")
    doc = Path(__file__).resolve().parents[2] / "docs" / "institutions.md"
    text = doc.read_text(encoding="utf-8")
    for r in NL.rules:
        assert r.id in text, f"{r.id} missing from docs/institutions.md"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_screens_without_error(text: str) -> None:
    fmt, lines = parse_script(text)
    assert fmt in ("srt", "vtt", "transcript", "script")
    assert normalise(normalise(text)) == normalise(text)
    for f in screen_lines(lines, NL):
        assert f.match and f.rule


def test_cli_json_and_exit_status(tmp_path: Path) -> None:
    runner = CliRunner()
    bad = tmp_path / "bad.srt"
    bad.write_text(SRT, encoding="utf-8")
    res = runner.invoke(app, ["script", "check", str(bad), "--json"])
    assert res.exit_code == 2
    doc = json.loads(res.stdout)
    assert doc["flagged"] and doc["findings"][0]["rule"] == "zh.scarcity.only_left"
    assert doc["findings"][0]["time"] == 1.0
    good = tmp_path / "good.txt"
    good.write_text("Welcome everyone\nToday's price is $12.90\n")
    res = runner.invoke(app, ["script", "check", str(good), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["findings"] == []
    res = runner.invoke(app, ["script", "check", str(tmp_path / "nope.srt"), "--json"])
    assert res.exit_code == 2
    assert json.loads(res.stdout)["error"]["code"] == "script_unreadable"
