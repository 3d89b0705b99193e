"""Learning joker synergies from how games end, over a real nats-server."""

from __future__ import annotations

from itertools import permutations
from typing import TYPE_CHECKING

import httpx
import msgspec
from nats.js.errors import KeyNotFoundError

import subjects
from bridge.gateway import Gateway, create_app
from handlers import publish
from handlers._knowledge import PRIOR, LearnedGame, Node, decode_node, learned_key, node_key
from handlers.decision import endpoint as decision
from handlers.game_director import handler as director
from handlers.knowledge import learner, query_endpoint, update_consumer, update_endpoint
from ops.sim import GameOptions, play_games
from schemas import create_event
from schemas.events_pb2 import Blind, GameStateEvent
from tests.integration.helpers import running, wait_for_async
from tests.integration.test_knowledge import joker_update, send_update

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js.kv import KeyValue

    from handlers import Settings
    from subjects import Names

HANDLERS = (query_endpoint, update_endpoint, update_consumer, learner)


def game_over(game_id: str, jokers: list[str], *, won: bool) -> GameStateEvent:
    """The last GAME_STATE of a game, as the mod (and the simulator) sends it."""
    state = GameStateEvent(
        in_game=True,
        game_id=game_id,
        ante=8 if won else 3,
        round=24 if won else 8,
        game_state="GAME_OVER",
        blind=Blind(name="Violet Vessel" if won else "The Wall", boss=True, defeated=won),
    )
    for position, name in enumerate(jokers):
        state.jokers.add(name=name, position=position)
    return state


async def send_state(nc: Client, names: Names, state: GameStateEvent) -> None:
    """Publish a GAME_STATE (each call a new event, as the mod's heartbeat copies are)."""
    event = create_event(state, source="BalatroMCP")
    event.metadata["session"] = "default"
    await publish(
        nc.jetstream(),
        names.subject(subjects.GAME_STATE_UPDATE),
        event,
        msg_id=event.event_id,
        event_type="GAME_STATE",
    )


async def bucket(nc: Client, names: Names) -> KeyValue:
    return await nc.jetstream().key_value(names.bucket("KNOWLEDGE"))


async def node(kv: KeyValue, name: str) -> Node:
    return decode_node((await kv.get(node_key(name))).value or b"")


async def wait_learned(kv: KeyValue, *games: str) -> None:
    async def learned() -> bool:
        try:
            for game in games:
                await kv.get(learned_key(f"default:{game}"))
        except KeyNotFoundError:
            return False
        return True

    await wait_for_async(learned, timeout=20)


async def caught_up(nc: Client, names: Names, handler: str) -> None:
    """Wait until ``handler``'s consumer has acked everything in the stream."""

    async def done() -> bool:
        info = await nc.jetstream().consumer_info(names.events_stream, names.durable(handler))
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)

    await wait_for_async(done)


def strength(joker: Node, partner: str) -> float:
    return joker.edges["SYNERGY"][partner].strength


async def test_a_win_strengthens_and_a_loss_weakens_the_edges_between_jokers_held(
    nc: Client, names: Names, settings: Settings
) -> None:
    kv = await bucket(nc, names)
    async with running(*HANDLERS, settings=settings, nc=nc):
        await send_state(nc, names, game_over("WIN1", ["Baron", "Mime", "Blueprint"], won=True))
        await wait_learned(kv, "WIN1")
        after_win = {name: await node(kv, name) for name in ("Baron", "Mime", "Blueprint")}
        await send_state(nc, names, game_over("LOSS1", ["Baron", "Mime"], won=False))
        await wait_learned(kv, "LOSS1")
        baron, mime = await node(kv, "Baron"), await node(kv, "Mime")

    for a, b in permutations(after_win, 2):
        assert strength(after_win[a], b) > PRIOR, (a, b)
        assert after_win[a].edges["SYNERGY"][b].games == 1
        assert after_win[a].edges["SYNERGY"][b].wins == 1
    assert strength(baron, "Mime") < strength(after_win["Baron"], "Mime")
    assert strength(mime, "Baron") < strength(after_win["Mime"], "Baron")
    assert strength(baron, "Blueprint") == strength(after_win["Baron"], "Blueprint")  # not held
    assert (baron.games, baron.wins) == (2, 1)
    marker = msgspec.json.decode((await kv.get(learned_key("default:LOSS1"))).value or b"")
    assert marker["won"] is False and marker["jokers"] == ["Baron", "Mime"]


