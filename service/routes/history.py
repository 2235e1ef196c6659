"""A model's lifecycle stages and audit trail over HTTP: ``GET /models/{name}/history``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from mlsys.promote.lifecycle import ModelHistory, model_history

router = APIRouter(tags=["registry"])


@router.get("/models/{name}/history", response_model=ModelHistory)
def history(
    name: str,
    env: Annotated[str | None, Query(description="only this env's audit (default: all)")] = None,
) -> ModelHistory:
    return model_history(name, env=env)
