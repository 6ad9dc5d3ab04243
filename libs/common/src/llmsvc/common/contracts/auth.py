from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from llmsvc.common.contracts.base import Contract

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, max_length=254, pattern=EMAIL_PATTERN),
]
# bcrypt and argon2 inputs stay bounded; 72 bytes is bcrypt's limit, we allow 128 chars
# because argon2id has no such limit.
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class RegisterRequest(Contract):
    name: Name
    email: Email
    password: Password


class LoginRequest(Contract):
    email: Email
    # No length rule on login: a wrong password is a 401, not a validation error.
    password: Annotated[str, StringConstraints(max_length=1024)]


class RefreshRequest(Contract):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class LogoutRequest(Contract):
    user_id: str
    refresh_token: str | None = None
    access_jti: str | None = None


class FromClient(Contract):
    """What the gateway adds to a request it passes on: the client's address (from the
    connection, or `X-Forwarded-For` through a trusted proxy), for per-address limits.
    Never read from the client's own body."""

    client_address: str | None = None


class RegisterAttempt(RegisterRequest, FromClient):
    pass


class LoginAttempt(LoginRequest, FromClient):
    pass


class RefreshAttempt(RefreshRequest, FromClient):
    pass


class ChangePasswordBody(Contract):
    current_password: Annotated[str, StringConstraints(max_length=1024)]
    new_password: Password


class ChangePasswordRequest(ChangePasswordBody):
    user_id: str
    #: The login (refresh family) asking: it stays signed in, the others end.
    family_id: str = ""


class LogoutAllRequest(Contract):
    user_id: str


class JwksRequest(Contract):
    """Ask for the public keys that verify access tokens (a JWK set, RFC 7517)."""


class UserGetRequest(Contract):
    user_id: str


API_KEY_PREFIX = "llms_"

ApiKeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ApiKeyBody(Contract):
    name: ApiKeyName = Field(description="what the key is for, shown in the list")
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="the key stops working after this; unset: never"
    )


class ApiKeyCreateRequest(ApiKeyBody):
    user_id: str


class ApiKey(Contract):
    key_id: str
    name: str
    prefix: str = Field(description="the key's first characters, to recognise it")
    created_at: datetime
    last_used_at: datetime | None = Field(None, description="to the minute")
    expires_at: datetime | None = None


class NewApiKey(ApiKey):
    key: str = Field(description="the secret itself: shown only in this reply, never again")


class ApiKeyList(Contract):
    api_keys: list[ApiKey]


class ApiKeyListRequest(Contract):
    user_id: str


class ApiKeyDeleteRequest(Contract):
    user_id: str
    key_id: str


class ApiKeyVerifyRequest(Contract):
    key: Annotated[str, StringConstraints(max_length=256)]


class ApiKeyOwner(Contract):
    """Whose a presented key is."""

    user_id: str
    key_id: str
    expires_at: datetime | None = None


class User(Contract):
    user_id: str
    name: str
    email: str
    created_at: datetime


class TokenPair(Contract):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str
    user: User
