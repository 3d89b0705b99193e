"""The knowledge graph's rules without NATS: keys, updates, learning, game outcomes."""

from __future__ import annotations

import pytest

from handlers._knowledge import (
    MIN_RATE,
    PRIOR,
    UNCHANGED,
    Edge,
    InvalidUpdate,
    Node,
    Outcome,
    apply_change,
    decode_node,
    drop_edges_to,
    encode_json,
    game_outcome,
    learn,
    name_of_key,
    node_key,
    plan_update,
    quote_key,
    rate,
    unquote_key,
)
from schemas import create_event
from schemas.events_pb2 import (
    Blind,
    GameStateEvent,
    KnowledgeRelationship,
    KnowledgeUpdate,
    MoneyChangedEvent,
)


@pytest.mark.parametrize(
    "name", ["Joker", "Mr. Bones", "Ride the Bus", "Séance", "Hit=the Road", "8 Ball", "a/b"]
)
def test_a_joker_name_round_trips_through_a_valid_kv_key(name: str) -> None:
    key = node_key(name)
    assert key.startswith("joker.")
    assert all(c.isalnum() or c in "-_=." for c in key)
    assert key.count(".") == 1  # the name's own dots are quoted, so `joker.>` matches one token
    assert name_of_key(key) == name
    assert unquote_key(quote_key(name)) == name


def test_a_key_that_is_not_a_node_has_no_name() -> None:
    assert name_of_key("learned.default=3AABC") is None


def rel(target: str, **fields: object) -> KnowledgeRelationship:
    out = KnowledgeRelationship(target_id=target)
    for key, value in fields.items():
        if key == "properties":
            assert isinstance(value, dict)
            out.properties.update(value)
        elif key == "extra":
            assert isinstance(value, dict)
            out.extra.update(value)
        else:
            setattr(out, key, value)
    return out


def test_an_update_is_read_with_its_defaults_and_conditions() -> None:
    update = KnowledgeUpdate(entity_id=" Blueprint ", properties={"rarity": "Rare"})
    update.relationships.extend(
        [
            rel("Brainstorm", strength=0.9, properties={"conditions": '["copies", "right"]'}),
            rel("Baron", type="anti_synergy", target_type="Joker"),
            rel("Mime", properties={"conditions": "Kings held", "source": "wiki"}),
            rel("Hack", extra={"conditions": ["final hand"], "properties": {"n": 2}}),
        ]
    )
    change = plan_update(update, op_id="update:1")
    assert change.name == "Blueprint" and not change.delete
    assert change.properties == {"rarity": "Rare"}
    edges = {e.target: e for e in change.edges}
    assert edges["Brainstorm"].type == "SYNERGY" and edges["Brainstorm"].strength == 0.9
    assert edges["Brainstorm"].conditions == ["copies", "right"]
    assert edges["Baron"].type == "ANTI_SYNERGY" and edges["Baron"].strength is None
    assert edges["Baron"].conditions is None  # not given: an upsert keeps what is stored
    assert edges["Mime"].conditions == ["Kings held"]
    assert edges["Mime"].properties == {"source": "wiki"}
    assert edges["Hack"].conditions == ["final hand"] and edges["Hack"].properties == {"n": 2}
    assert change.targets == ["Brainstorm", "Baron", "Mime", "Hack"]


@pytest.mark.parametrize(
    ("update", "field"),
    [
        (KnowledgeUpdate(entity_type="tarot", entity_id="The Fool"), "entity_type"),
        (KnowledgeUpdate(entity_id=""), "entity_id"),
        (KnowledgeUpdate(entity_id="x" * 201), "entity_id"),
        (KnowledgeUpdate(entity_id="Joker", operation="merge-all"), "operation"),
        (KnowledgeUpdate(entity_id="J", relationships=[rel("", strength=0.5)]), "target_id"),
        (KnowledgeUpdate(entity_id="J", relationships=[rel("M", strength=-0.1)]), "strength"),
        (
            KnowledgeUpdate(entity_id="J", relationships=[rel("M", strength=float("nan"))]),
            "strength",
        ),
        (KnowledgeUpdate(entity_id="J", relationships=[rel("M", type="two words")]), "type"),
        (
            KnowledgeUpdate(entity_id="J", relationships=[rel("M", target_type="deck")]),
            "target_type",
        ),
        (
            KnowledgeUpdate(
                entity_id="J", relationships=[rel("M", properties={"conditions": "[oops"})]
            ),
            "conditions",
        ),
    ],
)
def test_a_bad_update_names_the_field(update: KnowledgeUpdate, field: str) -> None:
    with pytest.raises(InvalidUpdate) as caught:
        plan_update(update)
    assert field in str(caught.value)


def upsert(name: str, *edges: tuple[str, float]) -> KnowledgeUpdate:
    update = KnowledgeUpdate(entity_id=name)
    for target, strength in edges:
        update.relationships.add(target_id=target, strength=strength)
    return update


def test_an_upsert_merges_and_an_update_applied_once_is_not_applied_again() -> None:
    first = plan_update(upsert("A", ("B", 0.9)), op_id="update:e1")
    node = apply_change(None, first, 1.0)
    assert isinstance(node, Node)
    node.edges["SYNERGY"]["B"].conditions = ["kept"]
    second = plan_update(upsert("A", ("C", 0.2)), op_id="update:e2")
    node = apply_change(node, second, 2.0)
    assert isinstance(node, Node)
    assert {t: e.strength for t, e in node.edges["SYNERGY"].items()} == {"B": 0.9, "C": 0.2}
    assert node.edges["SYNERGY"]["B"].conditions == ["kept"]
    assert apply_change(node, first, 3.0) is UNCHANGED
    assert node.applied == ["update:e1", "update:e2"]


