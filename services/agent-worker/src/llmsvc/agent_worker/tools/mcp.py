"""Tools from the MCP servers an operator configures (`MCP_SERVERS`), loaded with
langchain-mcp-adapters over streamable HTTP.

Each server is loaded on its own: one that is down at start-up leaves the worker running
with the others' tools, is reported (logs, the worker's `/readyz`), and is tried again in
the background until it answers. Its tools are named `<server>_<tool>`, so two servers
may offer tools of the same name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.tools import BaseTool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.sessions import StreamableHttpConnection

from llmsvc.agent_worker.settings import McpServer
from llmsvc.common.logging import get_logger

log = get_logger(__name__)

#: How long loading one server's tools may take before it counts as down.
LOAD_TIMEOUT_S = 10.0


@dataclass
class ServerStatus:
    state: Literal["ok", "unavailable"] = "unavailable"
    tools: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.state, "tools": self.tools, "error": self.error}


class McpToolset:
    """The tools of every configured MCP server that could be loaded, and how each
    server stands."""

    def __init__(self, servers: Mapping[str, McpServer]) -> None:
        connections: dict[str, Any] = {
            name: StreamableHttpConnection(
                transport="streamable_http",
                url=server.url,
                headers=server.headers or None,
                timeout=server.timeout_s,
            )
            for name, server in servers.items()
        }
        self._client = MultiServerMCPClient(connections, tool_name_prefix=True)
        self._tools: dict[str, list[BaseTool]] = {}
        self.status: dict[str, ServerStatus] = {name: ServerStatus() for name in servers}

    @property
    def tools(self) -> list[BaseTool]:
        return [tool for name in self.status for tool in self._tools.get(name, [])]

    @property
    def missing(self) -> list[str]:
        return [name for name, s in self.status.items() if s.state != "ok"]

    async def load_missing(self) -> bool:
        """Try every server not loaded yet; True if any new one answered."""
        missing = self.missing
        results = await asyncio.gather(*(self._load(name) for name in missing))
        return any(results)

    async def _load(self, name: str) -> bool:
        try:
            async with asyncio.timeout(LOAD_TIMEOUT_S):
                tools = await self._client.get_tools(server_name=name)
        except Exception as exc:  # an unreachable or broken server is reported, not fatal
            self.status[name] = ServerStatus(error=_describe(exc))
            log.warning("mcp_server_unavailable", server=name, error=_describe(exc))
            return False
        self._tools[name] = tools
        self.status[name] = ServerStatus(state="ok", tools=[t.name for t in tools])
        log.info("mcp_server_loaded", server=name, tools=[t.name for t in tools])
        return True


def _describe(exc: BaseException) -> str:
    """A short reason, looking inside the exception groups the MCP client raises."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return f"no answer within {LOAD_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}"[:300]
