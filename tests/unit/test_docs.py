"""The documentation in docs/ against the code: every environment variable the settings
classes read is in docs/configuration.md (and nothing it tables for a service is
gone), and every relative link of docs/*.md and README.md leads to a file (and
heading) in this repository."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
PAGES = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of every service and library (each `settings.py`, and the
    models' settings in `llmsvc.common.models`)."""
    modules = ["llmsvc.common.models"]
    for path in sorted(ROOT.glob("*/*/src/llmsvc/*/settings.py")):
        modules.append(f"llmsvc.{path.parent.name}.settings")
    found: list[type[BaseSettings]] = []
    for name in modules:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                found.append(value)
    return found


def variables(cls: type[BaseSettings]) -> Iterator[str]:
    """The environment variables a settings class reads, as pydantic-settings names
    them: a field's aliases, or the env prefix and its name."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            yield from (choice.upper() for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            yield alias.upper()
        else:
            yield (prefix + name).upper()


def every_variable() -> dict[str, str]:
    """Variable → the settings class that reads it (the first one found)."""
    found: dict[str, str] = {}
    for cls in settings_classes():
        for variable in variables(cls):
            found.setdefault(variable, cls.__name__)
    return found


def test_the_settings_are_found() -> None:
    names = {cls.__name__ for cls in settings_classes()}
    assert {
        "AuthSettings",
        "SessionsSettings",
        "GatewaySettings",
        "WorkerSettings",
        "WebSettings",
        "MockSettings",
    } <= names
    assert {"NATS_URL", "GATEWAY_PORT", "MOCKLLM_TTFT_MS", "OPENAI_MODEL"} <= set(every_variable())


def test_every_setting_is_documented() -> None:
    text = CONFIGURATION.read_text()
    missing = {v: cls for v, cls in every_variable().items() if f"`{v}`" not in text}
    assert not missing, f"add these to docs/configuration.md (variable: settings class): {missing}"


#: The last section of configuration.md: variables of the Makefile and the tests.
_NOT_SETTINGS = "## `make dev` and the tests"


def test_every_variable_documented_for_a_service_exists() -> None:
    documented = CONFIGURATION.read_text().split(_NOT_SETTINGS)[0]
    rows = re.findall(r"^\| (`[A-Z][A-Z0-9_]*`.*?) \|", documented, flags=re.MULTILINE)
    named = {v for row in rows for v in re.findall(r"`([A-Z][A-Z0-9_]*)`", row)}
    stale = named - set(every_variable())
    assert not stale, f"docs/configuration.md tables variables no settings class reads: {stale}"


def _without_code(markdown: str) -> str:
    markdown = re.sub(r"^```.*?^```", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", markdown)


def _links(page: Path) -> Iterator[str]:
    for match in re.finditer(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", _without_code(page.read_text())):
        yield match.group(1)


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes for a Markdown page: lower case, punctuation
    dropped, spaces to hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    found = set()
    text = re.sub(r"^```.*?^```", "", page.read_text(), flags=re.MULTILINE | re.DOTALL)
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(page: Path) -> None:
    broken = []
    for link in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", link):  # https:, mailto:: not ours to check
            continue
        path, _, anchor = unquote(link).partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.is_relative_to(ROOT):
            broken.append(f"{link} (outside the repository)")
        elif not target.exists():
            broken.append(f"{link} (no such file)")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link} (no such heading)")
    assert not broken, f"{page.relative_to(ROOT)}: {broken}"


def test_every_docs_page_is_in_the_index() -> None:
    index = (DOCS / "README.md").read_text()
    pages = {p.name for p in DOCS.iterdir() if p.suffix in (".md", ".json")} - {"README.md"}
    missing = {p for p in pages if f"]({p})" not in index}
    assert not missing, f"docs/README.md does not link {missing}"
