"""Access tokens: signed by auth with a private key, verified by every gateway with the
public half (no network hop per request, and a gateway cannot mint tokens).

The tokens are JWTs (RFC 9068 profile): header `alg: EdDSA` (Ed25519), `typ: at+jwt`
and `kid`, the key's RFC 7638 thumbprint, so that keys rotate without signing anyone
out: a gateway meeting an unknown `kid` fetches the published key set again. Claims
`iss`, `aud`, `sub`, `jti`, `iat`, `exp` are all required, and `sid` names the login
(refresh family) the token belongs to. A small leeway absorbs clock skew between auth
and gateways.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm
from pydantic import BaseModel, ValidationError

from llmsvc.common.errors import Unauthorized
from llmsvc.common.ids import new_id, utcnow

ALGORITHM = "EdDSA"
#: The media type of an OAuth access token in JWT form (RFC 9068 §2.1).
ACCESS_TOKEN_TYPE = "at+jwt"
#: Verified tokens remembered per gateway (the same token is presented on every call).
_VERIFIED_CACHE_SIZE = 10_000


class AccessClaims(BaseModel):
    iss: str
    aud: str
    sub: str
    jti: str
    iat: int
    exp: int
    #: The refresh-token family (one login) the token was issued to.
    sid: str = ""


def key_id(public_key: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint of the key's JWK: stable, and the same on every replica."""
    jwk = public_jwk(public_key)
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    jwk: dict[str, str] = json.loads(OKPAlgorithm.to_jwk(public_key))
    return jwk


@dataclass(frozen=True)
class TokenAudience:
    """Who issues the tokens and for whom: `JWT_ISSUER`, `JWT_AUDIENCE`."""

    issuer: str
    audience: str


class TokenSigner:
    """Issues access tokens with one private key (auth only)."""

    def __init__(self, private_key: Ed25519PrivateKey, *, audience: TokenAudience) -> None:
        self._key = private_key
        self._audience = audience
        self.kid = key_id(private_key.public_key())

    def issue(self, *, user_id: str, ttl_s: int, family_id: str = "") -> tuple[str, AccessClaims]:
        now = utcnow()
        claims = AccessClaims(
            iss=self._audience.issuer,
            aud=self._audience.audience,
            sub=user_id,
            jti=new_id(),
            iat=int(now.timestamp()),
            exp=int((now + timedelta(seconds=ttl_s)).timestamp()),
            sid=family_id,
        )
        token = jwt.encode(
            claims.model_dump(),
            self._key,
            algorithm=ALGORITHM,
            headers={"kid": self.kid, "typ": ACCESS_TOKEN_TYPE},
        )
        return token, claims


class UnknownSigningKey(Unauthorized):
    """The token names a key this verifier does not hold (yet): fetch the key set again."""

    def __init__(self, kid: str) -> None:
        super().__init__("invalid access token", code="invalid_token")
        self.kid = kid


class TokenVerifier:
    """Checks access tokens against a published key set (`{"keys": [JWK, ...]}`)."""

    def __init__(
        self, keys: Mapping[str, Ed25519PublicKey], *, audience: TokenAudience, leeway_s: int = 30
    ) -> None:
        self._keys = dict(keys)
        self._audience = audience
        self._leeway_s = leeway_s
        self._verified: dict[str, AccessClaims] = {}

    @classmethod
    def from_jwks(
        cls, jwks: Mapping[str, Any], *, audience: TokenAudience, leeway_s: int = 30
    ) -> TokenVerifier:
        return cls(parse_jwks(jwks), audience=audience, leeway_s=leeway_s)

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def verify(self, token: str, *, now: float | None = None) -> AccessClaims:
        cached = self._verified.get(token)
        if cached is not None:
            # Verified before: only the time can have changed since.
            current = now if now is not None else utcnow().timestamp()
            if cached.exp + self._leeway_s <= current:
                raise Unauthorized("access token expired", code="token_expired")
            return cached
        claims = self._verify(token)
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = claims
        return claims

    def _verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("invalid access token", code="invalid_token") from exc
        if header.get("typ") != ACCESS_TOKEN_TYPE or header.get("alg") != ALGORITHM:
            raise Unauthorized("not an access token", code="invalid_token")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise Unauthorized("invalid access token", code="invalid_token")
        key = self._keys.get(kid)
        if key is None:
            raise UnknownSigningKey(kid)
        try:
            raw = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience.audience,
                issuer=self._audience.issuer,
                leeway=self._leeway_s,
                options={"require": ["iss", "aud", "sub", "jti", "iat", "exp"]},
            )
            return AccessClaims.model_validate(raw)
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("access token expired", code="token_expired") from exc
        except (jwt.InvalidTokenError, ValidationError) as exc:
            raise Unauthorized("invalid access token", code="invalid_token") from exc


def jwks(public_keys: Iterable[Ed25519PublicKey]) -> dict[str, list[dict[str, str]]]:
    """The published key set: what gateways (and anyone else) verify tokens with."""
    return {
        "keys": [
            {**public_jwk(k), "kid": key_id(k), "alg": ALGORITHM, "use": "sig"} for k in public_keys
        ]
    }


def parse_jwks(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """`kid -> key` for the Ed25519 keys of a key set; a `kid` that is not the key's own
    thumbprint is ignored (it could shadow another key)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in document.get("keys", []):
        if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue
        key = OKPAlgorithm.from_jwk(json.dumps(entry))
        if isinstance(key, Ed25519PublicKey) and entry.get("kid") == key_id(key):
            keys[key_id(key)] = key
    return keys
