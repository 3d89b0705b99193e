"""Provisioning is idempotent, applies changed settings, and keeps prefixes apart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nats.js.api import StreamConfig

from subjects import Names, buckets, provision, streams

if TYPE_CHECKING:
    from nats.aio.client import Client


async def test_provisioning_twice_changes_nothing_the_second_time(nc: Client, names: Names) -> None:
    # The `nc` fixture provisioned once already.
    changes = await provision(nc.jetstream(), names)
    assert {c.action for c in changes} == {"unchanged"}
    assert len(changes) == len(streams(names)) + len(buckets(names))


async def test_first_provisioning_creates_everything(nc: Client) -> None:
    fresh = Names("fresh" + nc.client_id.__str__())
    changes = await provision(nc.jetstream(), fresh)
    assert {c.action for c in changes} == {"created"}
    assert {c.name for c in changes} >= {fresh.events_stream, fresh.dlq_stream}


async def test_a_changed_setting_is_applied(nc: Client, names: Names) -> None:
    js = nc.jetstream()
    info = await js.stream_info(names.events_stream)
    drifted: StreamConfig = info.config
    drifted.max_age = 3600.0  # someone shortened retention by hand
    await js.update_stream(drifted)
    changes = await provision(js, names)
    [changed] = [c for c in changes if c.action != "unchanged"]
    assert changed.name == names.events_stream
    assert changed.action == "updated"
    assert "max_age" in changed.detail
    restored = await js.stream_info(names.events_stream)
    assert restored.config.max_age == 7 * 24 * 3600


async def test_every_name_derives_from_the_prefix(names: Names) -> None:
    upper = names.prefix.upper()
    for spec in streams(names):
        assert spec.config.name is not None and spec.config.name.startswith(upper + "_")
        for subject in spec.config.subjects or []:
            assert subject.startswith(names.prefix + ".") or f".{upper}_" in subject
    for bucket in buckets(names):
        assert bucket.bucket.startswith(upper + "_")
