"""`llm-mockllm`: run the mock model server, configured by `MOCKLLM_*` variables."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from llmsvc.mockllm.app import create_app
from llmsvc.mockllm.settings import MockSettings


def main() -> None:
    settings = MockSettings()
    several = settings.workers > 1
    # Several worker processes each build their own app (and settings) via the factory.
    app: FastAPI | str = "llmsvc.mockllm.app:create_app" if several else create_app(settings)
    uvicorn.run(
        app,
        factory=several,
        workers=settings.workers if several else None,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
    )


if __name__ == "__main__":
    main()
