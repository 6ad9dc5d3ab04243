"""Pure rules of the auth service: refresh-token handling, password hashing, settings."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import ValidationError

from llmsvc.auth.models import AuthSessionRecord, bson_now
from llmsvc.auth.security import PasswordHasher, hash_refresh_token, new_refresh_token
from llmsvc.auth.service import RefreshVerdict, refresh_verdict
from llmsvc.auth.settings import AuthSettings
from llmsvc.common.broker_setup import new_user_seed

pytestmark = pytest.mark.unit


def test_refresh_token_hash_is_sha256_hex_of_the_token() -> None:
    token = new_refresh_token()
    digest = hash_refresh_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert token not in digest
    assert hash_refresh_token(token) == digest
    assert hash_refresh_token(token + "x") != digest


def test_refresh_tokens_are_random_and_url_safe() -> None:
    tokens = {new_refresh_token() for _ in range(200)}
    assert len(tokens) == 200
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", token)


def _session(**changes: object) -> AuthSessionRecord:
    now = bson_now()
    base = AuthSessionRecord(
        session_id="s1",
        user_id="u1",
        token_hash="h",
        created_at=now,
        expires_at=now + timedelta(days=1),
    )
    return base.model_copy(update=changes)


def test_refresh_verdicts() -> None:
    now = bson_now()
    assert refresh_verdict(None, now=now) is RefreshVerdict.UNKNOWN
    assert refresh_verdict(_session(), now=now) is RefreshVerdict.VALID
    expired = _session(expires_at=now - timedelta(seconds=1))
    assert refresh_verdict(expired, now=now) is RefreshVerdict.EXPIRED
    logged_out = _session(revoked_at=now)
    assert refresh_verdict(logged_out, now=now) is RefreshVerdict.REVOKED
    rotated = _session(revoked_at=now, replaced_by="s2")
    assert refresh_verdict(rotated, now=now) is RefreshVerdict.REUSED
    # Reuse wins over expiry: a stolen, since-expired token still signals theft.
    rotated_expired = _session(
        revoked_at=now, replaced_by="s2", expires_at=now - timedelta(seconds=1)
    )
    assert refresh_verdict(rotated_expired, now=now) is RefreshVerdict.REUSED


async def test_passwords_hash_with_argon2id_and_verify() -> None:
    hasher = await PasswordHasher.create(concurrency=2)
    stored = await hasher.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    assert await hasher.verify("correct horse battery", stored) == (True, None)
    assert await hasher.verify("wrong horse battery", stored) == (False, None)
    assert await hasher.hash("correct horse battery") != stored  # salted


async def test_outdated_hash_parameters_are_upgraded_on_verify() -> None:
    weak = await PasswordHasher.create(
        concurrency=1, hasher=Argon2Hasher(time_cost=1, memory_cost=8 * 1024)
    )
    current = await PasswordHasher.create(concurrency=1)
    old_hash = await weak.hash("pass phrase 1")
    matches, new_hash = await current.verify("pass phrase 1", old_hash)
    assert matches
    assert new_hash is not None and new_hash != old_hash
    assert await current.verify("pass phrase 1", new_hash) == (True, None)


async def test_burn_verifies_against_a_real_hash() -> None:
    hasher = await PasswordHasher.create(concurrency=1)
    await hasher.burn("anything at all")  # must not raise, and costs a verification


def test_settings_defaults_and_database_prefix() -> None:
    settings = AuthSettings(mongo_db="t1")
    assert settings.refresh_token_ttl_s == 30 * 24 * 3600
    assert settings.database == "t1_auth"
    assert AuthSettings(mongo_db="").database == "auth"


#: What production requires of every service that speaks NATS (see test_nats_identity).
SEED = new_user_seed()


@pytest.mark.parametrize("passphrase", [None, "changeme", "short-but-real"])
def test_production_refuses_a_missing_placeholder_or_short_key_passphrase(
    passphrase: str | None,
) -> None:
    with pytest.raises(ValidationError, match="JWT_KEY_PASSPHRASE"):
        AuthSettings(environment="production", jwt_key_passphrase=passphrase, nats_nkey_seed=SEED)
    assert AuthSettings(environment="development", jwt_key_passphrase=passphrase)
    real = AuthSettings(environment="production", jwt_key_passphrase="x" * 40, nats_nkey_seed=SEED)
    assert real.key_passphrase == b"x" * 40


def test_keys_rotate_slower_than_access_tokens_live() -> None:
    with pytest.raises(ValidationError, match="JWT_KEY_ROTATION_S"):
        AuthSettings(jwt_key_rotation_s=600, access_token_ttl_s=900)
