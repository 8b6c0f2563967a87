"""Screening scripts and captions against the negative list for emotional marketing.

The list is data (``services/data/negative_list.toml``, versioned, one entry per tactic with
its category, severity, patterns, explanation and the rule or law it comes from); this
module loads it, reads a script or caption file and reports every line that matches.

Steps of :func:`screen_file`:

(1) read: bytes -> text, trying UTF-8 (with or without BOM), UTF-16 (BOM) and GB 18030
    (Chinese subtitle files are often GBK-encoded); anything else is ``script_unreadable``;
(2) parse by content, never by file name: SubRip (``1`` / ``00:00:01,000 --> …`` / text),
    WebVTT (``WEBVTT`` header, cue timings with ``.``), a timestamped transcript (most lines
    start with ``[hh:mm:ss]`` / ``mm:ss``), else a plain script (one line, no time);
(3) normalise each line (NFKC: full-width letters, digits and punctuation -> ASCII; lower
    case; white space runs -> one space). Chinese is matched as character sequences: the
    list's Chinese patterns never rely on ``\\b`` word boundaries, which do not exist between
    CJK characters; no segmentation is needed for these rules (see docs/institutions.md);
(4) every rule on every line: a rule fires when a pattern matches and no ``unless`` pattern
    does (negations such as "不能治病" / "does not cure");
(5) repetition: ``[[repeat]]`` entries escalate a category said at least ``min_findings``
    times over at least ``min_span_s`` seconds (false scarcity repeated for hours).

A report is *flagged* when a finding reaches :data:`FLAG_SEVERITY` (medium): low findings
are identity claims to check against the persona registration, not manipulation.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import tomllib
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

from services._errors import NegativeListInvalid, ScriptUnreadable

__all__ = [
    "FLAG_SEVERITY",
    "MAX_SCRIPT_BYTES",
    "REPORT_FORMAT",
    "Line",
    "NegativeList",
    "RepeatRule",
    "Rule",
    "ScreeningReport",
    "ScriptFinding",
    "Severity",
    "load_negative_list",
    "normalise",
    "parse_script",
    "read_script",
    "screen_file",
    "screen_lines",
]

REPORT_FORMAT = "livetrust.screening/1"
# A 4-hour broadcast's captions are ~1 MB; 8 MiB refuses a video or an archive passed by
# mistake before it is decoded as text.
MAX_SCRIPT_BYTES = 8 * 1024 * 1024
_LIST_FILE = "negative_list.toml"


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except (KeyError, AttributeError):
            raise NegativeListInvalid(
                f"severity must be low, medium or high, got {text!r}"
            ) from None


FLAG_SEVERITY = Severity.MEDIUM  # the threshold the precision figures are measured at


@dataclass(frozen=True)
class Rule:
    id: str
    category: str
    severity: Severity
    lang: str
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    explanation: str
    source: str

    def match(self, norm: str) -> str | None:
        """The matched text of the first pattern that fires on a normalised line."""
        for p in self.patterns:
            m = p.search(norm)
            if m is not None:
                if any(u.search(norm) for u in self.unless):
                    return None
                return m.group(0)
        return None


@dataclass(frozen=True)
class RepeatRule:
    id: str
    category: str
    severity: Severity
    counts: frozenset[str]
    min_findings: int
    min_span_s: float
    explanation: str
    source: str


@dataclass(frozen=True)
class NegativeList:
    version: str
    sha256: str  # of the list file's bytes: which exact list a report used
    rules: tuple[Rule, ...]
    repeats: tuple[RepeatRule, ...]

    @property
    def categories(self) -> frozenset[str]:
        return frozenset(r.category for r in self.rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "rules": [
                {
                    "id": r.id,
                    "category": r.category,
                    "severity": r.severity.label,
                    "lang": r.lang,
                    "explanation": r.explanation,
                    "source": r.source,
                }
                for r in self.rules
            ],
        }


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    v = entry.get(key)
    if not isinstance(v, str) or not v.strip():
        raise NegativeListInvalid(f"{where}: {key!r} must be a non-empty string")
    return v


def _compile(patterns: Any, num: str, where: str) -> tuple[re.Pattern[str], ...]:
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise NegativeListInvalid(f"{where}: patterns must be a list of strings")
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p.replace("{NUM}", num)))
        except re.error as exc:
            raise NegativeListInvalid(f"{where}: bad pattern {p!r}: {exc}") from exc
    return tuple(out)


def load_negative_list(path: Path | None = None) -> NegativeList:
    """The shipped list (package data), or the TOML file at ``path``; checked and compiled."""
    try:
        raw = (
            Path(path).read_bytes()
            if path is not None
            else resources.files("services.data").joinpath(_LIST_FILE).read_bytes()
        )
    except OSError as exc:
        raise NegativeListInvalid(f"cannot read negative list {path}: {exc.strerror}") from exc
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise NegativeListInvalid(f"negative list is not valid TOML: {exc}") from exc
    version = _text(doc, "version", "negative list")
    num = doc.get("numbers", "[0-9]+")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, entry in enumerate(doc.get("rule") or []):
        where = f"rule #{i + 1}"
        rid = _text(entry, "id", where)
        if rid in seen:
            raise NegativeListInvalid(f"{where}: duplicate rule id {rid!r}")
        seen.add(rid)
        patterns = _compile(entry.get("patterns"), num, rid)
        if not patterns:
            raise NegativeListInvalid(f"{rid}: at least one pattern is needed")
        rules.append(
            Rule(
                rid,
                _text(entry, "category", rid),
                Severity.parse(_text(entry, "severity", rid)),
                _text(entry, "lang", rid),
                patterns,
                _compile(entry.get("unless", []), num, rid),
                _text(entry, "explanation", rid),
                _text(entry, "source", rid),
            )
        )
    if not rules:
        raise NegativeListInvalid("negative list has no rules")
    repeats = []
    for entry in doc.get("repeat") or []:
        rid = _text(entry, "id", "repeat rule")
        counts = entry.get("counts")
        if not isinstance(counts, list) or not counts:
            raise NegativeListInvalid(f"{rid}: counts must list categories")
        try:
            min_findings, min_span = int(entry["min_findings"]), float(entry["min_span_s"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NegativeListInvalid(f"{rid}: needs min_findings and min_span_s") from exc
        repeats.append(
            RepeatRule(
                rid,
                _text(entry, "category", rid),
                Severity.parse(_text(entry, "severity", rid)),
                frozenset(str(c) for c in counts),
                min_findings,
                min_span,
                _text(entry, "explanation", rid),
                _text(entry, "source", rid),
            )
        )
    return NegativeList(
        version, "sha256:" + hashlib.sha256(raw).hexdigest(), tuple(rules), tuple(repeats)
    )


# -- reading and parsing -------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One caption cue or script line: where it is (line number, seconds) and its text."""

    number: int  # 1-based line of the file where the text starts
    text: str
    start: float | None = None
    end: float | None = None


