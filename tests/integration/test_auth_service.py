"""The auth service in-process, driven over real NATS, storing in a real Mongo-compatible
server: what the gateway (and so a user) sees."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from faststream import TestApp
from nats.aio.client import Client as NATS
from pymongo import AsyncMongoClient

from llmsvc.auth.app import create_app
from llmsvc.auth.settings import AuthSettings
from llmsvc.auth.signing_keys import SigningKeys
from llmsvc.common import subjects
from llmsvc.common.clients import AuthClient
from llmsvc.common.contracts.auth import (
    ApiKeyCreateRequest,
    ApiKeyVerifyRequest,
    LoginAttempt,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    RegisterAttempt,
    RegisterRequest,
    TokenPair,
    User,
    UserGetRequest,
)
from llmsvc.common.envelope import Envelope
from llmsvc.common.errors import Conflict, NotFound, RateLimited, Unauthorized
from llmsvc.common.nats_client import request
from llmsvc.common.tokens import AccessClaims, TokenAudience, TokenVerifier
from tests.support.infra import Infra

pytestmark = pytest.mark.integration


PASSWORD = "correct horse battery"

Mongo = AsyncMongoClient[dict[str, Any]]


def auth_settings(infra: Infra, db_prefix: str, **overrides: Any) -> AuthSettings:
    """An auth replica's settings on this run's NATS and Mongo, in its own databases."""
    return AuthSettings(
        nats_url=infra.nats_url,
        nats_nkey_seed_file=infra.seed_file("auth"),
        mongo_uri=infra.mongo_uri,
        mongo_db=db_prefix,
        environment="test",
        **overrides,
    )


@pytest.fixture
async def settings(infra: Infra, db_prefix: str) -> AsyncIterator[AuthSettings]:
    settings = auth_settings(infra, db_prefix)
    async with TestApp(create_app(settings)):
        yield settings


async def register(nc: NATS, email: str = "ada@example.com", name: str = "Ada") -> User:
    req = RegisterRequest(name=name, email=email, password=PASSWORD)
    return await AuthClient(nc).register(req)


async def login(nc: NATS, email: str = "ada@example.com", password: str = PASSWORD) -> TokenPair:
    req = LoginRequest(email=email, password=password)
    return await AuthClient(nc).login(req)


async def refresh(nc: NATS, token: str) -> TokenPair:
    return await AuthClient(nc).refresh(RefreshRequest(refresh_token=token))


async def verified(nc: NATS, token: str) -> AccessClaims:
    """The token's claims, checked as a gateway does: with the keys auth publishes."""
    keys = await AuthClient(nc).signing_keys()
    audience = TokenAudience(issuer="llmsvc-auth", audience="llmsvc-api")
    return TokenVerifier.from_jwks(keys, audience=audience).verify(token)


async def raw_request(nc: NATS, subject: str, payload: bytes) -> Envelope:
    msg = await nc.request(subject, payload, timeout=10)
    return Envelope.model_validate_json(msg.data)


