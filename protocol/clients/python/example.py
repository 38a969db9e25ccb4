#!/usr/bin/env python3
"""Exercise a running pltrackd with the pltrack client and check its answers
against protocol/SPEC.md.

    python3 example.py --socket PATH [--count N]

Sends N track.prompt calls (every other one confirmed with an id), one invalid
confirmed call and one invalid fire-and-forget call, then ping, flush and
stats. Prints each result, then one line ``example: P passed, F failed``;
exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

from pltrack import Client, PltrackError  # noqa: E402

REQUIRED_COUNTERS = (
    "uptime_seconds", "connections_open", "connections_total", "frames_received",
    "bytes_received", "accepted", "rejected", "coalesced", "queued", "in_flight",
    "delivered", "retries", "dead_lettered", "upstream_latency_p50_ms",
    "upstream_latency_p99_ms",
)


class Checker:
    """Counts and prints pass/fail results."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, ok: bool, detail: object = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {name}" + (f": {detail}" if detail != "" else ""))
        return ok


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def run(c: Checker, socket_path: str, count: int) -> None:
    with Client(socket_path, timeout=60.0) as client:  # a minute: a loaded machine is slow, not broken
        before = client.stats()
        c.check("stats before", isinstance(before, dict), f"accepted={before.get('accepted')}")

        # Distinct request_ids: strings, plus one 64-bit integer.
        stamp = time.time_ns()
        confirmed = 0
        for i in range(count):
            request_id: int | str = stamp + i if i == 1 else f"example-py-{os.getpid()}-{stamp}-{i}"
            fields = {
                "prompt_name": "example-prompt",
                "request_id": request_id,
                "prompt_input_variables": {"index": i, "text": "héllo 😀"},
                "tags": ["example"],  # an unknown member: forwarded unchanged
            }
            if i % 2 == 0:
                try:
                    reply = client.track_prompt_confirmed(**fields, label="prod")
                    c.check(f"track.prompt #{i} confirmed", reply.get("ok") is True, reply)
                except PltrackError as exc:
                    c.check(f"track.prompt #{i} confirmed", False, exc)
                confirmed += 1
            else:
                client.track_prompt(**fields, version=1)
                print(f"sent  track.prompt #{i} (no id, request_id={request_id!r})")

        # An invalid call with an id: must be answered invalid_message with that id.
        try:
            reply = client.track_prompt_confirmed(prompt_name="", request_id=f"example-bad-{stamp}")
            c.check("empty prompt_name rejected", False, f"accepted: {reply}")
        except PltrackError as exc:
            c.check("empty prompt_name -> invalid_message", exc.code == "invalid_message",
                    f"{exc.code}: {exc.message}")

        # An invalid call without an id: an id-less error reply arrives in order.
        client.track_prompt(prompt_name="ok", request_id=f"example-bad2-{stamp}", version=1, label="x")
        reply = client.ping()
        c.check("ping", reply.get("ok") is True, reply)
        errors = client.drain_errors()
        c.check("fire-and-forget errors: exactly one invalid_message",
                [e.code for e in errors] == ["invalid_message"],
                [f"{e.code}: {e.message}" for e in errors])

        reply = client.flush(timeout_ms=60_000)
        c.check("flush", reply.get("ok") is True, reply)

        after = client.stats()
        missing = [k for k in REQUIRED_COUNTERS if k not in after]
        c.check("stats has the spec's counters", not missing, f"missing {missing}" if missing else "")
        bad = [k for k in REQUIRED_COUNTERS if k in after and k != "rejected" and not is_number(after[k])]
        c.check("stats counters are numbers", not bad, bad or "")
        rejected = after.get("rejected")
        c.check("stats.rejected is an object of numbers",
                isinstance(rejected, dict) and all(is_number(v) for v in rejected.values()), rejected)

        def delta(key: str) -> float:
            return after.get(key, 0) - before.get(key, 0)

        c.check(f"accepted grew by at least {count}", delta("accepted") >= count,
                f"delta={delta('accepted')}")
        if isinstance(rejected, dict):
            grown = rejected.get("invalid_message", 0) - before.get("rejected", {}).get("invalid_message", 0)
            c.check("rejected.invalid_message grew by at least 2", grown >= 2, f"delta={grown}")
        done = delta("delivered") + delta("dead_lettered")
        c.check(f"after flush, delivered+dead_lettered grew by at least {count}", done >= count,
                f"delivered {delta('delivered')}, dead_lettered {delta('dead_lettered')}")
        print("stats:", {k: after.get(k) for k in REQUIRED_COUNTERS})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", help="pltrackd socket path (default: $PLTRACKD_SOCKET or the spec's default)")
    parser.add_argument("--count", type=int, default=3, help="number of track.prompt calls (default 3)")
    args = parser.parse_args()
    if args.count < 0:
        parser.error("--count must be >= 0")

    c = Checker()
    try:
        run(c, args.socket, args.count)
    except (OSError, PltrackError, ValueError) as exc:  # connection problems, timeouts, unexpected errors
        c.check("talking to pltrackd", False, f"{type(exc).__name__}: {exc}")
    print(f"example: {c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
