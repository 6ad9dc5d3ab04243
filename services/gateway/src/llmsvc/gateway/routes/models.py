"""The models a conversation can use: the operator's allowlist (`MODELS`)."""

from __future__ import annotations

from fastapi import APIRouter

from llmsvc.gateway.deps import Authenticated, State
from llmsvc.gateway.schemas import ModelCard, ModelList

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelList)
async def list_models(_caller: Authenticated, state: State) -> ModelList:
    default = state.models.default.id
    return ModelList(
        models=[
            ModelCard(id=m.id, name=m.label, default=m.id == default) for m in state.models.models
        ]
    )
