"""The tools an agent may call: built-ins (one module each, registered here) and the
tools of the MCP servers an operator configures.

`TOOLS` names the built-ins that are on (default: all of them); an unknown name is a
configuration error at start-up, not a silent omission.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from langchain_core.tools import BaseTool

from llmsvc.agent_worker.tools import calculator, current_time

#: Every built-in tool by the name the model calls it.
BUILTINS: dict[str, Callable[[], BaseTool]] = {
    "current_time": current_time.build,
    "calculator": calculator.build,
}


class UnknownTool(ValueError):
    pass


def builtin_tools(names: Sequence[str]) -> list[BaseTool]:
    unknown = [n for n in names if n not in BUILTINS]
    if unknown:
        raise UnknownTool(
            f"unknown tool(s) in TOOLS: {', '.join(unknown)}; known: {', '.join(BUILTINS)}"
        )
    return [BUILTINS[name]() for name in dict.fromkeys(names)]
