"""The LangGraph agent: one model node over the conversation's messages."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph

from llmsvc.common.ids import utcnow


def assistant_message_id(run_id: str) -> str:
    """Stable per run, so a retried run replaces its reply instead of adding one."""
    return f"ai-{run_id}"


def build_graph(
    model: BaseChatModel, checkpointer: BaseCheckpointSaver[Any]
) -> CompiledStateGraph[MessagesState, None, MessagesState, MessagesState]:
    async def call_model(state: MessagesState, config: RunnableConfig) -> dict[str, list[Any]]:
        reply = await model.ainvoke(state["messages"], config)
        run_id = config["configurable"]["run_id"]
        message = AIMessage(
            content=reply.content,
            id=assistant_message_id(run_id),
            response_metadata={**reply.response_metadata, "created_at": utcnow().isoformat()},
            usage_metadata=getattr(reply, "usage_metadata", None),
        )
        return {"messages": [message]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_edge(START, "model")
    builder.add_edge("model", END)
    return builder.compile(checkpointer=checkpointer)
