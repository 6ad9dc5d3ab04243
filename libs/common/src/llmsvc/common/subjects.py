"""NATS subject names and JetStream stream names (docs/design.md §3).

A breaking change to a payload gets a new version segment, never an edit in place.
"""

from __future__ import annotations

from typing import Final

AUTH_REGISTER: Final = "auth.v1.register"
AUTH_LOGIN: Final = "auth.v1.login"
AUTH_REFRESH: Final = "auth.v1.refresh"
AUTH_LOGOUT: Final = "auth.v1.logout"
AUTH_USER_GET: Final = "auth.v1.user.get"
AUTH_PASSWORD: Final = "auth.v1.password"
AUTH_LOGOUT_ALL: Final = "auth.v1.logout_all"
#: The JWK set of the public keys that verify access tokens.
AUTH_JWKS: Final = "auth.v1.jwks"
AUTH_API_KEYS_CREATE: Final = "auth.v1.api_keys.create"
AUTH_API_KEYS_LIST: Final = "auth.v1.api_keys.list"
AUTH_API_KEYS_DELETE: Final = "auth.v1.api_keys.delete"
AUTH_API_KEYS_VERIFY: Final = "auth.v1.api_keys.verify"
#: Whether the service can serve (its database answers): the gateway's readiness.
AUTH_HEALTH: Final = "auth.v1.health"
AUTH_QUEUE: Final = "auth"

SESSIONS_CREATE: Final = "sessions.v1.create"
SESSIONS_GET: Final = "sessions.v1.get"
SESSIONS_LIST: Final = "sessions.v1.list"
SESSIONS_UPDATE: Final = "sessions.v1.update"
SESSIONS_TITLE: Final = "sessions.v1.title"
SESSIONS_DELETE: Final = "sessions.v1.delete"
SESSIONS_TOUCH: Final = "sessions.v1.touch"
SESSIONS_HEALTH: Final = "sessions.v1.health"
SESSIONS_QUEUE: Final = "sessions"
SESSIONS_EVENTS_STREAM: Final = "SESSIONS_EVENTS"
SESSIONS_DELETED: Final = "sessions.v1.events.deleted"
#: Core NATS (not kept): a session's fields changed; gateways refresh their cache.
SESSIONS_UPDATED: Final = "sessions.v1.notify.updated"

AGENT_JOBS_STREAM: Final = "AGENT_JOBS"
AGENT_JOBS_SUBJECT: Final = "agent.v1.jobs"
AGENT_JOBS_CONSUMER: Final = "agent-workers"
AGENT_EVENTS_STREAM: Final = "AGENT_EVENTS"
AGENT_HISTORY: Final = "agent.v1.history"
AGENT_QUEUE: Final = "agent-workers"
AGENT_SESSION_CLEANUP_CONSUMER: Final = "agent-session-cleanup"
ACTIVE_RUNS_BUCKET: Final = "agent_active_runs"
#: Attempt counters of the abuse limits (failed logins, registrations, refreshes).
THROTTLE_BUCKET: Final = "auth_throttle"
#: Per-user quotas: runs at once, runs per minute, tokens per day, new conversations.
QUOTAS_BUCKET: Final = "user_quotas"


def run_events(run_id: str) -> str:
    return f"agent.v1.runs.{run_id}.events"


def run_cancel(run_id: str) -> str:
    return f"agent.v1.runs.{run_id}.cancel"


RUN_EVENTS_WILDCARD: Final = "agent.v1.runs.*.events"
RUN_CANCEL_WILDCARD: Final = "agent.v1.runs.*.cancel"
