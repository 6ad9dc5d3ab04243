"""Web pages and form actions: log in, register, log out, what a visitor sees."""

from __future__ import annotations

import httpx
import pytest

from llmsvc.web.session_cookie import SessionCookies, WebSession
from tests.unit.web_standin import EMAIL, PASSWORD, Browser, browser

pytestmark = pytest.mark.unit


def cookie_session(web: Browser) -> WebSession:
    cookies = SessionCookies(secret=web.settings.session_secret, secure=False, max_age_s=3600)
    return WebSession.model_validate(cookies.serializer.loads(web.client.cookies[cookies.name]))


async def test_root_redirects_to_web_home() -> None:
    async with browser() as web:
        response = await web.client.get("/")
        assert response.status_code in (302, 307)
        assert response.headers["location"] == "/web/"
        home = await web.client.get("/web/")
        assert home.status_code == 200
        assert 'href="/web/login"' in home.text
        assert 'href="/web/register"' in home.text


async def test_login_sets_httponly_lax_cookie_and_redirects_to_chat() -> None:
    async with browser() as web:
        response = await web.login()
        assert response.status_code == 303
        assert response.headers["location"] == "/web/chat"
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith("llmsvc_web=")
        assert "HttpOnly" in set_cookie
        assert "SameSite=lax" in set_cookie
        assert "Path=/" in set_cookie
        assert "Secure" not in set_cookie  # test environment: plain http
        session = cookie_session(web)
        assert session.access_token == "acc-1"
        assert session.refresh_token == "ref-1"
        assert session.user_name == "Ada"

        chat = await web.client.get("/web/chat")
        assert chat.status_code == 200
        assert 'src="/web/static/app.js"' in chat.text
        assert "Ada" in chat.text


async def test_login_rotates_csrf_token() -> None:
    async with browser() as web:
        before = await web.csrf("/web/login")
        await web.login()
        assert await web.csrf("/web/chat") != before


async def test_wrong_password_shows_friendly_message() -> None:
    async with browser() as web:
        response = await web.login(password="not the password")
        assert response.status_code in (200, 401)
        assert "Wrong email or password." in response.text
        assert f'value="{EMAIL}"' in response.text  # the email is kept, not the password
        assert "not the password" not in response.text
        assert "Traceback" not in response.text
        assert "invalid_credentials" not in response.text
        assert (await web.client.get("/web/chat")).status_code == 303


async def test_register_logs_in_and_goes_to_chat() -> None:
    async with browser() as web:
        form = {
            "name": "Grace",
            "email": "grace@example.com",
            "password": "a long password",
            "password_confirm": "a long password",
            "csrf_token": await web.csrf("/web/register"),
        }
        response = await web.client.post("/web/auth/register", data=form)
        assert response.status_code == 303
        assert response.headers["location"] == "/web/chat"
        assert "grace@example.com" in web.gateway.users
        assert (await web.client.get("/web/chat")).status_code == 200


async def test_register_with_taken_email_shows_message() -> None:
    async with browser() as web:
        form = {
            "name": "Ada again",
            "email": EMAIL,
            "password": PASSWORD,
            "password_confirm": PASSWORD,
            "csrf_token": await web.csrf("/web/register"),
        }
        response = await web.client.post("/web/auth/register", data=form)
        assert response.status_code == 409
        assert "An account with this email already exists." in response.text
        assert "Traceback" not in response.text


async def test_register_with_mismatched_passwords_is_refused_before_the_gateway() -> None:
    async with browser() as web:
        form = {
            "name": "Bob",
            "email": "bob@example.com",
            "password": "first password",
            "password_confirm": "second password",
            "csrf_token": await web.csrf("/web/register"),
        }
        response = await web.client.post("/web/auth/register", data=form)
        assert response.status_code == 422
        assert "do not match" in response.text
        assert "bob@example.com" not in web.gateway.users


async def test_chat_page_requires_login() -> None:
    async with browser() as web:
        response = await web.client.get("/web/chat")
        assert response.status_code == 303
        assert response.headers["location"] == "/web/login"


async def test_login_form_without_csrf_token_is_forbidden() -> None:
    async with browser() as web:
        await web.client.get("/web/login")
        form = {"email": EMAIL, "password": PASSWORD}
        response = await web.client.post("/web/auth/login", data=form)
        assert response.status_code == 403
        assert "expired" in response.text
        assert web.gateway.issued == 0
        # and a form posted with no cookie at all (another site) fails the same way
        web.client.cookies.clear()
        form["csrf_token"] = "guessed"
        response = await web.client.post("/web/auth/login", data=form)
        assert response.status_code == 403
        assert web.gateway.issued == 0


async def test_logout_is_a_post_form_that_revokes_at_gateway_and_clears_cookie() -> None:
    async with browser() as web:
        await web.login()
        token = await web.csrf("/web/chat")
        chat = (await web.client.get("/web/chat")).text
        # The form posts the token in its body: never in a URL, a log or a Referer.
        assert 'action="/web/auth/logout"' in chat and "csrf=" not in chat
        response = await web.client.post("/web/auth/logout", data={"csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"] == "/web/login?signed_out=1"
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith('llmsvc_web=""') or "Max-Age=0" in set_cookie
        assert web.gateway.logout_calls == [{"refresh_token": "ref-1"}]
        assert (await web.client.get("/web/chat")).status_code == 303
        page = await web.client.get("/web/login?signed_out=1")
        assert "You are logged out." in page.text


async def test_logout_without_the_token_asks_first_and_a_link_only_asks() -> None:
    async with browser() as web:
        await web.login()
        for response in (
            await web.client.post("/web/auth/logout", data={"csrf_token": "forged"}),
            await web.client.post("/web/auth/logout"),
            await web.client.get("/web/auth/logout", params={"csrf": "anything"}),
        ):
            assert response.status_code in (200, 403)
            assert "Log out?" in response.text
            assert "set-cookie" not in response.headers
        assert web.gateway.logout_calls == []
        assert (await web.client.get("/web/chat")).status_code == 200


async def test_logout_when_gateway_is_down_still_clears_cookie() -> None:
    async with browser() as web:
        await web.login()
        token = await web.csrf("/web/chat")
        web.gateway.expire_access_tokens()
        web.gateway.valid_refresh.clear()
        response = await web.client.post("/web/auth/logout", data={"csrf_token": token})
        assert response.status_code == 303
        assert (await web.client.get("/web/chat")).status_code == 303


async def test_gateway_unreachable_shows_message_not_trace() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with browser(gateway_transport=httpx.MockTransport(refuse)) as web:
        response = await web.login()
        assert response.status_code == 503
        assert "unavailable right now" in response.text
        assert "Traceback" not in response.text
        assert "ConnectError" not in response.text
