"""Asks for a decision when the game waits for one, and queues the commands for the mod's poll.

Rule: for each GAME_STATE in a phase that waits for the player (SELECTING_HAND, SHOP,
BLIND_SELECT, ROUND_EVAL), ask ``rpc.decision.get`` once per distinct state, expand the
chosen action into the mod's text commands on ``commands.<session>``, and publish it as a
``learning.decision`` event. The mod re-sends the same state with every heartbeat; a state
already decided (remembered per session in the ``GAMES`` bucket, and deduplicated by
``Nats-Msg-Id`` within the commands stream's window when copies race) queues nothing again.
"""

from __future__ import annotations

import hashlib

from nats.js.errors import KeyNotFoundError

import subjects
from handlers import Consumer, Context, RetryableError, ServiceError, run
from handlers.policies import expand_action, game_phase
from schemas import create_event, events_pb2, unpack_payload

DECISION_PHASES = {
    "SELECTING_HAND": ["play_hand", "discard"],
    "SHOP": ["buy_joker", "reroll_shop", "skip_shop", "go_to_shop", "sell_joker"],
    "BLIND_SELECT": ["select_small_blind", "select_big_blind", "select_boss_blind", "skip_blind"],
    # Cashing out: the game cannot move on to the shop without it.
    "ROUND_EVAL": ["go_to_shop"],
}
TIME_LIMIT_MS = 100.0
"""The policy's budget; the mod polls every 0.5 s, so an answer within it costs no poll."""


def state_key(state: events_pb2.GameStateEvent) -> str:
    """What makes two states the same decision: everything but the clocks."""
    stable = events_pb2.GameStateEvent()
    stable.CopyFrom(state)
    for volatile in ("timestamp", "frame_count", "ui_state"):
        stable.ClearField(volatile)
    return hashlib.sha256(stable.SerializeToString(deterministic=True)).hexdigest()[:24]


async def direct(event: events_pb2.Event, ctx: Context) -> None:
    state = unpack_payload(event)
    if not isinstance(state, events_pb2.GameStateEvent) or not state.in_game:
        return
    actions = DECISION_PHASES.get(game_phase(state))
    if actions is None:
        return
    session = event.metadata.get("session") or "default"
    key = state_key(state)
    games = await ctx.kv("GAMES")
    try:
        entry = await games.get(session)
        last_key, _, last_frame = (entry.value or b"").decode().partition(":")
    except KeyNotFoundError:
        last_key, last_frame = "", "0"
    if last_key == key:
        return  # this very state was decided already (a heartbeat's copy)
    if state.frame_count and state.frame_count < int(last_frame or 0):
        return  # an older state delivered late: its moment has passed
    request = events_pb2.LearningDecisionRequest(
        request_id=event.event_id,
        game_state=state,
        available_actions=actions,
        time_limit_ms=TIME_LIMIT_MS,
    )
    try:
        decision = await ctx.request(
            subjects.RPC_DECISION_GET,
            request,
            events_pb2.LearningDecisionResponse,
            timeout=TIME_LIMIT_MS / 1000 + 1.0,
        )
    except ServiceError as exc:
        raise RetryableError(f"decision service: {exc}") from exc
    for i, line in enumerate(expand_action(decision.selected_action)):
        await ctx.publish(f"commands.{session}", line, msg_id=f"{session}:{key}:{i}")
    await ctx.publish(
        subjects.LEARNING_DECISION,
        create_event(decision, source="game_director", correlation_id=event.event_id),
        msg_id=f"decision:{session}:{key}",
        event_type="LEARNING_DECISION",
    )
    await games.put(session, f"{key}:{state.frame_count}".encode())
    ctx.logger.info(
        "decided %s for %s",
        decision.selected_action,
        session,
        extra={"event_type": "GAME_STATE"},
    )


handler = Consumer(
    name="game_director",
    subjects=[subjects.GAME_STATE_UPDATE],
    handle=direct,
    concurrency=32,
    max_deliver=5,
    retry_delay=0.2,
)

if __name__ == "__main__":
    raise SystemExit(run([handler]))
