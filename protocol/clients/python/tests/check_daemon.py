#!/usr/bin/env python3
"""Runs the contract files in ``protocol/`` through this client against a live pltrackd.

    python3 check_daemon.py --socket PATH vectors   # protocol/vectors.json, each answered as listed
    python3 check_daemon.py --socket PATH sdk       # protocol/sdk-calls.json through PLTrack and AsyncPLTrack
    python3 check_daemon.py --socket PATH schemas   # the vectors and the daemon's replies against
                                                    # protocol/schemas/ (needs the jsonschema package)

``sdk`` makes each SDK call twice, through ``PLTrack`` and ``AsyncPLTrack``, with request ids
as listed and then plus 1000, and flushes; the caller checks what PromptLayer received. The
last line is ``<mode>: P passed, F failed``; the exit status is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from pltrack import AsyncPLTrack, Client, PLTrack

PROTOCOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")


class Tally:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, ok: bool, what: str) -> None:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL {what}")


def run_vectors(socket_path: str, tally: Tally) -> None:
    with open(os.path.join(PROTOCOL, "vectors.json"), encoding="utf-8") as file:
        vectors = json.load(file)["vectors"]
    with Client(socket_path, timeout=60) as client:
        for vector in vectors:
            client.send_raw(vector["payload"].encode("utf-8"))
            client.flush(timeout_ms=60_000)
            replies = list(client._replies.values()) + [error.reply for error in client.drain_errors()]
            client._replies.clear()
            expect = vector["expect"]
            try:
                has_id = "id" in json.loads(vector["payload"])
            except ValueError:
                has_id = False
            if expect["ok"]:
                wanted = 0 if expect.get("kind") == "track" and not has_id else 1
                tally.check(len(replies) == wanted and all(r.get("ok") is True for r in replies),
                            f"{vector['name']}: {replies}")
            else:
                codes = [r.get("error", {}).get("code") for r in replies]
                tally.check(codes == [expect["code"]], f"{vector['name']}: {replies}")
                if "id" in expect and replies:
                    tally.check(replies[0].get("id") == expect["id"], f"{vector['name']}: id {replies[0]}")


#: Vectors whose rule a JSON Schema cannot state (protocol/schemas/message.schema.json says so):
#: a member named twice (parsed JSON keeps one), an integer written with a fraction, and a
#: ref's length in bytes (a schema counts characters).
BEYOND_A_SCHEMA = {
    "log.request with ref of 129 bytes",
    "request_id with ref of 129 bytes",
    "repeated top-level key",
    "repeated top-level key spelled with an escape",
    "repeated top-level key among many members",
    "track.metadata naming a key twice",
    "version as float",
}


def run_schemas(socket_path: str, tally: Tally) -> None:
    import jsonschema  # only this mode needs it

    def load(name: str) -> dict:
        with open(os.path.join(PROTOCOL, "schemas", name), encoding="utf-8") as file:
            return json.load(file)

    messages = jsonschema.Draft202012Validator(load("message.schema.json"))
    replies = jsonschema.Draft202012Validator(load("reply.schema.json"))
    with open(os.path.join(PROTOCOL, "vectors.json"), encoding="utf-8") as file:
        vectors = json.load(file)["vectors"]
    with Client(socket_path, timeout=60) as client:
        for vector in vectors:
            expect = vector["expect"]
            try:
                payload = json.loads(vector["payload"])
            except ValueError:
                continue  # not JSON text: nothing for a schema to say
            valid = messages.is_valid(payload)
            if expect["ok"]:
                tally.check(valid, f"schema refuses accepted vector {vector['name']}: "
                            f"{[e.message for e in messages.iter_errors(payload)][:2]}")
            elif expect["code"] in ("invalid_message", "unknown_type") and vector["name"] not in BEYOND_A_SCHEMA:
                tally.check(not valid, f"schema accepts rejected vector {vector['name']}")
            client.send_raw(vector["payload"].encode("utf-8"))
            client.flush(timeout_ms=60_000)
            answered = list(client._replies.values()) + [error.reply for error in client.drain_errors()]
            client._replies.clear()
            for reply in answered:
                tally.check(replies.is_valid(reply), f"reply to {vector['name']} breaks the schema: {reply}")
        for reply in (client.request({"type": "stats"}), client.request({"type": "ping"})):
            tally.check(replies.is_valid(reply), f"reply breaks the schema: {[e.message for e in replies.iter_errors(reply)]}")


def sdk_calls() -> list[dict]:
    with open(os.path.join(PROTOCOL, "sdk-calls.json"), encoding="utf-8") as file:
        return json.load(file)["calls"]


def sdk_log_requests() -> list[dict]:
    with open(os.path.join(PROTOCOL, "sdk-calls.json"), encoding="utf-8") as file:
        return json.load(file)["log_requests"]


#: The score each client sends naming a logged request by its ref; named, so it goes after
#: the log with the id PromptLayer answered it with.
AFTER_LOG_SCORE = {"score": 42, "score_name": "after-log"}


def run_sdk(socket_path: str, tally: Tally) -> None:
    with PLTrack(socket_path, acknowledged=True, timeout=60) as client:
        for call in sdk_calls():
            tally.check(getattr(client.track, call["call"])(**call["args"]) is True, f"PLTrack {call}")
        refs = []
        for call in sdk_log_requests():
            ref = client.log_request(**call["args"])
            tally.check(isinstance(ref, str) and len(ref) > 0, f"PLTrack log_request returns the ref: {ref!r}")
            tally.check(client.track.score(request_ref=ref, **AFTER_LOG_SCORE) is True, f"PLTrack score for {ref}")
            refs.append(ref)
        tally.check(client.flush(), "PLTrack flush")
        ids = [client.request_id(ref) for ref in refs]
        tally.check(all(isinstance(found, int) for found in ids), f"PLTrack request_id for each log: {ids}")
        tally.check(client.lost == 0 and client.rejected == 0, f"PLTrack lost {client.lost}, rejected {client.rejected}")

    async def through_asyncio() -> None:
        async with AsyncPLTrack(socket_path, timeout=60) as client:
            for call in sdk_calls():
                args = {**call["args"], "request_id": call["args"]["request_id"] + 1000}
                tally.check(await getattr(client.track, call["call"])(**args) is True, f"AsyncPLTrack {call}")
            for call in sdk_log_requests():
                ref = await client.log_request(**call["args"], ref=f"async-{call['args']['metadata']['sdk_call']}")
                tally.check(ref == f"async-{call['args']['metadata']['sdk_call']}", f"AsyncPLTrack log_request: {ref!r}")
                tally.check(await client.track.score(request_ref=ref, **AFTER_LOG_SCORE) is True, "AsyncPLTrack score")
            tally.check(await client.flush(), "AsyncPLTrack flush")
            tally.check(client.lost == 0 and client.rejected == 0, f"AsyncPLTrack lost {client.lost}")

    asyncio.run(through_asyncio())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", required=True)
    parser.add_argument("mode", choices=["vectors", "sdk", "schemas"])
    arguments = parser.parse_args()
    tally = Tally()
    {"vectors": run_vectors, "sdk": run_sdk, "schemas": run_schemas}[arguments.mode](arguments.socket, tally)
    print(f"{arguments.mode}: {tally.passed} passed, {tally.failed} failed")
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
