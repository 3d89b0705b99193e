from __future__ import annotations

from pathlib import Path

import pytest

from handlers import ConfigError, Settings


def test_defaults_are_the_specs() -> None:
    s = Settings.from_env({})
    assert s.nats_url is None
    assert s.prefix == "jimbot"
    assert s.metrics_port == 9090
    assert s.http_port == 8080
    assert s.http_workers == 1
    assert s.grpc_port == 50051
    assert s.log_level == "INFO"
    assert s.data_dir == Path(".jimbot")


def test_event_bus_url_is_read_when_it_names_a_nats_server() -> None:
    assert Settings.from_env({"EVENT_BUS_URL": "nats://h:4222"}).nats_url == "nats://h:4222"
    # The spec's own example names the old gRPC bus; it is not a NATS server.
    assert Settings.from_env({"EVENT_BUS_URL": "grpc://localhost:50051"}).nats_url is None
    both = {"NATS_URL": "nats://a:1", "EVENT_BUS_URL": "nats://b:2"}
    assert Settings.from_env(both).nats_url == "nats://a:1"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"METRICS_PORT": "abc"}, "METRICS_PORT"),
        ({"JIMBOT_HTTP_PORT": "70000"}, "JIMBOT_HTTP_PORT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"JIMBOT_REPLICAS": "2"}, "JIMBOT_REPLICAS"),
        ({"JIMBOT_DRAIN_TIMEOUT": "soon"}, "JIMBOT_DRAIN_TIMEOUT"),
        ({"JIMBOT_HTTP_WORKERS": "0"}, "JIMBOT_HTTP_WORKERS"),
        ({"JIMBOT_HTTP_WORKERS": "2", "JIMBOT_HTTP_PORT": "0"}, "JIMBOT_HTTP_PORT"),
    ],
)
def test_a_bad_value_names_its_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert names in str(caught.value)


def test_describe_never_prints_the_key() -> None:
    described = Settings.from_env({"ANTHROPIC_API_KEY": "sk-secret"}).describe()
    assert described["llm_api_key"] == "(set)"
    assert "sk-secret" not in str(described)


def test_jimbot_up_runs_one_gateway_process_per_http_worker() -> None:
    from ops._up import child_specs

    specs = child_specs(Settings.from_env({"JIMBOT_HTTP_WORKERS": "3"}), "nats://127.0.0.1:1")
    gateways = [s for s in specs if s.argv[-1] == "bridge.gateway"]
    assert [s.name for s in gateways] == ["gateway", "gateway-2", "gateway-3"]
    assert all(s.env["COMPONENT_NAME"] == "gateway" for s in gateways)
    assert all(s.env["JIMBOT_HTTP_WORKERS"] == "3" for s in gateways)  # each binds shared
    assert gateways[2].listens == "http://127.0.0.1:8080 (worker 3 of 3)"