async def test_register_returns_the_user_without_any_hash(
    settings: AuthSettings, nc: NATS, mongo_client: Mongo
) -> None:
    data = await request(
        nc,
        subjects.AUTH_REGISTER,
        RegisterRequest(name=" Ada ", email=" Ada@Example.COM ", password=PASSWORD),
    )
    assert set(data) == {"user_id", "name", "email", "created_at"}
    assert data["name"] == "Ada"
    assert data["email"] == "ada@example.com"

    stored = await mongo_client[settings.database]["users"].find_one({"_id": data["user_id"]})
    assert stored is not None
    assert stored["email"] == "ada@example.com"
    assert stored["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in json.dumps(stored, default=str)


async def test_user_get(settings: AuthSettings, nc: NATS) -> None:
    user = await register(nc)
    got = await AuthClient(nc).user(UserGetRequest(user_id=user.user_id))
    assert got == user
    with pytest.raises(NotFound) as caught:
        await request(nc, subjects.AUTH_USER_GET, UserGetRequest(user_id="nobody"))
    assert caught.value.error_code == "user_not_found"


async def test_duplicate_email_is_a_conflict(settings: AuthSettings, nc: NATS) -> None:
    await register(nc, email="grace@example.com")
    with pytest.raises(Conflict) as caught:
        await register(nc, email="GRACE@example.com", name="Someone else")
    assert caught.value.error_code == "email_taken"
    assert caught.value.status == 409


async def test_login_issues_a_verifiable_access_token_and_a_hashed_refresh_token(
    settings: AuthSettings, nc: NATS, mongo_client: Mongo
) -> None:
    user = await register(nc)
    pair = await login(nc, email="ADA@example.com")
    assert pair.user == user
    assert pair.token_type == "bearer"
    assert pair.expires_in == settings.access_token_ttl_s
    claims = await verified(nc, pair.access_token)
    assert claims.sub == user.user_id

    docs = await mongo_client[settings.database]["auth_sessions"].find().to_list()
    assert len(docs) == 1
    (doc,) = docs
    assert doc["user_id"] == user.user_id
    assert doc["token_hash"] == hashlib.sha256(pair.refresh_token.encode()).hexdigest()
    assert pair.refresh_token not in json.dumps(docs, default=str)
    assert doc["expires_at"] > doc["created_at"]
    assert doc["revoked_at"] is None


async def test_wrong_password_and_unknown_email_look_the_same(
    settings: AuthSettings, nc: NATS
) -> None:
    await register(nc)
    errors = []
    for email, password in (("ada@example.com", "wrong password"), ("bob@example.com", PASSWORD)):
        with pytest.raises(Unauthorized) as caught:
            await login(nc, email=email, password=password)
        errors.append((caught.value.error_code, caught.value.message, caught.value.status))
    assert errors[0] == errors[1]
    assert errors[0][0] == "invalid_credentials"
    assert errors[0][2] == 401


async def test_refresh_rotates_and_reuse_signs_out_everywhere(
    settings: AuthSettings, nc: NATS
) -> None:
    user = await register(nc)
    first = await login(nc)
    other_device = await login(nc)

    second = await refresh(nc, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert second.user == user
    assert (await verified(nc, second.access_token)).sub == user.user_id
    third = await refresh(nc, second.refresh_token)

    # The first token was exchanged already: presenting it again means a copy leaked.
    with pytest.raises(Unauthorized) as caught:
        await refresh(nc, first.refresh_token)
    assert caught.value.error_code == "refresh_token_reused"

    # ...so every session of that user is gone, on every device.
    for token in (third.refresh_token, other_device.refresh_token):
        with pytest.raises(Unauthorized) as caught:
            await refresh(nc, token)
        assert caught.value.error_code == "invalid_refresh_token"


async def test_two_refreshes_of_one_token_at_once_both_succeed_in_the_same_login(
    settings: AuthSettings, nc: NATS
) -> None:
    """Two tabs or two web replicas refreshing together are not a theft (grace)."""
    await register(nc)
    pair = await login(nc)
    login_id = (await verified(nc, pair.access_token)).sid
    both = await asyncio.gather(refresh(nc, pair.refresh_token), refresh(nc, pair.refresh_token))
    assert both[0].refresh_token != both[1].refresh_token
    for renewed in both:
        assert (await verified(nc, renewed.access_token)).sid == login_id
    # Only once: a third exchange of the same token is a theft.
    with pytest.raises(Unauthorized) as caught:
        await refresh(nc, pair.refresh_token)
    assert caught.value.error_code == "refresh_token_reused"
    with pytest.raises(Unauthorized):  # and every login ended with it
        await refresh(nc, both[0].refresh_token)


async def test_a_token_presented_again_after_its_successor_was_used_is_a_theft(
    settings: AuthSettings, nc: NATS
) -> None:
    await register(nc)
    pair = await login(nc)
    renewed = await refresh(nc, pair.refresh_token)
    following = await refresh(nc, renewed.refresh_token)
    with pytest.raises(Unauthorized) as caught:
        await refresh(nc, pair.refresh_token)
    assert caught.value.error_code == "refresh_token_reused"
    with pytest.raises(Unauthorized):
        await refresh(nc, following.refresh_token)


@pytest.fixture
async def no_grace(infra: Infra, db_prefix: str) -> AsyncIterator[AuthSettings]:
    settings = auth_settings(infra, db_prefix, refresh_reuse_grace_s=0)
    async with TestApp(create_app(settings)):
        yield settings


async def test_without_grace_concurrent_refresh_lets_only_one_through(
    no_grace: AuthSettings, nc: NATS
) -> None:
    await register(nc)
    pair = await login(nc)
    results = await asyncio.gather(
        refresh(nc, pair.refresh_token), refresh(nc, pair.refresh_token), return_exceptions=True
    )
    successes = [r for r in results if isinstance(r, TokenPair)]
    failures = [r for r in results if isinstance(r, Unauthorized)]
    assert len(successes) == 1 and len(failures) == 1
    assert failures[0].error_code == "refresh_token_reused"
    with pytest.raises(Unauthorized):
        await refresh(nc, successes[0].refresh_token)


async def test_unknown_refresh_token(settings: AuthSettings, nc: NATS) -> None:
    with pytest.raises(Unauthorized) as caught:
        await refresh(nc, "not-a-token-we-issued")
    assert caught.value.error_code == "invalid_refresh_token"


async def test_logout_revokes_only_that_refresh_token(settings: AuthSettings, nc: NATS) -> None:
    user = await register(nc)
    phone = await login(nc)
    laptop = await login(nc)

    reply = await request(
        nc,
        subjects.AUTH_LOGOUT,
        LogoutRequest(user_id=user.user_id, refresh_token=phone.refresh_token),
    )
    assert reply == {"revoked": True}
    with pytest.raises(Unauthorized) as caught:
        await refresh(nc, phone.refresh_token)
    # A logged-out token is dead, but it is not theft: the laptop stays signed in.
    assert caught.value.error_code == "invalid_refresh_token"
    await refresh(nc, laptop.refresh_token)

    # Logging out again, or without a token, is harmless.
    for req in (
        LogoutRequest(user_id=user.user_id, refresh_token=phone.refresh_token),
        LogoutRequest(user_id=user.user_id),
    ):
        assert await request(nc, subjects.AUTH_LOGOUT, req) == {"revoked": True}


async def test_logout_cannot_revoke_another_users_token(settings: AuthSettings, nc: NATS) -> None:
    await register(nc)
    mallory = await register(nc, email="mallory@example.com", name="Mallory")
    ada = await login(nc)
    await request(
        nc,
        subjects.AUTH_LOGOUT,
        LogoutRequest(user_id=mallory.user_id, refresh_token=ada.refresh_token),
    )
    await refresh(nc, ada.refresh_token)


@pytest.mark.parametrize(
    ("subject", "payload", "bad_field"),
    [
        (subjects.AUTH_REGISTER, b"{not json", None),
        (subjects.AUTH_REGISTER, b"", None),
        (subjects.AUTH_REGISTER, b"[1, 2]", None),
        (
            subjects.AUTH_REGISTER,
            b'{"name": "Ada", "email": "not-an-email", "password": "correct horse"}',
            "email",
        ),
        (
            subjects.AUTH_REGISTER,
            b'{"name": "Ada", "email": "ada@example.com", "password": "short"}',
            "password",
        ),
        (
            subjects.AUTH_REGISTER,
            b'{"email": "ada@example.com", "password": "long enough, truly"}',
            "name",
        ),
        (subjects.AUTH_LOGIN, b'{"email": "ada@example.com"}', "password"),
        (subjects.AUTH_REFRESH, b'{"refresh_token": ""}', "refresh_token"),
        (subjects.AUTH_LOGOUT, b"{}", "user_id"),
        (subjects.AUTH_USER_GET, b'{"user_id": 5}', "user_id"),
    ],
)
async def test_bad_input_gets_a_422_envelope(
    settings: AuthSettings, nc: NATS, subject: str, payload: bytes, bad_field: str | None
) -> None:
    reply = await raw_request(nc, subject, payload)
    assert reply.ok is False
    assert reply.error is not None
    assert reply.error.status == 422
    assert reply.error.code == "validation_error"
    if bad_field is not None:
        fields = (reply.error.model_extra or {})["fields"]
        assert [bad_field] in [f["loc"] for f in fields]


async def test_indexes_are_created_at_start_up(settings: AuthSettings, mongo_client: Mongo) -> None:
    db = mongo_client[settings.database]
    users = await db["users"].index_information()
    assert users["email_unique"]["unique"] is True
    sessions = await db["auth_sessions"].index_information()
    assert sessions["token_hash_unique"]["unique"] is True
    assert sessions["expires_at_ttl"]["expireAfterSeconds"] == 0


@pytest.fixture
async def strict(infra: Infra, db_prefix: str) -> AsyncIterator[AuthSettings]:
    """Two auth replicas with small limits and a 3-second window."""
    settings = auth_settings(
        infra,
        db_prefix,
        login_failures_per_account_address=3,
        login_failures_per_address=6,
        login_window_s=3,
        registrations_per_address=2,
        registration_window_s=60,
    )
    async with TestApp(create_app(settings)), TestApp(create_app(settings)):
        yield settings


async def attempt(nc: NATS, password: str, address: str) -> Any:
    req = LoginAttempt(email="ada@example.com", password=password, client_address=address)
    return await request(nc, subjects.AUTH_LOGIN, req)


async def test_failed_logins_are_throttled_per_account_and_address_across_replicas(
    strict: AuthSettings, nc: NATS
) -> None:
    await register(nc)
    for _ in range(3):  # spread over both replicas by the queue group
        with pytest.raises(Unauthorized):
            await attempt(nc, "wrong password", "203.0.113.7")
    # Refused before the password is looked at, even the right one.
    with pytest.raises(RateLimited) as caught:
        await attempt(nc, PASSWORD, "203.0.113.7")
    assert caught.value.status == 429 and caught.value.extra["retry_after_s"] >= 1
    # The owner, elsewhere, still logs in; that does not clear the attacker's count.
    assert (await attempt(nc, PASSWORD, "198.51.100.2"))["access_token"]
    with pytest.raises(RateLimited):
        await attempt(nc, PASSWORD, "203.0.113.7")
    # After the window the account logs in from there too.
    await asyncio.sleep(3.2)
    assert (await attempt(nc, PASSWORD, "203.0.113.7"))["access_token"]


async def test_failures_after_a_successful_login_are_counted_again(
    strict: AuthSettings, nc: NATS
) -> None:
    """A correct password clears its address's count (a purge in the KV bucket); the
    failures that follow must be counted from zero, not slip past the limit."""
    await register(nc)
    with pytest.raises(Unauthorized):
        await attempt(nc, "wrong password", "203.0.113.8")
    assert (await attempt(nc, PASSWORD, "203.0.113.8"))["access_token"]
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await attempt(nc, "wrong password", "203.0.113.8")
    with pytest.raises(RateLimited):
        await attempt(nc, PASSWORD, "203.0.113.8")


async def test_one_address_trying_many_accounts_is_throttled(
    strict: AuthSettings, nc: NATS
) -> None:
    for i in range(6):
        req = LoginAttempt(
            email=f"user{i}@example.com", password="guess one", client_address="192.0.2.9"
        )
        with pytest.raises(Unauthorized):
            await request(nc, subjects.AUTH_LOGIN, req)
    req = LoginAttempt(email="user9@example.com", password="guess one", client_address="192.0.2.9")
    with pytest.raises(RateLimited):
        await request(nc, subjects.AUTH_LOGIN, req)


async def test_registrations_per_address_are_limited(strict: AuthSettings, nc: NATS) -> None:
    for i in range(2):
        req = RegisterAttempt(
            name="Bob", email=f"bob{i}@example.com", password=PASSWORD, client_address="192.0.2.50"
        )
        await request(nc, subjects.AUTH_REGISTER, req)
    req = RegisterAttempt(
        name="Bob", email="bob9@example.com", password=PASSWORD, client_address="192.0.2.50"
    )
    with pytest.raises(RateLimited):
        await request(nc, subjects.AUTH_REGISTER, req)
    other = RegisterAttempt(
        name="Bob", email="bob9@example.com", password=PASSWORD, client_address="192.0.2.51"
    )
    assert (await request(nc, subjects.AUTH_REGISTER, other))["email"] == "bob9@example.com"


@pytest.fixture
async def short_family(infra: Infra, db_prefix: str) -> AsyncIterator[AuthSettings]:
    settings = auth_settings(infra, db_prefix, refresh_family_max_age_s=2)
    async with TestApp(create_app(settings)):
        yield settings


async def test_rotation_does_not_extend_a_logins_absolute_lifetime(
    short_family: AuthSettings, nc: NATS
) -> None:
    await register(nc)
    pair = await login(nc)
    first = await verified(nc, pair.access_token)
    pair = await refresh(nc, pair.refresh_token)
    # The same login (family) goes on in the new access token.
    assert (await verified(nc, pair.access_token)).sid == first.sid != ""
    await asyncio.sleep(2.1)
    with pytest.raises(Unauthorized) as caught:
        await request(nc, subjects.AUTH_REFRESH, RefreshRequest(refresh_token=pair.refresh_token))
    assert caught.value.error_code == "refresh_token_expired"
    # A new login starts a new family.
    assert (await verified(nc, (await login(nc)).access_token)).sid != first.sid


async def test_signing_keys_are_shared_encrypted_and_rotate_without_signing_anyone_out(
    mongo_client: Mongo, db_prefix: str
) -> None:
    collection = mongo_client[f"{db_prefix}_auth"]["signing_keys"]
    now = [1_000_000.0]
    audience = TokenAudience(issuer="llmsvc-auth", audience="llmsvc-api")

    def replica() -> SigningKeys:
        return SigningKeys(
            collection,
            rotation_s=1000,
            audience=audience,
            passphrase=b"p" * 40,
            clock=lambda: now[0],
        )

    first, second = replica(), replica()
    # Two replicas starting together sign with the same key.
    signers = await asyncio.gather(first.signer(), second.signer())
    assert signers[0].kid == signers[1].kid
    stored = await collection.find().to_list()
    assert all(d["private_pem"].startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY") for d in stored)
    token, _ = signers[0].issue(user_id="u1", ttl_s=600)
    published = await second.published()
    # The next key is known before anything is signed with it.
    assert len(published["keys"]) == 2
    before = TokenVerifier.from_jwks(published, audience=audience)

    now[0] += 1000  # the next generation
    rotated = await first.signer()
    assert rotated.kid != signers[0].kid and rotated.kid in before.key_ids
    fresh, _ = rotated.issue(user_id="u1", ttl_s=600)
    assert before.verify(fresh).sub == "u1"
    after = TokenVerifier.from_jwks(await second.published(), audience=audience)
    assert after.verify(token).sub == "u1"  # issued before the rotation, still live

    # A replica with another passphrase cannot read the keys.
    wrong = SigningKeys(
        collection, rotation_s=1000, audience=audience, passphrase=b"q" * 40, clock=lambda: now[0]
    )
    with pytest.raises(ValueError):
        await wrong.signer()


async def test_api_keys_are_stored_as_hashes_and_bounded_per_user(
    settings: AuthSettings, nc: NATS, mongo_client: Mongo
) -> None:
    user = await register(nc)
    create = ApiKeyCreateRequest(user_id=user.user_id, name="bot")
    made = await AuthClient(nc).create_api_key(create)
    stored = await mongo_client[settings.database]["api_keys"].find().to_list()
    assert made.key not in json.dumps(stored, default=str)
    assert stored[0]["key_hash"] == hashlib.sha256(made.key.encode()).hexdigest()
    owner = await AuthClient(nc).api_key_owner(ApiKeyVerifyRequest(key=made.key))
    assert (owner.user_id, owner.key_id) == (user.user_id, made.key_id)
    for _ in range(settings.max_api_keys_per_user - 1):
        await request(nc, subjects.AUTH_API_KEYS_CREATE, create)
    with pytest.raises(Conflict) as caught:
        await request(nc, subjects.AUTH_API_KEYS_CREATE, create)
    assert caught.value.error_code == "too_many_api_keys"
    with pytest.raises(Unauthorized) as refused:
        await request(nc, subjects.AUTH_API_KEYS_VERIFY, ApiKeyVerifyRequest(key=made.key + "x"))
    assert refused.value.error_code == "invalid_api_key"


async def test_an_expired_api_key_is_refused(
    settings: AuthSettings, nc: NATS, mongo_client: Mongo
) -> None:
    user = await register(nc)
    create = ApiKeyCreateRequest(user_id=user.user_id, name="short-lived", expires_in_days=1)
    made = await AuthClient(nc).create_api_key(create)
    assert made.expires_at is not None
    await mongo_client[settings.database]["api_keys"].update_one(
        {"_id": made.key_id}, {"$set": {"expires_at": made.created_at}}
    )
    with pytest.raises(Unauthorized):
        await request(nc, subjects.AUTH_API_KEYS_VERIFY, ApiKeyVerifyRequest(key=made.key))