def test_a_delete_removes_the_node_or_only_the_edges_named() -> None:
    node = apply_change(None, plan_update(upsert("A", ("B", 0.9), ("C", 0.1))), 1.0)
    assert isinstance(node, Node)
    only_c = KnowledgeUpdate(entity_id="A", operation="delete")
    only_c.relationships.add(target_id="C")
    after = apply_change(node, plan_update(only_c), 2.0)
    assert isinstance(after, Node) and list(after.edges["SYNERGY"]) == ["B"]
    assert apply_change(after, plan_update(only_c), 3.0) is UNCHANGED  # nothing left to remove
    whole = plan_update(KnowledgeUpdate(entity_id="A", operation="delete"))
    assert apply_change(after, whole, 4.0) is None
    assert apply_change(None, whole, 4.0) is UNCHANGED


def test_dropping_inbound_edges_removes_every_type_and_empty_groups() -> None:
    node = Node(
        name="A",
        edges={"SYNERGY": {"B": Edge(), "C": Edge()}, "ANTI_SYNERGY": {"B": Edge()}},
    )
    after = drop_edges_to(node, "B", 1.0)
    assert isinstance(after, Node) and after.edges == {"SYNERGY": {"C": Edge()}}
    assert drop_edges_to(after, "B", 2.0) is UNCHANGED


def test_a_node_survives_its_json() -> None:
    node = Node(name="A", properties={"rarity": "Rare", "cost": 8}, games=3, wins=1)
    node.edges["SYNERGY"] = {"B": Edge(strength=0.7, conditions=["x"], games=2, wins=1)}
    assert decode_node(encode_json(node)) == node


def outcome(jokers: list[str], *, won: bool, game: str = "s:g") -> Outcome:
    return Outcome(game, won, jokers)


def test_a_win_moves_every_pair_up_and_a_loss_down() -> None:
    won = outcome(["A", "B", "C"], won=True)
    a = learn(None, "A", won.partners()["A"], won, 1.0)
    assert isinstance(a, Node)
    assert {t: e.strength for t, e in a.edges["SYNERGY"].items()} == {"B": 0.75, "C": 0.75}
    assert (a.games, a.wins) == (1, 1)
    lost = outcome(["A", "B"], won=False, game="s:h")
    a = learn(a, "A", lost.partners()["A"], lost, 2.0)
    assert isinstance(a, Node)
    assert a.edges["SYNERGY"]["B"].strength == pytest.approx(0.75 - (0.75 / 3))
    assert a.edges["SYNERGY"]["C"].strength == 0.75
    assert (a.games, a.wins) == (2, 1)
    assert learn(a, "A", ["B"], lost, 3.0) is UNCHANGED  # the same game again


def test_the_rate_settles_but_never_below_its_floor() -> None:
    assert rate(0) == 0.5
    assert rate(8) == 0.1
    assert rate(10_000) == MIN_RATE
    edge_strength = PRIOR
    for games in range(200):
        edge_strength += rate(games) * (1.0 - edge_strength)
    assert 0.99 < edge_strength < 1.0


def test_a_joker_held_twice_pairs_with_itself() -> None:
    game = outcome(["Even Steven", "Even Steven", "Odd Todd"], won=True)
    assert game.partners() == {
        "Even Steven": ["Odd Todd", "Even Steven"],
        "Odd Todd": ["Even Steven"],
    }


def test_an_explicit_strength_is_moved_by_games_like_any_other() -> None:
    node = Node(name="A", edges={"SYNERGY": {"B": Edge(strength=0.2)}})
    won = outcome(["A", "B"], won=True)
    after = learn(node, "A", ["B"], won, 1.0)
    assert isinstance(after, Node)
    assert after.edges["SYNERGY"]["B"].strength == pytest.approx(0.6)


def test_game_outcome_reads_won_lost_and_the_jokers_held() -> None:
    won = GameStateEvent(game_id="G1", game_state="GAME_OVER", blind=Blind(defeated=True))
    won.jokers.add(name="Baron")
    won.jokers.add(name=" ")
    won.jokers.add(name="Mime")
    lost = GameStateEvent(game_id="G2", game_state="GAME_OVER", blind=Blind(defeated=False))
    playing = GameStateEvent(game_id="G3", game_state="SHOP")
    event = create_event(won, source="BalatroMCP")
    event.metadata["session"] = "s1"
    got = game_outcome(event)
    assert got == Outcome("s1:G1", True, ["Baron", "Mime"])
    assert game_outcome(create_event(lost, source="BalatroMCP")) == Outcome("default:G2", False, [])
    assert game_outcome(create_event(playing, source="BalatroMCP")) is None
    assert game_outcome(create_event(MoneyChangedEvent(new_value=4), source="x")) is None


def test_a_game_without_an_id_is_still_one_game_across_its_copies() -> None:
    state = GameStateEvent(game_state="GAME_OVER", ante=3, round=8)
    state.jokers.add(name="Joker")
    first = game_outcome(create_event(state, source="BalatroMCP"))
    again = game_outcome(create_event(state, source="BalatroMCP"))
    assert first is not None and again is not None
    assert first.game == again.game and first.game.startswith("default:anon-")
