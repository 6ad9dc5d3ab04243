"""Headless Chromium for end-to-end tests: Debian's /usr/bin/chromium driven by
Playwright (browser downloads fail here, so `playwright install` is never used), and a
watch on each page for console errors, uncaught exceptions, CSP violations and dialogs."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Dialog, Page, Playwright

__all__ = ["CHROMIUM", "LAUNCH_ARGS", "PageWatch", "chromium_path", "launch", "watched_page"]

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Reports every CSP violation to Python. Init scripts run through the DevTools protocol,
# so the page's own Content-Security-Policy does not block this one.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__reportCspViolation(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
    + ` at ${e.sourceFile || e.documentURI}:${e.lineNumber}`);
});
"""


def chromium_path() -> str | None:
    """`CHROMIUM_PATH` when set (another Chromium build, e.g. a CI runner's Chrome), else
    Debian's chromium when installed, else None."""
    if chosen := os.environ.get("CHROMIUM_PATH"):
        return chosen
    found = shutil.which("chromium")
    if found:
        return found
    return CHROMIUM if shutil.which(CHROMIUM) else None


async def launch(pw: Playwright, executable: str) -> Browser:
    return await pw.chromium.launch(executable_path=executable, args=LAUNCH_ARGS, headless=True)


@dataclass
class PageWatch:
    """What went wrong on a page (and the pages it navigated to) while a test ran."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    #: Answers for the next `window.prompt` / `window.confirm` dialogs, in order; an
    #: unexpected dialog (an `alert`, say) is recorded and dismissed.
    dialog_answers: list[str | bool] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            loc = msg.location
            self.console_errors.append(f"{msg.text} ({loc.get('url')}:{loc.get('lineNumber')})")

    def on_page_error(self, exc: Any) -> None:
        self.page_errors.append(str(exc))

    def on_csp(self, _source: Any, description: str) -> None:
        self.csp_violations.append(description)

    async def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        answer = self.dialog_answers.pop(0) if self.dialog_answers else False
        if dialog.type in ("prompt", "confirm") and answer is not False:
            await dialog.accept(answer if isinstance(answer, str) else "")
        else:
            await dialog.dismiss()

    def problems(self, *, http_errors_expected: bool = False) -> list[str]:
        """Everything that went wrong; with `http_errors_expected`, not the console's
        "Failed to load resource" lines of requests the test made fail on purpose."""
        console = [
            e
            for e in self.console_errors
            if not (http_errors_expected and e.startswith("Failed to load resource"))
        ]
        return (
            [f"console error: {e}" for e in console]
            + [f"page error: {e}" for e in self.page_errors]
            + [f"CSP violation: {e}" for e in self.csp_violations]
        )


@asynccontextmanager
async def watched_page(
    browser: Browser, **context_options: Any
) -> AsyncIterator[tuple[Page, PageWatch]]:
    """A page in a fresh context (no cookies shared with other tests), watched.
    `context_options` go to `browser.new_context` (viewport, color_scheme, …)."""
    options: dict[str, Any] = {"viewport": {"width": 1200, "height": 800}, **context_options}
    context: BrowserContext = await browser.new_context(**options)
    try:
        context.set_default_timeout(15_000)
        watch = PageWatch()
        await context.expose_binding("__reportCspViolation", watch.on_csp)
        await context.add_init_script(_CSP_LISTENER)
        page = await context.new_page()
        page.on("console", watch.on_console)
        page.on("pageerror", watch.on_page_error)
        page.on("dialog", watch.on_dialog)
        yield page, watch
    finally:
        await context.close()
