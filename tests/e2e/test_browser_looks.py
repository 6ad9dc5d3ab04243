"""How the UI looks and reads: light and dark themes from the system setting, a phone
layout, and an axe-core scan of every screen with no serious or critical violation.
Screenshots of the main screens go to test-artifacts/."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from llmsvc.common.ids import new_id
from tests.support.browser import watched_page
from tests.support.chat_page import ARTIFACTS, AXE, log_in, register, send
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SHOWCASE = (
    "A table, code and a link:\n\n| Name | Score |\n|:--|--:|\n| Ada | 10 |\n| Alan | 9 |\n\n"
    "```python\nfor n in range(3):\n    print(n)\n```\n\nSee https://example.com/guide"
)
#: The theme's page background (style.css :root), light and dark.
BACKGROUND = {"light": "rgb(246, 247, 249)", "dark": "rgb(21, 24, 30)"}
SERIOUS_VIOLATIONS_JS = """async () => {
  const { violations } = await axe.run(document, { resultTypes: ["violations"] });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}"""


async def serious_violations(page: Page) -> list[str]:
    await page.add_script_tag(path=str(AXE))
    found: list[str] = await page.evaluate(SERIOUS_VIOLATIONS_JS)
    return found


async def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_themes_phone_layout_and_accessibility(
    stack: Stack, browser: Browser, scheme: str
) -> None:
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `make setup` installs it (npm ci in services/web)")
    email = f"looks-{scheme}-{new_id()[:8]}@example.com"
    # axe-core is injected as a script: only these test pages bypass the CSP for it.
    options: dict[str, Any] = {"color_scheme": scheme, "bypass_csp": True}
    problems: dict[str, list[str]] = {}
    async with watched_page(browser, viewport=DESKTOP, **options) as (page, watch):
        await page.goto(f"{stack.web_url}/web/login")
        problems["login"] = await serious_violations(page)
        await shoot(page, f"login-{scheme}-desktop")
        await page.goto(f"{stack.web_url}/web/register")
        problems["register"] = await serious_violations(page)
        await register(page, stack.web_url, email)
        await expect(page.locator("body")).to_have_css("background-color", BACKGROUND[scheme])
        await send(page, SHOWCASE)
        await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
        await send(page, 'Add [mock:tool=calculator:{"expression": "2*21"}]')
        await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
        await page.locator("details.tool-step summary").click()
        await page.get_by_role("button", name="Instructions").click()
        problems["chat"] = await serious_violations(page)
        await shoot(page, f"chat-{scheme}-desktop")
        await page.get_by_role("link", name="Account").click()
        problems["account"] = await serious_violations(page)
        await shoot(page, f"account-{scheme}-desktop")
        assert not watch.problems(), "\n".join(watch.problems())

    async with watched_page(browser, viewport=PHONE, **options) as (page, watch):
        await log_in(page, stack.web_url, email)
        # The conversation fills the phone's width; the list opens on demand.
        await expect(page.locator("#sidebar")).to_be_hidden()
        await expect(page.locator("#message-list > .message")).to_have_count(4)
        await expect(page.get_by_label("Message", exact=True)).to_be_visible()
        # Nothing wider than the phone, and only the messages scroll (the top bar and
        # the composer stay in view).
        overflow = await page.evaluate(
            "() => [document.documentElement.scrollWidth - window.innerWidth,"
            " document.documentElement.scrollHeight - window.innerHeight]"
        )
        assert overflow[0] <= 0, f"the page is {overflow[0]}px wider than the phone"
        assert overflow[1] <= 0, f"the page is {overflow[1]}px taller than the phone"
        await expect(page.locator(".topbar")).to_be_in_viewport()
        problems["chat on a phone"] = await serious_violations(page)
        await shoot(page, f"chat-{scheme}-phone")
        toggle = page.get_by_role("button", name="Conversations")
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        await expect(page.locator("#session-list li")).to_have_count(1)
        await shoot(page, f"conversations-{scheme}-phone")
        await page.locator("#session-list .session-name").click()
        await expect(page.locator("#sidebar")).to_be_hidden()
        await page.get_by_role("link", name="Account").click()
        problems["account on a phone"] = await serious_violations(page)
        await shoot(page, f"account-{scheme}-phone")
        assert not watch.problems(), "\n".join(watch.problems())

    assert {screen: found for screen, found in problems.items() if found} == {}
