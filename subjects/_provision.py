"""Idempotent provisioning: create what is missing, update what changed, say what was done."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from nats.js.api import KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from subjects._streams import buckets, streams

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

    from subjects._consumers import ConsumerSpec
    from subjects._names import Names

Action = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Change:
    """What provisioning did to one stream, bucket or consumer."""

    kind: Literal["stream", "bucket", "consumer"]
    name: str
    action: Action
    detail: str = ""

    def __str__(self) -> str:
        tail = f" ({self.detail})" if self.detail else ""
        return f"{self.action:9} {self.kind:8} {self.name}{tail}"


def _differences(desired: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Keys we set whose server value differs; keys we leave unset are the server's business."""
    out = []
    for key, want in desired.items():
        if want is None or key == "name":
            continue
        have = current.get(key)
        if isinstance(want, list) and isinstance(have, list):
            if sorted(map(str, want)) != sorted(map(str, have)):
                out.append(key)
        elif want != have:
            out.append(key)
    return out


async def _ensure_stream(js: JetStreamContext, config: StreamConfig) -> Change:
    assert config.name is not None
    try:
        info = await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return Change("stream", config.name, "created")
    changed = _differences(config.as_dict(), info.config.as_dict())
    if not changed:
        return Change("stream", config.name, "unchanged")
    await js.update_stream(config)
    return Change("stream", config.name, "updated", ", ".join(sorted(changed)))


async def provision(js: JetStreamContext, names: Names, *, replicas: int = 1) -> list[Change]:
    """Create or update every stream and KV bucket of ``names``' prefix.

    Running it twice changes nothing the second time; a changed setting is applied.
    """
    changes = [await _ensure_stream(js, spec.config) for spec in streams(names, replicas=replicas)]
    for bucket in buckets(names):
        kv = KeyValueConfig(
            bucket=bucket.bucket,
            history=bucket.history,
            ttl=bucket.ttl or None,
            storage=StorageType.FILE,
            replicas=replicas,
            description=bucket.purpose,
        )
        try:
            info = await js.stream_info(bucket.stream_name)
        except NotFoundError:
            await js.create_key_value(kv)
            changes.append(Change("bucket", bucket.bucket, "created"))
            continue
        cfg = info.config
        want = {
            "max_msgs_per_subject": bucket.history,
            "max_age": bucket.ttl,
            "num_replicas": replicas,
        }
        have = {
            "max_msgs_per_subject": cfg.max_msgs_per_subject,
            "max_age": cfg.max_age or 0.0,
            "num_replicas": cfg.num_replicas,
        }
        changed = [k for k in want if want[k] != have[k]]
        if changed:
            cfg.max_msgs_per_subject = bucket.history
            cfg.max_age = bucket.ttl
            cfg.num_replicas = replicas
            await js.update_stream(cfg)
            changes.append(Change("bucket", bucket.bucket, "updated", ", ".join(changed)))
        else:
            changes.append(Change("bucket", bucket.bucket, "unchanged"))
    return changes


async def provision_consumer(js: JetStreamContext, names: Names, spec: ConsumerSpec) -> Change:
    """Create or update one durable consumer; idempotent like :func:`provision`."""
    stream = spec.stream_name(names)
    config = spec.config(names)
    durable = spec.durable(names)
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        await js.add_consumer(stream, config)
        return Change("consumer", f"{stream}/{durable}", "created")
    changed = _differences(config.as_dict(), info.config.as_dict())
    # The server refuses changes to these; they are set at creation and only reported here.
    changed = [c for c in changed if c not in ("deliver_policy", "durable_name")]
    if not changed:
        return Change("consumer", f"{stream}/{durable}", "unchanged")
    # add_consumer on an existing durable is the JetStream "update" for the mutable fields.
    await js.add_consumer(stream, config)
    return Change("consumer", f"{stream}/{durable}", "updated", ", ".join(sorted(changed)))