async def test_a_game_end_seen_again_is_learned_once(
    nc: Client, names: Names, settings: Settings
) -> None:
    kv = await bucket(nc, names)
    state = game_over("TWICE", ["Hack", "Dusk"], won=True)
    async with running(*HANDLERS, settings=settings, nc=nc):
        await send_state(nc, names, state)
        await wait_learned(kv, "TWICE")
        first = await node(kv, "Hack")
        # The mod re-sends its last state with every heartbeat: new events, the same game.
        for _ in range(3):
            await send_state(nc, names, state)
        await caught_up(nc, names, "knowledge_learner")
        again = await node(kv, "Hack")
    assert (again.games, again.edges["SYNERGY"]["Dusk"].games) == (1, 1)
    assert strength(again, "Dusk") == strength(first, "Dusk")


async def test_a_redelivered_update_does_not_undo_what_games_taught(
    nc: Client, names: Names, settings: Settings
) -> None:
    kv = await bucket(nc, names)
    update = joker_update("Baron", ("Mime", 0.6, ["Kings in hand"]))
    async with running(*HANDLERS, settings=settings, nc=nc):
        event_id = await send_update(nc, names, update)

        async def stored() -> bool:
            try:
                return strength(await node(kv, "Baron"), "Mime") == 0.6
            except KeyNotFoundError:
                return False

        await wait_for_async(stored)
        await send_state(nc, names, game_over("G", ["Baron", "Mime"], won=True))
        await wait_learned(kv, "G")
        learned = strength(await node(kv, "Baron"), "Mime")
        # The same event again (a redelivery after a crash): applied already, so skipped.
        await send_update(nc, names, update, event_id=event_id)
        await caught_up(nc, names, "knowledge_updates")
        final = await node(kv, "Baron")
    assert learned > 0.6
    assert strength(final, "Mime") == learned
    assert final.edges["SYNERGY"]["Mime"].conditions == ["Kings in hand"]


async def test_simulated_games_move_strengths_toward_their_outcomes(
    nc: Client, names: Names, settings: Settings
) -> None:
    app = create_app(Gateway(nc, names))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    kv = await bucket(nc, names)
    async with running(decision, director, *HANDLERS, settings=settings, nc=nc):
        # Scores times 50: the heuristic wins. At Balatro's own scores it loses.
        won = await play_games(
            "http://127.0.0.1:8080",
            1,
            seed=11,
            transport=transport,
            options=GameOptions(score_multiplier=50),
        )
        lost = await play_games(
            "http://127.0.0.1:8080", 2, concurrency=2, seed=21, transport=transport
        )
        assert (won.won, lost.lost) == (1, 2), (won, lost)

        async def three_learned() -> bool:
            try:
                return len([k for k in await kv.keys() if k.startswith("learned.")]) == 3
            except Exception:
                return False

        await wait_for_async(three_learned, timeout=20)
        games = [
            msgspec.json.decode((await kv.get(key)).value or b"", type=LearnedGame)
            for key in await kv.keys()
            if key.startswith("learned.")
        ]
        nodes = {key: await node(kv, key) for key in {j for g in games for j in g.jokers}}
    assert sorted(g.won for g in games) == [False, False, True]
    checked = 0
    for a, b in permutations(nodes, 2):
        outcomes = {g.won for g in games if a in g.jokers and b in g.jokers}
        if len(outcomes) != 1:
            continue  # never held together, or in a won and a lost game
        checked += 1
        if outcomes == {True}:
            assert strength(nodes[a], b) > PRIOR, (a, b)
        else:
            assert strength(nodes[a], b) < PRIOR, (a, b)
    assert checked > 0, games
    # Every game's joker counts add up to its own games.
    for name, joker in nodes.items():
        assert joker.games == sum(name in g.jokers for g in games)
        assert joker.wins == sum(name in g.jokers and g.won for g in games)
