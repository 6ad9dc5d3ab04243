"""CSRF tokens: one random token per browser session, kept in the signed cookie.

Forms carry it in a hidden `csrf_token` field, the page's fetch() calls in the
`X-CSRF-Token` header (read from a <meta> tag); both must equal the cookie's copy.
"""

from __future__ import annotations

import hmac
import secrets

__all__ = ["CSRF_FORM_FIELD", "CSRF_HEADER", "SAFE_METHODS", "new_csrf_token", "tokens_match"]

CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
