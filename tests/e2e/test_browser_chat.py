"""The chat UI in a real headless browser, against the real processes: what a person
does, from registering to logging out, and model output that tries to inject markup."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect

from llmsvc.common.ids import new_id
from llmsvc.mockllm.replies import reply_for
from tests.support.browser import PageWatch, chromium_path, launch, watched_page
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery"
WAIT_MS = 15_000
#: The mock echoes this (directive included), streaming it at 10 tokens a second.
SECOND = "What did I say? [mock:tps=10]"
#: The text of a reply still being streamed, once some of it has been painted.
PARTIAL_REPLY_JS = """() => {
  const c = document.querySelector("#message-list .message.assistant.streaming .content");
  const text = c ? c.textContent.trim() : "";
  return text.length > 0 ? text : null;
}"""


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as pw:
        b = await launch(pw, executable)
        try:
            yield b
        finally:
            await b.close()


def turns(*texts: str) -> list[dict[str, str]]:
    """The conversation as the model sees it: user texts with the mock's replies between."""
    messages: list[dict[str, str]] = []
    for text in texts:
        messages.append({"role": "user", "content": text})
        messages.append({"role": "assistant", "content": reply_for(messages)})
    return messages


def assert_clean(watch: PageWatch) -> None:
    assert not watch.problems(), "\n".join(watch.problems())


async def register(page: Page, web_url: str, email: str) -> None:
    await page.goto(f"{web_url}/web/")
    await page.get_by_role("link", name="Create an account").click()
    await expect(page).to_have_url(f"{web_url}/web/register")
    await expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    await page.get_by_label("Name").fill("Ada Lovelace")
    await page.get_by_label("Email").fill(email)
    await page.locator("#password").fill(PASSWORD)
    await page.get_by_label("Repeat the password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url(f"{web_url}/web/chat")
    await expect(page.locator(".topbar .user")).to_have_text("Ada Lovelace")


async def send(page: Page, text: str) -> None:
    """Type a message and send it; the reply must come back as an SSE stream."""
    async with page.expect_response(re.compile(r"/web/api/chat$")) as info:
        await page.get_by_label("Message", exact=True).fill(text)
        await page.get_by_role("button", name="Send").click()
    response = await info.value
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/event-stream")


async def expect_turns(page: Page, *texts: str) -> None:
    """The message list shows exactly these user turns, each with the mock's reply."""
    convo = turns(*texts)
    await expect(page.locator("#message-list .message")).to_have_count(len(convo))
    await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
    await expect(page.locator("#message-list .message .content")).to_have_text(
        [m["content"] for m in convo]
    )
    await expect(page.locator("#message-list .message.user")).to_have_count(len(texts))


def session_items(page: Page) -> Locator:
    return page.locator("#session-list li")


async def test_register_chat_reload_rename_delete_logout(stack: Stack, browser: Browser) -> None:
    web = stack.web_url
    email = f"ada-{new_id()[:8]}@example.com"
    async with watched_page(browser) as (page, watch):
        await register(page, web, email)
        await expect(page.get_by_role("heading", name="New conversation")).to_be_visible()
        await expect(session_items(page)).to_have_count(0)

        # First turn: the reply streams in and the new conversation appears in the list.
        await send(page, "Hello there")
        await expect_turns(page, "Hello there")
        assert turns("Hello there")[1]["content"] == (
            "You said: Hello there. I have seen 1 user messages."
        )
        await expect(session_items(page)).to_have_count(1)
        await expect(session_items(page).first).to_have_class(re.compile(r"\bactive\b"))
        await expect(page).to_have_url(re.compile(r"/web/chat#[A-Za-z0-9_-]+$"))
        await expect(page.get_by_label("Message", exact=True)).to_have_value("")
        await expect(page.get_by_role("button", name="Send")).to_be_enabled()
        # The user's bubble is in the normal text colour (not the muted nav colour).
        body_color = await page.locator("body").evaluate("b => getComputedStyle(b).color")
        await expect(page.locator("#message-list .message.user")).to_have_css("color", body_color)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

        # Second turn, paced by the mock at 10 tokens/s: the reply is seen growing while
        # the Stop button shows, and the model saw the first turn (it counts user turns).
        await send(page, SECOND)
        await expect(page.get_by_role("button", name="Stop")).to_be_visible()
        await expect(page.get_by_role("button", name="Send")).to_be_disabled()
        partial = await page.wait_for_function(PARTIAL_REPLY_JS)
        final = turns("Hello there", SECOND)[3]["content"]
        partial_text = await partial.json_value()
        assert isinstance(partial_text, str)
        assert final.startswith(partial_text) and len(partial_text) < len(final)
        await expect_turns(page, "Hello there", SECOND)
        assert final.endswith("I have seen 2 user messages.")
        await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
        await expect(page.get_by_role("button", name="Send")).to_be_enabled()

        # Reload: the conversation and both turns come back from the server.
        session_url = page.url
        await page.reload()
        await expect(page).to_have_url(session_url)
        await expect(session_items(page)).to_have_count(1)
        await expect_turns(page, "Hello there", SECOND)

        # Rename through the prompt; the list and the title follow, and it persists.
        watch.dialog_answers.append("Questions for Ada")
        await session_items(page).first.get_by_title("Rename").click()
        await expect(session_items(page).first.locator(".session-name")).to_have_text(
            "Questions for Ada"
        )
        await expect(page.locator("#session-title")).to_have_text("Questions for Ada")
        await page.reload()
        await expect(page.locator("#session-title")).to_have_text("Questions for Ada")
        await expect_turns(page, "Hello there", SECOND)

        # A second conversation, then delete the renamed one (after confirming).
        await page.get_by_role("button", name="+ New conversation").click()
        await expect(session_items(page)).to_have_count(2)
        await expect(page.locator("#session-title")).to_have_text("New conversation")
        await expect(page.locator("#message-list .message")).to_have_count(0)
        # Opening a conversation ends by putting the cursor in the composer.
        await expect(page.get_by_label("Message", exact=True)).to_be_focused()
        renamed = session_items(page).filter(has_text="Questions for Ada")
        await expect(renamed).not_to_have_class(re.compile(r"\bactive\b"))
        # The row's buttons are reachable from the keyboard, and show when focused.
        await renamed.locator(".session-name").focus()
        await page.keyboard.press("Tab")
        await expect(renamed.get_by_title("Rename")).to_be_focused()
        await expect(renamed.get_by_title("Rename")).to_have_css("opacity", "1")
        await page.keyboard.press("Tab")
        await expect(renamed.get_by_title("Delete")).to_be_focused()
        watch.dialog_answers.append(True)
        await renamed.hover()
        await expect(renamed.get_by_title("Delete")).to_have_css("opacity", "1")
        await renamed.get_by_title("Delete").click()
        await expect(session_items(page)).to_have_count(1)
        await expect(renamed).to_have_count(0)
        await page.reload()
        await expect(session_items(page)).to_have_count(1)
        await expect(session_items(page).filter(has_text="Questions for Ada")).to_have_count(0)
        await expect(page.locator("#message-list .message")).to_have_count(0)
        assert watch.dialogs == [
            "prompt: Rename the conversation",
            "confirm: Delete “Questions for Ada” and all its messages?",
        ]

        # Log out: the session cookie is gone and the chat sends us to the login page.
        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_role("link", name="Log in").first).to_be_visible()
        await expect(page.locator(".topbar .user")).to_have_count(0)
        await page.goto(f"{web}/web/chat")
        await expect(page).to_have_url(f"{web}/web/login")

        # Log in again: the remaining conversation is still there.
        await page.get_by_label("Email").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(re.compile(r"/web/chat(#.*)?$"))
        await expect(session_items(page)).to_have_count(1)

        assert_clean(watch)


