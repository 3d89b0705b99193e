"""The shim's input rules and output caps, as plain functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.agentbridge import META_CAP, InvalidInput, cap_metadata, percept_key
from bridge.agentbridge._checks import check_action, check_agent, check_text, cut_utf8
from handlers.agentpolicy import percept_key as handler_percept_key
from schemas import agent_bridge_pb2 as pb


@given(st.text(min_size=1, max_size=40))
def test_the_shim_and_the_handler_agree_on_every_percept_key(agent: str) -> None:
    key = percept_key(agent)
    assert key == handler_percept_key(agent)
    assert all(c.isascii() and (c.isalnum() or c in "-_=") for c in key)


def test_plain_names_stay_readable_and_others_cannot_collide() -> None:
    assert percept_key("python_link") == "python_link"
    assert percept_key("robô 1").startswith("=")
    assert percept_key("a.b") != percept_key("a_b")


@pytest.mark.parametrize(
    ("agent", "message"),
    [
        ("", "non-empty"),
        ("   ", "non-empty"),
        ("a\tb", "U+0009"),
        ("a\u200bb", "U+200B"),
        ("a\u2028b", "U+2028"),
        ("é" * 65, "longer than 128"),
    ],
)
def test_bad_agent_names_say_which_rule_they_break(agent: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_agent(agent)
    assert message in str(info.value)


def test_good_agent_names_pass() -> None:
    for agent in ("python_link", "robô 1", "agent-0001", "x" * 128):
        check_agent(agent)


def test_text_allows_line_breaks_and_tabs_but_no_other_controls() -> None:
    check_text("context", "line one\nline two\tcol\r\n", 100)
    with pytest.raises(InvalidInput, match=r"U\+0007"):
        check_text("context", "bell\a", 100)
    with pytest.raises(InvalidInput, match="context is 101 bytes; the limit is 100"):
        check_text("context", "x" * 101, 100)


@pytest.mark.parametrize(
    ("action", "allowed", "detail"),
    [
        ("idle", frozenset(), None),
        ('say "hi"\n', frozenset(), None),
        ("", frozenset(), "invalid_action"),
        ("x" * 129, frozenset(), "invalid_action"),
        ("nul\x00", frozenset(), "invalid_action"),
        ("explore", frozenset({"idle"}), "action_not_allowed"),
        ("idle", frozenset({"idle"}), None),
    ],
)
def test_actions_are_checked(action: str, allowed: frozenset[str], detail: str | None) -> None:
    assert check_action(action, allowed) == detail


def test_cut_utf8_never_splits_a_character() -> None:
    assert cut_utf8("éé", 3) == "é"
    assert cut_utf8("abc", 10) == "abc"


def test_small_metadata_is_left_alone() -> None:
    response = pb.ActionResponse(
        action="idle", metadata="ctx=a|percept=b", meta=[pb.MetaEntry(key="k", value="v")]
    )
    cap_metadata(response)
    assert response.metadata == "ctx=a|percept=b"
    assert [(e.key, e.value) for e in response.meta] == [("k", "v")]


@given(
    st.lists(st.tuples(st.text(max_size=30), st.text(max_size=120)), max_size=12),
    st.text(max_size=400),
)
def test_capped_metadata_fits_and_a_cut_is_always_marked(
    entries: list[tuple[str, str]], metadata: str
) -> None:
    response = pb.ActionResponse(
        action="idle",
        metadata=metadata,
        meta=[pb.MetaEntry(key=k, value=v) for k, v in entries],
    )
    cap_metadata(response)
    meta = [(e.key, e.value) for e in response.meta]
    marked = bool(meta) and meta[-1][0] == "truncated"
    kept = meta[:-1] if marked else meta
    assert len(response.metadata.encode()) <= META_CAP
    assert len(";".join(f"{k}={v}" for k, v in kept).encode()) <= META_CAP
    assert marked == ((response.metadata, kept) != (metadata, entries))
