from __future__ import annotations

import pytest
from pydantic import ValidationError

from llmsvc.common.contracts.auth import RegisterRequest
from llmsvc.common.envelope import Envelope, fail, ok
from llmsvc.common.errors import Conflict, NotFound, ServiceError

pytestmark = pytest.mark.unit


def test_envelope_carries_typed_errors_across_the_wire() -> None:
    wire = Envelope.model_validate(fail(Conflict("busy", code="run_active", run_id="r1")))
    with pytest.raises(Conflict) as caught:
        wire.unwrap()
    assert caught.value.error_code == "run_active"
    assert caught.value.status == 409
    assert caught.value.extra == {"run_id": "r1"}
    assert Envelope.model_validate(ok({"a": 1})).unwrap() == {"a": 1}


def test_unknown_status_keeps_its_status() -> None:
    env = Envelope.model_validate(
        {"ok": False, "error": {"code": "teapot", "message": "no", "status": 418}}
    )
    with pytest.raises(ServiceError) as caught:
        env.unwrap()
    assert caught.value.status == 418 and caught.value.error_code == "teapot"


def test_register_normalises_email_and_bounds_password() -> None:
    req = RegisterRequest(name=" Ada ", email=" Ada@Example.COM ", password="long enough, truly")
    assert req.email == "ada@example.com" and req.name == "Ada"
    with pytest.raises(ValidationError):
        RegisterRequest(name="Ada", email="ada@example.com", password="x" * 129)
    with pytest.raises(ValidationError):
        RegisterRequest(name="Ada", email="not an email", password="long enough, truly")


def test_not_found_is_404() -> None:
    assert NotFound("x").status == 404


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmsvc.agent_worker.settings import WorkerSettings

    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    settings = WorkerSettings(_env_file=None)
    assert settings.openai_api_key is None and settings.openai_base_url is None
