"""Naming the contract of a handler that takes its payload raw, for the AsyncAPI document.

The NATS handlers of auth and sessions take the payload as `bytes` and validate it
themselves (`nats_client.handle_request`), so that bad input is answered with a 422
envelope instead of being dropped by FastStream. FastStream documents a subscriber's
payload from its handler's signature, which would then say only "bytes". Written
`body: Annotated[bytes, documented_as(Contract)]`, the parameter carries the contract's
title and JSON schema and nothing else: pydantic still validates it as bytes, so what
the handler receives does not change.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["documented_as"]


def documented_as(contract: type[BaseModel]) -> Any:
    """Field metadata giving a raw-payload parameter `contract`'s schema (in the JSON
    schema only: validation is untouched)."""

    def replace(schema: dict[str, Any]) -> None:
        schema.clear()
        schema.update(contract.model_json_schema())

    return Field(title=contract.__name__, json_schema_extra=replace)
