"""Bodies of the OpenAI-compatible API (`/v1`), in OpenAI's own shapes.

Requests ignore fields they do not know, as OpenAI-compatible servers do; the fields
that reach the model are checked here so that a bad value is a 400 from us, not an
error from the model's endpoint in the middle of a run.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "ChatCompletionRequest",
    "ChatMessage",
    "ErrorBody",
    "ModelObject",
    "ModelsPage",
    "StreamOptions",
]

Role = Literal["system", "developer", "user", "assistant", "tool"]
#: Sampling fields passed to the model as they are, when given.
PASSED_THROUGH = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "user",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "parallel_tool_calls",
)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionCall(_Lenient):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    arguments: str = "{}"


class ToolCallIn(_Lenient):
    id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Lenient):
    """One message of `messages`, as OpenAI defines them (other fields are dropped)."""

    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: Annotated[str, StringConstraints(max_length=64)] | None = None
    tool_calls: Annotated[list[ToolCallIn], Field(max_length=128)] | None = None
    tool_call_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @model_validator(mode="after")
    def _complete_for_its_role(self) -> ChatMessage:
        if self.role == "tool" and self.tool_call_id is None:
            raise ValueError("a tool message needs the tool_call_id it answers")
        if self.role != "assistant" and self.tool_calls:
            raise ValueError("only assistant messages have tool_calls")
        if self.role != "assistant" and self.content is None:
            raise ValueError(f"a {self.role} message needs content")
        return self

    def for_model(self) -> dict[str, Any]:
        """The message as the job carries it: OpenAI's shape, content always present."""
        body = self.model_dump(exclude_none=True)
        body.setdefault("content", "")
        return body


class FunctionSpec(_Lenient):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolSpec(_Lenient):
    type: Literal["function"] = "function"
    function: FunctionSpec


class StreamOptions(_Lenient):
    include_usage: bool = False


class ChatCompletionRequest(_Lenient):
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=2000)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1, le=1, description="one choice only")] = 1
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None
    user: Annotated[str, StringConstraints(max_length=256)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    response_format: dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    tools: Annotated[list[ToolSpec], Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None

    def model_params(self) -> dict[str, Any]:
        """The sampling fields the client set, for the model request."""
        return {
            name: getattr(self, name) for name in PASSED_THROUGH if getattr(self, name) is not None
        }


class ErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, authentication_error, …")
    param: str | None = Field(None, description="the request field at fault, if one is")
    code: str | None = None


class ErrorBody(BaseModel):
    """Every `/v1` error, as OpenAI sends them."""

    error: ErrorDetail


class ModelObject(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelsPage(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelObject]
