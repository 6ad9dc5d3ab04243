"""The bare relay's worker (see `bench.relay`). Configured by environment variables:
NATS_URL, OPENAI_BASE_URL, OPENAI_MODEL, WORKER_CONCURRENCY."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import aiohttp
import nats
import orjson
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError
from tests.support.broker import identity_from_env

from bench.relay import EVENTS_STREAM, JOBS_CONSUMER, JOBS_STREAM, JOBS_SUBJECT, events_subject

#: Unacknowledged event publishes one run may have in flight.
PUBLISH_WINDOW = 64


async def ensure_streams(js: JetStreamContext) -> None:
    for config in (
        StreamConfig(
            name=JOBS_STREAM,
            subjects=[JOBS_SUBJECT],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
        ),
        StreamConfig(
            name=EVENTS_STREAM,
            subjects=["relay.runs.*.events"],
            storage=StorageType.FILE,
            max_age=3600.0,
        ),
    ):
        with contextlib.suppress(BadRequestError):
            await js.add_stream(config)


class Relay:
    def __init__(
        self, js: JetStreamContext, http: aiohttp.ClientSession, base_url: str, model: str
    ) -> None:
        self.js = js
        self.http = http
        self.url = f"{base_url.rstrip('/')}/chat/completions"
        self.model = model

    async def run(self, msg: Msg) -> None:
        job = orjson.loads(msg.data)
        run_id = job["run_id"]
        subject = events_subject(run_id)
        window = asyncio.Semaphore(PUBLISH_WINDOW)
        seq = 0

        async def emit(type_: str, data: dict[str, object]) -> None:
            nonlocal seq
            seq += 1
            await window.acquire()
            fut = await self.js.publish_async(
                subject, orjson.dumps({"seq": seq, "type": type_, "data": data})
            )
            fut.add_done_callback(lambda _f: window.release())

        await emit("metadata", {"run_id": run_id})
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": job["message"]}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        parts: list[str] = []
        async with self.http.post(self.url, json=body) as resp:
            resp.raise_for_status()
            async for line in resp.content:
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                for choice in orjson.loads(data).get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        parts.append(text)
                        await emit("token", {"text": text})
        await emit("done", {"message": {"role": "assistant", "content": "".join(parts)}})
        for _ in range(PUBLISH_WINDOW):  # every event stored before the job is acked
            await window.acquire()
        await msg.ack()


async def main_async() -> None:
    nc = await nats.connect(
        os.environ["NATS_URL"], name="relay-worker", **identity_from_env().connect_options()
    )
    js = nc.jetstream()
    await ensure_streams(js)
    concurrency = int(os.environ.get("WORKER_CONCURRENCY", "32"))
    slots = asyncio.Semaphore(concurrency)
    sub = await js.pull_subscribe(
        JOBS_SUBJECT,
        durable=JOBS_CONSUMER,
        stream=JOBS_STREAM,
        config=ConsumerConfig(
            durable_name=JOBS_CONSUMER, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=-1
        ),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    running: set[asyncio.Task[None]] = set()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        relay = Relay(
            js, http, os.environ["OPENAI_BASE_URL"], os.environ.get("OPENAI_MODEL", "mock")
        )

        async def handle(msg: Msg) -> None:
            try:
                await relay.run(msg)
            except Exception:
                with contextlib.suppress(Exception):
                    await msg.nak()
            finally:
                slots.release()

        async def fetch_loop() -> None:
            while True:
                await slots.acquire()
                try:
                    msgs = await sub.fetch(1, timeout=5)
                except NatsTimeoutError:
                    slots.release()
                    continue
                for m in msgs:
                    task = asyncio.create_task(handle(m))
                    running.add(task)
                    task.add_done_callback(running.discard)

        fetcher = asyncio.create_task(fetch_loop())
        await stop.wait()
        fetcher.cancel()
        for task in list(running):
            task.cancel()
    await nc.close()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
