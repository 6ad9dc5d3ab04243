"""Configuration of the auth service, from the environment (see docs/design.md §6)."""

from __future__ import annotations

import os

from pydantic import Field, SecretStr, model_validator

from llmsvc.common.settings import PLACEHOLDER_SECRETS, MongoSettings, TokenSettings

__all__ = ["AuthSettings"]

THIRTY_DAYS_S = 30 * 24 * 3600


def _default_hash_concurrency() -> int:
    return os.cpu_count() or 1


class AuthSettings(MongoSettings, TokenSettings):
    """`NATS_URL`, `MONGO_URI`, `MONGO_DB`, `JWT_KEY_PASSPHRASE`, `JWT_KEY_ROTATION_S`,
    `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL_S`, `REFRESH_TOKEN_TTL_S`, the abuse
    limits below, `MAX_CONCURRENCY`, `HASH_CONCURRENCY`, `LOG_LEVEL`, `LOG_JSON`,
    `ENVIRONMENT`."""

    #: Encrypts the token-signing keys auth keeps in its database (required in
    #: production, 32+ characters): a database copy alone cannot mint tokens.
    jwt_key_passphrase: SecretStr | None = None
    #: A new signing key this often; the previous one is still accepted meanwhile.
    jwt_key_rotation_s: int = Field(30 * 24 * 3600, ge=60)

    refresh_token_ttl_s: int = Field(THIRTY_DAYS_S, ge=60)
    #: No refresh token of one login lives longer than this from the login, however
    #: often it is rotated: a stolen chain ends.
    refresh_family_max_age_s: int = Field(THIRTY_DAYS_S, ge=1)
    #: A refresh token exchanged less than this long ago may be exchanged once more (its
    #: successor unused): two tabs or two web replicas refreshing at once are not a
    #: theft. A third use, or one after this, ends every login; 0: so does the second.
    refresh_reuse_grace_s: float = Field(10.0, ge=0, le=60)
    #: Lowest zxcvbn score (0–4) a new password may have: 3 is "safely unguessable",
    #: about 10^8 guesses.
    password_min_score: int = Field(3, ge=0, le=4)
    #: Failed logins to one account from one address within `LOGIN_WINDOW_S` before
    #: further attempts are refused for a growing time (30 s, doubling, at most the
    #: window). A correct password clears only its own address's count.
    login_failures_per_account_address: int = Field(10, ge=1)
    #: Failed logins to one account from all addresses, and from one address to all
    #: accounts (credential stuffing), within the window.
    login_failures_per_account: int = Field(100, ge=1)
    login_failures_per_address: int = Field(50, ge=1)
    login_window_s: int = Field(900, ge=1)
    #: Registrations and token refreshes per client address.
    registrations_per_address: int = Field(20, ge=1)
    registration_window_s: int = Field(3600, ge=1)
    refreshes_per_address: int = Field(300, ge=1)
    refresh_window_s: int = Field(300, ge=1)
    #: API keys one account may hold at once.
    max_api_keys_per_user: int = Field(25, ge=1, le=1000)
    #: Requests in flight per subject on one replica.
    max_concurrency: int = Field(32, ge=1, le=1024)
    #: Argon2 hashes computed at once: each takes a core and 64 MiB, so more than the
    #: cores only queues work in threads and costs memory.
    hash_concurrency: int = Field(default_factory=_default_hash_concurrency, ge=1)

    @model_validator(mode="after")
    def _check_keys(self) -> AuthSettings:
        passphrase = self.jwt_key_passphrase.get_secret_value() if self.jwt_key_passphrase else ""
        if self.environment == "production" and (
            passphrase.lower() in PLACEHOLDER_SECRETS or len(passphrase) < 32
        ):
            raise ValueError(
                "JWT_KEY_PASSPHRASE must be set to a random value of at least 32 characters "
                "when ENVIRONMENT=production"
            )
        # Tokens signed with the previous key must outlive it by an access-token lifetime.
        if self.jwt_key_rotation_s < self.access_token_ttl_s + self.jwt_leeway_s:
            raise ValueError("JWT_KEY_ROTATION_S must exceed ACCESS_TOKEN_TTL_S + JWT_LEEWAY_S")
        return self

    @property
    def key_passphrase(self) -> bytes | None:
        if self.jwt_key_passphrase is None:
            return None
        return self.jwt_key_passphrase.get_secret_value().encode() or None

    @property
    def database(self) -> str:
        return self.database_name("auth")
