"""The models an operator offers (`MODELS`), shared by the gateway (which lists them and
checks a conversation's choice) and the workers (which call them).

`MODELS` is a JSON list of `{id, name?, base_url?, api_key_env?}`: `id` is what the
endpoint calls the model, `base_url` an OpenAI-compatible endpoint other than
`OPENAI_BASE_URL`, and `api_key_env` the name of the environment variable holding its key
(the key itself never sits in `MODELS`). The first entry is the default. Unset, the one
configured model (`OPENAI_MODEL`) is the whole list.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from llmsvc.common.settings import ServiceSettings

ModelId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ModelId
    name: str | None = Field(None, max_length=200)
    base_url: str | None = None
    api_key_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @property
    def label(self) -> str:
        return self.name or self.id


class ModelCatalog:
    def __init__(self, models: list[ModelSpec]) -> None:
        if not models:
            raise ValueError("the model list is empty")
        self.models = models
        self._by_id = {m.id: m for m in models}

    @property
    def default(self) -> ModelSpec:
        return self.models[0]

    def get(self, model_id: str | None) -> ModelSpec | None:
        """The model a conversation uses: `None` means the default."""
        return self.default if model_id is None else self._by_id.get(model_id)


class ModelSettings(ServiceSettings):
    openai_model: str = "gpt-4o-mini"
    models: list[ModelSpec] = []

    @model_validator(mode="after")
    def _unique_ids(self) -> ModelSettings:
        ids = [m.id for m in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError("MODELS lists a model id twice")
        return self

    def catalog(self) -> ModelCatalog:
        return ModelCatalog(self.models or [ModelSpec(id=self.openai_model)])
