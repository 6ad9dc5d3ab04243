"""Every agent feature from the browser, in real headless Chromium against the real
processes: markdown with tables and highlighted code, tool steps, the model picker,
the automatic title, regenerate, edit, stop, reload mid-reply, search."""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from llmsvc.common.ids import new_id
from tests.support.browser import watched_page
from tests.support.chat_page import ARTIFACTS, register, send, session_items
from tests.support.mockllm import requests_ending_with
from tests.support.procs import Proc
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

TABLE_AND_CODE = (
    "Here you are:\n\n"
    "| Animal | Legs |\n|:-------|-----:|\n| cat | 4 |\n| bird | 2 |\n\n"
    "```python\ndef greet(name):\n    return f'hi {name}'\n```\n\n"
    "- one\n  - nested\n- two\n\nThat is all"
)
CALCULATOR = 'What is (2+3)*4? [mock:tool=calculator:{"expression": "(2+3)*4"}]'
SLOW = "Count slowly: " + " ".join(f"w{i}" for i in range(30)) + " [mock:tps=8]"


def last_reply(page: Page) -> Locator:
    return page.locator("#message-list > .message.assistant").last


async def wait_idle(page: Page) -> None:
    await expect(page.locator("#message-list .message.streaming")).to_have_count(0)
    await expect(page.get_by_role("button", name="Send")).to_be_enabled()


