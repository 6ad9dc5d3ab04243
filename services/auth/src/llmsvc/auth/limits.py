"""The abuse limits of auth (OWASP ASVS 5.0 §6.3): failed logins per account and client
address, registrations and refreshes per address, counted in a NATS KV bucket that every
replica shares (`llmsvc.common.throttle`). Over a limit, a request is refused with 429
and `Retry-After` before any password is checked."""

from __future__ import annotations

import asyncio
import math

from llmsvc.auth.metrics import THROTTLED
from llmsvc.auth.settings import AuthSettings
from llmsvc.common.errors import RateLimited
from llmsvc.common.logging import get_logger
from llmsvc.common.throttle import Limit, Throttle

UNKNOWN_ADDRESS = "unknown"

log = get_logger(__name__)


class AbuseLimits:
    def __init__(self, throttle: Throttle, settings: AuthSettings) -> None:
        self._throttle = throttle
        window = settings.login_window_s
        self.account_address = Limit(
            "login-account-address", settings.login_failures_per_account_address, window
        )
        self.account = Limit("login-account", settings.login_failures_per_account, window)
        self.address = Limit("login-address", settings.login_failures_per_address, window)
        self.registration = Limit(
            "register-address", settings.registrations_per_address, settings.registration_window_s
        )
        self.refresh = Limit(
            "refresh-address", settings.refreshes_per_address, settings.refresh_window_s
        )

    def _login_keys(self, email: str, address: str | None) -> list[tuple[Limit, str]]:
        address = address or UNKNOWN_ADDRESS
        return [
            (self.account_address, f"{email}|{address}"),
            (self.account, email),
            (self.address, address),
        ]

    async def before_login(self, email: str, address: str | None) -> None:
        waits = await asyncio.gather(
            *(
                self._throttle.refused_for(limit, key)
                for limit, key in self._login_keys(email, address)
            )
        )
        _refuse_if(waits, "too many failed logins; try again later", kind="login")

    async def login_failed(self, email: str, address: str | None) -> None:
        await asyncio.gather(
            *(self._throttle.hit(limit, key) for limit, key in self._login_keys(email, address))
        )

    async def login_succeeded(self, email: str, address: str | None) -> None:
        # Only this address's count for this account: an attacker elsewhere stays counted.
        await self._throttle.clear(self.account_address, f"{email}|{address or UNKNOWN_ADDRESS}")

    async def attempt(self, limit: Limit, address: str | None) -> None:
        """Count a registration or refresh; refuse it when over the limit."""
        key = address or UNKNOWN_ADDRESS
        _refuse_if(
            [await self._throttle.refused_for(limit, key)],
            "too many requests; try again later",
            kind=limit.name.split("-")[0],
        )
        await self._throttle.hit(limit, key)


def _refuse_if(waits: list[float | None], message: str, *, kind: str) -> None:
    longest = max((w for w in waits if w is not None), default=None)
    if longest is not None:
        THROTTLED.labels(kind).inc()
        log.warning("throttled", reason=message, retry_after_s=math.ceil(longest))
        raise RateLimited(message, retry_after_s=math.ceil(longest))
