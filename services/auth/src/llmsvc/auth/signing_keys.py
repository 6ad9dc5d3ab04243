"""The keys access tokens are signed with: made, rotated and published by auth alone.

Time is cut into generations of `JWT_KEY_ROTATION_S`; generation `g` has one Ed25519
key, a document `{_id: g, kid, private_pem, created_at}` in auth's `signing_keys`
collection. Whichever replica needs it first creates it (the insert of `_id: g` wins
once; the others read the winner), so every replica signs with the same key without
talking to each other and without an operator. The private key is stored encrypted
with `JWT_KEY_PASSPHRASE` (required in production), so a copy of the database alone
cannot mint tokens.

The published key set holds generations `g - 1` (tokens it signed are still live for
up to an access-token lifetime), `g` and `g + 1`: gateways know the next key before
the first token signed with it arrives, and fetch the set again only on a `kid` they
have never seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from llmsvc.common.logging import get_logger
from llmsvc.common.tokens import TokenAudience, TokenSigner, jwks, key_id

__all__ = ["SigningKeys"]

log = get_logger(__name__)

Document = dict[str, Any]


class SigningKeys:
    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        rotation_s: int,
        audience: TokenAudience,
        passphrase: bytes | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = collection
        self._rotation_s = rotation_s
        self._audience = audience
        self._passphrase = passphrase
        self._clock = clock
        self._loaded: dict[int, Ed25519PrivateKey] = {}
        self._signer: tuple[int, TokenSigner] | None = None

    def _generation(self) -> int:
        return int(self._clock() // self._rotation_s)

    async def signer(self) -> TokenSigner:
        """The signer of the current generation (made on first use)."""
        generation = self._generation()
        if self._signer is None or self._signer[0] != generation:
            key = await self._key(generation, create=True)
            assert key is not None
            self._signer = (generation, TokenSigner(key, audience=self._audience))
            self._forget_before(generation - 1)
        return self._signer[1]

    async def published(self) -> dict[str, list[dict[str, str]]]:
        """The public keys gateways verify with: the previous, current and next key."""
        generation = self._generation()
        previous = await self._key(generation - 1, create=False)
        current = await self._key(generation, create=True)
        upcoming = await self._key(generation + 1, create=True)
        keys = [k for k in (current, upcoming, previous) if k is not None]
        return jwks(k.public_key() for k in keys)

    async def _key(self, generation: int, *, create: bool) -> Ed25519PrivateKey | None:
        if generation in self._loaded:
            return self._loaded[generation]
        doc = await self._keys.find_one({"_id": generation})
        if doc is None and create:
            doc = await self._create(generation)
        if doc is None:
            return None
        key = serialization.load_pem_private_key(doc["private_pem"], password=self._passphrase)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError(f"signing key {generation} is not an Ed25519 key")
        self._loaded[generation] = key
        return key

    async def _create(self, generation: int) -> Document | None:
        key = Ed25519PrivateKey.generate()
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(self._passphrase)
            if self._passphrase
            else serialization.NoEncryption()
        )
        doc: Document = {
            "_id": generation,
            "kid": key_id(key.public_key()),
            "private_pem": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
            ),
            "created_at": datetime.now(UTC),
        }
        try:
            await self._keys.insert_one(doc)
            log.info("signing_key_created", generation=generation, kid=doc["kid"])
            # Keys two generations old signed nothing that is still valid.
            await self._keys.delete_many({"_id": {"$lt": generation - 2}})
        except DuplicateKeyError:
            return await self._keys.find_one({"_id": generation})  # another replica won
        return doc

    def _forget_before(self, generation: int) -> None:
        for old in [g for g in self._loaded if g < generation]:
            del self._loaded[old]
