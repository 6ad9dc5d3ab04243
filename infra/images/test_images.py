"""`make test-images`: build every service image from the root Dockerfile with podman,
run them as containers and hold a conversation through them.

No registry image can be pulled on the machines this runs on, so the images are built
on a local base: Debian bookworm made with debootstrap (python3 3.11, made once and kept
as `localhost/debian-python:bookworm`) and uv from PyPI (`uv.Containerfile`, the same
version as the Dockerfile's `UV_VERSION`). The Dockerfile's defaults (python:*-slim,
ghcr.io/astral-sh/uv) stay what users and the GitHub workflows build.

First, inside each image, every module of the service's package must import: a
dependency the code uses but no pyproject.toml declares is in the development venv
anyway and shows only here. Then, with NATS (per-service NKey identities) and the
Mongo-compatible server on this host on free ports, as the tests start them, each
image runs as a container the way compose and Kubernetes run it: host network,
read-only root, a tmpfs /tmp, no capabilities, no-new-privileges, the image's own
non-root user, ENVIRONMENT=production, only its own broker seed mounted read-only.
Checked: every health and metrics endpoint, no container root or able to write /app or
carrying another CA bundle than the base's, register, log in, a streamed turn and the
stored history through the gateway container, the web container's login form and a
turn through its chat API, and that every container stops on SIGTERM. Containers and
processes are always removed; the images and the base stay as the layer cache.

Skipped (exit 0, "test-images skipped: <reason>") without root, podman, runc, or
debootstrap when the base image has not been made yet. Any other problem fails.

    .venv/bin/python -m infra.images.test_images [--no-build] [--keep] [--context DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from tests.support.api import (
    PASSWORD,
    history,
    new_session,
    register_and_login,
    stream_turn,
    streamed_text,
)
from tests.support.procs import Proc, free_port, start_mongo, start_nats
from tests.support.sse import SseEvent, collect_sse

from llmsvc.mockllm.replies import reply_for, tokenize

ROOT = Path(__file__).resolve().parents[2]
#: Git-ignored: the debootstrap folder while the base is made, build logs, containers.conf.
DATA = ROOT / ".data" / "images"
SERVICES = ("gateway", "auth", "sessions", "agent-worker", "web", "mockllm")
BASE_IMAGE = "localhost/debian-python:bookworm"
BASE_PYTHON = "/usr/bin/python3"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
IMAGE_PREFIX = "localhost/llmsvc"
IMAGE_TAG = "local"
#: The proxy's CA is in the host's bundle only: mounted into the build steps that
#: download (pip, uv), never copied into an image.
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
#: crun refuses these machines' hybrid cgroups; runc with cgroupfs works everywhere
#: rootful podman runs.
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
#: The default rlimits of podman 4.3 are not permitted here: none are set.
CONTAINERS_CONF = "[containers]\ndefault_ulimits = []\n"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


class Skip(Exception):
    """This machine cannot build or run the images: say why, pass."""


class Failed(Exception):
    """Something the images must do did not happen."""


def log(message: str) -> None:
    print(f"test-images: {message}", flush=True)


def image(service: str) -> str:
    return f"{IMAGE_PREFIX}/{service}:{IMAGE_TAG}"


def which(name: str) -> str | None:
    return shutil.which(name, path=SBIN_PATH)


class Podman:
    def __init__(self, conf: Path) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(conf))}

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout_s: float = 120,
        stdin: int | None = None,
        log_to: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [*PODMAN, *args]
        if log_to is not None:
            with log_to.open("w") as out:
                done = subprocess.run(
                    argv,
                    env=self.env,
                    stdin=stdin,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                )
        else:
            done = subprocess.run(
                argv,
                env=self.env,
                stdin=stdin,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        if check and done.returncode != 0:
            detail = tail(log_to) if log_to is not None else (done.stderr or done.stdout)
            raise Failed(f"`podman {' '.join(args[:3])} …` exited {done.returncode}:\n{detail}")
        return done

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0

    def out(self, *args: str) -> str:
        return self.run(*args).stdout.strip()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


# --- preflight -------------------------------------------------------------------------


def preflight() -> Podman:
    if sys.platform != "linux":
        raise Skip(f"podman containers need Linux (this is {sys.platform})")
    if os.geteuid() != 0:
        raise Skip("needs root: the base image is made with debootstrap, containers run rootful")
    missing = [tool for tool in ("podman", "runc") if which(tool) is None]
    if missing:
        raise Skip(
            f"{' and '.join(missing)} not installed (apt-get install podman runc debootstrap)"
        )
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "logs").mkdir(exist_ok=True)
    conf = DATA / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    podman = Podman(conf)
    podman.run("info", "--format", "{{.Host.OCIRuntime.Name}}")  # fails loudly if broken
    if not podman.ok("image", "exists", BASE_IMAGE) and which("debootstrap") is None:
        raise Skip(
            f"debootstrap not installed and no {BASE_IMAGE} yet (apt-get install debootstrap)"
        )
    return podman


# --- images ----------------------------------------------------------------------------


def make_base(podman: Podman) -> float | None:
    """The Debian base, made once: seconds taken, or None when it already existed."""
    if podman.ok("image", "exists", BASE_IMAGE):
        return None
    started = time.monotonic()
    rootfs = DATA / "rootfs-bookworm"
    shutil.rmtree(rootfs, ignore_errors=True)  # left by an interrupted run
    log(f"making {BASE_IMAGE} with debootstrap (about a minute, once)")
    debootstrap = which("debootstrap")
    assert debootstrap is not None
    with (DATA / "logs" / "debootstrap.log").open("w") as out:
        done = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
    if done.returncode != 0:
        raise Failed(
            f"debootstrap exited {done.returncode}:\n{tail(DATA / 'logs/debootstrap.log')}"
        )
    try:
        # apt's package lists and downloaded archives: 95 of the 275 MB, not needed to run.
        for cache in ("var/cache/apt", "var/lib/apt/lists"):
            for entry in (rootfs / cache).iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
        with subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE) as tar:
            podman.run(
                "import",
                # What python:*-slim sets too; podman import sets no PATH at all, and the
                # Dockerfile's `ENV PATH=/app/.venv/bin:${PATH}` needs one.
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "--change",
                "ENV LANG=C.UTF-8",
                "--change",
                'CMD ["/bin/bash"]',
                "--message",
                "debootstrap --variant=minbase bookworm + python3, python3-venv, ca-certificates",
                "-",
                BASE_IMAGE,
                stdin=tar.stdout.fileno() if tar.stdout else None,
                timeout_s=600,
            )
        if tar.returncode != 0:
            raise Failed(f"tar of {rootfs} exited {tar.returncode}")
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)  # the image is the cache
    return time.monotonic() - started


def uv_version() -> str:
    found = re.search(r"^ARG UV_VERSION=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    if found is None:
        raise Failed("no `ARG UV_VERSION=...` in the Dockerfile")
    return found.group(1)


def ca_args() -> list[str]:
    if not HOST_CA.is_file():
        return []
    return ["-v", f"{HOST_CA}:{HOST_CA}:ro"]


@dataclass
class Built:
    service: str
    seconds: float
    size_bytes: int


#: On every image these builds make, so that only ours are ever pruned.
OWN_LABEL = "io.llmsvc.test-images=true"


def build(podman: Podman, *args: str, log_to: Path) -> None:
    podman.run(
        "build",
        "--network=host",
        "--layers",
        "--label",
        OWN_LABEL,
        *ca_args(),
        *args,
        timeout_s=1200,
        log_to=log_to,
    )


def build_images(podman: Podman, context: Path, built: list[Built]) -> str:
    """The uv image, then the six service images (appended to `built`); the uv tag.

    Each multi-stage build's first stages are tagged too (`…:local-builder`): they are
    the layer cache of the next build, and tagged they survive the prune of the images
    that earlier builds left untagged (some hundred MB per service and source change)."""
    version = uv_version()
    uv_image = f"localhost/uv:{version}"
    uv_args = [
        "-f",
        str(ROOT / "infra/images/uv.Containerfile"),
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
        "--build-arg",
        f"UV_VERSION={version}",
    ]
    context_dir = str(ROOT / "infra/images")
    build(
        podman,
        *uv_args,
        "--target",
        "install",
        "-t",
        f"{uv_image}-install",
        context_dir,
        log_to=DATA / "logs" / "build-uv-install.log",
    )
    build(podman, *uv_args, "-t", uv_image, context_dir, log_to=DATA / "logs" / "build-uv.log")
    system_certs = ["--build-arg", "UV_SYSTEM_CERTS=true"] if HOST_CA.is_file() else []
    for service in SERVICES:
        started = time.monotonic()
        service_args = [
            *system_certs,
            "--build-arg",
            f"SERVICE={service}",
            "--build-arg",
            f"BUILDER_IMAGE={BASE_IMAGE}",
            "--build-arg",
            f"RUNTIME_IMAGE={BASE_IMAGE}",
            "--build-arg",
            f"UV_IMAGE={uv_image}",
            "--build-arg",
            f"UV_PYTHON={BASE_PYTHON}",
            "-f",
            str(context / "Dockerfile"),
        ]
        build(
            podman,
            *service_args,
            "--target",
            "builder",
            "-t",
            f"{image(service)}-builder",
            str(context),
            log_to=DATA / "logs" / f"build-{service}-builder.log",
        )
        build(
            podman,
            *service_args,
            "-t",
            image(service),
            str(context),
            log_to=DATA / "logs" / f"build-{service}.log",
        )
        seconds = time.monotonic() - started
        size = int(podman.out("image", "inspect", "--format", "{{.Size}}", image(service)))
        built.append(Built(service, seconds, size))
        log(f"built {image(service)} in {seconds:.1f} s ({size / 1e6:.0f} MB)")
    pruned = podman.out("image", "prune", "--force", "--filter", f"label={OWN_LABEL}")
    if pruned:
        log(f"removed {len(pruned.split())} untagged images (earlier builds, stage copies)")
    return uv_image


# --- containers ------------------------------------------------------------------------


@dataclass
class Container:
    service: str
    name: str
    port: int | None = None
    metrics_port: int | None = None
    stop_s: float | None = None
    exit_code: int | None = None


@dataclass
class Smoke:
    podman: Podman
    workdir: Path
    run_id: str = field(default_factory=lambda: secrets.token_hex(4))
    containers: list[Container] = field(default_factory=list)
    procs: list[Proc] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def start(
        self,
        service: str,
        env: dict[str, str],
        *,
        seed: Path | None = None,
        port: int | None = None,
    ) -> Container:
        name = f"llmsvc-test-images-{self.run_id}-{service}"
        metrics_port = None
        if service != "mockllm":
            # In production each service serves /metrics on a port of its own (9464 by
            # default): on the shared host network every container needs another one.
            metrics_port = free_port()
            env = {**env, "METRICS_HOST": "127.0.0.1", "METRICS_PORT": str(metrics_port)}
        env_file = self.workdir / f"{service}.env"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.writelines(f"{key}={value}\n" for key, value in env.items())
        mounts = ["-v", f"{seed}:/run/nats/seed:ro"] if seed is not None else []
        container = Container(service, name, port, metrics_port)
        self.containers.append(container)  # before `run`: removed even if it half-started
        self.podman.run(
            "run",
            "--detach",
            "--name",
            name,
            "--label",
            f"llmsvc-test-images={self.run_id}",
            "--network=host",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
            "--env-file",
            str(env_file),
            *mounts,
            image(service),
        )
        return container

    def running(self, container: Container) -> bool:
        state = self.podman.run(
            "inspect", "--format", "{{.State.Running}}", container.name, check=False
        )
        return state.stdout.strip() == "true"

    def logs(self, container: Container, lines: int = 15, width: int = 400) -> str:
        done = self.podman.run("logs", "--tail", str(lines), container.name, check=False)
        text = (done.stdout + done.stderr).strip()
        return "\n".join(line[:width] for line in text.splitlines())

    def exited(self) -> list[Container]:
        """The started containers that are no longer running (one podman call)."""
        running = self.podman.run(
            "ps",
            "--filter",
            f"label=llmsvc-test-images={self.run_id}",
            "--filter",
            "status=running",
            "--format",
            "{{.Names}}",
            check=False,
        ).stdout.split()
        return [c for c in self.containers if c.name not in running]

    async def wait_http(self, container: Container, path: str, *, timeout_s: float = 120) -> None:
        """Until `path` answers 200; fails at once when any container has exited."""
        url = f"http://127.0.0.1:{container.port}{path}"
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        async with httpx.AsyncClient(timeout=3) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(url)
                    if r.status_code == 200:
                        return
                    last = f"{r.status_code} {r.text[:300]}"
                if gone := self.exited():
                    raise Failed(f"exited while waiting for {url}: {[c.service for c in gone]}")
                await asyncio.sleep(0.5)
        raise Failed(f"{container.service}: {url} not 200 after {timeout_s:.0f} s ({last})")

    def check_hardening(self, container: Container, base_ca: str) -> None:
        """Non-root, read-only root, and the image's own CA bundle (the host's proxy
        CA, mounted while building, must not have been copied in)."""
        user, read_only = self.podman.out(
            "inspect", "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}", container.name
        ).split()
        uid = self.podman.out("exec", container.name, "id", "-u")
        if uid == "0" or user.split(":")[0] in ("", "0", "root"):
            raise Failed(f"{container.service} runs as root (User={user!r}, id -u={uid})")
        if read_only != "true":
            raise Failed(f"{container.service}: root filesystem is not read-only")
        if self.podman.ok("exec", container.name, "touch", "/app/.written"):
            raise Failed(f"{container.service} can write to /app")
        ca = self.podman.out("exec", container.name, "sha256sum", str(HOST_CA)).split()[0]
        if ca != base_ca:
            raise Failed(f"{container.service}: {HOST_CA} differs from the base image's")

    def stop_all(self) -> None:
        """SIGTERM, up to 20 s each, in reverse start order; then remove."""
        for container in reversed(self.containers):
            if not self.running(container):
                continue
            started = time.monotonic()
            self.podman.run("stop", "--time", "20", container.name, check=False, timeout_s=60)
            container.stop_s = time.monotonic() - started
            code = self.podman.run(
                "inspect", "--format", "{{.State.ExitCode}}", container.name, check=False
            ).stdout.strip()
            container.exit_code = int(code) if code.lstrip("-").isdigit() else None

    def remove_all(self) -> None:
        names = [c.name for c in self.containers]
        if names:
            self.podman.run("rm", "--force", "--time", "5", *names, check=False, timeout_s=120)
        for proc in reversed(self.procs):
            proc.stop()


def image_uid(podman: Podman) -> int:
    users = {
        podman.out("image", "inspect", "--format", "{{.Config.User}}", image(s)) for s in SERVICES
    }
    if len(users) != 1:
        raise Failed(f"the images run as different users: {sorted(users)}")
    user = users.pop().split(":")[0]
    if not user.isdigit() or int(user) == 0:
        raise Failed(f"the images' USER is {user!r}: expected a numeric non-root uid")
    return int(user)


#: Run inside each image: import every module of the service's package (and so what it
#: uses of llmsvc.common). A dependency the code imports but no pyproject.toml on the
#: way declares is in the development venv (through another member or a dev tool) and
#: missing only here. (Not all of llmsvc.common: some of its modules are for the
#: services that declare what they need, e.g. storage_health and pymongo.)
IMPORT_ALL = """
import importlib, pkgutil, sys
package = importlib.import_module(sys.argv[1])
failed = []
for module in pkgutil.walk_packages(package.__path__, sys.argv[1] + "."):
    try:
        importlib.import_module(module.name)
    except Exception as exc:
        failed.append(f"{module.name}: {type(exc).__name__}: {exc}")
