"""The Claude provider: one Messages API call per strategy, through the official Anthropic SDK.

The model gets the game state as JSON, the actions on offer, the question and the offline
strategist's answer as a baseline, and is asked for one JSON object, which becomes the
``StrategyResponse``. An answer that is not that object, or recommends an action the request
does not offer, raises :class:`ProviderError`: it counts against the circuit breaker like an
HTTP failure, because it cost tokens and gave nothing usable.

The SDK's own retries are off (``max_retries=0``): the breaker has to see every failure, and
the caller's deadline, not the SDK's back-off, bounds the wait.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

import anthropic
from google.protobuf import json_format

from handlers._strategy import _offline
from schemas import JimbotError, events_pb2

if TYPE_CHECKING:
    from handlers._strategy._config import StrategyConfig

STRATEGY = "claude"
MAX_REASONING = 2000
SYSTEM = """\
You are the strategy advisor of JimBot, an AI that plays the roguelike deck-builder Balatro.
You get the game state as JSON, the actions the player may take, a question, and the answer of
a rule-based strategist as a baseline. Reply with ONE JSON object and nothing else:
{"recommended_action": "<one action>", "reasoning": "<at most three sentences>",
 "confidence": <number from 0 to 1>, "action_values": {"<action>": <expected value>}}
Actions: play_hand:0,2,3 and discard:1,4 (0-based hand positions, 1 to 5 cards),
buy_joker:N (shop key joker_N), sell_joker:N, reroll_shop, skip_shop, go_to_shop,
select_small_blind, select_big_blind, select_boss_blind, skip_blind, none.
When available_actions is not empty, recommend only an action whose name it lists."""


class ProviderError(JimbotError):
    """Raised when the provider answered, but not with a usable strategy."""


def _state_json(state: events_pb2.GameStateEvent) -> dict[str, Any]:
    """The state as the model reads it: the full deck summarised (it is 52+ cards of tokens)."""
    out = json_format.MessageToDict(state, preserving_proto_field_name=True)
    deck = out.pop("deck", None)
    out.pop("deck_info", None)
    out.pop("score_history_exact", None)
    if deck is not None:
        out["deck_size"] = len(deck)
    if state.deck_info.HasField("remaining_count"):
        out["draw_pile"] = state.deck_info.remaining_count
    return out


def prompt(request: events_pb2.StrategyRequest, baseline: events_pb2.StrategyResponse) -> str:
    """The user message: everything the model needs, as one JSON document."""
    body = {
        "question": request.question or "What is the best move now, and why?",
        "available_actions": list(request.available_actions),
        "game_state": _state_json(request.game_state),
        "context": json_format.MessageToDict(request.context, preserving_proto_field_name=True),
        "rule_based_strategist": {
            "recommended_action": baseline.recommended_action,
            "reasoning": baseline.reasoning,
        },
    }
    return json.dumps(body, separators=(",", ":"), allow_nan=False, default=str)


def _find_object(text: str) -> dict[str, Any]:
    """The JSON object in the model's text (it may wrap it in a code fence or a sentence)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ProviderError("the model's answer holds no JSON object")
    try:
        value = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ProviderError(f"the model's JSON does not parse ({exc.msg})") from None
    if not isinstance(value, dict):
        raise ProviderError("the model's answer is not a JSON object")
    return value


def parse_answer(text: str, available_actions: list[str]) -> events_pb2.StrategyResponse:
    """The model's text as a response (``strategy_name``/``model`` are the caller's to set).

    Raises:
        ProviderError: no JSON object, no ``recommended_action``, or one not offered.
    """
    value = _find_object(text)
    action = value.get("recommended_action")
    if not isinstance(action, str) or not action.strip() or len(action) > 200:
        raise ProviderError("the model's answer has no recommended_action")
    action = action.strip()
    allowed = {a.partition(":")[0].strip() for a in available_actions if a.strip()}
    if allowed and action != "none" and action.partition(":")[0] not in allowed:
        raise ProviderError(f"the model recommended {action!r}, which the request does not offer")
    response = events_pb2.StrategyResponse(recommended_action=action, cached=False)
    reasoning = value.get("reasoning")
    response.reasoning = reasoning.strip()[:MAX_REASONING] if isinstance(reasoning, str) else ""
    confidence = value.get("confidence")
    if isinstance(confidence, int | float) and not isinstance(confidence, bool):
        valid = math.isfinite(confidence)
        response.confidence = max(0.0, min(1.0, float(confidence))) if valid else 0.5
    else:
        response.confidence = 0.5
    values = value.get("action_values")
    if isinstance(values, dict):
        for name, number in list(values.items())[:16]:
            if (
                isinstance(name, str)
                and isinstance(number, int | float)
                and not isinstance(number, bool)
                and math.isfinite(number)
            ):
                response.action_values[name[:200]] = float(number)
    return response


class ClaudeProvider:
    """Asks Claude; ``name`` identifies the model in cache keys, so a new model asks anew."""

    def __init__(self, config: StrategyConfig, *, client: anthropic.AsyncAnthropic | None = None):
        if client is None and not config.api_key:
            raise ProviderError("the Claude provider needs ANTHROPIC_API_KEY")
        self.config = config
        self.model = config.model
        self.name = f"claude:{config.model}"
        self._client = client

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """Made on first use: importing the handler module opens no connection pool."""
        if self._client is None:
            self._client = anthropic.AsyncAnthropic(
                api_key=self.config.api_key,
                base_url=self.config.base_url,
                max_retries=0,
                timeout=self.config.timeout,
            )
        return self._client

    async def advise(self, request: events_pb2.StrategyRequest) -> events_pb2.StrategyResponse:
        """One Messages API call.

        Raises:
            anthropic.APIError: the API failed (status, connection, timeout).
            ProviderError: it answered, but not with a usable strategy.
        """
        baseline = _offline.advise(request)
        message = await self.client.messages.create(
            model=self.model,
            max_tokens=self.config.max_tokens,
            system=SYSTEM,
            messages=[{"role": "user", "content": prompt(request, baseline)}],
        )
        text = "".join(block.text for block in message.content if block.type == "text")
        response = parse_answer(text, list(request.available_actions))
        response.strategy_name = STRATEGY
        response.model = message.model or self.model
        if request.HasField("request_id"):
            response.request_id = request.request_id
        response.extra.update(
            {
                "provider": "claude",
                "input_tokens": message.usage.input_tokens,
                "output_tokens": message.usage.output_tokens,
                "stop_reason": message.stop_reason or "",
            }
        )
        return response

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
