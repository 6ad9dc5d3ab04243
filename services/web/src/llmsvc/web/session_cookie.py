"""The browser's only state: one signed, HttpOnly, SameSite=Lax cookie.

It carries the gateway tokens, who the user is (for the page header) and the CSRF
token. It is signed (itsdangerous), not encrypted: it is the credential itself, so
HttpOnly and Secure are what keep it from scripts and the network.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from llmsvc.web.csrf import new_csrf_token

__all__ = ["SessionCookies", "WebSession"]

_SALT = "llmsvc.web.session.v1"


class WebSession(BaseModel):
    """What the cookie holds. Anonymous visitors get one with only a CSRF token, so
    the login and register forms are protected too."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    csrf: str
    access_token: str | None = None
    refresh_token: str | None = None
    user_id: str | None = None
    user_name: str | None = None

    @property
    def logged_in(self) -> bool:
        return bool(self.access_token)

    @classmethod
    def anonymous(cls) -> WebSession:
        return cls(csrf=new_csrf_token())

    def with_tokens(self, *, access_token: str, refresh_token: str) -> WebSession:
        return self.model_copy(
            update={"access_token": access_token, "refresh_token": refresh_token}
        )


class SessionCookies:
    """Reads and writes the session cookie for one app."""

    def __init__(self, *, secret: str, secure: bool, max_age_s: int) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt=_SALT)
        self.secure = secure
        self.max_age_s = max_age_s
        # The __Host- prefix makes browsers refuse a cookie planted by a sibling
        # subdomain or over plain HTTP; it requires Secure and Path=/.
        self.name = "__Host-llmsvc_web" if secure else "llmsvc_web"

    def load(self, request: Request) -> WebSession | None:
        raw = request.cookies.get(self.name)
        if not raw:
            return None
        try:
            data: Any = self.serializer.loads(raw, max_age=self.max_age_s)
            return WebSession.model_validate(data)
        except (BadSignature, ValidationError):
            return None

    def dumps(self, session: WebSession) -> str:
        return self.serializer.dumps(session.model_dump(exclude_none=True))

    def save(self, response: Response, session: WebSession) -> None:
        response.set_cookie(
            self.name,
            self.dumps(session),
            max_age=self.max_age_s,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="lax",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(
            self.name, path="/", secure=self.secure, httponly=True, samesite="lax"
        )
