"""Prometheus metrics of auth (names in infra/README.md). Each NATS request it answers
is counted by FastStream's middleware (`llm_received_…`, `llmsvc.common.metrics`)."""

from __future__ import annotations

from prometheus_client import Counter

LOGIN_FAILURES = Counter(
    "llm_auth_login_failures_total",
    "Logins refused for wrong credentials: unknown_account or wrong_password",
    labelnames=("reason",),
)
LOGINS = Counter("llm_auth_logins_total", "Successful logins")
THROTTLED = Counter(
    "llm_auth_throttled_total",
    "Requests refused by an abuse limit (429), by kind: login, register, refresh",
    labelnames=("kind",),
)
REGISTRATIONS = Counter("llm_auth_registrations_total", "Accounts created")
REFRESH_REUSE = Counter(
    "llm_auth_refresh_reuse_detected_total",
    "A refresh token used again after its grace: every login of that user ended",
)
