"""A small MCP server (the `mcp` SDK's FastMCP, streamable HTTP) for the tests:
`python -m tests.support.mcp_server PORT [TOKEN]`. With a TOKEN, requests without
`Authorization: Bearer TOKEN` are refused."""

from __future__ import annotations

import sys
from pathlib import Path

from mcp.server.fastmcp import FastMCP

from tests.support.procs import Proc, free_port


def build(port: int) -> FastMCP:
    server = FastMCP("test-tools", host="127.0.0.1", port=port, log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def shout(text: str) -> str:
        """The text in capitals."""
        return text.upper()

    @server.tool()
    def refuse(reason: str) -> str:
        """Always fails, with `reason`."""
        raise ValueError(f"refused: {reason}")

    return server


def main() -> None:
    port = int(sys.argv[1])
    token = sys.argv[2] if len(sys.argv) > 2 else None
    server = build(port)
    if token is None:
        server.run(transport="streamable-http")
        return
    import uvicorn
    from starlette.types import ASGIApp, Receive, Scope, Send

    inner = server.streamable_http_app()

    def guarded(app: ASGIApp) -> ASGIApp:
        async def check(scope: Scope, receive: Receive, send: Send) -> None:
            headers = dict(scope.get("headers", []))
            if (
                scope["type"] == "http"
                and headers.get(b"authorization") != f"Bearer {token}".encode()
            ):
                await send({"type": "http.response.start", "status": 401, "headers": []})
                await send({"type": "http.response.body", "body": b"unauthorized"})
                return
            await app(scope, receive, send)

        return check

    uvicorn.run(guarded(inner), host="127.0.0.1", port=port, log_level="warning")


def mcp_server_proc(workdir: Path, *, port: int | None = None, token: str | None = None) -> Proc:
    """A (not yet started) MCP server process; its URL is `mcp_url(proc)`."""
    import os

    port = port or free_port()
    argv = [sys.executable, "-m", "tests.support.mcp_server", str(port)]
    if token:
        argv.append(token)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    return Proc(f"mcp-{port}", argv, env=env, log_path=workdir / f"mcp-{port}.log", port=port)


def mcp_url(proc: Proc) -> str:
    return f"http://127.0.0.1:{proc.port}/mcp"


if __name__ == "__main__":
    main()
