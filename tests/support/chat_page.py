"""What a person does on the chat UI, as Playwright steps shared by the browser tests."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Locator, Page, expect

__all__ = [
    "ARTIFACTS",
    "AXE",
    "PASSWORD",
    "WAIT_MS",
    "log_in",
    "register",
    "send",
    "session_items",
]

ROOT = Path(__file__).resolve().parents[2]
#: Screenshots and measurements of the browser tests (not committed).
ARTIFACTS = ROOT / "test-artifacts"
#: axe-core, installed by `make setup` (npm ci in services/web).
AXE = ROOT / "services" / "web" / "node_modules" / "axe-core" / "axe.min.js"
PASSWORD = "correct horse battery"
WAIT_MS = 15_000


async def register(page: Page, web_url: str, email: str, name: str = "Ada Lovelace") -> None:
    await page.goto(f"{web_url}/web/")
    await page.get_by_role("link", name="Create an account").click()
    await expect(page).to_have_url(f"{web_url}/web/register")
    await expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_label("Repeat the password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(f"{web_url}/web/chat")
    await expect(page.locator(".topbar .user")).to_have_text(name)


async def log_in(page: Page, web_url: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{web_url}/web/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/web/chat(#.*)?$"))


async def send(page: Page, text: str) -> None:
    """Type a message and send it; the reply must come back as an SSE stream."""
    async with page.expect_response(re.compile(r"/web/api/chat$")) as info:
        await page.get_by_label("Message", exact=True).fill(text)
        await page.get_by_role("button", name="Send").click()
    response = await info.value
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")


def session_items(page: Page) -> Locator:
    return page.locator("#session-list li")
