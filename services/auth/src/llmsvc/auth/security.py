"""Secrets handling: password hashes and refresh tokens.

Argon2id is deliberately slow (tens of ms, 64 MiB): it always runs in a thread, and a
semaphore bounds how many run at once so a burst of logins cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["PasswordHasher", "hash_refresh_token", "new_refresh_token"]

REFRESH_TOKEN_BYTES = 32


def new_refresh_token() -> str:
    """An opaque, URL-safe refresh token with 256 bits of entropy."""
    return secrets.token_urlsafe(REFRESH_TOKEN_BYTES)


def hash_refresh_token(token: str) -> str:
    """What we store and look up instead of the token itself.

    A fast hash is enough: the token is random with 256 bits of entropy, so there is
    nothing to brute-force, and lookups must be an exact index match.
    """
    return hashlib.sha256(token.encode()).hexdigest()


class PasswordHasher:
    def __init__(self, *, concurrency: int, dummy_hash: str, hasher: PasswordHash) -> None:
        self._hash = hasher
        self._slots = asyncio.Semaphore(concurrency)
        self._dummy_hash = dummy_hash

    @classmethod
    async def create(
        cls, *, concurrency: int, hasher: Argon2Hasher | None = None
    ) -> PasswordHasher:
        password_hash = PasswordHash((hasher or Argon2Hasher(),))
        # A real hash of a random password, with the same parameters as every stored
        # one: unknown users are checked against it so a login costs the same time
        # whether or not the email exists.
        dummy = await asyncio.to_thread(password_hash.hash, secrets.token_urlsafe(16))
        return cls(concurrency=concurrency, dummy_hash=dummy, hasher=password_hash)

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hash.hash, password)

    async def verify(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """(matches, a new hash when the stored one uses outdated parameters)."""
        async with self._slots:
            return await asyncio.to_thread(self._hash.verify_and_update, password, password_hash)

    async def burn(self, password: str) -> None:
        """Spend the time a real verification would, for an account that does not exist."""
        await self.verify(password, self._dummy_hash)
