from __future__ import annotations

import json
import logging

from handlers import JsonFormatter


def test_json_log_lines_carry_the_specs_fields() -> None:
    record = logging.LogRecord(
        "jimbot.x", logging.INFO, __file__, 1, "Event %s", ("published",), None
    )
    record.event_type = "game.state"
    record.duration_ms = 15
    line = json.loads(JsonFormatter("mcp_server").format(record))
    assert line["message"] == "Event published"
    assert line["level"] == "INFO"
    assert line["component"] == "mcp_server"
    assert line["event_type"] == "game.state"
    assert line["duration_ms"] == 15
    assert line["timestamp"].endswith("+00:00")
    assert "trace_id" in line and "span_id" in line
