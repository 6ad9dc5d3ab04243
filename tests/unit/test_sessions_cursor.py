"""Page cursors of the session list: opaque, exact, and refused when forged."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from llmsvc.common.errors import BadRequest
from llmsvc.sessions.cursor import decode_cursor, encode_cursor

pytestmark = pytest.mark.unit


def test_round_trip() -> None:
    at = datetime(2026, 11, 25, 17, 3, 4, 567000, tzinfo=UTC)
    cursor = encode_cursor(at, "abc123")
    assert decode_cursor(cursor) == (at, "abc123")


def test_cursor_is_url_safe_without_padding() -> None:
    for n in range(1, 20):
        cursor = encode_cursor(datetime(2026, 1, 1, tzinfo=UTC), "x" * n)
        assert "=" not in cursor
        assert set(cursor) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_time_is_kept_to_the_millisecond_bson_stores() -> None:
    at = datetime(2026, 11, 25, 17, 3, 4, 567891, tzinfo=UTC)
    decoded, _ = decode_cursor(encode_cursor(at, "id"))
    assert decoded == datetime(2026, 11, 25, 17, 3, 4, 567000, tzinfo=UTC)


def test_pre_epoch_and_far_future_times() -> None:
    for at in (
        datetime(1969, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ):
        assert decode_cursor(encode_cursor(at, "id")) == (at, "id")


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "zzz",
        "not a cursor!",
        "é",
        "=" * 8,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _b64({"updated_at": 1, "id": "x"}),
        _b64([1]),
        _b64([1, "x", 2]),
        _b64(["1", "x"]),
        _b64([1.5, "x"]),
        _b64([True, "x"]),
        _b64([1, ""]),
        _b64([1, 2]),
        _b64([10**20, "x"]),
        _b64([1, "x" * 600]),
    ],
)
def test_bad_cursor_is_a_bad_request(cursor: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_cursor(cursor)
    assert caught.value.error_code == "invalid_cursor"
    assert caught.value.status == 400
