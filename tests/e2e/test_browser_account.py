"""The account page in a real browser: change the password, API keys (shown once,
usable, revoked), log out everywhere, and no way Back into the chat after logging out."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from llmsvc.common.ids import new_id
from tests.support.browser import watched_page
from tests.support.chat_page import PASSWORD, log_in, register, send
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "battery staple horse"


async def change_password(page: Page, current: str, new: str, repeat: str | None = None) -> None:
    await page.get_by_label("Current password").fill(current)
    await page.get_by_label("New password", exact=False).first.fill(new)
    await page.get_by_label("Repeat the new password").fill(repeat or new)
    await page.get_by_role("button", name="Change password").click()


async def sessions_status(gateway_url: str, key: str) -> int:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as api:
        r = await api.get("/conversation/sessions", headers={"Authorization": f"Bearer {key}"})
        return r.status_code


async def test_password_api_keys_logout_everywhere_and_back_button(
    stack: Stack, browser: Browser
) -> None:
    email = f"acct-{new_id()[:8]}@example.com"
    async with (
        watched_page(browser) as (page, watch),
        watched_page(browser) as (other, other_watch),
    ):
        await register(page, stack.web_url, email)
        await log_in(other, stack.web_url, email)  # a second browser, same account

        await page.get_by_role("link", name="Account").click()
        await expect(page.get_by_role("heading", name="Your account")).to_be_visible()

        # API keys: created and shown once, usable on the API, then revoked.
        await page.get_by_label("Name of a new key").fill("my script")
        await page.get_by_role("button", name="Create key").click()
        key = await page.get_by_label("The new API key").input_value()
        assert key.startswith("llms_")
        await expect(page.get_by_role("row", name=re.compile("my script"))).to_have_count(1)
        assert await sessions_status(stack.gateway_url, key) == 200
        # Shown once: the page opened again lists the key without it.
        await page.goto(f"{stack.web_url}/web/account")
        await expect(page.get_by_label("The new API key")).to_have_count(0)
        await expect(page.locator("table.keys")).not_to_contain_text(key)
        await page.get_by_role("button", name="Revoke the key my script").click()
        await expect(page.get_by_text("The key is revoked.")).to_be_visible()
        await expect(page.get_by_role("row", name=re.compile("my script"))).to_have_count(0)
        for _ in range(50):  # every gateway refuses a revoked key within a second or so
            if await sessions_status(stack.gateway_url, key) == 401:
                break
            await asyncio.sleep(0.1)
        assert await sessions_status(stack.gateway_url, key) == 401

        # Password: a wrong current one and a mistyped repeat are refused on the form.
        await change_password(page, "not my password", NEW_PASSWORD)
        await expect(page.get_by_role("alert")).to_have_text("The current password is not right.")
        await change_password(page, PASSWORD, NEW_PASSWORD, repeat=NEW_PASSWORD + "x")
        await expect(page.get_by_role("alert")).to_have_text("The new passwords do not match.")
        await change_password(page, PASSWORD, NEW_PASSWORD)
        await expect(page.get_by_role("status")).to_contain_text("Your password is changed.")
        # This browser stays signed in; the other one's login has ended.
        await page.get_by_role("link", name="Chat", exact=True).click()
        await send(page, "still here?")
        await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
        await other.reload()
        await expect(other).to_have_url(f"{stack.web_url}/web/login")
        # The new password works, the old one no longer does.
        await other.get_by_label("Email").fill(email)
        await other.get_by_label("Password").fill(PASSWORD)
        await other.get_by_role("button", name="Log in").click()
        await expect(other.get_by_role("alert")).to_have_text("Wrong email or password.")
        await log_in(other, stack.web_url, email, NEW_PASSWORD)

        # Log out everywhere: both browsers are out.
        await page.get_by_role("link", name="Account").click()
        await page.get_by_role("button", name="Log out everywhere").click()
        await expect(page).to_have_url(re.compile(r"/web/login"))
        await expect(page.get_by_text("You are logged out.")).to_be_visible()
        await other.reload()
        await expect(other).to_have_url(f"{stack.web_url}/web/login")

        # Log out (a POST form); Back does not bring the chat back.
        await log_in(page, stack.web_url, email, NEW_PASSWORD)
        await expect(page.locator("#message-list .message")).to_have_count(2)
        await page.get_by_role("button", name="Log out").click()
        await expect(page).to_have_url(re.compile(r"/web/login\?signed_out=1$"))
        await page.go_back()
        await expect(page).to_have_url(re.compile(r"/web/login"))
        await expect(page.locator("#message-list .message")).to_have_count(0)

        assert watch.dialogs == [] and other_watch.dialogs == []
        for w in (watch, other_watch):
            assert not w.problems(http_errors_expected=True), "\n".join(w.problems())
