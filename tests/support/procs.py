"""Start real processes for tests and benchmarks: NATS, the Mongo-compatible server,
our services. Each listens on a free loopback port and logs to a file we can show
when a test fails."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from llmsvc.common.broker_setup import BrokerFiles, write_broker_files

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int, *, timeout_s: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def binary(name: str) -> str:
    path = VENV_BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; run `make setup`")
    return found


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, *, timeout_s: float = 60.0) -> Proc:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if self.port is not None:
            try:
                wait_for_port(self.port, timeout_s=timeout_s, proc=self.popen)
            except Exception as exc:
                raise RuntimeError(f"{self.name} did not start:\n{self.tail()}") from exc
        return self

    def stop(self, *, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def kill(self) -> None:
        self.stop(sig=signal.SIGKILL)

    def restart(self) -> Proc:
        self.stop()
        return self.start()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def start_nats(
    workdir: Path, *, harness: bool = True, owner: int | None = None
) -> tuple[Proc, BrokerFiles]:
    """nats-server with JetStream and the services' identities and permissions (plus,
    with `harness`, an all-powerful identity for the tests themselves); anonymous
    clients are refused. `owner`: the user the seed files are given to (containers)."""
    port = free_port()
    store = workdir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    files = write_broker_files(
        workdir / "broker", port=port, store_dir=store, harness=harness, owner=owner
    )
    proc = Proc(
        "nats",
        [binary("nats-server"), "-c", str(files.config)],
        env=dict(os.environ),
        log_path=workdir / "nats.log",
        port=port,
    ).start()
    return proc, files


def start_mongo(workdir: Path) -> Proc:
    port = free_port()
    store = workdir / "mongo"
    store.mkdir(parents=True, exist_ok=True)
    return Proc(
        "mongo",
        [
            binary("secantusd-py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--storage-path",
            str(store),
            "--log-level",
            "WARNING",
        ],
        env=dict(os.environ),
        log_path=workdir / "mongo.log",
        port=port,
    ).start()


def service_proc(
    name: str, script: str, env: Mapping[str, str], workdir: Path, *, port: int | None = None
) -> Proc:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LANGSMITH"))}
    full_env.update(env)
    return Proc(name, [binary(script)], env=full_env, log_path=workdir / f"{name}.log", port=port)


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for p in reversed(procs):
            p.stop()
