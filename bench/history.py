"""Checkpoint and history costs: one conversation grown turn by turn, with the time of
each turn, the Mongo storage of its checkpoints after each turn, and the time of
`GET /conversation/session/{id}/history` at chosen lengths."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import bson
import httpx
from pymongo import AsyncMongoClient

from bench.api import Conversation
from bench.stats import summary
from bench.streams import service_stream

#: Asks mockllm for an unpaced reply (same length): building 30 turns takes seconds.
UNPACED = "[mock:tps=0]"


async def thread_storage(
    client: AsyncMongoClient[dict[str, Any]], db_name: str, thread_id: str
) -> dict[str, Any]:
    """Documents and BSON bytes one thread holds in each collection of the agent db."""
    db = client[db_name]
    out: dict[str, Any] = {"bytes": 0, "docs": 0, "collections": {}}
    for name in sorted(await db.list_collection_names()):
        docs = size = 0
        async for doc in db[name].find({"thread_id": thread_id}):
            docs += 1
            size += len(bson.encode(doc))
        if docs:
            out["collections"][name] = {"docs": docs, "bytes": size}
            out["docs"] += docs
            out["bytes"] += size
    return out


async def db_stats(client: AsyncMongoClient[dict[str, Any]], db_name: str) -> dict[str, Any]:
    """dbStats and collStats of the agent db, as far as the server supports them."""
    db = client[db_name]
    out: dict[str, Any] = {}
    try:
        stats = await db.command("dbStats")
        out["dbStats"] = {
            k: stats.get(k) for k in ("collections", "objects", "dataSize", "storageSize")
        }
    except Exception as exc:
        out["dbStats_error"] = repr(exc)[:200]
    colls: dict[str, Any] = {}
    for name in sorted(await db.list_collection_names()):
        try:
            stats = await db.command("collStats", name)
            colls[name] = {k: stats.get(k) for k in ("count", "size", "avgObjSize", "storageSize")}
        except Exception as exc:
            colls[name] = {"error": repr(exc)[:200]}
    out["collStats"] = colls
    return out


async def time_history_reads(
    client: httpx.AsyncClient, conv: Conversation, reads: int, timeout_s: float
) -> dict[str, Any]:
    times: list[float] = []
    errors: list[str] = []
    messages = size = 0
    for _ in range(reads):
        t0 = time.perf_counter()
        try:
            r = await asyncio.wait_for(
                client.get(
                    f"/conversation/session/{conv.session_id}/history",
                    params={"limit": 500},
                    headers=conv.headers,
                ),
                timeout_s,
            )
        except Exception as exc:
            errors.append(type(exc).__name__)
            continue
        elapsed = time.perf_counter() - t0
        if r.status_code != 200:
            errors.append(f"http_{r.status_code}")
            continue
        times.append(elapsed * 1000)
        messages = len(r.json().get("messages", []))
        size = len(r.content)
    return {
        "read_ms": summary(times, digits=2),
        "messages": messages,
        "response_bytes": size,
        "errors": errors,
    }


async def measure(
    client: httpx.AsyncClient,
    conv: Conversation,
    *,
    mongo_uri: str,
    agent_db: str,
    turn_points: list[int],
    reads: int,
    timeout_s: float,
) -> dict[str, Any]:
    """Grow `conv` to max(turn_points) turns (unpaced model replies); measure as it goes."""
    turns: list[dict[str, Any]] = []
    reads_at: list[dict[str, Any]] = []
    errors: list[str] = []
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, serverSelectionTimeoutMS=5000, timeoutMS=int(timeout_s * 1000)
    )
    try:
        for turn in range(1, max(turn_points) + 1):
            res = await service_stream(
                client, conv.headers, conv.session_id, f"turn {turn} {UNPACED}", timeout_s
            )
            row: dict[str, Any] = {"turn": turn, "turn_ms": round(res.total_s * 1000, 2)}
            if not res.ok:
                errors.append(f"turn {turn}: {res.error}")
                row["error"] = res.error
            try:
                storage = await thread_storage(mongo, agent_db, conv.thread_id)
                row.update(checkpoint_bytes=storage["bytes"], checkpoint_docs=storage["docs"])
                row["by_collection"] = storage["collections"]
            except Exception as exc:
                errors.append(f"storage at turn {turn}: {exc!r}"[:200])
            turns.append(row)
            if turn in turn_points:
                reads_at.append(
                    {"turns": turn, **await time_history_reads(client, conv, reads, timeout_s)}
                )
            if not res.ok and len(errors) > 5:
                break
        stats = await db_stats(mongo, agent_db)
    except Exception as exc:
        errors.append(f"history benchmark: {exc!r}"[:300])
        stats = {}
    finally:
        await mongo.close()
    return {
        "agent_db": agent_db,
        "turns": turns,
        "history_reads": reads_at,
        "agent_db_stats_at_end": stats,
        "errors": errors,
    }