def read_script(path: Path) -> str:
    """Step (1): the file's text, whatever common encoding it was saved in."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ScriptUnreadable(f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_SCRIPT_BYTES:
        raise ScriptUnreadable(
            f"{path}: {len(raw):,} bytes, over the {MAX_SCRIPT_BYTES:,}-byte limit for a script"
        )
    if b"\x00" in raw and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ScriptUnreadable(f"{path}: binary data, not a script or caption file")
    for enc in ("utf-8-sig", "utf-16", "gb18030"):
        if enc == "utf-16" and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            continue
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise ScriptUnreadable(f"{path}: not UTF-8, UTF-16 or GB 18030 text")


_CUE_TIME = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_STAMP = re.compile(r"^\s*[\[(]?((?:\d{1,2}:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?)[\])]?\s*[-–—:：]?\s*")
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    total = 0.0
    for p in parts:
        total = total * 60 + float(p)
    return total


def _cues(lines: list[str], vtt: bool) -> list[Line]:
    out: list[Line] = []
    i = 0
    while i < len(lines):
        m = _CUE_TIME.match(lines[i])
        if m is None:
            i += 1
            continue
        start, end = _seconds(m.group(1)), _seconds(m.group(2))
        first = i + 2
        text: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip():
            if _CUE_TIME.match(lines[i]):  # a cue with no blank line before the next
                break
            text.append(_TAGS.sub("", lines[i]).strip())
            i += 1
        joined = " ".join(t for t in text if t)
        if joined:
            out.append(Line(first, joined, start, end))
    return out


def parse_script(text: str) -> tuple[str, list[Line]]:
    """Step (2): ``(format, lines)`` with format ``srt``, ``vtt``, ``transcript`` or ``script``."""
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    nonempty = [ln for ln in raw_lines if ln.strip()]
    if nonempty and nonempty[0].lstrip("\ufeff").startswith("WEBVTT"):
        return "vtt", _cues(raw_lines, vtt=True)
    if sum(1 for ln in nonempty if _CUE_TIME.match(ln)) >= max(1, len(nonempty) // 5):
        return "srt", _cues(raw_lines, vtt=False)
    stamped = [(_STAMP.match(ln), ln) for ln in raw_lines]
    if nonempty and sum(1 for m, ln in stamped if m and ln.strip()) * 2 >= len(nonempty):
        out: list[Line] = []
        for n, (m, ln) in enumerate(stamped, start=1):
            if m is None:
                if ln.strip() and out:  # a continuation line belongs to the last stamp
                    last = out[-1]
                    out[-1] = Line(last.number, f"{last.text} {ln.strip()}", last.start)
                continue
            body = ln[m.end() :].strip()
            if body:
                out.append(Line(n, body, _seconds(m.group(1))))
        return "transcript", out
    return "script", [Line(n, ln.strip()) for n, ln in enumerate(raw_lines, 1) if ln.strip()]


def normalise(text: str) -> str:
    """Step (3): NFKC, lower case, one space for any run of white space."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