async def test_markdown_model_tools_title_regenerate_edit_stop_reload_search(
    stack: Stack, browser: Browser, mockllm: Proc
) -> None:
    clipboard = ["clipboard-read", "clipboard-write"]
    async with watched_page(browser, permissions=clipboard) as (page, watch):
        await register(page, stack.web_url, f"features-{new_id()[:8]}@example.com")

        # The model picker lists the operator's models; the choice for a new
        # conversation is kept with it once the first message creates it.
        picker = page.get_by_label("Model")
        await expect(picker.locator("option")).to_have_text(["Mock", "Mock Large"])
        await picker.select_option("mock-large")

        # Instructions (the system prompt) for the conversation, before it exists.
        await page.get_by_role("button", name="Instructions").click()
        await page.get_by_label("Instructions for this conversation").fill("Answer briefly.")
        await page.get_by_role("button", name="Save instructions").click()

        # Markdown: a table with aligned columns, highlighted Python, nested lists.
        await send(page, TABLE_AND_CODE)
        await wait_idle(page)
        reply = last_reply(page)
        await expect(reply.locator("table tbody tr")).to_have_count(2)
        await expect(reply.locator("th.align-right")).to_have_text("Legs")
        code = reply.locator("pre code.language-python")
        await expect(code.locator(".hljs-keyword").first).to_have_text("def")
        await expect(reply.locator(".code-language")).to_have_text("python")
        await expect(reply.locator("ul ul li")).to_have_text("nested")
        await reply.get_by_role("button", name="Copy the python code").click()
        copied = await page.evaluate("navigator.clipboard.readText()")
        assert copied == "def greet(name):\n    return f'hi {name}'\n"
        model_calls = await requests_ending_with(mockllm, TABLE_AND_CODE)
        assert model_calls[-1]["model"] == "mock-large"
        assert model_calls[-1]["messages"][0] == {"role": "system", "content": "Answer briefly."}

        # The automatic title replaces "New conversation" without a reload.
        title = page.locator("#session-title")
        await expect(title).to_have_text(re.compile(r"^You said: "), timeout=20_000)
        await expect(session_items(page).first).to_contain_text("You said: ")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "chat-markdown-light-desktop.png"))

        # A tool call is a collapsible step with its arguments and result.
        await send(page, CALCULATOR)
        await wait_idle(page)
        step = last_reply(page).locator("details.tool-step")
        await expect(step).to_have_count(1)
        await expect(step.locator("summary")).to_contain_text("calculator")
        await expect(step.locator("summary")).to_contain_text("done")
        await expect(step.locator(".tool-result")).to_be_hidden()
        await step.locator("summary").click()
        await expect(step.locator(".tool-args")).to_contain_text('"expression": "(2+3)*4"')
        await expect(step.locator(".tool-result")).to_have_text("20")
        await expect(last_reply(page).locator(".content")).to_have_text(
            "The calculator tool said: 20."
        )

        # Regenerate asks the model again and replaces the reply (and its steps).
        before = len(await requests_ending_with(mockllm, CALCULATOR))
        await last_reply(page).get_by_role("button", name="Regenerate the last reply").click()
        await wait_idle(page)
        assert len(await requests_ending_with(mockllm, CALCULATOR)) > before
        await expect(page.locator("#message-list > .message")).to_have_count(4)
        await expect(last_reply(page).locator("details.tool-step")).to_have_count(1)

        # Edit the first message: it and everything after it are replaced.
        first_user = page.locator("#message-list > .message.user").first
        await first_user.get_by_role("button", name="Edit this message").click()
        await page.get_by_label("Edit your message").fill("Edited question")
        await page.get_by_role("button", name="Save and send").click()
        await wait_idle(page)
        await expect(page.locator("#message-list > .message .content")).to_have_text(
            ["Edited question", "You said: Edited question. I have seen 1 user messages."]
        )

        # Esc stops a reply mid-way: the turn shows as interrupted, with a retry.
        await send(page, SLOW)
        await expect(last_reply(page).locator(".content")).to_contain_text("w2")
        await page.keyboard.press("Escape")
        await wait_idle(page)
        stopped = last_reply(page)
        await expect(stopped).to_have_attribute("data-status", "interrupted")
        await expect(stopped.locator(".note")).to_have_text(
            "Stopped before the reply was finished."
        )
        retry = stopped.get_by_role("button", name="Answer the last message again")
        await expect(retry).to_be_visible()
        partial = await stopped.locator(".content").text_content()
        assert partial is not None and "w29" not in partial

        # Retry answers it again, to the end this time.
        await retry.click()
        await wait_idle(page)
        await expect(last_reply(page).locator(".content")).to_contain_text("w29")
        # Shift+Enter is a new line, not a send.
        box = page.get_by_label("Message", exact=True)
        await box.fill("line one")
        await box.press("Shift+Enter")
        await box.press_sequentially("line two")
        await expect(box).to_have_value("line one\nline two")
        await box.fill("")

        # Reload while a reply streams: the page follows the run and sees it complete.
        await send(page, SLOW)
        await expect(last_reply(page).locator(".content")).to_contain_text("w1")
        await page.reload()
        await expect(last_reply(page).locator(".content")).to_contain_text("w29", timeout=20_000)
        await wait_idle(page)
        await expect(page.locator("#message-list > .message.assistant")).to_have_count(3)
        await page.reload()
        await expect(page.locator("#message-list > .message.assistant")).to_have_count(3)

        # Search by name: rename this conversation, make another, then filter.
        watch.dialog_answers.append("Lisbon trip plans")
        await session_items(page).first.get_by_title("Rename").click()
        await expect(title).to_have_text("Lisbon trip plans")
        await page.get_by_role("button", name="+ New conversation").click()
        await expect(session_items(page)).to_have_count(2)
        search = page.get_by_label("Search conversations")
        await search.fill("LISBON plans")
        await expect(session_items(page)).to_have_count(1)
        await expect(session_items(page).first).to_contain_text("Lisbon trip plans")
        await search.fill("nothing like this")
        await expect(session_items(page)).to_have_count(0)
        await expect(page.get_by_text("No conversations match.")).to_be_visible()
        await search.fill("")
        await expect(session_items(page)).to_have_count(2)

        # After a reload the conversation still talks to the model picked for it.
        await session_items(page).filter(has_text="Lisbon").locator(".session-name").click()
        await page.reload()
        await expect(picker).to_have_value("mock-large")

        assert watch.dialogs == ["prompt: Rename the conversation"]
        assert not watch.problems(), "\n".join(watch.problems())