INJECTION = (
    "<img src=x onerror=alert(1)> and [link](javascript:alert(1)) "
    "and [safe](https://example.com/docs)"
)


async def assert_rendered_safely(page: Page) -> None:
    reply = page.locator("#message-list .message.assistant .content").last
    expected = turns(INJECTION)[1]["content"]
    # Markup stays text; the javascript: link is left as its literal markdown.
    # The link shows where it goes.
    await expect(reply).to_have_text(
        expected.replace("[safe](https://example.com/docs)", "safe example.com")
    )
    await expect(reply).to_contain_text("<img src=x onerror=alert(1)>")
    await expect(reply).to_contain_text("[link](javascript:alert(1))")
    await expect(page.locator("#message-list img")).to_have_count(0)
    await expect(page.locator("#message-list [onerror]")).to_have_count(0)
    hrefs = await page.locator("#message-list a").evaluate_all("as => as.map(a => a.href)")
    assert hrefs == ["https://example.com/docs"]
    assert not await page.locator("#message-list *").evaluate_all(
        "els => els.some(e => [...e.attributes].some(a => /^\\s*javascript:/i.test(a.value)))"
    )
    link = reply.get_by_role("link", name="safe example.com")
    await expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(page.locator("#message-list .message.user .content")).to_have_text(INJECTION)


async def test_model_output_is_rendered_as_text(stack: Stack, browser: Browser) -> None:
    async with watched_page(browser) as (page, watch):
        await register(page, stack.web_url, f"mallory-{new_id()[:8]}@example.com")
        await send(page, INJECTION)
        await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
        await assert_rendered_safely(page)
        # The same text from the stored history is rendered just as safely.
        await page.reload()
        await expect(page.locator("#message-list .message")).to_have_count(2)
        await assert_rendered_safely(page)
        assert watch.dialogs == [], "model output must never run script"
        assert_clean(watch)
