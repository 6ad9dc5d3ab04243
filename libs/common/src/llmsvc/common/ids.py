from __future__ import annotations

import uuid
from datetime import UTC, datetime


def new_id() -> str:
    """A random, URL- and NATS-subject-safe identifier."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)
