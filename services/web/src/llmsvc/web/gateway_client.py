"""Typed calls to the gateway's HTTP API (docs/design.md §4), over one shared httpx client.

Auth calls return parsed models; conversation calls return the raw `httpx.Response`
because the web relays their status and body to the page unchanged. Streaming calls
return an open response that the caller must close.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "GatewayClient",
    "GatewayError",
    "GatewayUnavailable",
    "GatewayUser",
    "TokenPair",
]


class GatewayUser(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str = Field(validation_alias=AliasChoices("user_id", "id"))
    name: str = ""


class TokenPair(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int | None = None
    user: GatewayUser | None = None


class GatewayUnavailable(Exception):
    """The gateway could not be reached or did not answer in time."""


class GatewayError(Exception):
    """The gateway answered with an error status; `body` is its raw error body."""

    def __init__(self, status: int, code: str, message: str, body: bytes = b"") -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body

    @classmethod
    async def from_response(cls, response: httpx.Response) -> GatewayError:
        body = await response.aread()
        error = _error_of(body)
        code = str(error.get("code") or "gateway_error")
        message = str(error.get("message") or f"HTTP {response.status_code}")
        return cls(response.status_code, code, message, body)

    @staticmethod
    def code_of(body: bytes) -> str | None:
        """The `error.code` of a gateway error body, if it has one."""
        code = _error_of(body).get("code")
        return str(code) if code else None


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return {}
    return error if isinstance(error, dict) else {}


def _segment(value: str) -> str:
    if value in ("", ".", ".."):
        raise ValueError("invalid path segment")
    return quote(value, safe="")


def _params(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class GatewayClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        request = self.http.build_request(
            method, path, json=json_body, params=params, headers=all_headers
        )
        try:
            return await self.http.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise GatewayUnavailable(str(exc) or type(exc).__name__) from exc

    async def _token_pair(
        self, path: str, body: dict[str, str], *, client: str | None = None
    ) -> TokenPair:
        response = await self._send("POST", path, json_body=body, headers=_forwarded(client))
        if response.status_code != 200:
            raise await GatewayError.from_response(response)
        try:
            return TokenPair.model_validate_json(response.content)
        except ValidationError as exc:
            raise GatewayError(502, "bad_gateway", "unexpected reply from the gateway") from exc

    # -- auth -------------------------------------------------------------------------
    async def register(
        self, *, name: str, email: str, password: str, client: str | None = None
    ) -> None:
        """`client` is the browser's address, forwarded for the gateway's per-address
        limits (the gateway believes it when it trusts web's address: TRUSTED_PROXIES)."""
        body = {"name": name, "email": email, "password": password}
        response = await self._send(
            "POST", "/auth/register", json_body=body, headers=_forwarded(client)
        )
        if response.status_code not in (200, 201):
            raise await GatewayError.from_response(response)

    async def login(self, *, email: str, password: str, client: str | None = None) -> TokenPair:
        return await self._token_pair(
            "/auth/login", {"email": email, "password": password}, client=client
        )

    async def refresh(self, refresh_token: str, *, client: str | None = None) -> TokenPair:
        return await self._token_pair(
            "/auth/refresh", {"refresh_token": refresh_token}, client=client
        )

    async def logout(self, token: str, *, refresh_token: str | None) -> httpx.Response:
        body = {"refresh_token": refresh_token} if refresh_token else {}
        return await self._send("POST", "/auth/logout", token=token, json_body=body)

    async def logout_all(self, token: str) -> httpx.Response:
        return await self._send("POST", "/auth/logout-all", token=token)

    async def change_password(
        self, token: str, *, current_password: str, new_password: str
    ) -> httpx.Response:
        body = {"current_password": current_password, "new_password": new_password}
        return await self._send("POST", "/auth/password", token=token, json_body=body)

    async def api_keys(self, token: str) -> httpx.Response:
        return await self._send("GET", "/auth/api-keys", token=token)

    async def create_api_key(
        self, token: str, *, name: str, expires_in_days: int | None = None
    ) -> httpx.Response:
        body = _params(name=name, expires_in_days=expires_in_days)
        return await self._send("POST", "/auth/api-keys", token=token, json_body=body)

    async def revoke_api_key(self, token: str, key_id: str) -> httpx.Response:
        path = f"/auth/api-keys/{_segment(key_id)}"
        return await self._send("DELETE", path, token=token)

    async def healthz(self) -> bool:
        try:
            return (await self._send("GET", "/healthz")).status_code == 200
        except GatewayUnavailable:
            return False

    # -- conversations (relayed as they are) ------------------------------------------
    async def list_sessions(
        self,
        token: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        query: str | None = None,
    ) -> httpx.Response:
        params = _params(limit=limit, cursor=cursor, q=query or None)
        return await self._send("GET", "/conversation/sessions", token=token, params=params)

    async def create_session(self, token: str, **fields: str | None) -> httpx.Response:
        """`fields`: name, model, instructions (left out when None)."""
        body = _params(**fields)
        return await self._send("POST", "/conversation/session", token=token, json_body=body)

    async def get_session(self, token: str, session_id: str) -> httpx.Response:
        path = f"/conversation/session/{_segment(session_id)}"
        return await self._send("GET", path, token=token)

    async def update_session(
        self, token: str, session_id: str, **fields: str | None
    ) -> httpx.Response:
        """`fields`: name, model, instructions (left out when None)."""
        path = f"/conversation/session/{_segment(session_id)}"
        return await self._send("PATCH", path, token=token, json_body=_params(**fields))

    async def models(self, token: str) -> httpx.Response:
        return await self._send("GET", "/models", token=token)

    async def delete_session(self, token: str, session_id: str) -> httpx.Response:
        path = f"/conversation/session/{_segment(session_id)}"
        return await self._send("DELETE", path, token=token)

    async def history(
        self, token: str, session_id: str, *, limit: int | None = None, before: str | None = None
    ) -> httpx.Response:
        path = f"/conversation/session/{_segment(session_id)}/history"
        params = _params(limit=limit, before=before)
        return await self._send("GET", path, token=token, params=params)

    async def cancel_run(self, token: str, run_id: str) -> httpx.Response:
        path = f"/conversation/runs/{_segment(run_id)}/cancel"
        return await self._send("POST", path, token=token)

    async def start_chat(
        self,
        token: str,
        *,
        message: str,
        session_id: str | None,
        edit_message_id: str | None = None,
    ) -> httpx.Response:
        """Open `POST /conversation` as a stream; the caller closes the response."""
        body: dict[str, Any] = {"message": message, "stream": True}
        body |= _params(session_id=session_id or None, edit_message_id=edit_message_id)
        return await self._send(
            "POST", "/conversation", token=token, json_body=body, headers=_SSE, stream=True
        )

    async def regenerate(self, token: str, session_id: str) -> httpx.Response:
        """Open a new answer to the conversation's last user message as a stream."""
        path = f"/conversation/session/{_segment(session_id)}/regenerate"
        return await self._send(
            "POST", path, token=token, json_body={"stream": True}, headers=_SSE, stream=True
        )

    async def run_events(
        self, token: str, run_id: str, *, last_event_id: str | None
    ) -> httpx.Response:
        """Open a run's event stream (resuming after `last_event_id`); caller closes it."""
        headers = dict(_SSE)
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        path = f"/conversation/runs/{_segment(run_id)}/events"
        return await self._send("GET", path, token=token, headers=headers, stream=True)


_SSE = {"Accept": "text/event-stream"}


def _forwarded(client: str | None) -> dict[str, str]:
    return {"X-Forwarded-For": client} if client else {}
