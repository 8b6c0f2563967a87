"""The hand-written canonical statement is byte-for-byte the generic canonical JSON."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provenance._signing import Statement, canonical_json

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@given(
    event=text,
    content=text,
    prev=st.lists(text, max_size=4),
    actor=text,
    key=st.binary(min_size=32, max_size=32),
    role=text,
)
def test_statement_canonical_is_canonical_json(
    event: str, content: str, prev: list[str], actor: str, key: bytes, role: str
) -> None:
    s = Statement(event, content, tuple(prev), actor, key, role)
    assert s.canonical == canonical_json(s.to_json())


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | text,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
        max_leaves=10,
    )
)
def test_canonical_json_matches_json_dumps(value: object) -> None:
    import json

    expected = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
    assert canonical_json(value) == expected
