"""The MongoDB checkpointer, able to drop a conversation's older checkpoints.

A checkpoint holds one turn's state (the conversation itself is in the message store).
Nothing here reads older checkpoints (no time travel), so every few turns the older
ones are pruned. `MongoDBSaver` does not implement `prune`; this does, for the
keep-latest strategy. Our graph uses no DeltaChannel, so the latest checkpoint is
self-contained.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.runnables import run_in_executor
from langgraph.checkpoint.mongodb import MongoDBSaver


class PruningMongoDBSaver(MongoDBSaver):
    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        if strategy == "delete":
            for thread_id in thread_ids:
                self.delete_thread(thread_id)
            return
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}")
        for thread_id in thread_ids:
            for ns in self.checkpoint_collection.distinct(
                "checkpoint_ns", {"thread_id": thread_id}
            ):
                latest = self.checkpoint_collection.find_one(
                    {"thread_id": thread_id, "checkpoint_ns": ns},
                    sort=[("checkpoint_id", -1)],
                    projection={"checkpoint_id": 1},
                )
                if latest is None:
                    continue
                older = {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": {"$lt": latest["checkpoint_id"]},
                }
                self.checkpoint_collection.delete_many(older)
                self.writes_collection.delete_many(older)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await run_in_executor(None, self.prune, thread_ids, strategy=strategy)