# -- screening -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ScriptFinding:
    rule: str
    category: str
    severity: Severity
    line: int
    start: float | None
    end: float | None
    text: str  # the whole line or cue, as written
    match: str  # the normalised text the pattern matched
    explanation: str
    source: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity.label,
            "line": self.line,
            "time": None if self.start is None else round(self.start, 3),
            "end": None if self.end is None else round(self.end, 3),
            "text": self.text,
            "match": self.match,
            "explanation": self.explanation,
            "source": self.source,
        }


@dataclass(frozen=True)
class ScreeningReport:
    format: str
    negative_list: str  # version
    negative_list_sha256: str
    lines: int
    findings: tuple[ScriptFinding, ...]
    script_sha256: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return any(f.severity >= FLAG_SEVERITY for f in self.findings)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    def to_json(self) -> dict[str, Any]:
        by_cat: dict[str, int] = defaultdict(int)
        for f in self.findings:
            by_cat[f.category] += 1
        return {
            "format": REPORT_FORMAT,
            "script_format": self.format,
            "script_sha256": self.script_sha256,
            "negative_list": {"version": self.negative_list, "sha256": self.negative_list_sha256},
            "lines": self.lines,
            "flagged": self.flagged,
            "summary": {
                "high": self.count(Severity.HIGH),
                "medium": self.count(Severity.MEDIUM),
                "low": self.count(Severity.LOW),
                "by_category": dict(sorted(by_cat.items())),
            },
            "findings": [f.to_json() for f in self.findings],
            **dict(self.extra),
        }


def screen_lines(lines: Iterable[Line], nl: NegativeList) -> list[ScriptFinding]:
    """Steps (3)-(5) over parsed lines: every rule that fires, then repetitions."""
    found: list[ScriptFinding] = []
    for line in lines:
        norm = normalise(line.text)
        for rule in nl.rules:
            hit = rule.match(norm)
            if hit is not None:
                found.append(
                    ScriptFinding(
                        rule.id,
                        rule.category,
                        rule.severity,
                        line.number,
                        line.start,
                        line.end,
                        line.text,
                        hit,
                        rule.explanation,
                        rule.source,
                    )
                )
    found.extend(_repeats(found, nl.repeats))
    return found


def _repeats(found: Sequence[ScriptFinding], repeats: Sequence[RepeatRule]) -> list[ScriptFinding]:
    out = []
    for rep in repeats:
        timed = sorted(
            (f for f in found if f.category in rep.counts and f.start is not None),
            key=lambda f: f.start or 0.0,
        )
        if len(timed) < rep.min_findings:
            continue
        first, last = timed[0], timed[-1]
        span = (last.start or 0.0) - (first.start or 0.0)
        if span >= rep.min_span_s:
            out.append(
                ScriptFinding(
                    rep.id,
                    rep.category,
                    rep.severity,
                    last.line,
                    first.start,
                    last.start,
                    f"{len(timed)} {', '.join(sorted(rep.counts))} claims over {span / 60:.0f} min",
                    last.match,
                    rep.explanation,
                    rep.source,
                )
            )
    return out


def screen_file(path: Path, nl: NegativeList | None = None) -> ScreeningReport:
    """Read, parse and screen a script or caption file (module docstring, steps 1-5)."""
    nl = nl or load_negative_list()
    text = read_script(path)
    fmt, lines = parse_script(text)
    findings = screen_lines(lines, nl)
    return ScreeningReport(
        fmt,
        nl.version,
        nl.sha256,
        len(lines),
        tuple(findings),
        "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )
