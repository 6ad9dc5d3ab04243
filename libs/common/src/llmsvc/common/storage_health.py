"""A service's answer to `<service>.v1.health`: whether its database answers."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from llmsvc.common.contracts.base import HealthRequest
from llmsvc.common.errors import Unavailable

__all__ = ["storage_health"]


async def storage_health(
    db: AsyncDatabase[Any], _: HealthRequest, *, timeout_s: float = 2.0
) -> dict[str, bool]:
    try:
        async with asyncio.timeout(timeout_s):
            await db.command("ping")
    except Exception as exc:
        raise Unavailable("storage unavailable", code="storage_unavailable") from exc
    return {"ok": True}
