"""Opaque page cursors for the session list.

A cursor is the sort key of the last session on a page, `(updated_at, session_id)`,
as base64url JSON; clients must not parse it. Times are whole milliseconds, as BSON
stores them, so the key compares exactly against what Mongo holds.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta

from llmsvc.common.errors import BadRequest

__all__ = ["decode_cursor", "encode_cursor"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
MAX_CURSOR_LEN = 512


def encode_cursor(updated_at: datetime, session_id: str) -> str:
    millis = (updated_at - _EPOCH) // _MS
    raw = json.dumps([millis, session_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The sort key a cursor stands for; `BadRequest("invalid_cursor")` if it is not ours."""
    try:
        if len(cursor) > MAX_CURSOR_LEN:
            raise ValueError("too long")
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
        data = json.loads(raw)
        if not (
            isinstance(data, list)
            and len(data) == 2
            and type(data[0]) is int
            and isinstance(data[1], str)
            and data[1]
        ):
            raise ValueError("unexpected shape")
        return _EPOCH + data[0] * _MS, data[1]
    except (ValueError, binascii.Error, OverflowError) as exc:
        raise BadRequest("the page cursor is not valid", code="invalid_cursor") from exc
