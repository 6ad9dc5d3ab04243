"""Security properties of the web app: headers, cookie flags, settings, CSP-clean
templates, safe static assets."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from llmsvc.web.app import STATIC_DIR, TEMPLATES_DIR
from llmsvc.web.settings import WebSettings
from tests.unit.web_standin import SSE_BYTES, browser

pytestmark = pytest.mark.unit


def assert_security_headers(headers: httpx.Headers) -> None:
    csp = headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"


async def test_security_headers_on_pages_api_static_and_streams() -> None:
    async with browser() as web:
        for url in ("/web/", "/web/login", "/web/static/app.js", "/web/api/sessions", "/nope"):
            assert_security_headers((await web.client.get(url)).headers)
        await web.login()
        chat = await web.client.get("/web/chat")
        assert_security_headers(chat.headers)
        assert chat.headers["cache-control"] == "no-store"
        stream = await web.client.post(
            "/web/api/chat", json={"message": "Hi"}, headers=await web.api_headers()
        )
        assert stream.content == SSE_BYTES
        assert_security_headers(stream.headers)


async def test_static_assets_are_served_with_script_and_style_types() -> None:
    async with browser() as web:
        for name in ("app.js", "api.js", "reply.js", "sse.js", "markdown.js"):
            response = await web.client.get(f"/web/static/{name}")
            assert response.status_code == 200
            assert "javascript" in response.headers["content-type"]
        css = await web.client.get("/web/static/style.css")
        assert css.headers["content-type"].startswith("text/css")


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    for template in TEMPLATES_DIR.glob("*.html"):
        html = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), template.name
        assert "<style" not in html, template.name
        assert not re.search(r"\sstyle=", html), template.name
        assert not re.search(r"\son[a-z]+=", html), template.name


def test_static_javascript_never_uses_raw_html_sinks() -> None:
    """Our own scripts build DOM nodes; HTML strings are parsed only by DOMPurify (in
    static/vendor), and attributes are set by name only for ARIA."""
    scripts = list(STATIC_DIR.glob("*.js"))
    assert {"app.js", "markdown.js", "messages.js", "reply.js"} <= {s.name for s in scripts}
    for script in scripts:
        code = script.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in code, (script.name, sink)
        for name in re.findall(r"setAttribute\(([^,]*),", code):
            assert re.fullmatch(r'"aria-[a-z]+"', name.strip()), (script.name, name)


def test_rendered_markdown_goes_through_dompurify_with_safe_schemes_only() -> None:
    code = (STATIC_DIR / "markdown.js").read_text()
    assert "markdownit({ html: false, linkify: true, highlight })" in code
    assert "DOMPurify.sanitize(md.render(text), PURIFY)" in code
    assert "ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i" in code


async def test_tampered_cookie_is_ignored() -> None:
    async with browser() as web:
        await web.login()
        name = "llmsvc_web"
        value = web.client.cookies[name]
        web.client.cookies.set(name, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
        assert (await web.client.get("/web/chat")).status_code == 303
        assert (await web.client.get("/web/api/sessions")).status_code == 401


async def test_production_cookie_is_secure_and_host_prefixed() -> None:
    async with browser(environment="production", session_secret="p" * 48) as web:
        response = await web.client.get("/web/login")
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith("__Host-llmsvc_web=")
        assert "Secure" in set_cookie
        assert "HttpOnly" in set_cookie
        assert "strict-transport-security" in response.headers


def test_settings_host_and_port_prefer_web_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_HOST", raising=False)
    monkeypatch.delenv("WEB_PORT", raising=False)
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9000")
    assert (WebSettings().host, WebSettings().port) == ("0.0.0.0", 9000)
    monkeypatch.setenv("WEB_HOST", "127.0.0.2")
    monkeypatch.setenv("WEB_PORT", "9100")
    monkeypatch.setenv("GATEWAY_URL", "http://gw:8000")
    settings = WebSettings()
    assert (settings.host, settings.port, settings.gateway_url) == (
        "127.0.0.2",
        9100,
        "http://gw:8000",
    )


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HOST", "PORT", "WEB_HOST", "WEB_PORT", "GATEWAY_URL", "ENVIRONMENT", "APP_ENV"):
        monkeypatch.delenv(name, raising=False)
    settings = WebSettings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.gateway_url == "http://127.0.0.1:8000"
    assert settings.cookie_secure is False


@pytest.mark.parametrize("secret", [None, "changeme", "short-but-not-a-placeholder"])
def test_production_refuses_placeholder_session_secret(secret: str | None) -> None:
    values: dict[str, Any] = {"environment": "production"}
    if secret:
        values["session_secret"] = secret
    with pytest.raises(ValidationError, match="WEB_SESSION_SECRET"):
        WebSettings(**values)


def test_production_accepts_a_real_secret() -> None:
    settings = WebSettings(environment="production", session_secret="x" * 40)
    assert settings.cookie_secure is True
