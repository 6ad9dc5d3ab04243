"""Access tokens through the running gateway: it verifies with the public keys auth
publishes, so a token signed by anyone else, for another audience or issuer, or naming
a key that does not exist is refused with 401, never a 5xx."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmsvc.common.tokens import TokenAudience, TokenVerifier
from tests.support.api import register_and_login
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


async def test_the_gateway_accepts_only_tokens_signed_by_auths_published_keys(
    stack: Stack,
) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as api:
        headers = await register_and_login(api, f"keys-{uuid.uuid4().hex[:8]}@example.com")
        token = headers["Authorization"].removeprefix("Bearer ")
        r = await api.get("/.well-known/jwks.json")
        assert r.status_code == 200
        published = r.json()
        assert published["keys"] and all("d" not in k for k in published["keys"])  # public only
        audience = TokenAudience(issuer="llmsvc-auth", audience="llmsvc-api")
        claims = TokenVerifier.from_jwks(published, audience=audience).verify(token)
        assert (await api.get("/auth/me", headers=headers)).json()["user_id"] == claims.sub

        kid = jwt.get_unverified_header(token)["kid"]
        now = int(time.time())
        body = {**claims.model_dump(), "iat": now, "exp": now + 600}
        intruder = Ed25519PrivateKey.generate()
        forgeries = {
            "other key, real kid": jwt.encode(
                body, intruder, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"}
            ),
            "unknown kid": jwt.encode(
                body, intruder, algorithm="EdDSA", headers={"kid": "nope", "typ": "at+jwt"}
            ),
            "unsigned": jwt.encode(body, "", algorithm="none", headers={"kid": kid}),
        }
        for name, forged in forgeries.items():
            r = await api.get("/auth/me", headers={"Authorization": f"Bearer {forged}"})
            assert r.status_code == 401, name
            assert r.json()["error"]["code"] == "invalid_token", name
