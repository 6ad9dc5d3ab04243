"""The LangGraph agent: a model node and a tool node in a loop.

The model streams its reply (text deltas go to the client as they arrive); when it asks
for tools, LangGraph's prebuilt `ToolNode` runs them (concurrently, a raising tool
becoming a tool error the model reads) and their results go back to the model, until it
answers or the turn has used `max_steps` model calls.

The graph's state holds only the turn being worked on (the question, the model's replies
and the tool results), so its checkpoint stays the same size however long the
conversation grows. The earlier turns come from the message store (`TurnMemory`), cut to
the context budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.prebuilt.tool_node import ToolCallRequest, ToolInvocationError
from langgraph.runtime import Runtime
from langgraph.types import Command

from llmsvc.agent_worker.completions import answer_open_tool_calls
from llmsvc.agent_worker.message_store import TurnMemory
from llmsvc.agent_worker.model_stream import stream_reply
from llmsvc.agent_worker.run_outcomes import ModelUnavailable, ToolStepLimit
from llmsvc.agent_worker.transcript import TurnTranscript, assistant_message_id, tool_message_id
from llmsvc.common.contracts.agent import EventType
from llmsvc.common.ids import utcnow


class EventSink(Protocol):
    async def publish(self, type_: EventType, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class RunContext:
    """What one run gives the graph besides its state (never checkpointed)."""

    run_id: str
    #: The turn so far; its `text` sends each text delta to the client.
    transcript: TurnTranscript
    #: Where `tool_call` and `tool_result` events go.
    events: EventSink
    #: The conversation's earlier turns, as far as they fit the model's context budget.
    memory: TurnMemory
    #: The conversation's model (None: the default) and its instructions to it.
    model_id: str | None = None
    instructions: str = ""


AgentGraph = CompiledStateGraph[MessagesState, RunContext, MessagesState, MessagesState]


def tool_error_text(exc: Exception) -> str:
    """What the model reads when a tool fails: the tool's own message for the errors a
    tool reports on purpose (or bad arguments), only the kind of error otherwise."""
    if isinstance(exc, ToolException | ToolInvocationError):
        return f"Error: {exc}"
    return f"Error: the tool failed ({type(exc).__name__})."


def build_graph(
    models: Mapping[str, ChatOpenAI],
    checkpointer: BaseCheckpointSaver[Any],
    *,
    default_model: str,
    tools: Sequence[BaseTool] = (),
    max_steps: int = 8,
    tool_timeout_s: float = 30.0,
) -> AgentGraph:
    tool_specs = [convert_to_openai_tool(tool) for tool in tools]

    async def call_model(
        state: MessagesState, runtime: Runtime[RunContext]
    ) -> dict[str, list[Any]]:
        ctx = runtime.context
        model = models.get(ctx.model_id or default_model)
        if model is None:
            raise ModelUnavailable(ctx.model_id or default_model)
        step = sum(isinstance(m, AIMessage) for m in state["messages"])
        instructions = [SystemMessage(ctx.instructions)] if ctx.instructions else []
        # A reply of the OpenAI-compatible API may have asked for the client's tools and
        # got no results: those calls read as unanswered, so the context stays valid.
        context = [
            *instructions,
            *answer_open_tool_calls([*await ctx.memory.earlier(), *state["messages"]]),
        ]
        reply = await stream_reply(model, context, ctx.transcript.text, tools=tool_specs)
        message = reply.message(
            message_id=assistant_message_id(ctx.run_id, step), created_at=utcnow().isoformat()
        )
        ctx.transcript.add(message)
        if message.tool_calls and step + 1 >= max_steps:
            raise ToolStepLimit(max_steps)
        for call in message.tool_calls:
            await ctx.events.publish(
                "tool_call", {"id": call["id"], "name": call["name"], "args": call["args"]}
            )
        return {"messages": [message]}

    async def run_tool(
        request: ToolCallRequest,
        execute: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        """Around each tool call: a time limit, a stable id, and the `tool_result` event."""
        call = request.tool_call
        try:
            async with asyncio.timeout(tool_timeout_s):
                result = await execute(request)
        except TimeoutError:
            result = ToolMessage(
                f"Error: the tool did not answer within {tool_timeout_s:g} s.",
                tool_call_id=call["id"],
                name=call["name"],
                status="error",
            )
        if not isinstance(result, ToolMessage):
            return result
        ctx = request.runtime.context
        if not isinstance(ctx, RunContext):
            raise TypeError("the tool node runs only inside a run")
        result.id = tool_message_id(ctx.run_id, result.tool_call_id)
        result.name = result.name or call["name"]
        result.response_metadata["created_at"] = utcnow().isoformat()
        ctx.transcript.add(result)
        await ctx.events.publish(
            "tool_result",
            {
                "id": result.tool_call_id,
                "name": result.name,
                "content": result.text,
                "is_error": result.status == "error",
            },
        )
        return result

    builder = StateGraph(MessagesState, context_schema=RunContext)
    builder.add_node("model", call_model)
    builder.add_edge(START, "model")
    if tools:
        builder.add_node(
            "tools",
            ToolNode(tools, handle_tool_errors=tool_error_text, awrap_tool_call=run_tool),
        )
        builder.add_conditional_edges("model", tools_condition, {"tools": "tools", END: END})
        builder.add_edge("tools", "model")
    else:
        builder.add_edge("model", END)
    return builder.compile(checkpointer=checkpointer)
