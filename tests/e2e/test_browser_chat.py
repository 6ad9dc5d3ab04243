"""The chat UI in a real headless browser, against the real processes: what a person
does, from registering to logging out, and model output that tries to inject markup."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, Page, expect

from llmsvc.common.ids import new_id
from llmsvc.mockllm.replies import reply_for
from tests.support.browser import PageWatch, watched_page
from tests.support.chat_page import ARTIFACTS, PASSWORD, register, send, session_items
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

#: The mock echoes this (directive included), streaming it at 10 tokens a second.
SECOND = "What did I say? [mock:tps=10]"
#: The text of a reply still being streamed, once some of it has been painted.
PARTIAL_REPLY_JS = """() => {
  const c = document.querySelector("#message-list .message.assistant.streaming .content");
  const text = c ? c.textContent.trim() : "";
  return text.length > 0 ? text : null;
}"""


def turns(*texts: str) -> list[dict[str, str]]:
    """The conversation as the model sees it: user texts with the mock's replies between."""
    messages: list[dict[str, str]] = []
    for text in texts:
        messages.append({"role": "user", "content": text})
        messages.append({"role": "assistant", "content": reply_for(messages)})
    return messages


def assert_clean(watch: PageWatch) -> None:
    assert not watch.problems(), "\n".join(watch.problems())


async def expect_turns(page: Page, *texts: str) -> None:
    """The message list shows exactly these user turns, each with the mock's reply."""
    convo = turns(*texts)
    await expect(page.locator("#message-list .message")).to_have_count(len(convo))
    await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
    await expect(page.locator("#message-list .message .content")).to_have_text(
        [m["content"] for m in convo]
    )
    await expect(page.locator("#message-list .message.user")).to_have_count(len(texts))


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


#: Model output that tries to run script, smuggle a scheme past the link check, show
#: a picture, or stall the tab with nesting. The mock echoes each one back.
HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror=alert(1)> <svg onload=alert(1)> <iframe src="javascript:alert(1)">',
    '<a href="javascript:alert(1)">raw</a>',
    "[a](javascript:alert(1)) [b](JaVa%09script:alert(1)) [c](<JaVa\tscript:alert(1)>)",
    "[d](&#106;avascript:alert(1)) [e](&#x6A;avascript&colon;alert(1)) <javascript:alert(1)>",
    "[f](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) <data:text/html,hi>",
    "![g](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+) [h](vbscript:msgbox(1))",
    "[i](file:///etc/passwd) ![cat](https://example.com/cat.png)",
    "- " * 3000 + "deep list",
    "> " * 3000 + "deep quote",
    "[" * 3000 + "brackets" + "]" * 3000,
]
ACTIVE_CONTENT = "#message-list :is(script, img, iframe, svg, object, embed, form, style)"
UNSAFE_ATTRS_JS = """els => els.flatMap(e => [...e.attributes]
  .filter(a => a.name.startsWith("on") || a.name === "style" || a.name === "src"
    || (a.name === "href" && !/^(https?:|mailto:)/.test(e.href)))
  .map(a => `${e.tagName} ${a.name}=${a.value}`))"""


async def assert_nothing_active(page: Page) -> None:
    await expect(page.locator(ACTIVE_CONTENT)).to_have_count(0)
    assert await page.locator("#message-list *").evaluate_all(UNSAFE_ATTRS_JS) == []
    hrefs = await page.locator("#message-list a").evaluate_all("as => as.map(a => a.href)")
    # Only the picture's own address survives, as a plain link that says what it is.
    assert hrefs == ["https://example.com/cat.png"]
    await expect(page.get_by_role("link", name="Image: cat example.com")).to_have_count(1)
    replies = page.locator("#message-list > .message.assistant .content")
    await expect(replies.nth(0)).to_contain_text("<script>alert(1)</script>")
    await expect(replies.nth(2)).to_contain_text('<a href="javascript:alert(1)">raw</a>')
    await expect(replies.nth(3)).to_contain_text("[a](javascript:alert(1))")


async def test_hostile_markdown_never_runs_links_nowhere_and_does_not_freeze(
    stack: Stack, browser: Browser
) -> None:
    async with watched_page(browser) as (page, watch):
        await register(page, stack.web_url, f"eve-{new_id()[:8]}@example.com")
        for text in HOSTILE:
            await send(page, text)
            await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
        await expect(page.locator("#message-list > .message")).to_have_count(2 * len(HOSTILE))
        await assert_nothing_active(page)
        # The tab still answers at once after the nesting bombs.
        assert await page.evaluate("() => 1 + 1") == 2
        await page.reload()
        await expect(page.locator("#message-list > .message")).to_have_count(2 * len(HOSTILE))
        await assert_nothing_active(page)
        assert watch.dialogs == [], "model output must never run script"
        assert_clean(watch)
