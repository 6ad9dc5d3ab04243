"""The bare relay's gateway (see `bench.relay`): a raw ASGI app, no framework.
Configured by NATS_URL and PORT."""

from __future__ import annotations

import os
import uuid
from typing import Any

import nats
import orjson
import uvicorn
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from tests.support.broker import identity_from_env

from bench.relay import JOBS_SUBJECT, events_subject

Scope = dict[str, Any]

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class RelayApp:
    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url
        self.nc: NATS | None = None
        self.js: JetStreamContext | None = None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/relay":
            await self.relay(receive, send)
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.nc = await nats.connect(
                    self.nats_url, name="relay-gateway", **identity_from_env().connect_options()
                )
                self.js = self.nc.jetstream()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.nc is not None:
                    await self.nc.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def relay(self, receive: Any, send: Any) -> None:
        assert self.js is not None
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        text = orjson.loads(body)["message"]
        run_id = uuid.uuid4().hex
        sub = await self.js.subscribe(
            events_subject(run_id), ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
        )
        try:
            await self.js.publish(
                JOBS_SUBJECT,
                orjson.dumps({"run_id": run_id, "message": text}),
                headers={"Nats-Msg-Id": run_id},
            )
            await send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})
            while True:
                msg = await sub.next_msg(timeout=60)
                event = orjson.loads(msg.data)
                frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (
                    event["seq"],
                    event["type"].encode(),
                    orjson.dumps(event["data"]),
                )
                last = event["type"] == "done"
                await send({"type": "http.response.body", "body": frame, "more_body": not last})
                if last:
                    return
        finally:
            await sub.unsubscribe()


def main() -> None:
    uvicorn.run(
        RelayApp(os.environ["NATS_URL"]),
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
