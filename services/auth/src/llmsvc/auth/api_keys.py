"""API keys: long-lived credentials for programs, one user's, each revocable on its own.

A key is `llms_` and 43 URL-safe characters (256 random bits). Only its SHA-256 is
stored (like refresh tokens, it is random enough that a fast hash is safe), with the
first characters for the owner to recognise it; the key itself appears once, in the
reply that creates it. Gateways ask auth whose a presented key is and remember the
answer for a few minutes; a revocation reaches every gateway at once through the
revocation bucket, whatever they remember.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from llmsvc.auth.models import bson_now
from llmsvc.common.contracts.auth import (
    API_KEY_PREFIX,
    ApiKey,
    ApiKeyCreateRequest,
    ApiKeyDeleteRequest,
    ApiKeyList,
    ApiKeyListRequest,
    ApiKeyOwner,
    ApiKeyVerifyRequest,
    NewApiKey,
)
from llmsvc.common.errors import Conflict, NotFound, Unauthorized
from llmsvc.common.ids import new_id
from llmsvc.common.logging import get_logger
from llmsvc.common.token_denylist import TokenDenylist

__all__ = ["ApiKeyRepository", "ApiKeyService", "hash_api_key", "new_api_key"]

log = get_logger(__name__)

Document = dict[str, Any]

#: Characters of the key kept in clear to show in the list (the prefix and 8 more).
SHOWN_CHARS = len(API_KEY_PREFIX) + 8
#: `last_used_at` is written at most this often per key.
LAST_USED_RESOLUTION_S = 60


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyRepository:
    """Collection `api_keys`: `{_id: key_id, user_id, name, prefix, key_hash, created_at,
    last_used_at, expires_at}`; expired keys go by themselves (TTL index)."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._keys = collection

    async def setup(self) -> None:
        await self._keys.create_index([("key_hash", ASCENDING)], unique=True, name="hash_unique")
        await self._keys.create_index([("user_id", ASCENDING)], name="user_id")
        await self._keys.create_index(
            [("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"
        )

    async def insert(self, doc: Document) -> bool:
        try:
            await self._keys.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def count(self, user_id: str) -> int:
        return await self._keys.count_documents({"user_id": user_id})

    async def of_user(self, user_id: str) -> list[Document]:
        cursor = self._keys.find({"user_id": user_id}, projection={"key_hash": 0})
        return sorted([d async for d in cursor], key=lambda d: d["created_at"], reverse=True)

    async def by_hash(self, key_hash: str) -> Document | None:
        return await self._keys.find_one({"key_hash": key_hash})

    async def delete(self, user_id: str, key_id: str) -> Document | None:
        return await self._keys.find_one_and_delete({"_id": key_id, "user_id": user_id})

    async def touch(self, key_id: str, *, now: datetime) -> None:
        await self._keys.update_one({"_id": key_id}, {"$set": {"last_used_at": now}})


def _public(doc: Document) -> ApiKey:
    return ApiKey(
        key_id=doc["_id"],
        name=doc["name"],
        prefix=doc["prefix"],
        created_at=doc["created_at"],
        last_used_at=doc.get("last_used_at"),
        expires_at=doc.get("expires_at"),
    )


class ApiKeyService:
    def __init__(
        self,
        keys: ApiKeyRepository,
        *,
        max_per_user: int,
        revocation_ttl_s: int,
        denylist: TokenDenylist | None = None,
    ) -> None:
        self._keys = keys
        self._max_per_user = max_per_user
        #: How long gateways may remember a key: a revocation is announced for longer.
        self._revocation_ttl_s = revocation_ttl_s
        self._denylist = denylist

    async def create(self, req: ApiKeyCreateRequest) -> NewApiKey:
        if await self._keys.count(req.user_id) >= self._max_per_user:
            raise Conflict(
                f"at most {self._max_per_user} API keys per account; revoke one first",
                code="too_many_api_keys",
            )
        now = bson_now()
        key = new_api_key()
        doc: Document = {
            "_id": new_id(),
            "user_id": req.user_id,
            "name": req.name,
            "prefix": key[:SHOWN_CHARS],
            "key_hash": hash_api_key(key),
            "created_at": now,
            "last_used_at": None,
            "expires_at": now + timedelta(days=req.expires_in_days)
            if req.expires_in_days
            else None,
        }
        await self._keys.insert(doc)
        log.info("api_key_created", user_id=req.user_id, key_id=doc["_id"])
        return NewApiKey(**_public(doc).model_dump(), key=key)

    async def list(self, req: ApiKeyListRequest) -> ApiKeyList:
        return ApiKeyList(api_keys=[_public(d) for d in await self._keys.of_user(req.user_id)])

    async def delete(self, req: ApiKeyDeleteRequest) -> dict[str, bool]:
        doc = await self._keys.delete(req.user_id, req.key_id)
        if doc is None:  # someone else's key looks just like no key
            raise NotFound("no such API key", code="api_key_not_found")
        if self._denylist is not None:
            await self._denylist.revoke_api_key(req.key_id, ttl_s=self._revocation_ttl_s)
        log.info("api_key_revoked", user_id=req.user_id, key_id=req.key_id)
        return {"revoked": True}

    async def verify(self, req: ApiKeyVerifyRequest) -> ApiKeyOwner:
        doc = await self._keys.by_hash(hash_api_key(req.key))
        now = bson_now()
        expires_at: datetime | None = doc.get("expires_at") if doc is not None else None
        if doc is None or (expires_at is not None and expires_at <= now):
            raise Unauthorized("invalid API key", code="invalid_api_key")
        last_used: datetime | None = doc.get("last_used_at")
        if last_used is None or (now - last_used).total_seconds() >= LAST_USED_RESOLUTION_S:
            await self._keys.touch(doc["_id"], now=now)
        return ApiKeyOwner(user_id=doc["user_id"], key_id=doc["_id"], expires_at=expires_at)
