"""The gateway's copy of auth's public keys: a gateway that started before auth checks
tokens as soon as auth answers, and an unknown `kid` fetches the set again, at most
once a second."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmsvc.common.errors import Unauthorized, Unavailable
from llmsvc.common.tokens import TokenAudience, TokenSigner, jwks
from llmsvc.gateway.token_keys import TokenKeys

pytestmark = pytest.mark.unit

AUDIENCE = TokenAudience(issuer="llmsvc-auth", audience="llmsvc-api")


class Auth:
    """Auth's side of `auth.v1.jwks`: down until `keys` are set."""

    def __init__(self) -> None:
        self.keys: list[Ed25519PrivateKey] = []
        self.asked = 0

    async def signing_keys(self) -> dict[str, Any]:
        self.asked += 1
        if not self.keys:
            raise Unavailable("auth service is starting or stopping")
        return jwks(k.public_key() for k in self.keys)


def keys_of(auth: Auth) -> TokenKeys:
    return TokenKeys(auth, audience=AUDIENCE, leeway_s=30)  # type: ignore[arg-type]


async def test_a_gateway_started_before_auth_checks_tokens_once_auth_answers() -> None:
    auth = Auth()
    keys = keys_of(auth)
    await keys.start()
    await keys.stop()
    assert not keys.loaded
    key = Ed25519PrivateKey.generate()
    token, _ = TokenSigner(key, audience=AUDIENCE).issue(user_id="u1", ttl_s=60)
    with pytest.raises(Unavailable):
        await keys.verify(token)
    auth.keys = [key]  # auth is up now, a moment after the last attempt
    assert (await keys.verify(token)).sub == "u1"
    assert keys.loaded


async def test_an_unknown_kid_refetches_at_most_once_a_second() -> None:
    first, rotated = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    auth = Auth()
    auth.keys = [first]
    keys = keys_of(auth)
    await keys.start()
    await keys.stop()
    token, _ = TokenSigner(rotated, audience=AUDIENCE).issue(user_id="u1", ttl_s=60)
    with pytest.raises(Unauthorized):
        await keys.verify(token)  # fetched a moment ago at start: not again
    asked = auth.asked
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await keys.verify(token)
    assert auth.asked == asked
    keys._fetched_at -= 1.0  # a second later
    auth.keys = [first, rotated]
    assert (await keys.verify(token)).sub == "u1"
