"""Asks for a decision when the game waits for one, and queues the commands for the mod's poll.

Rule: for each GAME_STATE in a phase that waits for the player (SELECTING_HAND, SHOP,
BLIND_SELECT, ROUND_EVAL), ask ``rpc.decision.get`` once per distinct state, expand the
chosen action into the mod's text commands on ``commands.<session>``, and publish it as a
``learning.decision`` event. The mod re-sends the same state with every heartbeat; a state
already decided (remembered per session in the ``GAMES`` bucket, and deduplicated by
``Nats-Msg-Id`` within the commands stream's window when copies race) queues nothing again,
unless it is still the state seconds of game time later: then the last commands did nothing.
"""

from __future__ import annotations

import hashlib
import time

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
STUCK_FRAMES = 240
STUCK_SECONDS = 3.0
"""The same state 4 s of game time (240 frames) *and* 3 s of wall time after its decision
means the commands changed nothing (a move the game refused): decide again rather than
stall. Both clocks, because a simulator's game time runs far ahead of the wall's."""
TIME_LIMIT_MS = 100.0
"""The policy's budget; the mod polls every 0.5 s, so an answer within it costs no poll."""


def _parse(value: str) -> tuple[str, int, float, int]:
    """``key:frame:epoch:generation`` as stored in the GAMES bucket."""
    key, frame, at, generation = ([*value.split(":"), "", "", ""])[:4]
    try:
        return key, int(frame or 0), float(at or 0), int(generation or 0)
    except ValueError:
        return key, 0, 0.0, 0


def state_key(state: events_pb2.GameStateEvent) -> str:
    """What makes two states the same decision: everything but the clocks."""
    stable = events_pb2.GameStateEvent()
    stable.CopyFrom(state)
    for volatile in ("timestamp", "frame_count", "ui_state"):
        stable.ClearField(volatile)
    return hashlib.sha256(stable.SerializeToString(deterministic=True)).hexdigest()[:24]


async def direct(event: events_pb2.Event, ctx: Context) -> None:
    if event.metadata.get("superseded") == "true":
        return  # a later state arrived in the same batch; deciding this one would be stale
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
        last_key, last_frame, last_time, tries = _parse((entry.value or b"").decode())
    except KeyNotFoundError:
        last_key, last_frame, last_time, tries = "", 0, 0.0, 0
    frame = state.frame_count
    stuck = frame - last_frame >= STUCK_FRAMES and time.time() - last_time >= STUCK_SECONDS
    if last_key == key and not stuck:
        return  # this very state was decided already (a heartbeat's copy)
    if frame and frame < last_frame:
        return  # an older state delivered late: its moment has passed
    # Copies racing on one state derive the same ids and are deduplicated; a retry of a stuck
    # state is a new generation with new ids.
    generation = tries + 1 if last_key == key else 0
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
    lines = expand_action(decision.selected_action)
    if lines:
        # One message for the whole move: stored (and polled) at once, in order, with one ack.
        await ctx.publish(
            f"commands.{session}", "\n".join(lines), msg_id=f"{session}:{key}:{generation}"
        )
    await ctx.publish(
        subjects.LEARNING_DECISION,
        create_event(decision, source="game_director", correlation_id=event.event_id),
        msg_id=f"decision:{session}:{key}:{generation}",
        event_type="LEARNING_DECISION",
    )
    await games.put(session, f"{key}:{frame}:{time.time():.3f}:{generation}".encode())
    ctx.logger.debug(
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
