"""The built-in tools and what a turn that ends early leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException
from langchain_core.utils.function_calling import convert_to_openai_tool

from llmsvc.agent_worker.settings import WorkerSettings
from llmsvc.agent_worker.titles import clean_title
from llmsvc.agent_worker.tools import UnknownTool, builtin_tools
from llmsvc.agent_worker.tools.calculator import MAX_EXPRESSION_LENGTH, calculator
from llmsvc.agent_worker.tools.current_time import current_time
from llmsvc.agent_worker.transcript import TurnTranscript

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("(2+3)*4", "20"),
        ("2 ** 10", "1024"),
        ("7 % 3", "1"),
        ("10 ÷ 4", "2.5"),
        ("3 × −2", "-6"),
        ("17 // 5", "3"),
        ("sqrt(16) + floor(2.7)", "6"),
        ("round(pi, 3)", "3.142"),
        ("2^0.5", str(2**0.5)),
        ("-(-3)", "3"),
        ("+".join(["1"] * 200), "200"),
    ],
)
def test_calculator_does_arithmetic(expression: str, value: str) -> None:
    assert calculator(expression) == value


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("open('/etc/passwd')", "not allowed"),
        ("(1).__class__", "not allowed"),
        ("x + 1", "not allowed"),
        ("True + 1", "truth value"),
        ("'a' * 3", "not allowed"),
        ("1 / 0", "division by zero"),
        ("9 ** 9 ** 9", "digits"),
        ("10 ** 5000", "digits"),
        ("(-8) ** 0.5", "not a real number"),
        ("sqrt(-1)", "cannot compute"),
        ("exp(1000)", "cannot compute"),
        ("2 +", "not an arithmetic expression"),
        ("-" * 300 + "1", "nested too deeply"),
        ("1+" * MAX_EXPRESSION_LENGTH + "1", "longer than"),
    ],
)
def test_calculator_refuses_what_is_not_cheap_arithmetic(expression: str, complaint: str) -> None:
    with pytest.raises(ToolException, match=complaint):
        calculator(expression)


def test_current_time_in_a_zone_and_an_unknown_zone() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    tokyo = datetime.fromisoformat(current_time("Asia/Tokyo"))
    assert tokyo.utcoffset() == timedelta(hours=9)
    assert before <= tokyo <= datetime.now(UTC) + timedelta(seconds=1)
    assert datetime.fromisoformat(current_time()).utcoffset() == timedelta(0)
    for bad in ("Mars/Olympus", "../../etc/passwd", ""):
        with pytest.raises(ToolException, match="unknown time zone"):
            current_time(bad)


def test_tools_are_chosen_by_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [t.name for t in builtin_tools(WorkerSettings().tools)] == ["current_time", "calculator"]
    monkeypatch.setenv("TOOLS", "calculator")
    assert [t.name for t in builtin_tools(WorkerSettings().tools)] == ["calculator"]
    monkeypatch.setenv("TOOLS", "none")
    assert builtin_tools(WorkerSettings().tools) == []
    with pytest.raises(UnknownTool, match="web_search"):
        builtin_tools(["calculator", "web_search"])
    spec = convert_to_openai_tool(builtin_tools(["calculator"])[0])
    assert spec["function"]["name"] == "calculator"
    assert spec["function"]["parameters"]["required"] == ["expression"]


def test_an_unfinished_turn_keeps_its_text_and_answers_every_open_call() -> None:
    sent: list[str] = []
    transcript = TurnTranscript("r1", sent.append)
    calls = [
        {"id": "c1", "name": "calculator", "args": {"expression": "1+1"}},
        {"id": "c2", "name": "current_time", "args": {}},
    ]
    transcript.add(AIMessage("", id="ai-r1", tool_calls=calls))
    transcript.add(ToolMessage("2", tool_call_id="c1", name="calculator", id="tool-r1-c1"))
    transcript.text("Two is")
    transcript.text(" the")
    assert sent == ["Two is", " the"]
    turn = transcript.unfinished("interrupted", created_at="2026-12-02T00:00:00+00:00")
    assert [type(m).__name__ for m in turn] == [
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "AIMessage",
    ]
    missing = turn[2]
    assert isinstance(missing, ToolMessage)
    assert (missing.tool_call_id, missing.status) == ("c2", "error")
    assert turn[-1].text == "Two is the" and turn[-1].id == "ai-r1-1"
    assert turn[-1].response_metadata["status"] == "interrupted"


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ("Trip to Lisbon", "Trip to Lisbon"),
        ('"Trip to Lisbon."', "Trip to Lisbon"),
        ("Title: **Weekend  in Porto**\nMore text", "Weekend in Porto"),
        ("\n\n  Planning   a trip  \n", "Planning a trip"),
        ("word " * 30, "word " * 11 + "word"),
        ("x" * 80, "x" * 60),
        ("  \n '' ", None),
    ],
)
def test_a_model_answer_becomes_a_clean_title(answer: str, title: str | None) -> None:
    assert clean_title(answer) == (title.strip() if title else None)
