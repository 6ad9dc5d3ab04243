"""Which new passwords auth accepts: long enough, not common, not guessable, not made of
the user's own name or email (ASVS 6.2)."""

from __future__ import annotations

import pytest

from llmsvc.auth.password_policy import password_problem

pytestmark = pytest.mark.unit


def problem(
    password: str, *, email: str = "ada@example.com", name: str = "Ada Lovelace"
) -> str | None:
    return password_problem(password, email=email, name=name, min_score=3)


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "12345678",
        "qwertyuiop",
        "iloveyou123",
        "aaaaaaaaaaaa",
        "11111111111",
        "abcdefgh",
    ],
)
def test_common_and_guessable_passwords_are_refused_with_a_reason(password: str) -> None:
    reason = problem(password)
    assert reason is not None and len(reason) > 10


@pytest.mark.parametrize(
    ("password", "email", "name"),
    [
        ("lovelace-rules-2026", "ada@example.com", "Ada Lovelace"),
        ("my name is grace hopper", "gh@example.com", "Grace Hopper"),
        ("ada.byron:1815!", "ada.byron@example.com", "Ada"),
        ("xx-JSMITH-secure-99", "jsmith@example.com", "J"),
    ],
)
def test_passwords_made_of_the_users_name_or_email_are_refused(
    password: str, email: str, name: str
) -> None:
    assert problem(password, email=email, name=name) == (
        "the password contains your name or the name of your email address"
    )


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery",
        "Tr0ub4dor&3",
        "another good one",
        "long enough, truly",
        "x" * 3 + "Zq8#vLp2!mW",
    ],
)
def test_passwords_hard_to_guess_are_accepted_without_composition_rules(password: str) -> None:
    assert problem(password) is None


def test_a_long_repeat_is_rated_quickly_and_refused() -> None:
    # zxcvbn's cost grows with length; only the start is rated, and it is a repeat.
    assert problem("ab" * 64) is not None
