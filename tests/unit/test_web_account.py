"""The account forms: each needs the page's CSRF token, a wrong current password is a
message on the form (not a sign-out), and log out everywhere ends the web session."""

from __future__ import annotations

import pytest

from tests.unit.web_standin import PASSWORD, browser

pytestmark = pytest.mark.unit

FORMS = {
    "/web/account/password": {
        "current_password": PASSWORD,
        "new_password": "a new long password",
        "new_password_confirm": "a new long password",
    },
    "/web/account/logout-all": {},
    "/web/account/api-keys": {"name": "script"},
}


async def test_every_account_form_refuses_a_missing_or_forged_csrf_token() -> None:
    async with browser() as web:
        await web.login()
        for path, form in FORMS.items():
            for token in ("", "forged"):
                response = await web.client.post(path, data={**form, "csrf_token": token})
                assert response.status_code == 403, path
                assert "This form has expired" in response.text
        assert web.gateway.account_calls == []
        assert (await web.client.get("/web/chat")).status_code == 200


async def test_a_wrong_current_password_is_told_on_the_form_and_keeps_the_login() -> None:
    async with browser() as web:
        await web.login()
        token = await web.csrf("/web/account")
        form = {**FORMS["/web/account/password"], "current_password": "not it"}
        response = await web.client.post(
            "/web/account/password", data={**form, "csrf_token": token}
        )
        assert response.status_code == 422
        assert "The current password is not right." in response.text
        # A 401 about the password is not about the token: no refresh, still signed in.
        assert web.gateway.refresh_calls == 0
        assert (await web.client.get("/web/chat")).status_code == 200


async def test_mismatched_new_passwords_never_reach_the_gateway() -> None:
    async with browser() as web:
        await web.login()
        token = await web.csrf("/web/account")
        form = {**FORMS["/web/account/password"], "new_password_confirm": "something else"}
        response = await web.client.post(
            "/web/account/password", data={**form, "csrf_token": token}
        )
        assert response.status_code == 422
        assert "do not match" in response.text
        assert web.gateway.account_calls == []


async def test_logout_everywhere_ends_the_web_session_too() -> None:
    async with browser() as web:
        await web.login()
        token = await web.csrf("/web/account")
        response = await web.client.post("/web/account/logout-all", data={"csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"] == "/web/login?signed_out=1"
        assert web.gateway.account_calls == [("/auth/logout-all", None)]
        assert (await web.client.get("/web/chat")).status_code == 303


async def test_a_new_api_key_is_shown_once_and_never_cached() -> None:
    async with browser() as web:
        await web.login()
        token = await web.csrf("/web/account")
        response = await web.client.post(
            "/web/account/api-keys", data={"name": " script ", "csrf_token": token}
        )
        assert response.status_code == 201
        assert 'value="llms_x"' in response.text
        assert response.headers["cache-control"] == "no-store"
        assert web.gateway.account_calls == [("/auth/api-keys", {"name": "script"})]
        again = await web.client.get("/web/account")
        assert "llms_x" not in again.text
