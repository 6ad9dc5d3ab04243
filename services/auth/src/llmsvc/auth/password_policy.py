"""Which passwords are accepted (OWASP ASVS 5.0 §6.2): 8–128 characters, no composition
rules, and not one that is common, guessable, or made of the user's own name or email.

Guessability is zxcvbn's score (0–4, from its frequency lists of common passwords, names
and words, keyboard patterns, dates and repeats). Only the first `RATED_CHARS` are rated:
zxcvbn's cost grows fast with length (a 128-character repeat takes ~0.2 s), and a
password is at least as strong as its start.
"""

from __future__ import annotations

import re

from zxcvbn import zxcvbn

from llmsvc.common.errors import ValidationFailed

RATED_CHARS = 40
#: Parts of the user's name or email shorter than this are not looked for.
MIN_PERSONAL_PART = 3


def personal_parts(*, email: str, name: str) -> list[str]:
    local = email.split("@", 1)[0].lower()
    words = re.split(r"[\s._+-]+", f"{name} {local}".lower())
    return sorted({p for p in (local, *words) if len(p) >= MIN_PERSONAL_PART}, key=len)


def password_problem(password: str, *, email: str, name: str, min_score: int) -> str | None:
    """Why `password` is refused, or None when it is acceptable."""
    lowered = password.lower()
    if any(part in lowered for part in personal_parts(email=email, name=name)):
        return "the password contains your name or the name of your email address"
    rated = password[:RATED_CHARS]
    result = zxcvbn(rated, user_inputs=[email, name], max_length=RATED_CHARS)
    if int(result["score"]) >= min_score:
        return None
    feedback = result.get("feedback") or {}
    reasons = [str(feedback.get("warning") or "the password is too easy to guess")]
    reasons += [str(s) for s in feedback.get("suggestions") or ()][:2]
    return " ".join(r.rstrip(".") + "." for r in reasons if r)


def check_password(password: str, *, email: str, name: str, min_score: int) -> None:
    """Raise a 422 naming what is wrong with `password`."""
    problem = password_problem(password, email=email, name=name, min_score=min_score)
    if problem is not None:
        raise ValidationFailed(
            f"choose another password: {problem}",
            code="weak_password",
            fields=[{"loc": ["body", "password"], "msg": problem, "type": "weak_password"}],
        )
