"""The rules of auth: registration, login, refresh-token rotation, logout."""

from __future__ import annotations

import asyncio
import enum
from datetime import datetime, timedelta
from typing import NoReturn

from llmsvc.auth.api_keys import ApiKeyService
from llmsvc.auth.limits import AbuseLimits
from llmsvc.auth.metrics import LOGIN_FAILURES, LOGINS, REFRESH_REUSE, REGISTRATIONS
from llmsvc.auth.models import AuthSessionRecord, UserRecord, bson_now
from llmsvc.auth.password_policy import check_password
from llmsvc.auth.repository import AuthSessionRepository, UserRepository
from llmsvc.auth.security import PasswordHasher, hash_refresh_token, new_refresh_token
from llmsvc.auth.settings import AuthSettings
from llmsvc.auth.signing_keys import SigningKeys
from llmsvc.common.contracts.auth import (
    ChangePasswordRequest,
    JwksRequest,
    LoginRequest,
    LogoutAllRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    User,
    UserGetRequest,
)
from llmsvc.common.contracts.base import HealthRequest
from llmsvc.common.errors import Conflict, NotFound, Unauthorized
from llmsvc.common.ids import new_id
from llmsvc.common.logging import get_logger
from llmsvc.common.storage_health import storage_health
from llmsvc.common.token_denylist import TokenDenylist

__all__ = ["AuthService", "RefreshVerdict", "refresh_verdict"]

log = get_logger(__name__)


class RefreshVerdict(enum.Enum):
    VALID = "valid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    #: A token that was already exchanged for a new one: someone holds a copy.
    REUSED = "reused"


def refresh_verdict(session: AuthSessionRecord | None, *, now: datetime) -> RefreshVerdict:
    if session is None:
        return RefreshVerdict.UNKNOWN
    if session.revoked_at is not None:
        return RefreshVerdict.REUSED if session.replaced_by else RefreshVerdict.REVOKED
    # The TTL index deletes expired documents only about a minute late: check here too.
    if session.expires_at <= now:
        return RefreshVerdict.EXPIRED
    return RefreshVerdict.VALID


