"""The operator's guide and the Grafana dashboard name only metrics the services
really export, and every exported `llm_` metric is in the guide."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
MODULES = (
    "llmsvc.common.metrics",
    "llmsvc.gateway.metrics",
    "llmsvc.auth.metrics",
    "llmsvc.agent_worker.metrics",
)
FASTSTREAM = {
    "llm_received_messages_total",
    "llm_received_processed_messages_total",
    "llm_received_processed_messages_duration_seconds",
    "llm_received_messages_in_process",
}
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def exported() -> set[str]:
    for module in MODULES:
        importlib.import_module(module)
    names = set()
    for collector in list(REGISTRY._collector_to_names):
        for family in collector.describe() if hasattr(collector, "describe") else []:
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    # FastStream's middleware registers its metrics when a broker first uses it; its
    # names are fixed by the prefix we give it.
    return {n for n in names if n.startswith("llm_")} | FASTSTREAM


def base(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_the_guide_lists_every_metric_and_only_real_ones() -> None:
    guide = (ROOT / "infra/README.md").read_text()
    listed = set(re.findall(r"`(llm_[a-z_]+)", guide))
    names = exported()
    assert listed - names == set(), "the guide names metrics nobody exports"
    # FastStream's middleware has more (publish counters, exceptions) once a broker in
    # this process used it; the guide names the ones an operator watches.
    ours = {n for n in names if not n.startswith(("llm_received_", "llm_published_"))}
    assert ours - listed == set(), "exported metrics missing from infra/README.md"


def test_the_dashboard_queries_only_exported_metrics() -> None:
    dashboard = json.loads((ROOT / "infra/grafana/llmsvc-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = {base(n) for e in exprs for n in re.findall(r"\bllm_[a-z_]+", e)}
    assert used, "no queries found"
    assert used - exported() == set()
    # Every panel shows data: a query per panel, unique ids.
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p.get("targets") for p in dashboard["panels"] if p["type"] != "row")
