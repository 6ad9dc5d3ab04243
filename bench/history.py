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
from bench.procinfo import CpuMeter
from bench.stats import summary
from bench.streams import StreamResult, service_stream

#: Asks mockllm for an unpaced reply (same length): building 30 turns takes seconds.
UNPACED = "[mock:tps=0]"


async def thread_storage(
    client: AsyncMongoClient[dict[str, Any]], db_name: str, thread_id: str
) -> dict[str, Any]:
    """Documents and BSON bytes one thread holds in each collection of the agent db, and
    the size of each document by (collection, _id) (`sizes`, to tell what a turn wrote)."""
    db = client[db_name]
    out: dict[str, Any] = {"bytes": 0, "docs": 0, "collections": {}, "sizes": {}}
    for name in sorted(await db.list_collection_names()):
        docs = size = 0
        async for doc in db[name].find({"thread_id": thread_id}):
            docs += 1
            n = len(bson.encode(doc))
            size += n
            out["sizes"][f"{name}/{doc.get('_id')}"] = n
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
    client: httpx.AsyncClient, conv: Conversation, reads: int, timeout_s: float, *, limit: int
) -> dict[str, Any]:
    """`reads` reads of the newest `limit` messages of `conv`."""
    times: list[float] = []
    errors: list[str] = []
    messages = size = 0
    for _ in range(reads):
        t0 = time.perf_counter()
        try:
            r = await asyncio.wait_for(
                client.get(
                    f"/conversation/session/{conv.session_id}/history",
                    params={"limit": limit},
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
        "limit": limit,
        "read_ms": summary(times, digits=2),
        "messages": messages,
        "response_bytes": size,
        "errors": errors,
    }


#: Turns measured at each point P (turns P-9 … P; at P = 1, the first turns of that many
#: fresh conversations). CPU is the mean over them: /proc counts CPU in 10 ms ticks, which
#: is coarse beside one turn's cost, so a median of single turns would be a tick multiple.
SAMPLE_TURNS = 10
#: The history page read at each point: what a client shows when it opens a conversation.
READ_LIMIT = 50


class _TurnSampler:
    """Runs one turn and measures it: times, CPU by role, what it stored."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        mongo: AsyncMongoClient[dict[str, Any]],
        *,
        agent_db: str,
        timeout_s: float,
        cpu: CpuMeter,
        roles: dict[str, str],
    ) -> None:
        self.client, self.mongo, self.agent_db = client, mongo, agent_db
        self.timeout_s, self.cpu, self.roles = timeout_s, cpu, roles

    async def turn(self, conv: Conversation, turn: int) -> StreamResult:
        return await service_stream(
            self.client, conv.headers, conv.session_id, f"turn {turn} {UNPACED}", self.timeout_s
        )

    async def measured(self, conv: Conversation, turn: int) -> tuple[StreamResult, dict[str, Any]]:
        before = await thread_storage(self.mongo, self.agent_db, conv.thread_id)
        self.cpu.start()
        res = await self.turn(conv, turn)
        phase = self.cpu.stop()
        storage = await thread_storage(self.mongo, self.agent_db, conv.thread_id)
        cores = phase["cores"]
        cpu_ms = {
            role: round(
                sum(v for n, v in cores.items() if n.startswith(prefix)) * phase["wall_s"] * 1000,
                2,
            )
            for role, prefix in self.roles.items()
        }
        row = {
            "turn": turn,
            "ok": res.ok,
            "turn_ms": round(res.total_s * 1000, 2),
            "ttft_ms": None if res.ttft_s is None else round(res.ttft_s * 1000, 2),
            "cpu_ms": {**cpu_ms, "total": round(sum(cpu_ms.values()), 2)},
            "stored_bytes": storage["bytes"],
            "stored_docs": storage["docs"],
            "wrote_bytes": written_bytes(before, storage),
            "by_collection": storage["collections"],
        }
        return res, row


def _point(turns: int, window: list[dict[str, Any]], read: dict[str, Any]) -> dict[str, Any]:
    ok = [r for r in window if r["ok"]]
    cpu = [r["cpu_ms"]["total"] for r in ok]
    return {
        "turns": turns,
        "sampled_turns": len(ok),
        "turn_ms_p50": _median([r["turn_ms"] for r in ok]),
        "ttft_ms_p50": _median([r["ttft_ms"] for r in ok]),
        "cpu_ms_mean": round(sum(cpu) / len(cpu), 2) if cpu else None,
        "cpu_ms_p50": _median(list(cpu)),
        "wrote_bytes_p50": _median([r["wrote_bytes"] for r in ok]),
        "stored_bytes": window[-1]["stored_bytes"],
        "stored_docs": window[-1]["stored_docs"],
        "read": read,
        "samples": window,
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
    cpu: CpuMeter,
    roles: dict[str, str],
) -> dict[str, Any]:
    """Grow `conv` to max(turn_points) turns (unpaced model replies). At each point P,
    SAMPLE_TURNS turns are measured one by one (P-9 … P; for P = 1 the first turns of
    fresh conversations of the same user): time to `done` and to the first token, CPU of
    the service's processes, and what the turn stored in the agent database (documents
    new or changed in size). Then the newest 50 messages are read `reads` times. Failed
    turns are listed and left out of the figures."""
    points: list[dict[str, Any]] = []
    errors: list[str] = []
    measured = {t for p in turn_points for t in range(max(1, p - SAMPLE_TURNS + 1), p + 1)}
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, serverSelectionTimeoutMS=5000, timeoutMS=int(timeout_s * 1000)
    )
    sampler = _TurnSampler(
        client, mongo, agent_db=agent_db, timeout_s=timeout_s, cpu=cpu, roles=roles
    )
    rows: list[dict[str, Any]] = []
    try:
        for turn in range(1, max(turn_points) + 1):
            if turn in measured:
                res, row = await sampler.measured(conv, turn)
                rows.append(row)
            else:
                res = await sampler.turn(conv, turn)
            if not res.ok:
                errors.append(f"turn {turn}: {res.error}")
                if len(errors) > 5:
                    break
            if turn not in turn_points:
                continue
            window = rows[-min(SAMPLE_TURNS, turn) :]
            if turn == 1:
                for fresh in await _fresh_conversations(client, conv, SAMPLE_TURNS - 1):
                    _, row = await sampler.measured(fresh, 1)
                    window.append(row)
            read = await time_history_reads(client, conv, reads, timeout_s, limit=READ_LIMIT)
            points.append(_point(turn, window, read))
        stats = await db_stats(mongo, agent_db)
    except Exception as exc:
        errors.append(f"history benchmark: {exc!r}"[:300])
        stats = {}
    finally:
        await mongo.close()
    if points and points[-1]["turns"] != max(turn_points):
        errors.append(f"stopped at turn {points[-1]['turns']} of {max(turn_points)}")
    return {
        "agent_db": agent_db,
        "sample_turns": SAMPLE_TURNS,
        "points": points,
        "agent_db_stats_at_end": stats,
        "errors": errors,
    }


async def _fresh_conversations(
    client: httpx.AsyncClient, like: Conversation, n: int
) -> list[Conversation]:
    out = []
    for i in range(n):
        r = await client.post(
            "/conversation/session", json={"name": f"first turn {i}"}, headers=like.headers
        )
        r.raise_for_status()
        body = r.json()
        out.append(Conversation(like.headers, str(body["session_id"]), str(body["thread_id"])))
    return out


def written_bytes(before: dict[str, Any], after: dict[str, Any]) -> int:
    """BSON bytes of the documents that are new or changed in size since `before`: what
    a turn wrote (deletions not counted)."""
    old = before["sizes"]
    return sum(n for key, n in after["sizes"].items() if old.get(key) != n)


def _median(values: list[float | None]) -> float | None:
    return summary([v for v in values if v is not None], digits=2)["p50"]
