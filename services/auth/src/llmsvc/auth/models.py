"""What the auth service stores. Repositories return these; replies use the contracts."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from llmsvc.common.contracts.auth import User
from llmsvc.common.ids import utcnow

__all__ = ["AuthSessionRecord", "UserRecord", "bson_now"]


def bson_now() -> datetime:
    """Now, cut to the millisecond BSON keeps, so a reply shows what a later read returns."""
    now = utcnow()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class UserRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    name: str
    email: str
    password_hash: str
    created_at: datetime

    def public(self) -> User:
        return User(
            user_id=self.user_id, name=self.name, email=self.email, created_at=self.created_at
        )


class AuthSessionRecord(BaseModel):
    """One refresh token's life. The token itself is never stored, only its hash."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    user_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    #: Set when the token was rotated: presenting it again means it was stolen.
    replaced_by: str | None = None
    #: The login this token descends from (rotation keeps it), and when it happened:
    #: no token of the family lives past `REFRESH_FAMILY_MAX_AGE_S` from then.
    family_id: str = ""
    family_started_at: datetime | None = None

    @property
    def family(self) -> str:
        return self.family_id or self.session_id
