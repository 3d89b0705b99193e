"""The shim's settings: defaults, parsing, and one clear error per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.agentbridge import BridgeConfig
from handlers import ConfigError


def test_defaults_match_the_contract() -> None:
    config = BridgeConfig.from_env({})
    assert config.host == "127.0.0.1"
    assert config.budget == 0.5
    assert config.fallback_action == "idle"
    assert not config.transport.tls and config.transport.token is None
    assert config.allows("anything")


def test_values_are_read_from_the_environment() -> None:
    config = BridgeConfig.from_env(
        {
            "JIMBOT_AGENT_BUDGET_MS": "250",
            "JIMBOT_AGENT_FALLBACK_ACTION": "wait",
            "JIMBOT_AGENT_ACTIONS": "wait, go ,",
            "JIMBOT_AGENT_PERCEPT_RATE": "0.5",
            "JIMBOT_AGENT_STREAM_WINDOW": "16",
            "JIMBOT_GRPC_TLS_CERT": "/c.pem",
            "JIMBOT_GRPC_TLS_KEY": "/k.pem",
            "JIMBOT_GRPC_HOST": "0.0.0.0",
            "JIMBOT_GRPC_TOKEN": "t",
        }
    )
    assert config.budget == 0.25
    assert config.actions == frozenset({"wait", "go"})
    assert config.allows("go") and not config.allows("idle")
    assert config.percept_rate == 0.5
    assert config.stream_window == 16
    assert config.percept_format.name == "text"
    assert BridgeConfig.from_env({"JIMBOT_AGENT_PERCEPT_FORMAT": "kv"}).percept_format.name == "kv"
    assert config.transport.tls_cert == Path("/c.pem")
    assert config.transport.token == "t"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JIMBOT_AGENT_BUDGET_MS": "soon"}, "JIMBOT_AGENT_BUDGET_MS='soon' is not an integer"),
        ({"JIMBOT_AGENT_BUDGET_MS": "0"}, "JIMBOT_AGENT_BUDGET_MS=0 must be >= 1"),
        ({"JIMBOT_GRPC_TLS_CERT": "/c.pem"}, "go together"),
        ({"JIMBOT_GRPC_TLS_CLIENT_CA": "/ca.pem"}, "needs TLS"),
        ({"JIMBOT_AGENT_ACTIONS": "go"}, "the safe action must itself be allowed"),
        ({"JIMBOT_GRPC_HOST": "0.0.0.0"}, "refusing plaintext gRPC on 0.0.0.0"),
        ({"JIMBOT_AGENT_PERCEPT_RATE": "-1"}, "must be >= 0"),
        (
            {"JIMBOT_AGENT_PERCEPT_FORMAT": "xml"},
            "JIMBOT_AGENT_PERCEPT_FORMAT: 'xml' is not a percept format (text, json, kv or "
            "module:attr); use text, json, kv or a <module>:<attribute> parser",
        ),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        BridgeConfig.from_env(env)
    assert message in str(info.value)


def test_plaintext_off_loopback_needs_an_explicit_yes() -> None:
    config = BridgeConfig.from_env(
        {"JIMBOT_GRPC_HOST": "0.0.0.0", "JIMBOT_GRPC_ALLOW_PLAINTEXT": "1"}
    )
    assert config.transport.allow_plaintext
