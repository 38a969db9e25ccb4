"""The SDK's four tracking calls as pltrackd messages: the same fields, ``None`` left out."""

from __future__ import annotations

from typing import Any


def prompt(request_id: Any, prompt_name: str, prompt_input_variables: dict | None = None,
           version: int | None = None, label: str | None = None) -> dict:
    return _message("track.prompt", request_id=request_id, prompt_name=prompt_name,
                    prompt_input_variables=prompt_input_variables, version=version, label=label)


def metadata(request_id: Any, metadata: dict) -> dict:
    return _message("track.metadata", request_id=request_id, metadata=metadata)


def score(request_id: Any, score: int, score_name: str | None = None) -> dict:
    # The SDK's `score_name` is the API's `name`.
    return _message("track.score", request_id=request_id, score=score, name=score_name)


def group(request_id: Any, group_id: int) -> dict:
    return _message("track.group", request_id=request_id, group_id=group_id)


def _message(kind: str, **fields: Any) -> dict:
    return {"type": kind, **{name: value for name, value in fields.items() if value is not None}}
