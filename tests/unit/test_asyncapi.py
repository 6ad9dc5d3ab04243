"""The AsyncAPI document of the NATS contracts (docs/asyncapi.json, `make asyncapi`): the
committed copy is what the code says, it names every subject, stream, consumer, queue
group and bucket of `llmsvc.common`, it agrees with the broker permissions, and each
auth and sessions handler documents the contract it really validates."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel
from scripts import asyncapi

from llmsvc.auth import handlers as auth_handlers
from llmsvc.common import broker_permissions, run_cancels, subjects, token_denylist
from llmsvc.sessions import handlers as sessions_handlers

pytestmark = pytest.mark.unit

HOW_TO_FIX = "docs/asyncapi.json is out of date: run `make asyncapi` and commit the result"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi.document()


def addresses(document: dict[str, Any]) -> set[str]:
    return {channel["address"] for channel in document["channels"].values()}


def test_the_committed_document_is_current(document: dict[str, Any]) -> None:
    assert asyncapi.OUTPUT.exists(), HOW_TO_FIX
    committed = json.loads(asyncapi.OUTPUT.read_text())
    if committed != document:
        changed = sorted(
            name
            for part in ("channels", "operations")
            for name in committed.get(part, {}).keys() | document[part].keys()
            if committed.get(part, {}).get(name) != document[part].get(name)
        )
        changed += [
            f"components.{part}.{name}"
            for part, named in document["components"].items()
            for name in named.keys() | committed.get("components", {}).get(part, {}).keys()
            if committed.get("components", {}).get(part, {}).get(name) != named.get(name)
        ]
        if committed.get("info") != document["info"]:
            changed.append("info")
        pytest.fail(f"{HOW_TO_FIX}; changed: {', '.join(changed) or 'the order'}")


def _constants(suffix: str = "") -> dict[str, str]:
    return {
        name: value
        for name, value in vars(subjects).items()
        if name.isupper() and isinstance(value, str) and name.endswith(suffix)
    }


def test_every_subject_is_a_channel(document: dict[str, Any]) -> None:
    kinds = ("_QUEUE", "_STREAM", "_CONSUMER", "_BUCKET")
    wanted = {name: value for name, value in _constants().items() if not name.endswith(kinds)}
    wanted["run_events(…)"] = subjects.run_events("*")
    wanted["run_cancel(…)"] = subjects.run_cancel("*")
    missing = {
        name: subject for name, subject in wanted.items() if subject not in addresses(document)
    }
    assert not missing, f"subjects without a channel in scripts/asyncapi.py: {missing}"


def test_every_queue_group_stream_and_consumer_is_named(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    queues = {
        channel.get("bindings", {}).get("nats", {}).get("queue")
        for channel in document["channels"].values()
    }
    assert set(_constants("_QUEUE").values()) <= queues
    names = {**_constants("_STREAM"), **_constants("_CONSUMER")}
    for config in asyncapi.STREAMS:
        assert config.name is not None
        names[config.name] = config.name
        names.update({subject: subject for subject in config.subjects or []})
    missing = {name: value for name, value in names.items() if f"`{value}`" not in text}
    assert not missing, f"not described in scripts/asyncapi.py: {missing}"


def test_every_bucket_is_a_channel(document: dict[str, Any]) -> None:
    buckets = {
        *_constants("_BUCKET").values(),
        broker_permissions.RUN_CANCELS,
        broker_permissions.REVOCATIONS,
        run_cancels.BUCKET,
        token_denylist.BUCKET,
    }
    assert buckets == set(asyncapi.BUCKETS), "a bucket is missing from asyncapi.BUCKETS"
    missing = {b for b in buckets if f"$KV.{b}.>" not in addresses(document)}
    assert not missing, f"buckets without a channel: {missing}"


def _matches(pattern: str, subject: str) -> bool:
    """Whether the NATS subject pattern `pattern` covers `subject` (itself perhaps a
    pattern: `*` and `>` in it must be covered by the same or wider ones)."""
    ours, theirs = pattern.split("."), subject.split(".")
    for n, token in enumerate(ours):
        if token == ">":
            return len(theirs) > n
        if n >= len(theirs) or (token != "*" and token != theirs[n]):
            return False
        if token != "*" and theirs[n] in ("*", ">"):
            return False
    return len(ours) == len(theirs)


def _permitted(kind: str) -> Iterator[tuple[str, str]]:
    """(identity, subject) of every message subject in the permissions (not JetStream's
    API, not the inboxes)."""
    for identity in broker_permissions.IDENTITIES.values():
        allowed: Any = identity.permissions()[kind]
        for subject in allowed["allow"]:
            if not subject.startswith(("$JS.", "$KV.", "_INBOX")):
                yield identity.name, subject


def test_the_document_and_the_broker_permissions_agree(document: dict[str, Any]) -> None:
    documented = {a for a in addresses(document) if not a.startswith("$KV.")}
    for kind in ("publish", "subscribe"):
        for identity, subject in _permitted(kind):
            assert any(_matches(subject, a) for a in documented), (
                f"{identity} may {kind} {subject}, which no channel in scripts/asyncapi.py covers"
            )
    publishable = [subject for _, subject in _permitted("publish")]
    for address in documented:
        assert any(_matches(p, address) for p in publishable), f"nobody may publish {address}"


@pytest.mark.parametrize("module", [auth_handlers, sessions_handlers], ids=["auth", "sessions"])
async def test_each_handler_documents_the_contract_it_validates(
    module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What handle_request was given: the contract, and the payload as it came (the
    # documentation must not change how a handler decodes it).
    async def validated(
        raw: bytes, model: type[BaseModel], handler: Callable[..., Any]
    ) -> dict[str, Any]:
        return {"ok": True, "data": [model.__name__, raw.decode()]}

    monkeypatch.setattr(module, "handle_request", validated)
    broker = NatsBroker()
    register: Callable[..., None] = module.register_handlers
    register(broker, lambda: None, max_workers=1)
    spec = AsyncAPI(broker).to_specification().to_jsonable()
    messages = spec["components"]["messages"]
    documented = {}
    for channel in spec["channels"].values():
        (ref,) = channel["messages"].values()
        message = messages[ref["$ref"].rsplit("/", 1)[1].replace("%3A", ":")]
        documented[channel["address"]] = message["payload"]["$ref"].rsplit("/", 1)[1]
    assert len(documented) == len(broker.subscribers)
    async with TestNatsBroker(broker) as running:
        for subject, contract in documented.items():
            reply = await (await running.request(b"not JSON", subject)).decode()
            assert reply == {"ok": True, "data": [contract, "not JSON"]}, subject
