"""The front-end libraries the web serves are the ones its package-lock.json names:
the committed copies in static/vendor match node_modules (installed by `make setup`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

WEB = Path(__file__).resolve().parents[2] / "services" / "web"
VENDOR = WEB / "src" / "llmsvc" / "web" / "static" / "vendor"


def test_every_vendored_file_is_named_in_package_json() -> None:
    named = set(json.loads((WEB / "package.json").read_text())["vendor"])
    assert named == {p.name for p in VENDOR.iterdir()}
    lock = json.loads((WEB / "package-lock.json").read_text())["packages"]
    for package in ("markdown-it", "dompurify", "@highlightjs/cdn-assets"):
        assert f"node_modules/{package}" in lock


def test_vendored_copies_match_the_locked_packages() -> None:
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules").is_dir():
        pytest.skip("node_modules missing: `make setup` installs it with npm")
    result = subprocess.run(
        [node, "scripts/vendor-assets.mjs", "--check"],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
