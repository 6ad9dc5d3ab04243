"""Access tokens: issued by auth, verified locally by the gateway (no network hop)."""

from __future__ import annotations

from datetime import timedelta

import jwt
from pydantic import BaseModel, ValidationError

from llmsvc.common.errors import Unauthorized
from llmsvc.common.ids import new_id, utcnow

ACCESS_TOKEN_TYPE = "access"


class AccessClaims(BaseModel):
    sub: str
    jti: str
    iat: int
    exp: int
    typ: str = ACCESS_TOKEN_TYPE
    #: The refresh-token family (one login) the token was issued to.
    sid: str = ""


def issue_access_token(
    *, user_id: str, secret: str, ttl_s: int, algorithm: str = "HS256", family_id: str = ""
) -> tuple[str, AccessClaims]:
    now = utcnow()
    claims = AccessClaims(
        sid=family_id,
        sub=user_id,
        jti=new_id(),
        iat=int(now.timestamp()),
        exp=int((now + timedelta(seconds=ttl_s)).timestamp()),
    )
    return jwt.encode(claims.model_dump(), secret, algorithm=algorithm), claims


def verify_access_token(token: str, *, secret: str, algorithm: str = "HS256") -> AccessClaims:
    try:
        raw = jwt.decode(
            token, secret, algorithms=[algorithm], options={"require": ["exp", "sub", "jti"]}
        )
        claims = AccessClaims.model_validate(raw)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("access token expired", code="token_expired") from exc
    except (jwt.InvalidTokenError, ValidationError) as exc:
        raise Unauthorized("invalid access token", code="invalid_token") from exc
    if claims.typ != ACCESS_TOKEN_TYPE:
        raise Unauthorized("not an access token", code="invalid_token")
    return claims
