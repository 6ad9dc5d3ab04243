"""Access tokens as a gateway checks them: signed by auth's private key, verified with
the published public keys, and refused for every way a forged or misused token differs."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llmsvc.common.errors import Unauthorized
from llmsvc.common.tokens import (
    TokenAudience,
    TokenSigner,
    TokenVerifier,
    UnknownSigningKey,
    jwks,
    key_id,
)

pytestmark = pytest.mark.unit

AUDIENCE = TokenAudience(issuer="llmsvc-auth", audience="llmsvc-api")
KEY = Ed25519PrivateKey.generate()
SIGNER = TokenSigner(KEY, audience=AUDIENCE)


def verifier(*keys: Ed25519PrivateKey, leeway_s: int = 30) -> TokenVerifier:
    published = jwks(k.public_key() for k in (keys or (KEY,)))
    return TokenVerifier.from_jwks(published, audience=AUDIENCE, leeway_s=leeway_s)


def forged(
    claims: dict[str, Any] | None = None,
    *,
    key: Any = KEY,
    algorithm: str = "EdDSA",
    headers: dict[str, Any] | None = None,
) -> str:
    """A token like auth's, with the given changes."""
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": "llmsvc-auth",
        "aud": "llmsvc-api",
        "sub": "u1",
        "jti": "j1",
        "iat": now,
        "exp": now + 600,
        "sid": "f1",
    }
    body.update(claims or {})
    body = {k: v for k, v in body.items() if v is not None}
    head = {"kid": SIGNER.kid, "typ": "at+jwt", **(headers or {})}
    return jwt.encode(body, key, algorithm=algorithm, headers=head)


def rejection(token: str, check: TokenVerifier | None = None) -> str:
    with pytest.raises(Unauthorized) as caught:
        (check or verifier()).verify(token)
    return caught.value.error_code


def test_a_token_auth_issued_verifies_with_the_published_keys() -> None:
    token, issued = SIGNER.issue(user_id="u1", ttl_s=600, family_id="login-1")
    claims = verifier().verify(token)
    assert claims == issued
    assert (claims.sub, claims.sid, claims.iss, claims.aud) == (
        "u1",
        "login-1",
        "llmsvc-auth",
        "llmsvc-api",
    )
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": key_id(KEY.public_key())}


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "someone-else"},
        {"aud": "another-api"},
        {"iss": None},
        {"aud": None},
        {"sub": None},
        {"jti": None},
        {"exp": None},
        {"iat": None},
    ],
    ids=["iss", "aud", "no-iss", "no-aud", "no-sub", "no-jti", "no-exp", "no-iat"],
)
def test_wrong_or_missing_claims_are_refused(claims: dict[str, Any]) -> None:
    assert rejection(forged(claims)) == "invalid_token"


@pytest.mark.parametrize("typ", ["JWT", "refresh", None])
def test_only_access_tokens_are_accepted(typ: str | None) -> None:
    token = forged(headers={"typ": typ})
    assert rejection(token) == "invalid_token"


def test_clock_skew_within_the_leeway_is_tolerated_and_beyond_it_is_not() -> None:
    now = int(time.time())
    just_expired = forged({"exp": now - 10, "iat": now - 600})
    assert verifier(leeway_s=30).verify(just_expired).sub == "u1"
    assert rejection(just_expired, verifier(leeway_s=0)) == "token_expired"
    assert rejection(forged({"exp": now - 60, "iat": now - 600})) == "token_expired"
    # Issued by a clock slightly ahead: fine; far ahead: not yet valid.
    assert verifier().verify(forged({"iat": now + 20})).sub == "u1"
    assert rejection(forged({"iat": now + 600})) == "invalid_token"


def test_an_expired_token_stays_refused_once_verified_before() -> None:
    check = verifier(leeway_s=0)
    token = forged({"exp": int(time.time()) + 2})
    assert check.verify(token).sub == "u1"
    assert rejection_at(check, token, time.time() + 5) == "token_expired"


def rejection_at(check: TokenVerifier, token: str, now: float) -> str:
    with pytest.raises(Unauthorized) as caught:
        check.verify(token, now=now)
    return caught.value.error_code


def test_forgeries_are_refused() -> None:
    other = Ed25519PrivateKey.generate()
    # Signed by a key auth never published, claiming a published kid.
    assert rejection(forged(key=other)) == "invalid_token"
    # Unsigned.
    assert rejection(forged(key=None, algorithm="none", headers={"alg": "none"})) == "invalid_token"
    # HMAC keyed with the public key (the classic algorithm confusion).
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(jwt.InvalidKeyError):
        forged(key=public_pem, algorithm="HS256")  # pyjwt itself refuses to build it
    hs = forged(key="k" * 40, algorithm="HS256")
    assert rejection(hs) == "invalid_token"
    # Tampered payload.
    head, _, sig = forged().split(".")
    other_body = forged({"sub": "admin"}).split(".")[1]
    assert rejection(f"{head}.{other_body}.{sig}") == "invalid_token"
    assert rejection("not a token") == "invalid_token"


def test_an_unknown_kid_asks_for_the_key_set_again() -> None:
    rotated = Ed25519PrivateKey.generate()
    token, _ = TokenSigner(rotated, audience=AUDIENCE).issue(user_id="u1", ttl_s=60)
    with pytest.raises(UnknownSigningKey) as caught:
        verifier().verify(token)
    assert caught.value.kid == key_id(rotated.public_key())
    assert verifier(KEY, rotated).verify(token).sub == "u1"


def test_a_published_key_whose_kid_is_not_its_thumbprint_is_ignored() -> None:
    published = jwks([KEY.public_key()])
    published["keys"][0]["kid"] = "chosen-by-attacker"
    assert TokenVerifier.from_jwks(published, audience=AUDIENCE).key_ids == frozenset()