class AuthService:
    def __init__(
        self,
        *,
        users: UserRepository,
        sessions: AuthSessionRepository,
        passwords: PasswordHasher,
        settings: AuthSettings,
        signing_keys: SigningKeys,
        api_keys: ApiKeyService,
        limits: AbuseLimits | None = None,
        denylist: TokenDenylist | None = None,
    ) -> None:
        #: API keys are their own part of auth; the handlers reach them through here.
        self.api_keys = api_keys
        self._limits = limits
        self._signing_keys = signing_keys
        #: Where revoked access tokens are announced to every gateway.
        self._denylist = denylist
        self._users = users
        self._sessions = sessions
        self._passwords = passwords
        self._settings = settings

    async def register(self, req: RegisterRequest) -> User:
        if self._limits is not None:
            await self._limits.attempt(self._limits.registration, _address(req))
        await self._check_new_password(req.password, email=req.email, name=req.name)
        user = UserRecord(
            user_id=new_id(),
            name=req.name,
            email=req.email.lower(),
            password_hash=await self._passwords.hash(req.password),
            created_at=bson_now(),
        )
        if not await self._users.insert(user):
            raise Conflict("an account with this email already exists", code="email_taken")
        log.info("user_registered", user_id=user.user_id)
        REGISTRATIONS.inc()
        return user.public()

    async def login(self, req: LoginRequest) -> TokenPair:
        address = _address(req)
        if self._limits is not None:
            await self._limits.before_login(req.email, address)
        user = await self._users.by_email(req.email)
        if user is None:
            await self._passwords.burn(req.password)
            await self._login_failed(req.email, address, user_id=None, reason="unknown_account")
        matches, new_hash = await self._passwords.verify(req.password, user.password_hash)
        if not matches:
            await self._login_failed(
                req.email, address, user_id=user.user_id, reason="wrong_password"
            )
        if self._limits is not None:
            await self._limits.login_succeeded(req.email, address)
        if new_hash is not None:
            # The hashing parameters changed since this password was stored.
            await self._users.set_password_hash(user.user_id, new_hash)
        pair, _ = await self._new_session(user)
        log.info("user_logged_in", user_id=user.user_id, client_address=address)
        LOGINS.inc()
        return pair

    async def refresh(self, req: RefreshRequest) -> TokenPair:
        if self._limits is not None:
            await self._limits.attempt(self._limits.refresh, _address(req))
        now = bson_now()
        current = await self._sessions.by_token_hash(hash_refresh_token(req.refresh_token))
        verdict = refresh_verdict(current, now=now)
        if verdict is RefreshVerdict.REUSED and current is not None:
            if await self._in_grace(current, now=now):
                return await self._sibling(current)
            await self._reuse_detected(current.user_id, now=now)
        if verdict is RefreshVerdict.EXPIRED:
            raise Unauthorized("refresh token expired", code="refresh_token_expired")
        if verdict is not RefreshVerdict.VALID or current is None:
            raise _invalid_refresh_token()
        user = await self._users.by_id(current.user_id)
        if user is None:
            raise _invalid_refresh_token()
        if self._family_ends(current) <= now:
            raise Unauthorized("refresh token expired", code="refresh_token_expired")
        # The successor exists before the old token is retired, so that revoking every
        # session on reuse (below, or in a concurrent request) also catches it.
        pair, successor = await self._new_session(user, family=current)
        if not await self._sessions.rotate(
            current.session_id, replaced_by=successor.session_id, now=now
        ):
            # Another request exchanged this token a moment ago: the same client asking
            # twice at once (two tabs, two web replicas), unless its grace is over.
            rotated = await self._sessions.by_id(current.session_id)
            if rotated is None or not await self._in_grace(rotated, now=now):
                await self._reuse_detected(user.user_id, now=now)
        return pair

    async def _in_grace(self, rotated: AuthSessionRecord, *, now: datetime) -> bool:
        """A token exchanged less than `REFRESH_REUSE_GRACE_S` ago whose successor has not
        been used yet: the same client refreshing twice at once, not a stolen copy. It
        allows one such extra exchange, not more."""
        grace = self._settings.refresh_reuse_grace_s
        if not grace or rotated.revoked_at is None or rotated.replaced_by is None:
            return False
        if (now - rotated.revoked_at).total_seconds() > grace:
            return False
        successor = await self._sessions.by_id(rotated.replaced_by)
        if successor is None or successor.revoked_at is not None:
            return False
        return await self._sessions.claim_grace(rotated.session_id)

    async def _sibling(self, rotated: AuthSessionRecord) -> TokenPair:
        """Another successor of a token just exchanged, in the same login."""
        user = await self._users.by_id(rotated.user_id)
        if user is None:
            raise _invalid_refresh_token()
        pair, _ = await self._new_session(user, family=rotated)
        log.info("refresh_within_grace", user_id=user.user_id)
        return pair

    async def logout(self, req: LogoutRequest) -> dict[str, bool]:
        if req.refresh_token:
            session = await self._sessions.by_token_hash(hash_refresh_token(req.refresh_token))
            # Someone else's token is left alone: logging out only ever ends your own.
            if session is not None and session.user_id == req.user_id:
                await self._sessions.revoke(session.session_id, now=bson_now())
        return {"revoked": True}

    async def signing_keys(self, _: JwksRequest) -> dict[str, list[dict[str, str]]]:
        """The public keys access tokens are verified with (a JWK set)."""
        return await self._signing_keys.published()

    async def health(self, req: HealthRequest) -> dict[str, bool]:
        return await storage_health(self._users.database, req)

    async def get_user(self, req: UserGetRequest) -> User:
        user = await self._users.by_id(req.user_id)
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        return user.public()

    async def change_password(self, req: ChangePasswordRequest) -> dict[str, bool]:
        """Set a new password; every other login of the user ends (its refresh tokens and
        its access tokens), the one asking stays."""
        user = await self._users.by_id(req.user_id)
        if user is None:
            raise NotFound("no such user", code="user_not_found")
        matches, _ = await self._passwords.verify(req.current_password, user.password_hash)
        if not matches:
            raise Unauthorized("the current password is incorrect", code="invalid_credentials")
        await self._check_new_password(req.new_password, email=user.email, name=user.name)
        await self._users.set_password_hash(
            user.user_id, await self._passwords.hash(req.new_password)
        )
        ended = await self._end_logins(user.user_id, keep_family=req.family_id or None)
        log.info("password_changed", user_id=user.user_id, sessions_ended=len(ended))
        return {"changed": True}

    async def logout_all(self, req: LogoutAllRequest) -> dict[str, bool]:
        """End every login of the user: refresh tokens, and access tokens on every gateway."""
        ended = await self._end_logins(req.user_id)
        log.info("logged_out_everywhere", user_id=req.user_id, sessions_ended=len(ended))
        return {"revoked": True}

    async def _check_new_password(self, password: str, *, email: str, name: str) -> None:
        """The registration policy, off the event loop (zxcvbn costs milliseconds)."""
        await asyncio.to_thread(
            check_password,
            password,
            email=email,
            name=name,
            min_score=self._settings.password_min_score,
        )

    async def _end_logins(self, user_id: str, *, keep_family: str | None = None) -> list[str]:
        """Revoke the user's refresh tokens (but `keep_family`'s) and the access tokens of
        every login that may still hold one, on every gateway; the logins ended."""
        now = bson_now()
        ttl_s = self._settings.access_token_ttl_s
        ended = await self._sessions.revoke_all(
            user_id,
            now=now,
            keep_family=keep_family,
            minted_since=now - timedelta(seconds=ttl_s + 60),
        )
        if self._denylist is not None:
            await asyncio.gather(
                *(self._denylist.revoke_family(f, ttl_s=ttl_s + 60) for f in ended)
            )
        return ended

    def _family_ends(self, session: AuthSessionRecord) -> datetime:
        started = session.family_started_at or session.created_at
        return started + timedelta(seconds=self._settings.refresh_family_max_age_s)

    async def _new_session(
        self, user: UserRecord, *, family: AuthSessionRecord | None = None
    ) -> tuple[TokenPair, AuthSessionRecord]:
        now = bson_now()
        refresh_token = new_refresh_token()
        session_id = new_id()
        expires_at = now + timedelta(seconds=self._settings.refresh_token_ttl_s)
        if family is not None:  # a rotation: the same login, never past its end
            expires_at = min(expires_at, self._family_ends(family))
        session = AuthSessionRecord(
            session_id=session_id,
            user_id=user.user_id,
            token_hash=hash_refresh_token(refresh_token),
            created_at=now,
            expires_at=expires_at,
            family_id=family.family if family is not None else session_id,
            family_started_at=(family.family_started_at or family.created_at)
            if family is not None
            else now,
        )
        await self._sessions.insert(session)
        signer = await self._signing_keys.signer()
        access_token, _ = signer.issue(
            user_id=user.user_id,
            ttl_s=self._settings.access_token_ttl_s,
            family_id=session.family_id,
        )
        pair = TokenPair(
            access_token=access_token,
            expires_in=self._settings.access_token_ttl_s,
            refresh_token=refresh_token,
            user=user.public(),
        )
        return pair, session

    async def _login_failed(
        self, email: str, address: str | None, *, user_id: str | None, reason: str
    ) -> NoReturn:
        # Who (the account, if there is one; never the email or password) and from where.
        log.info("login_failed", user_id=user_id, client_address=address)
        LOGIN_FAILURES.labels(reason).inc()
        if self._limits is not None:
            await self._limits.login_failed(email, address)
        raise _invalid_credentials()

    async def _reuse_detected(self, user_id: str, *, now: datetime) -> NoReturn:
        """A copy of a refresh token is in other hands: every login of the user ends, and
        its access tokens with it (which family the thief holds is not known)."""
        REFRESH_REUSE.inc()
        revoked = await self._end_logins(user_id)
        log.warning("refresh_token_reused", user_id=user_id, families_revoked=len(revoked))
        raise Unauthorized(
            "this refresh token was already used; every session was signed out",
            code="refresh_token_reused",
        )


def _address(req: object) -> str | None:
    """The client address the gateway added (`FromClient`), if any."""
    return getattr(req, "client_address", None)


def _invalid_credentials() -> Unauthorized:
    return Unauthorized("email or password is incorrect", code="invalid_credentials")


def _invalid_refresh_token() -> Unauthorized:
    return Unauthorized("invalid refresh token", code="invalid_refresh_token")
