"""What the handlers need, built once per app in its lifespan (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from starlette.templating import Jinja2Templates

from llmsvc.web.auth_flow import TokenRefresher
from llmsvc.web.gateway_client import GatewayClient
from llmsvc.web.session_cookie import SessionCookies
from llmsvc.web.settings import WebSettings

__all__ = ["State", "WebContext"]


@dataclass(frozen=True)
class WebContext:
    settings: WebSettings
    gateway: GatewayClient
    cookies: SessionCookies
    templates: Jinja2Templates
    refresher: TokenRefresher


class State(TypedDict):
    web: WebContext
