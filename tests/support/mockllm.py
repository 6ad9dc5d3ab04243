"""Start `llm-mockllm` (libs/mockllm) as a real process on a free port."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from tests.support.procs import Proc, free_port, service_proc


def start_mockllm(workdir: Path, **env: str | int | float) -> Proc:
    """A started mockllm; `env` sets its variables, e.g. `MOCKLLM_TTFT_MS=200`.

    Inherited `MOCKLLM_*` variables are dropped so the caller's environment cannot change
    what a test expects. The OpenAI base URL is `base_url(proc)`.
    """
    port = free_port()
    proc = service_proc(
        f"mockllm-{port}",
        "llm-mockllm",
        {k: str(v) for k, v in env.items()},
        workdir,
        port=port,
    )
    for key in [k for k in proc.env if k.startswith("MOCKLLM_") and k not in env]:
        del proc.env[key]
    proc.env["MOCKLLM_HOST"] = "127.0.0.1"
    proc.env["MOCKLLM_PORT"] = str(port)
    return proc.start()


def base_url(proc: Proc) -> str:
    return f"http://127.0.0.1:{proc.port}/v1"


@contextlib.contextmanager
def running_mockllm(workdir: Path, **env: str | int | float) -> Iterator[Proc]:
    proc = start_mockllm(workdir, **env)
    try:
        yield proc
    finally:
        proc.stop()
