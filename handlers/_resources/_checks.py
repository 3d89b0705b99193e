"""Input rules of the coordinator's requests; a broken rule is a ``400`` naming the field."""

from __future__ import annotations

import re
import uuid

from handlers._resources._config import MAX_LEASE_MS, type_name
from handlers._resources._pool import rank
from handlers._runtime._errors import ServiceError
from schemas import events_pb2

MAX_NAME = 128
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]+$")
_GRANT_ID = re.compile(r"^([a-z_]+)-([0-9a-f]{32})$")
TYPES = ", ".join(events_pb2.ResourceType.keys())
PRIORITIES = ", ".join(events_pb2.Priority.keys())


def _name(field: str, value: str, *, required: bool) -> None:
    if not value:
        if required:
            raise ServiceError("400", f"{field} is required (the requesting component's name)")
        return
    if len(value) > MAX_NAME or not _PRINTABLE.match(value):
        raise ServiceError(
            "400", f"{field}: use at most {MAX_NAME} characters without control characters"
        )


def check_type(resource_type: int) -> None:
    if resource_type not in events_pb2.ResourceType.values():
        raise ServiceError("400", f"type {resource_type} is not a resource type ({TYPES})")


def check_request(req: events_pb2.ResourceRequest) -> None:
    """Raises ``ServiceError("400", ...)`` naming the first field that breaks its rule."""
    _name("component", req.component, required=True)
    check_type(req.type)
    if req.amount < 1:
        raise ServiceError("400", f"amount must be >= 1, got {req.amount}")
    if not 1 <= req.duration_ms <= MAX_LEASE_MS:
        raise ServiceError(
            "400", f"duration_ms must be within 1..{MAX_LEASE_MS} (a day), got {req.duration_ms}"
        )
    try:
        rank(req.priority)
    except KeyError:
        raise ServiceError(
            "400", f"priority {req.priority} is not a priority ({PRIORITIES})"
        ) from None
    _name("request_id", req.request_id, required=False)


def new_grant_id(resource_type: int) -> str:
    """``memory_mb-<32 hex>``: the type travels in the id, so a release needs nothing else."""
    return f"{type_name(resource_type).lower()}-{uuid.uuid4().hex}"


def type_of_grant(grant_id: str) -> int:
    """The resource type named in a grant id; ``400`` when it is not one of ours."""
    match = _GRANT_ID.match(grant_id)
    name = match.group(1).upper() if match else ""
    if name not in events_pb2.ResourceType.keys():
        raise ServiceError(
            "400",
            f"grant_id {grant_id[:80]!r} is not a grant of this coordinator "
            "(expected <type>-<32 hex digits>, as RequestResource answered it)",
        )
    return events_pb2.ResourceType.Value(name)
