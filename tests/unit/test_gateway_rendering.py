from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from llmsvc.common.contracts.agent import RunEvent
from llmsvc.common.errors import Conflict
from llmsvc.gateway.errors import install_error_handlers
from llmsvc.gateway.sse import frame

pytestmark = pytest.mark.unit


def test_sse_frame_has_id_event_and_one_json_data_line() -> None:
    event = RunEvent(run_id="r", seq=7, type="token", data={"text": "a\nb ü"}, user_id="u")
    text = frame(event).decode()
    assert text.endswith("\n\n")
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "id: 7" and lines[1] == "event: token"
    assert json.loads(lines[2].removeprefix("data: ")) == {"text": "a\nb ü"}
    assert "u" not in json.loads(lines[2].removeprefix("data: ")).values(), "no user id leaks"


class Item(BaseModel):
    n: int


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/item")
    async def item(body: Item) -> dict[str, int]:
        return {"n": body.n}

    @app.get("/busy")
    async def busy() -> None:
        raise Conflict("busy", code="run_active", run_id="r1")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    return app


def test_errors_share_one_body_shape() -> None:
    client = TestClient(make_app(), raise_server_exceptions=False)
    r = client.post("/item", json={"n": "x"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["fields"][0]["loc"] == ["body", "n"]
    r = client.get("/busy")
    assert r.status_code == 409
    assert r.json() == {"error": {"code": "run_active", "message": "busy", "run_id": "r1"}}
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert "secret" not in r.text