print("\\n".join(failed))
raise SystemExit(1 if failed else 0)
"""


def check_imports(podman: Podman) -> None:
    problems = []
    for service in SERVICES:
        done = podman.run(
            "run",
            "--rm",
            "--network=none",
            "--read-only",
            "--entrypoint",
            "/app/.venv/bin/python",
            image(service),
            "-c",
            IMPORT_ALL,
            f"llmsvc.{service.replace('-', '_')}",
            check=False,
        )
        if done.returncode != 0:
            lines = (done.stdout + done.stderr).strip().splitlines()
            missing = sorted(set(re.findall(r"No module named '([^']+)'", done.stdout)))
            why = f"missing {', '.join(missing)}" if missing else lines[-1] if lines else "?"
            problems.append(f"{service} ({why}):\n  " + "\n  ".join(lines[:3]))
    if problems:
        raise Failed(
            "modules that cannot be imported in their image (a dependency the code uses but"
            " its pyproject.toml does not declare?):\n" + "\n".join(problems)
        )


def production_env(**extra: str) -> dict[str, str]:
    return {"ENVIRONMENT": "production", "LOG_LEVEL": "INFO", "LOG_JSON": "true", **extra}


async def smoke(smoke: Smoke) -> dict[str, Any]:
    """Start everything, check it, hold a conversation; returns what was measured."""
    podman, workdir = smoke.podman, smoke.workdir
    started = time.monotonic()
    uid = image_uid(podman)
    check_imports(podman)
    smoke.notes.append("every module of each service imports in its image")
    # The seeds owned by the images' user; no harness identity.
    nats, broker = start_nats(workdir, harness=False, owner=uid)
    smoke.procs.append(nats)
    mongo = start_mongo(workdir)
    smoke.procs.append(mongo)
    nats_url = f"nats://127.0.0.1:{nats.port}"
    mongo_uri = f"mongodb://127.0.0.1:{mongo.port}/?directConnection=true"
    services_env = {
        "NATS_URL": nats_url,
        "NATS_NKEY_SEED_FILE": "/run/nats/seed",
        "MONGO_URI": mongo_uri,
        "MONGO_DB": f"img{smoke.run_id}",
    }
    ports = {s: free_port() for s in ("mockllm", "gateway", "worker-health", "web")}

    model = smoke.start(
        "mockllm",
        production_env(MOCKLLM_HOST="127.0.0.1", MOCKLLM_PORT=str(ports["mockllm"])),
        port=ports["mockllm"],
    )
    await smoke.wait_http(model, "/healthz")
    smoke.start(
        "auth",
        production_env(
            **services_env,
            JWT_KEY_PASSPHRASE=secrets.token_urlsafe(36),
            HASH_CONCURRENCY="2",
        ),
        seed=broker.seed_file("auth"),
    )
    smoke.start("sessions", production_env(**services_env), seed=broker.seed_file("sessions"))
    worker = smoke.start(
        "agent-worker",
        production_env(
            **services_env,
            OPENAI_BASE_URL=f"http://127.0.0.1:{ports['mockllm']}/v1",
            OPENAI_API_KEY="not-needed",
            OPENAI_MODEL="mock-model",
            HEALTH_PORT=str(ports["worker-health"]),
        ),
        seed=broker.seed_file("agent-worker"),
        port=ports["worker-health"],
    )
    gateway = smoke.start(
        "gateway",
        production_env(
            **{k: v for k, v in services_env.items() if k != "MONGO_URI"},
            GATEWAY_HOST="127.0.0.1",
            GATEWAY_PORT=str(ports["gateway"]),
        ),
        seed=broker.seed_file("gateway"),
        port=ports["gateway"],
    )
    await smoke.wait_http(gateway, "/healthz")
    await smoke.wait_http(gateway, "/readyz")  # NATS, auth and sessions answer
    await smoke.wait_http(worker, "/readyz")  # NATS and Mongo reachable
    web = smoke.start(
        "web",
        production_env(
            WEB_HOST="127.0.0.1",
            WEB_PORT=str(ports["web"]),
            WEB_SESSION_SECRET=secrets.token_urlsafe(36),
            GATEWAY_URL=f"http://127.0.0.1:{ports['gateway']}",
        ),
        port=ports["web"],
    )
    await smoke.wait_http(web, "/healthz")
    await smoke.wait_http(web, "/readyz")  # it reaches the gateway
    up_s = time.monotonic() - started
    await check_metrics(smoke.containers)

    base_ca = podman.out("run", "--rm", "--network=none", BASE_IMAGE, "sha256sum", str(HOST_CA))
    for container in smoke.containers:
        smoke.check_hardening(container, base_ca.split()[0])

    # Through the gateway: register, log in, a new conversation, one streamed turn,
    # the stored history.
    turn_started = time.monotonic()
    email = f"images-{smoke.run_id}@example.com"
    first_message = "Hello from the containers"
    first_reply = reply_for([{"role": "user", "content": first_message}])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gateway.port}", timeout=60) as api:
        headers = await register_and_login(api, email)
        session_id = await new_session(api, headers)
        events = await stream_turn(api, headers, session_id, first_message)
        check_turn(events, first_reply, via="gateway")
        stored = await history(api, headers, session_id)
    if [(m["role"], m["content"]) for m in stored] != [
        ("user", first_message),
        ("assistant", first_reply),
    ]:
        raise Failed(f"gateway history is not the turn just streamed: {stored}")
    gateway_turn_s = time.monotonic() - turn_started

    # Through the web: its login page and form, then a turn with its chat API.
    web_turn = await web_conversation(web, email, session_id, first_message, first_reply)

    # Nothing crashed meanwhile.
    if gone := smoke.exited():
        raise Failed(f"exited during the smoke: {[c.service for c in gone]}")
    return {
        "up_s": up_s,
        "gateway_turn_s": gateway_turn_s,
        "reply_tokens": len(tokenize(first_reply)),
        "token_events": sum(1 for e in events if e.event == "token"),
        **web_turn,
    }


async def check_metrics(containers: Sequence[Container]) -> None:
    """Every service's Prometheus endpoint answers on its own port."""
    async with httpx.AsyncClient(timeout=10) as client:
        for c in containers:
            if c.metrics_port is None:
                continue
            r = await client.get(f"http://127.0.0.1:{c.metrics_port}/metrics")
            if r.status_code != 200 or "# TYPE" not in r.text:
                raise Failed(f"{c.service} /metrics on METRICS_PORT: {r.status_code}")
            if c.service == "gateway" and "llm_gateway_" not in r.text:
                raise Failed("gateway /metrics has no llm_gateway_* metric")


