"""Logs requests through pltrackd with the Python client, as an app would, and times the
app's side; then posts the same logs straight to the sink, as the SDK would, timed the same
way. Prints one JSON object. Run by the log-requests row with the client's sources on
PYTHONPATH; each side runs in this one process, one call at a time, on the same machine.

Each request is a log of about 2 KiB (the JSON frame pltrackd gets) followed at once by its
prompt, metadata and an unnamed score naming it by ref, within the coalescing window."""

import argparse
import http.client
import json
import statistics
import time

from pltrack import PLTrack


def log_fields(index):
    """The SDK's log_request arguments for request `index`, about 2 KiB as a frame."""
    text = "Summarise the following ticket for the support queue. " * 14
    return {
        "provider": "openai", "model": "gpt-4o",
        "input": {"type": "chat", "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]},
        "output": {"type": "chat", "messages": [
            {"role": "assistant", "content": [{"type": "text", "text": text[:700]}]}]},
        "request_start_time": 1705314600.25 + index, "request_end_time": 1705314601.5 + index,
        "parameters": {"temperature": 0.2}, "tags": ["bench"], "metadata": {"request": str(index)},
        "input_tokens": 210, "output_tokens": 48, "price": 0.00042,
    }


def percentiles(nanoseconds):
    ordered = sorted(nanoseconds)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000
    return {"p50_us": round(pick(0.50), 1), "p90_us": round(pick(0.90), 1), "p99_us": round(pick(0.99), 1),
            "mean_us": round(statistics.fmean(ordered) / 1000, 1), "calls": len(ordered)}


def through_pltrackd(socket_path, requests):
    timed = []
    with PLTrack(socket_path, timeout=5) as client:
        frame = len(json.dumps({"type": "log.request", "ref": "0" * 36, **log_fields(0)}, separators=(",", ":")))
        for index in range(requests):
            fields = log_fields(index)
            started = time.perf_counter_ns()
            ref = client.log_request(**fields)
            timed.append(time.perf_counter_ns() - started)
            client.track.prompt(request_ref=ref, prompt_name="support-summary", prompt_input_variables={"n": index},
                                version=3)
            client.track.metadata(request_ref=ref, metadata={"user": f"user-{index % 97}"})
            client.track.score(request_ref=ref, score=index % 101)
        flushed = client.flush(timeout_ms=600_000)
        lost, rejected = client.lost, client.rejected
    return {"log_request": percentiles(timed), "frame_bytes": frame + 4, "flushed": flushed, "lost": lost,
            "rejected": rejected}


def straight_to_the_sink(port, requests):
    """The SDK's way, without TLS or a network: one keep-alive HTTP/1.1 connection, the body
    encoded and posted, the answer read, per log."""
    timed = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "X-API-KEY": "bench-key"}
    for index in range(requests):
        started = time.perf_counter_ns()
        body = json.dumps(log_fields(index)).encode()
        connection.request("POST", "/log-request", body, headers)
        response = connection.getresponse()
        json.loads(response.read())
        timed.append(time.perf_counter_ns() - started)
    connection.close()
    return {"post": percentiles(timed)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--sink-port", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--side", choices=["pltrackd", "direct"], required=True)
    args = parser.parse_args()
    if args.side == "pltrackd":
        print(json.dumps(through_pltrackd(args.socket, args.requests)))
    else:
        print(json.dumps(straight_to_the_sink(args.sink_port, args.requests)))


if __name__ == "__main__":
    main()
