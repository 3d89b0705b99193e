"""The request bodies of the mod's routes in the OpenAPI document.

The gateway reads those bodies raw and decodes them tolerantly (the mod writes bare ``inf``
and ``{}`` for empty lists, which no schema-checking framework would accept), so Litestar
cannot infer their schema from a handler parameter. The schemas here are made by msgspec from
the same models the decoder uses, and attached to the operations, so the document still tells a
client what to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody

from schemas import ConnectionTest, ModBatch, ModEvent

if TYPE_CHECKING:
    from litestar import Litestar

_REF = "#/components/schemas/{name}"
_ROOTS, _COMPONENTS = msgspec.json.schema_components(
    [ModBatch, ModEvent, ConnectionTest], ref_template=_REF
)
_BATCH, _EVENT, _CONNECTION_TEST = _ROOTS

TOLERANCE = (
    " The gateway also accepts what the BalatroMCP mod really sends: bare inf/-inf/nan, {} for"
    " an empty list, numbers as strings inside arrays, epoch or float timestamps."
)


def add_schemas(app: Litestar) -> None:
    """Put the mod's models into the document's components, where the bodies refer to them.

    Litestar fills ``components.schemas`` only from the types it saw in handler signatures,
    replacing any given in the config, so they are added to the built document instead.
    """
    document = app.plugins.get(OpenAPIPlugin).provide_openapi()
    assert document.components is not None
    schemas: dict[str, Any] = document.components.schemas or {}
    schemas.update(_COMPONENTS)
    document.components.schemas = schemas


def _json_body(schema: dict[str, Any], description: str) -> RequestBody:
    return RequestBody(
        content={"application/json": OpenAPIMediaType(schema=schema)},  # type: ignore[arg-type]
        description=description + TOLERANCE,
        required=True,
    )


@dataclass
class BatchOperation(Operation):
    """``POST /api/v1/events/batch``: a ``ModBatch``."""

    def __post_init__(self) -> None:
        self.request_body = _json_body(_BATCH, "A batch of up to 50 mod events.")


@dataclass
class EventOperation(Operation):
    """``POST /api/v1/events``: one event, or the mod's lowercase connection test."""

    def __post_init__(self) -> None:
        schema = {"oneOf": [_EVENT, _CONNECTION_TEST]}
        self.request_body = _json_body(schema, "One mod event or the connection test.")