def check_turn(events: list[SseEvent], expected: str, *, via: str) -> None:
    kinds = [e.event for e in events]
    if not events or kinds[-1] != "done" or "token" not in kinds:
        raise Failed(f"{via}: the stream did not end with `done` after tokens: {kinds}")
    text = streamed_text(events)
    stored = events[-1].data["message"]["content"]
    if text != expected or stored != expected:
        raise Failed(f"{via}: streamed {text!r}, done says {stored!r}, expected {expected!r}")


class CookieJar:
    """The web's production cookie is `Secure` (and `__Host-`): an HTTP client does not
    send it back over plain http to 127.0.0.1, a browser on localhost would."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def keep(self, response: httpx.Response) -> httpx.Response:
        for cookie in response.cookies.jar:
            if cookie.value is not None:
                self.values[cookie.name] = cookie.value
        return response

    def header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.values.items())}


def csrf_from(html: str, pattern: str) -> str:
    found = re.search(pattern, html)
    if found is None:
        raise Failed(f"no CSRF token in the page: {html[:300]!r}")
    return found.group(1)


async def web_conversation(
    web: Container, email: str, session_id: str, first_message: str, first_reply: str
) -> dict[str, Any]:
    started = time.monotonic()
    jar = CookieJar()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web.port}", timeout=60) as client:
        page = jar.keep(await client.get("/web/login"))
        if page.status_code != 200:
            raise Failed(f"web /web/login: {page.status_code}")
        token = csrf_from(page.text, r'name="csrf_token" value="([^"]+)"')
        r = jar.keep(
            await client.post(
                "/web/auth/login",
                data={"email": email, "password": PASSWORD, "csrf_token": token},
                headers=jar.header(),
            )
        )
        if r.status_code != 303 or r.headers.get("location") != "/web/chat":
            raise Failed(f"web login: {r.status_code} {r.headers.get('location')} {r.text[:300]}")
        chat = jar.keep(await client.get("/web/chat", headers=jar.header()))
        if chat.status_code != 200:
            raise Failed(f"web /web/chat after login: {chat.status_code}")
        csrf = csrf_from(chat.text, r'<meta name="csrf-token" content="([^"]+)"')
        r = jar.keep(await client.get("/web/api/sessions", headers=jar.header()))
        if r.status_code != 200 or session_id not in r.text:
            raise Failed(f"web /web/api/sessions: {r.status_code} {r.text[:300]}")
        second_message = "And hello through the web"
        second_reply = reply_for(
            [
                {"role": "user", "content": first_message},
                {"role": "assistant", "content": first_reply},
                {"role": "user", "content": second_message},
            ]
        )
        async with client.stream(
            "POST",
            "/web/api/chat",
            json={"message": second_message, "session_id": session_id},
            headers={**jar.header(), "X-CSRF-Token": csrf},
        ) as streamed:
            if streamed.status_code != 200:
                raise Failed(
                    f"web /web/api/chat: {streamed.status_code} {await streamed.aread()!r}"
                )
            events = await collect_sse(streamed)
        check_turn(events, second_reply, via="web")
        r = await client.get(f"/web/api/sessions/{session_id}/history", headers=jar.header())
        if r.status_code != 200 or len(r.json()["messages"]) != 4:
            raise Failed(f"web history after two turns: {r.status_code} {r.text[:300]}")
    return {"web_turn_s": time.monotonic() - started}


# --- main ------------------------------------------------------------------------------


def summary(
    base_s: float | None, uv_image: str, built: Sequence[Built], build_s: float, smoke: Smoke
) -> Iterator[str]:
    yield f"base {BASE_IMAGE}: " + ("reused" if base_s is None else f"made in {base_s:.0f} s")
    yield f"uv from {uv_image}"
    if built:
        yield f"{'image':<34} {'size':>8} {'build':>8}"
        for b in built:
            yield f"{image(b.service):<34} {b.size_bytes / 1e6:>5.0f} MB {b.seconds:>6.1f} s"
        yield f"all six built in {build_s:.0f} s"
    yield from smoke.notes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true", help="run the images already built")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, data)")
    parser.add_argument(
        "--context", type=Path, default=ROOT, help="build this checkout (default: this one)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()

    def terminate(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # through the `finally`s: clean up first

    signal.signal(signal.SIGTERM, terminate)
    try:
        podman = preflight()
    except Skip as why:
        print(f"test-images skipped: {why}", flush=True)
        return 0
    except Failed as exc:
        log(f"FAILED: podman does not work here: {exc}")
        return 1
    # One run at a time on a machine: two would retag (and prune) each other's images.
    lock = (DATA / "lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("waiting for another test-images run on this machine to finish")
        fcntl.flock(lock, fcntl.LOCK_EX)

    workdir = Path(tempfile.mkdtemp(prefix="llmsvc-test-images-"))
    run = Smoke(podman, workdir)
    base_s: float | None = None
    uv_image, build_s = "(not built)", 0.0
    built: list[Built] = []
    failure: str | None = None
    try:
        base_s = make_base(podman)
        if args.no_build:
            uv_image = "(already built)"
        else:
            build_started = time.monotonic()
            uv_image = build_images(podman, args.context.resolve(), built)
            build_s = time.monotonic() - build_started
        log("starting NATS and the Mongo-compatible server here, the six images as containers")
        measured = asyncio.run(smoke(run))
        run.notes.append(
            f"containers up and healthy in {measured['up_s']:.1f} s (non-root, read-only root)"
        )
        run.notes.append(
            f"gateway: register, login, streamed turn ({measured['reply_tokens']}-token reply"
            f" in {measured['token_events']} token events), "
            f"history: ok in {measured['gateway_turn_s']:.1f} s"
        )
        run.notes.append(
            "web: login form, chat page, streamed turn, history: "
            f"ok in {measured['web_turn_s']:.1f} s"
        )
        run.stop_all()
        slow = [c for c in run.containers if c.exit_code not in (0, 143) or (c.stop_s or 0) > 15]
        stops = ", ".join(
            f"{c.service} {c.stop_s or 0:.1f} s→{c.exit_code}" for c in run.containers
        )
        run.notes.append(f"stopped on SIGTERM: {stops}")
        if slow:
            raise Failed(
                "not stopped cleanly by SIGTERM: "
                + ", ".join(f"{c.service} (exit {c.exit_code})" for c in slow)
            )
    except Exception as exc:  # any failure: the logs, the summary, exit 1
        failure = str(exc) if isinstance(exc, Failed) else f"{type(exc).__name__}: {exc}"
        gone = {c.name for c in run.exited()} if run.containers else set()
        for container in run.containers:
            state = "EXITED" if container.name in gone else "running"
            with contextlib.suppress(Exception):
                print(f"--- {container.service} ({state}), last lines ---", flush=True)
                print(run.logs(container, 30 if container.name in gone else 8), flush=True)
        for proc in run.procs:
            print(f"--- {proc.name} (host) ---\n{proc.tail(8)}", flush=True)
    finally:
        run.remove_all()
        if args.keep or failure:
            log(f"work folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for line in summary(base_s, uv_image, built, build_s, run):
        log(line)
    total = time.monotonic() - started
    if failure:
        log(f"FAILED after {total:.0f} s: {failure}")
        log(f"build logs: {DATA / 'logs'}")
        return 1
    log(f"passed in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
