"""The LangGraph agent: one model node over this turn's messages.

The graph's state holds only the turn being worked on (the question and the reply), so
its checkpoint stays the same size however long the conversation grows. The earlier
turns come from the message store (`TurnMemory`), cut to the context budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_openai import ChatOpenAI
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from llmsvc.agent_worker.message_store import TurnMemory
from llmsvc.agent_worker.model_stream import stream_reply
from llmsvc.common.ids import utcnow


def assistant_message_id(run_id: str) -> str:
    """Stable per run, so a retried run replaces its reply instead of adding one."""
    return f"ai-{run_id}"


@dataclass(frozen=True)
class RunContext:
    """What one run gives the graph besides its state (never checkpointed)."""

    run_id: str
    #: Called with each text delta of the model's reply, as it arrives.
    on_text: Callable[[str], None]
    #: The conversation's earlier turns, as far as they fit the model's context budget.
    memory: TurnMemory


AgentGraph = CompiledStateGraph[MessagesState, RunContext, MessagesState, MessagesState]


def build_graph(model: ChatOpenAI, checkpointer: BaseCheckpointSaver[Any]) -> AgentGraph:
    async def call_model(
        state: MessagesState, runtime: Runtime[RunContext]
    ) -> dict[str, list[Any]]:
        ctx = runtime.context
        context = [*await ctx.memory.earlier(), *state["messages"]]
        reply = await stream_reply(model, context, ctx.on_text)
        message = reply.message(
            message_id=assistant_message_id(ctx.run_id), created_at=utcnow().isoformat()
        )
        return {"messages": [message]}

    builder = StateGraph(MessagesState, context_schema=RunContext)
    builder.add_node("model", call_model)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(checkpointer=checkpointer)
