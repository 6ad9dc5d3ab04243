"""Mongo access for the auth service: one repository per collection."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from llmsvc.auth.models import AuthSessionRecord, UserRecord

__all__ = ["AuthSessionRepository", "Document", "UserRepository"]

Document = dict[str, Any]


class UserRepository:
    """Collection `users`: `{_id: user_id, name, email, password_hash, created_at}`."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._users = collection

    async def setup(self) -> None:
        await self._users.create_index([("email", ASCENDING)], unique=True, name="email_unique")

    @property
    def database(self) -> AsyncDatabase[Document]:
        return self._users.database

    async def insert(self, user: UserRecord) -> bool:
        """Store a new user; False when the email is already taken."""
        try:
            await self._users.insert_one(
                {
                    "_id": user.user_id,
                    "name": user.name,
                    "email": user.email,
                    "password_hash": user.password_hash,
                    "created_at": user.created_at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def by_email(self, email: str) -> UserRecord | None:
        return _user(await self._users.find_one({"email": email.lower()}))

    async def by_id(self, user_id: str) -> UserRecord | None:
        return _user(await self._users.find_one({"_id": user_id}))

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        await self._users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})


def _user(doc: Document | None) -> UserRecord | None:
    if doc is None:
        return None
    return UserRecord(
        user_id=doc["_id"],
        name=doc["name"],
        email=doc["email"],
        password_hash=doc["password_hash"],
        created_at=doc["created_at"],
    )


class AuthSessionRepository:
    """Collection `auth_sessions`: one document per refresh token, found by its hash.

    Documents go by themselves once expired (TTL index); revoked ones stay until then
    so that a rotated token presented again is recognised as reuse.
    """

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self._sessions = collection

    async def setup(self) -> None:
        await self._sessions.create_index(
            [("token_hash", ASCENDING)], unique=True, name="token_hash_unique"
        )
        await self._sessions.create_index(
            [("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"
        )
        await self._sessions.create_index([("user_id", ASCENDING)], name="user_id")

    async def insert(self, session: AuthSessionRecord) -> None:
        await self._sessions.insert_one(
            {
                "_id": session.session_id,
                "user_id": session.user_id,
                "token_hash": session.token_hash,
                "created_at": session.created_at,
                "expires_at": session.expires_at,
                "revoked_at": session.revoked_at,
                "replaced_by": session.replaced_by,
                "family_id": session.family_id,
                "family_started_at": session.family_started_at,
            }
        )

    async def by_token_hash(self, token_hash: str) -> AuthSessionRecord | None:
        return _auth_session(await self._sessions.find_one({"token_hash": token_hash}))

    async def by_id(self, session_id: str) -> AuthSessionRecord | None:
        return _auth_session(await self._sessions.find_one({"_id": session_id}))

    async def rotate(self, session_id: str, *, replaced_by: str, now: datetime) -> bool:
        """Retire a token in favour of its successor. Only one caller ever wins."""
        result = await self._sessions.update_one(
            {"_id": session_id, "revoked_at": None},
            {"$set": {"revoked_at": now, "replaced_by": replaced_by}},
        )
        return result.modified_count == 1

    async def claim_grace(self, session_id: str) -> bool:
        """Take the one extra exchange a just-rotated token allows; only one caller wins."""
        result = await self._sessions.update_one(
            {"_id": session_id, "grace_used": {"$ne": True}}, {"$set": {"grace_used": True}}
        )
        return result.modified_count == 1

    async def revoke(self, session_id: str, *, now: datetime) -> bool:
        result = await self._sessions.update_one(
            {"_id": session_id, "revoked_at": None}, {"$set": {"revoked_at": now}}
        )
        return result.modified_count == 1

    async def revoke_all(
        self,
        user_id: str,
        *,
        now: datetime,
        keep_family: str | None = None,
        minted_since: datetime | None = None,
    ) -> list[str]:
        """Revoke the user's live refresh tokens (but those of `keep_family`). Returns
        the families that may still have live access tokens: those of the tokens revoked
        now, and of every token created since `minted_since` (an access token is issued
        with each refresh token, so none older than that is still valid)."""
        live: Document = {"user_id": user_id, "revoked_at": None}
        if keep_family is not None:
            live["family_id"] = {"$ne": keep_family}
            live["_id"] = {"$ne": keep_family}  # a family's first token has its id
        found = [d async for d in self._sessions.find(live, projection={"family_id": 1})]
        if minted_since is not None:
            recent = {"user_id": user_id, "created_at": {"$gte": minted_since}}
            found += [d async for d in self._sessions.find(recent, projection={"family_id": 1})]
        await self._sessions.update_many(live, {"$set": {"revoked_at": now}})
        families = {str(d.get("family_id") or d["_id"]) for d in found}
        families.discard(keep_family or "")
        return sorted(families)


def _auth_session(doc: Document | None) -> AuthSessionRecord | None:
    if doc is None:
        return None
    return AuthSessionRecord(
        session_id=doc["_id"],
        user_id=doc["user_id"],
        token_hash=doc["token_hash"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        revoked_at=doc.get("revoked_at"),
        replaced_by=doc.get("replaced_by"),
        family_id=doc.get("family_id") or "",
        family_started_at=doc.get("family_started_at"),
    )