def long_markdown(size: int) -> str:
    """A realistic long answer: sections of prose, lists, tables and code."""
    parts: list[str] = []
    n = 0
    while sum(len(p) for p in parts) < size:
        n += 1
        parts.append(
            f"## Part {n}\n\nThis part explains step {n} in some detail, with **bold** words, "
            f"`inline code` and a link to https://example.com/docs/{n} for more.\n\n"
            f"- first point of part {n}\n- second point\n  - a nested detail\n\n"
            f"| key | value |\n|-----|------:|\n| n | {n} |\n| square | {n * n} |\n\n"
            f"```python\ndef part_{n}(x):\n    return x * {n}\n```\n\n"
        )
    return "".join(parts)


LONG_TASKS_JS = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push(e.duration);
}).observe({ type: "longtask", buffered: true });
"""
RESET_STATS_JS = """async () => {
  const m = await import('/web/static/markdown.js');
  m.renderStats.calls = 0;
  m.renderStats.chars = 0;
}"""
READ_STATS_JS = """async () => {
  const m = await import('/web/static/markdown.js');
  return { ...m.renderStats, longTasks: window.__longTasks };
}"""


async def test_a_20000_character_reply_streams_without_rendering_it_over_and_over(
    stack: Stack, browser: Browser
) -> None:
    text = long_markdown(20_000)
    assert 20_000 <= len(text) < 21_000
    async with watched_page(browser) as (page, watch):
        await page.context.add_init_script(LONG_TASKS_JS)
        await register(page, stack.web_url, f"long-{new_id()[:8]}@example.com")
        await page.evaluate(RESET_STATS_JS)
        await send(page, text + " [mock:tps=600]")
        await wait_idle(page)
        reply = last_reply(page)
        await expect(reply.locator("table")).to_have_count(text.count("| key | value |"))
        await expect(reply.locator("pre code.language-python")).to_have_count(
            text.count("```python")
        )
        stats = await page.evaluate(READ_STATS_JS)
        shown = len(f"You said: {text}")
        ratio = stats["chars"] / shown
        result = {
            "reply_chars": shown,
            "renders": stats["calls"],
            "chars_rendered": stats["chars"],
            "chars_rendered_per_reply_char": round(ratio, 2),
            "long_tasks": len(stats["longTasks"]),
            "longest_task_ms": round(max(stats["longTasks"], default=0), 1),
        }
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "long-reply-rendering.json").write_text(json.dumps(result, indent=2))
        # Re-parsing the whole reply on every frame renders it dozens of times over;
        # finished blocks are parsed once, so the total stays a small multiple.
        assert ratio < 6, result
        assert not watch.problems(), "\n".join(watch.problems())


async def test_a_failed_reply_is_shown_as_failed_with_a_retry_also_after_a_reload(
    stack: Stack, browser: Browser
) -> None:
    async with watched_page(browser) as (page, watch):
        await register(page, stack.web_url, f"fails-{new_id()[:8]}@example.com")
        await send(page, "break [mock:fail=500]")
        await wait_idle(page)
        failed = last_reply(page)
        await expect(failed).to_have_attribute("data-status", "error")
        await expect(failed.locator(".note.error")).not_to_be_empty()
        await expect(
            failed.get_by_role("button", name="Answer the last message again")
        ).to_be_visible()
        await page.reload()
        failed = last_reply(page)
        await expect(failed).to_have_attribute("data-status", "error")
        await expect(failed.locator(".note.error")).to_have_text("This reply failed.")
        # The conversation goes on: the next message is answered.
        await send(page, "and now?")
        await wait_idle(page)
        await expect(last_reply(page).locator(".content")).to_have_text(
            "You said: and now?. I have seen 2 user messages."
        )
        assert not watch.problems(), "\n".join(watch.problems())
