"""The SDK's tracking calls and its ``log_request`` as pltrackd messages: the same fields,
``None`` left out. A track call names its request by ``request_id``, or by ``request_ref``, the
ref of a ``log_request`` whose id PromptLayer has not given yet."""

from __future__ import annotations

import os
from typing import Any


def prompt(request_id: Any, prompt_name: str, prompt_input_variables: dict | None = None,
           version: int | None = None, label: str | None = None, request_ref: str | None = None) -> dict:
    return _message("track.prompt", request_id=request_id, request_ref=request_ref, prompt_name=prompt_name,
                    prompt_input_variables=prompt_input_variables, version=version, label=label)


def metadata(request_id: Any, metadata: dict, request_ref: str | None = None) -> dict:
    return _message("track.metadata", request_id=request_id, request_ref=request_ref, metadata=metadata)


def score(request_id: Any, score: int, score_name: str | None = None, request_ref: str | None = None) -> dict:
    # The SDK's `score_name` is the API's `name`.
    return _message("track.score", request_id=request_id, request_ref=request_ref, score=score, name=score_name)


def group(request_id: Any, group_id: int, request_ref: str | None = None) -> dict:
    return _message("track.group", request_id=request_id, request_ref=request_ref, group_id=group_id)


#: The SDK's ``log_request`` arguments after the six it requires, with its defaults
#: (promptlayer 1.5.16): the body it posts carries every one of them.
LOG_REQUEST_DEFAULTS: dict[str, Any] = {
    "parameters": {}, "tags": [], "metadata": {}, "prompt_name": None, "prompt_version_number": None,
    "prompt_input_variables": {}, "input_tokens": 0, "output_tokens": 0, "price": 0.0, "function_name": "",
    "score": 0, "prompt_id": None, "score_name": None, "api_type": None, "status": "SUCCESS",
    "error_type": None, "error_message": None,
}


def log_request_message(ref: str, provider: str, model: str, input: dict, output: dict,
                        request_start_time: Any, request_end_time: Any, options: dict) -> dict:
    """``log.request`` named by ``ref``, with the body the SDK's ``log_request`` posts: the six
    required arguments, then every optional one, its default where not given, ``None`` left out;
    built in one pass. An argument the SDK does not know is refused, as the SDK would."""
    if not options.keys() <= LOG_REQUEST_DEFAULTS.keys():
        unknown = sorted(set(options) - set(LOG_REQUEST_DEFAULTS))
        raise TypeError(f"log_request() got unexpected keyword arguments: {', '.join(unknown)}")
    message = {"type": "log.request", "ref": ref, "provider": provider, "model": model, "input": input,
               "output": output, "request_start_time": request_start_time, "request_end_time": request_end_time}
    for name, default in LOG_REQUEST_DEFAULTS.items():
        value = options.get(name, default)
        if value is not None:
            message[name] = value
    for name in ("provider", "model", "input", "output", "request_start_time", "request_end_time"):
        if message[name] is None:
            del message[name]
    return message


def new_ref() -> str:
    """A random (version 4) UUID as text, from 16 bytes of ``os.urandom``: what
    ``str(uuid.uuid4())`` gives, in a third of the time."""
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


def _message(kind: str, **fields: Any) -> dict:
    return {"type": kind, **{name: value for name, value in fields.items() if value is not None}}
