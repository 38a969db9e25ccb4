"""The rows of the benchmark. Each starts fresh daemons (so peak RSS is the row's own), runs one
workload against pltrackd and the same against syslog-ng, and returns its figures."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import configs
from harness import free_port
from procs import RunCost


def mib(kib):
    return round(kib / 1024, 1)


def per_message_us(cpu_seconds, messages):
    return round(cpu_seconds / messages * 1e6, 2)


def figures(value, unit, proc, cost, **details):
    """One run's figures; `cost` is a RunCost.result: CPU per message of the daemon, of the
    kernel outside it and of the journal threads."""
    return {"value": round(value, 1), "unit": unit, **cost, "peak_rss_mib": mib(proc.peak_rss_kib()),
            "details": details}


def paired(size, runs):
    """Runs each side of a comparison the same number of times and returns the median run of
    each. `runs` maps a side ("pltrackd", "syslog_ng", ...) to a function that starts a fresh
    daemon, runs the workload once and returns its figures. First size["warmups"] runs of
    every side whose figures are dropped (caches, the page cache, the CPU's clock), then
    size["repeats"] rounds, the order rotated each round so that no side always goes first.
    Each side's figures are those of its median run (by value), with every run's value and
    CPU in details."""
    order = list(runs)
    for _ in range(size["warmups"]):
        for side in order:
            runs[side]()
    results = {side: [] for side in order}
    for round_index in range(size["repeats"]):
        shift = round_index % len(order)
        for side in order[shift:] + order[:shift]:
            results[side].append(runs[side]())
    return {side: _median_run(side_runs) for side, side_runs in results.items()}


def _median_run(runs):
    ranked = sorted(runs, key=lambda run: run["value"])
    median = dict(ranked[(len(ranked) - 1) // 2])
    median["details"] = dict(median["details"], runs=[run["value"] for run in runs],
                             cpu_us_per_msg_runs=[run["cpu_us_per_msg"] for run in runs])
    return median


def _syslog_ng_throughput(h, name, destination, done_counter, messages, connections=16, upstream=None,
                          watched=True, nginx_cpu=None):
    """Runs `messages` lines into syslog-ng and times them until `done_counter` adds up to all.

    Watched, its counter is polled every 10 ms from the first message on, as pltrackd's are.
    Unwatched, nothing asks it anything until the generator has written the last line: the
    check that watching does not slow it down. `upstream`, a process syslog-ng sends to, is
    stopped before syslog-ng: an http() worker waiting on an upstream that hangs would hold up
    syslog-ng's own stop."""
    sng = h.start_syslog_ng(name, destination)
    cost = RunCost(sng.proc, [f for f in (upstream and upstream.cpu_seconds, nginx_cpu) if f])
    generator = h.generate_in_background(
        "ingest", "--socket", sng.source, "--framing", "syslog", "--connections", connections,
        "--messages", messages)
    if watched:
        finished = sng.wait_for(done_counter, messages)
        run = generator.result()
    else:
        run = generator.result()
        finished = sng.wait_for(done_counter, messages)
    spent = cost.result(messages)
    seconds = finished - run["started_at"]
    dropped = sng.query("dst.*.dropped") or 0
    result = figures(messages / seconds, "msg/s", sng.proc, spent, seconds=round(seconds, 3), dropped=dropped,
                     watched=watched, generator_cpu_seconds=round(run["generator_cpu_seconds"], 2))
    if upstream:
        h.processes.stop(upstream)
    h.processes.stop(sng.proc)
    return result


def ingest(h, size):
    """Fire-and-forget ingest, 16 connections: pltrackd with no key and no spool, delivering
    to an outbox on /dev/null, against syslog-ng unix-stream() -> file("/dev/null"). syslog-ng
    also runs unwatched (its counter read only after the last line is written), to show what
    watching it costs it."""
    m = size["ingest"]

    def pltrackd():
        # The queue holds the whole run, so ingest never waits for delivery (it is /dev/null).
        proc, sock = h.start_pltrackd("ingest", ["--outbox", "/dev/null", "--queue-capacity", str(m + 1000)])
        cost = RunCost(proc)
        cpu = proc.cpu_seconds()
        run = h.generate("ingest", "--socket", sock, "--connections", 16, "--messages", m)
        cpu_accepted = proc.cpu_seconds() - cpu
        delivered = h.counter(sock, "delivered", m)
        spent = cost.result(m)
        stats = h.pltrackd_stats(sock)
        assert stats["accepted"] == m, stats
        result = figures(
            run["messages_per_second"], "msg/s", proc, spent, seconds=round(run["seconds"], 3),
            cpu_us_per_msg_until_accepted=per_message_us(cpu_accepted, m),
            seconds_until_all_in_outbox=round(delivered["finished_at"] - run["started_at"], 3),
            generator_cpu_seconds=round(run["generator_cpu_seconds"], 2))
        h.processes.stop(proc)
        return result

    destination = 'file("/dev/null" template("$MSG\\n"));'
    sides = paired(size, {
        "pltrackd": pltrackd,
        "syslog_ng": lambda: _syslog_ng_throughput(h, "ingest", destination, "dst.file.*.written", m),
        "syslog_ng_unwatched": lambda: _syslog_ng_throughput(h, "ingest-unwatched", destination,
                                                             "dst.file.*.written", m, watched=False),
    })
    syslog_ng = sides["syslog_ng"]
    unwatched = sides["syslog_ng_unwatched"]
    syslog_ng["details"]["unwatched_msg_per_s"] = unwatched["value"]
    syslog_ng["details"]["unwatched_runs"] = unwatched["details"]["runs"]
    syslog_ng["details"]["watched_over_unwatched"] = round(syslog_ng["value"] / unwatched["value"], 3)
    return {
        "row": "ingest", "title": "ingest, fire-and-forget, 16 connections", "messages": m,
        "pltrackd": sides["pltrackd"], "syslog_ng": syslog_ng,
        "compared": "pltrackd: accepted/s (every connection's closing ping answered; it validates each call), "
                    "no spool, no key, outbox /dev/null; CPU until all M are in the outbox. syslog-ng: "
                    "unix-stream() -> file(\"/dev/null\"), msg/s until its written counter reaches M "
                    "(it checks nothing). Both counters polled the same way, every 10 ms on one connection.",
    }


def ingest_alone(h, size):
    """Fire-and-forget ingest with nothing delivered: the upstream hangs, so pltrackd only reads,
    validates and queues. The figure the redesign's ingest target is about, without the cost of
    the outbox (which production does not use); no syslog-ng figure to set beside it."""
    m = size["ingest"]
    hang, hang_port = h.start_sink("ingest-alone-hang", hang=True)
    proc, sock = h.start_pltrackd("ingest-alone", [
        "--api-key-file", h.key_file, "--upstream", f"http://127.0.0.1:{hang_port}",
        "--queue-capacity", str(m + 1000)])
    cost = RunCost(proc, [hang.cpu_seconds])
    run = h.generate("ingest", "--socket", sock, "--connections", 16, "--messages", m)
    spent = cost.result(m)
    stats = h.pltrackd_stats(sock)
    assert stats["accepted"] == m, stats
    pltrackd = figures(run["messages_per_second"], "msg/s", proc, spent, seconds=round(run["seconds"], 3),
                       held=stats["held"], generator_cpu_seconds=round(run["generator_cpu_seconds"], 2))
    h.processes.stop(proc)
    h.processes.stop(hang)
    return {
        "row": "ingest-alone", "title": "ingest alone (upstream hangs), fire-and-forget, 16 connections",
        "messages": m, "pltrackd": pltrackd, "syslog_ng": None,
        "compared": "pltrackd only: accepted/s with a key and an upstream that never answers (8 requests in "
                    "flight, the rest held in memory: --queue-capacity above M), no spool. Peak RSS is M "
                    "calls held.",
    }


def durable(h, size):
    """Durable ingest, acknowledged, 16 connections x 64 in flight: pltrackd with a spool and
    --fsync always, against syslog-ng with a reliable disk buffer. The two do different work:
    pltrackd validates each call, fsyncs it and acknowledges it; syslog-ng writes each line to
    its buffer file without fsync and acknowledges nothing. Both deliver over HTTP to an
    upstream that accepts connections and never answers, so everything stays on disk."""
    m = size["durable"]

    def pltrackd():
        hang, hang_port = h.start_sink("durable-hang-pltrackd", hang=True)
        spool = h.directory("durable-spool")
        proc, sock = h.start_pltrackd("durable", [
            "--spool-dir", spool, "--fsync", "always", "--api-key-file", h.key_file,
            "--upstream", f"http://127.0.0.1:{hang_port}"])
        cost = RunCost(proc, [hang.cpu_seconds])
        run = h.generate("ingest", "--socket", sock, "--connections", 16, "--in-flight", 64, "--messages", m)
        spent = cost.result(m)
        stats = h.pltrackd_stats(sock)
        fsyncs = stats.get("spool", {}).get("fsyncs", 0)
        result = figures(
            run["messages_per_second"], "acks/s", proc, spent, seconds=round(run["seconds"], 3),
            fsyncs=fsyncs, acks_per_fsync=round(m / fsyncs, 1) if fsyncs else None,
            generator_cpu_seconds=round(run["generator_cpu_seconds"], 2))
        h.processes.stop(proc)
        h.processes.stop(hang)
        return result

    def syslog_ng():
        hang, hang_port = h.start_sink("durable-hang-syslog-ng", hang=True)
        disk = configs.syslog_ng_disk_buffer(h.directory("syslog-ng-durable-buffer"), 4 << 30)
        return _syslog_ng_throughput(
            h, "durable", configs.syslog_ng_http(f"http://127.0.0.1:{hang_port}/rest/track-prompt",
                                                 disk_buffer=disk),
            "dst.*.processed", m, upstream=hang)

    sides = paired(size, {"pltrackd": pltrackd, "syslog_ng": syslog_ng})
    return {
        "row": "durable",
        "title": "durable ingest, 16 connections x 64 in flight (pltrackd validates, fsyncs and acknowledges "
                 "each call; syslog-ng buffers without fsync and acknowledges nothing)",
        "messages": m, "pltrackd": sides["pltrackd"], "syslog_ng": sides["syslog_ng"],
        "compared": "pltrackd: --spool-dir, --fsync always, every call with an id, acks/s (an ack waits "
                    "for the fsync). syslog-ng: http() with disk-buffer(reliable(yes)), msg/s until its "
                    "destination has taken all M into the buffer; it writes the buffer file without fsync "
                    "and acknowledges nothing to the sender. Both upstreams hang. The kernel's share of "
                    "the fsyncs (writeback, the journal's thread where the filesystem has one) is the "
                    "CPU outside the daemon.",
    }


def _delivery(h, row, title, port_name, size, nginx, messages=None, pltrackd_args=("--workers", "8"),
              compared=None):
    """pltrackd and syslog-ng http() workers(8) delivering to nginx's `port_name` server, one
    call per POST, paired runs. `messages` is (pltrackd's, syslog-ng's) count, by default
    size["deliver"] each. On nginx's HTTP/2 servers, the connections each run used and the
    protocol they spoke are counted from nginx's access log."""
    m_pltrackd, m_syslog_ng = messages or (size["deliver"], size["deliver"])
    scheme = "http" if port_name == "http" else "https"
    upstream_url = f"{scheme}://127.0.0.1:{nginx['ports'][port_name]}"
    ca_file = nginx["ca"] if scheme == "https" else None
    extra = ["--upstream-ca-file", ca_file] if ca_file else []
    logged = port_name.startswith("h2")

    def pltrackd():
        proc, sock = h.start_pltrackd(row, [
            "--api-key-file", h.key_file, "--upstream", upstream_url, *pltrackd_args, *extra])
        cost = RunCost(proc, [nginx["cpu_seconds"]])
        log_offset = _log_size(nginx) if logged else 0
        generator = h.generate_in_background("ingest", "--socket", sock, "--connections", 16,
                                             "--messages", m_pltrackd)
        delivered = h.counter(sock, "delivered", m_pltrackd)
        run = generator.result()
        spent = cost.result(m_pltrackd)
        seconds = delivered["finished_at"] - run["started_at"]
        stats = h.pltrackd_stats(sock)
        details = {"seconds": round(seconds, 3), "upstream_requests": stats["upstream_requests"],
                   "retries": stats["retries"], "upstream_latency_p99_ms": stats["upstream_latency_p99_ms"],
                   "limit_at_end": stats.get("upstream_limit"),
                   "connections_h2": stats.get("upstream_connections_h2"),
                   "connections_http1": stats.get("upstream_connections_http1")}
        result = figures(m_pltrackd / seconds, "calls/s", proc, spent, **details)
        h.processes.stop(proc)
        if logged:
            result["details"]["nginx_saw"] = _connections_logged(nginx, log_offset, port_name)
        return result

    def syslog_ng():
        log_offset = _log_size(nginx) if logged else 0
        result = _syslog_ng_throughput(
            h, row, configs.syslog_ng_http(upstream_url + "/rest/track-prompt", ca_file=ca_file), "dst.*.written",
            m_syslog_ng, nginx_cpu=nginx["cpu_seconds"])
        result["unit"] = "calls/s"
        if logged:
            result["details"]["nginx_saw"] = _connections_logged(nginx, log_offset, port_name)
        return result

    sides = paired(size, {"pltrackd": pltrackd, "syslog_ng": syslog_ng})
    return {
        "row": row, "title": title, "messages": m_pltrackd, "pltrackd": sides["pltrackd"],
        "syslog_ng": sides["syslog_ng"],
        "compared": compared or (
            "one call per POST to nginx (return 200), 8 workers each: pltrackd --workers 8 (no spool, "
            "default 50 ms coalescing window) until its delivered counter reaches M; syslog-ng http() "
            "workers(8) batch-lines(1) until its written counter reaches M. Time from the first "
            "message sent. nginx's CPU is in neither side's."),
    }


def _log_size(nginx):
    try:
        return os.path.getsize(nginx["access_log"])
    except OSError:
        return 0


def _connections_logged(nginx, offset, port_name):
    """The requests nginx logged on `port_name` since `offset`: how many connections carried
    them, and by which protocol. SIGUSR1 makes nginx write out its buffered log."""
    nginx["proc"].popen.send_signal(10)
    time.sleep(0.5)
    port = str(nginx["ports"][port_name])
    connections, protocols = set(), {}
    with open(nginx["access_log"]) as f:
        f.seek(offset)
        for line in f:
            fields = line.split()
            if len(fields) == 3 and fields[0] == port:
                connections.add(fields[2])
                protocols[fields[1]] = protocols.get(fields[1], 0) + 1
    return {"connections": len(connections), "requests_by_protocol": protocols}


def delivery_http(h, size, nginx):
    return _delivery(h, "deliver-http", "delivered to nginx over HTTP, 8 workers", "http", size, nginx)


def delivery_tls(h, size, nginx):
    return _delivery(h, "deliver-tls", "delivered to nginx over TLS (HTTP/1.1), 8 workers", "https", size, nginx)


def delivery_h2(h, size, nginx):
    return _delivery(h, "deliver-h2", "delivered to nginx over TLS offering HTTP/2, 8 in flight", "h2", size,
                     nginx, pltrackd_args=("--max-in-flight", "8"),
                     compared="one call per POST to nginx (return 200) over TLS, nginx offering h2 and "
                              "http/1.1 by ALPN: pltrackd --max-in-flight 8 (streams over HTTP/2, no spool, "
                              "default 50 ms coalescing window) until its delivered counter reaches M; "
                              "syslog-ng http() workers(8) batch-lines(1) (libcurl, which chooses its "
                              "protocol) until its written counter reaches M. Time from the first message "
                              "sent; the protocol and connections as nginx logged them. nginx's CPU is in "
                              "neither side's.")


def distant_h2(h, size, nginx, delay_ms=50):
    """Delivery over TLS offering HTTP/2 to nginx, which passes each call to a sink answering
    it `delay_ms` later, as PromptLayer does from across the internet. pltrackd at its
    defaults; syslog-ng http() workers(8) is given fewer calls, as in the distant rows."""
    m = size["distant_h2"]
    m_syslog_ng = max(50, int(8 * 1000 / delay_ms * size["distant_syslog_ng_seconds"]))
    return _delivery(
        h, f"distant-h2-{delay_ms}ms", f"delivered over TLS offering HTTP/2, upstream {delay_ms} ms away, defaults",
        "h2_distant", size, nginx, messages=(m, m_syslog_ng), pltrackd_args=(),
        compared=f"fire-and-forget, 16 connections, one call per POST over TLS to nginx offering h2 and "
                 f"http/1.1 by ALPN, which passes each call to the bench sink answering after {delay_ms} ms; "
                 f"pltrackd at its defaults ({m:,} calls), syslog-ng http() workers(8) batch-lines(1) "
                 f"({m_syslog_ng:,} calls); calls/s from the first call sent until the delivered or written "
                 f"counter reaches the count; connections and protocol as nginx logged them. The CPU of "
                 f"nginx and the sink is in neither side's.")


def _governed_delivery(h, name, m_pltrackd, m_syslog_ng, size, delay_ms=0, rate_limit=None):
    """pltrackd at its defaults and syslog-ng http() workers(8), each delivering to a fresh
    sink that answers after `delay_ms` and refuses beyond `rate_limit` a second; paired runs."""

    def run(side, messages, start, done):
        sink, port = h.start_sink(f"{name}-sink-{side}", delay_ms=delay_ms, rate_limit=rate_limit)
        proc, sock, framing, wait = start(f"http://127.0.0.1:{port}")
        cost = RunCost(proc, [sink.cpu_seconds])
        generator = h.generate_in_background("ingest", "--socket", sock, "--framing", framing, "--connections", 16,
                                             "--messages", messages)
        finished = wait(messages)
        run = generator.result()
        spent = cost.result(messages)
        seconds = finished - run["started_at"]
        served = h.sink_stats(port)
        attempts = served["requests"] + served["refused"]
        details = {"seconds": round(seconds, 3), "attempts": attempts,
                   "attempts_per_s": round(attempts / seconds, 1), "refused": served["refused"],
                   "connections": served["connections"], "peak_connections": served["peak_connections"]}
        details.update(done(proc, sock))
        result = figures(messages / seconds, "calls/s", proc, spent, **details)
        h.processes.stop(proc)
        h.processes.stop(sink)
        return result

    def pltrackd(upstream):
        proc, sock = h.start_pltrackd(name, ["--api-key-file", h.key_file, "--upstream", upstream])
        return proc, sock, "frame", lambda m: h.counter(sock, "delivered", m)["finished_at"]

    def pltrackd_done(proc, sock):
        stats = h.pltrackd_stats(sock)
        assert stats["dead_lettered"] == 0, stats
        return {"dead_lettered": stats["dead_lettered"], "limit_at_end": stats.get("upstream_limit"),
                "upstream_latency_p99_ms": stats["upstream_latency_p99_ms"]}

    def syslog_ng(upstream):
        sng = h.start_syslog_ng(name, configs.syslog_ng_http(upstream + "/rest/track-prompt"))
        return sng.proc, sng.source, "syslog", lambda m: sng.wait_for("dst.*.written", m)

    return paired(size, {
        "pltrackd": lambda: run("pltrackd", m_pltrackd, pltrackd, pltrackd_done),
        "syslog_ng": lambda: run("syslog-ng", m_syslog_ng, syslog_ng, lambda proc, sock: {}),
    })


def distant(h, size, delay_ms):
    """Delivery through an upstream that answers each call after `delay_ms`, as PromptLayer
    does from across the internet. pltrackd at its defaults: the governor's limit starts at 8
    and grows while latency holds, up to --max-in-flight (512). syslog-ng http() workers(8),
    one call per POST: at most 8 / delay calls a second, so it is given fewer calls, enough
    for a run of a few seconds."""
    m = size["distant"]
    m_syslog_ng = max(50, int(8 * 1000 / delay_ms * size["distant_syslog_ng_seconds"]))
    sides = _governed_delivery(h, f"distant-{delay_ms}ms", m, m_syslog_ng, size, delay_ms=delay_ms)
    return {
        "row": f"distant-{delay_ms}ms", "title": f"delivered through an upstream {delay_ms} ms away, defaults",
        "messages": m, "pltrackd": sides["pltrackd"], "syslog_ng": sides["syslog_ng"],
        "compared": f"fire-and-forget, 16 connections, one call per POST to the bench sink answering after "
                    f"{delay_ms} ms; pltrackd at its defaults ({m:,} calls), syslog-ng http() workers(8) "
                    f"batch-lines(1) ({m_syslog_ng:,} calls, about {size['distant_syslog_ng_seconds']} s of its "
                    "rate); calls/s from the first call sent until the delivered or written counter reaches "
                    "the count. Attempts and connections as the sink saw them.",
    }


def rate_limited(h, size, limit=1_000):
    """Delivery through an upstream that answers at most `limit` calls a second and refuses the
    rest with 429 and Retry-After: 1."""
    m = size["rate_limited"]
    sides = _governed_delivery(h, "rate-limited", m, m, size, rate_limit=limit)
    for side in sides.values():
        side["details"]["attempts_over_limit"] = round(side["details"]["attempts_per_s"] / limit, 2)
    return {
        "row": "rate-limited", "title": f"delivered through an upstream limited to {limit:,} calls/s (429 beyond)",
        "messages": m, "pltrackd": sides["pltrackd"], "syslog_ng": sides["syslog_ng"],
        "compared": f"{m:,} calls fire-and-forget on 16 connections to the bench sink, which answers at most "
                    f"{limit:,} a second (per second of its clock) and 429 with Retry-After: 1 beyond; pltrackd at "
                    "its defaults, syslog-ng http() workers(8) batch-lines(1) with time-reopen(1) (it retries "
                    "a 429 after that). attempts_over_limit: attempts per second over the limit, averaged over "
                    "the run.",
    }


class NotifyListener:
    """A NOTIFY_SOCKET for pltrackd, as systemd's: a datagram socket, read on a thread, keeping
    when each WATCHDOG=1 came."""

    def __init__(self, path):
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(path)
        self.socket.settimeout(0.2)
        self.path = path
        self.keepalives = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                message = self.socket.recv(65536).decode(errors="replace")
            except (socket.timeout, OSError):
                continue
            if "WATCHDOG=1" in message.split("\n"):
                self.keepalives.append(time.monotonic())

    def longest_gap(self, start, end):
        """The longest time without a WATCHDOG=1 between `start` and `end` (monotonic)."""
        times = [start] + [t for t in self.keepalives if start <= t <= end] + [end]
        return max(b - a for a, b in zip(times, times[1:]))

    def close(self):
        self.running = False
        self.thread.join()
        self.socket.close()


def outage(h, size, watchdog_seconds=2):
    """PromptLayer unreachable (connections refused) while calls are held, under a watchdog of
    `watchdog_seconds`, then back: the issue's outage target. pltrackd only: syslog-ng has no
    watchdog to feed, and its http() retries each worker on its own every time-reopen()."""
    m, down = size["outage"], size["outage_seconds"]
    port = free_port()
    notify = NotifyListener(h.directory("outage-notify") + "/notify.sock")
    try:
        proc, sock = h.start_pltrackd(
            "outage", ["--api-key-file", h.key_file, "--upstream", f"http://127.0.0.1:{port}"],
            environment={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(watchdog_seconds * 1_000_000)})
        cost = RunCost(proc)
        h.generate("ingest", "--socket", sock, "--connections", 16, "--messages", m)
        accepted_at = time.monotonic()
        failures_before = h.pltrackd_stats(sock)["upstream_failures"]
        time.sleep(down)
        stats = h.pltrackd_stats(sock)
        attempts_while_down = stats["upstream_failures"] - failures_before
        held_while_down = stats["held"]
        sink, _ = h.start_sink("outage-sink", port=port)
        up_at = time.monotonic()
        delivered = h.counter(sock, "delivered", m)
        drained_at = time.monotonic()
        spent = cost.result(m)
        longest_gap = notify.longest_gap(accepted_at, drained_at)
        result = figures(
            drained_at - up_at, "s to drain after the upstream is back", proc, spent,
            held_while_down=held_while_down, down_seconds=down,
            attempts_per_s_while_down=round(attempts_while_down / down, 1),
            watchdog_keepalives=len(notify.keepalives),
            longest_watchdog_gap_s=round(longest_gap, 2), watchdog_usec=watchdog_seconds * 1_000_000,
            delivered=delivered["value"])
        result["value"] = round(drained_at - up_at, 2)
        h.processes.stop(proc)
        h.processes.stop(sink)
    finally:
        notify.close()
    return {
        "row": "outage", "title": f"{down} s of outage with {m:,} calls held, WatchdogSec={watchdog_seconds}s",
        "messages": m, "pltrackd": result, "syslog_ng": None,
        "compared": f"pltrackd only, at its defaults, with WATCHDOG_USEC={watchdog_seconds} s and a NOTIFY_SOCKET this "
                    f"driver reads: {m:,} calls fire-and-forget while the upstream port refuses connections, "
                    f"{down} s down, then the bench sink listens there. Attempts per second while down (upstream "
                    "failures), the longest gap between WATCHDOG=1 from the last call accepted until all were "
                    "delivered (systemd restarts the service at WATCHDOG_USEC), and the seconds from the sink's "
                    "start until every call was delivered. The issue's bounds: WATCHDOG=1 never withheld, at "
                    "most 10 attempts a second while down, drained within 10 s.",
    }


def _latency_run(h, name, start_daemon, framing, seconds, rate=10_000):
    sink, port = h.start_sink(name)
    proc, sock, wait_all = start_daemon(f"http://127.0.0.1:{port}")
    m = rate * seconds
    cpu = proc.cpu_seconds()
    run = h.generate("rate", "--socket", sock, "--framing", framing, "--connections", 1, "--rate", rate,
                     "--seconds", seconds)
    finished = wait_all(m)
    cpu = proc.cpu_seconds() - cpu
    latency = h.sink_stats(port)
    assert latency["timestamped"] >= m, latency
    result = {"value": latency["p99_ms"], "unit": "ms (p99)", "p50_ms": latency["p50_ms"],
              "p99_ms": latency["p99_ms"], "p999_ms": latency["p999_ms"], "max_ms": latency["max_ms"],
              "cpu_us_per_msg": per_message_us(cpu, m), "peak_rss_mib": mib(proc.peak_rss_kib()),
              "details": {"messages": m, "send_seconds": round(run["seconds"], 3),
                          # Longer than send_seconds by much more than the latency: it fell behind.
                          "seconds_until_all_delivered": round(finished - run["started_at"], 3)}}
    h.processes.stop(proc)
    h.processes.stop(sink)
    return result


def latency(h, size, window="50ms", rate=10_000, beside_syslog_ng=True):
    """End to end at `rate`: from the generator's write to the sink's read of the POST."""
    seconds = size["latency_seconds"]
    name = f"latency-{rate}-{window}"

    def pltrackd(upstream):
        proc, sock = h.start_pltrackd(name, [
            "--api-key-file", h.key_file, "--upstream", upstream, "--coalesce-window", window])
        return proc, sock, lambda m: h.counter(sock, "delivered", m)["finished_at"]

    def syslog_ng(upstream):
        sng = h.start_syslog_ng(name, configs.syslog_ng_http(upstream + "/rest/track-prompt"))
        return sng.proc, sng.source, lambda m: sng.wait_for("dst.*.written", m)

    ours = _latency_run(h, name + "-pltrackd", pltrackd, "frame", seconds, rate)
    ours["details"]["coalesce_window"] = window
    theirs = _latency_run(h, name + "-syslog-ng", syslog_ng, "syslog", seconds, rate) if beside_syslog_ng else None
    return {
        "row": name, "title": f"end-to-end latency at {rate:,} msg/s, coalescing window {window}",
        "messages": rate * seconds, "pltrackd": ours, "syslog_ng": theirs,
        "compared": f"{seconds} s at {rate:,} msg/s on one connection, fire-and-forget, to the bench sink "
                    "(HDR histogram of CLOCK_MONOTONIC send time to arrival of the POST). pltrackd --workers 8 "
                    f"--coalesce-window {window} (a call waits up to the window by design); syslog-ng http() "
                    "workers(8) batch-lines(1).",
    }


def fairness(h, size):
    """One application floods the daemon; another's acknowledgements are timed alone and during
    the flood. Production settings: a spool with --fsync always (an ack waits for the fsync)."""
    m, probes = size["fairness"], size["fairness_probes"]
    hang, hang_port = h.start_sink("fairness-hang", hang=True)
    spool = h.directory("fairness") + "/spool"
    proc, sock = h.start_pltrackd("fairness", [
        "--spool-dir", spool, "--fsync", "always", "--api-key-file", h.key_file,
        "--upstream", f"http://127.0.0.1:{hang_port}"])

    def probe(first_request_id):
        return h.generate("ingest", "--socket", sock, "--connections", 1, "--in-flight", 1,
                          "--messages", probes, "--first-request-id", first_request_id)

    alone = probe(200_000_000_000)
    flood = h.generate_in_background("ingest", "--socket", sock, "--connections", 16, "--messages", m,
                                     "--first-request-id", 300_000_000_000)
    time.sleep(0.3)  # the flood is under way
    during = probe(400_000_000_000)
    flooded = flood.result()
    overlapped = during["finished_at"] <= flooded["finished_at"]
    peak_rss_mib = mib(proc.peak_rss_kib())
    h.processes.stop(proc)
    h.processes.stop(hang)

    def latency(run):
        return {key.replace("_us", "_ms"): round(value / 1000, 2) for key, value in run["reply_latency"].items()}

    during_ms, alone_ms = latency(during), latency(alone)
    return {
        "row": "fairness", "title": "another client's ack latency while one floods (16 connections)",
        "messages": m,
        "pltrackd": {"value": during_ms["p99_ms"], "unit": "ms (p99)", "cpu_us_per_msg": None,
                     "peak_rss_mib": peak_rss_mib,
                     "details": {"during_flood_ms": during_ms, "alone_ms": alone_ms, "probes": probes,
                                 "flood_msg_per_s": round(flooded["messages_per_second"]),
                                 "probe_finished_inside_the_flood": overlapped}},
        "syslog_ng": None,
        "compared": "pltrackd only (syslog-ng acknowledges nothing): one connection sends calls with an id, one at "
                    "a time, and times each reply, first alone and then while 16 other connections send M "
                    "calls fire-and-forget as fast as they can; --spool-dir, --fsync always, an upstream that "
                    "hangs.",
    }


def backlog(h, size):
    """Memory while calls wait on the spool for an upstream that is down (connections refused),
    and idle memory. syslog-ng holds the same calls in a reliable disk buffer."""
    m = size["backlog"]
    down = f"http://127.0.0.1:{free_port()}"
    spool = h.directory("backlog") + "/spool"
    proc, sock = h.start_pltrackd("backlog", [
        "--spool-dir", spool, "--api-key-file", h.key_file, "--upstream", down])
    time.sleep(2)
    idle = proc.rss_kib()
    cpu = proc.cpu_seconds()
    run = h.generate("ingest", "--socket", sock, "--connections", 16, "--messages", m)
    time.sleep(2)
    cpu = proc.cpu_seconds() - cpu
    stats = h.pltrackd_stats(sock)
    pltrackd = {"value": mib(proc.rss_kib()), "unit": "MiB RSS", "idle_rss_mib": mib(idle),
                "cpu_us_per_msg": per_message_us(cpu, m), "peak_rss_mib": mib(proc.peak_rss_kib()),
                "details": {"held": stats["held"], "backlog_on_disk": stats["backlog"],
                            "spool_bytes": stats.get("spool", {}).get("bytes"),
                            "accept_seconds": round(run["seconds"], 3)}}
    h.processes.stop(proc)
    disk = configs.syslog_ng_disk_buffer(h.directory("syslog-ng-backlog-buffer"), 4 << 30)
    sng = h.start_syslog_ng("backlog", configs.syslog_ng_http(down + "/rest/track-prompt", disk_buffer=disk))
    time.sleep(2)
    sng_idle = sng.proc.rss_kib()
    cpu = sng.proc.cpu_seconds()
    h.generate("ingest", "--socket", sng.source, "--framing", "syslog", "--connections", 16, "--messages", m)
    sng.wait_for("dst.*.processed", m)
    time.sleep(2)
    cpu = sng.proc.cpu_seconds() - cpu
    syslog_ng = {"value": mib(sng.proc.rss_kib()), "unit": "MiB RSS", "idle_rss_mib": mib(sng_idle),
                 "cpu_us_per_msg": per_message_us(cpu, m), "peak_rss_mib": mib(sng.proc.peak_rss_kib()),
                 "details": {"queued": sng.query("dst.*.queued")}}
    h.processes.stop(sng.proc)
    return {
        "row": "backlog", "title": f"RSS with {m:,} calls waiting for a stopped upstream", "messages": m,
        "pltrackd": pltrackd, "syslog_ng": syslog_ng,
        "compared": "pltrackd: --spool-dir (fsync always), upstream refusing connections, fire-and-forget; "
                    "VmRSS 2 s after the last call was accepted, and 2 s after start (idle). syslog-ng: http() "
                    "to the same refused port with disk-buffer(reliable(yes)).",
    }


def log_requests(h, size):
    """Requests logged through pltrackd with the Python client, each a log of about 2 KiB with
    its prompt, metadata and score right after it: how many upstream calls they cost, and how
    long the app waits in log_request, beside the SDK's way (the same log posted and its answer
    read, on one keep-alive connection to a server on loopback). pltrackd alone: syslog-ng has
    no counterpart."""
    n = size["log_requests"]
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.path.join(here, "..", "..", "protocol", "clients", "python", "src"))
    sink, port = h.start_sink("log-requests")
    proc, sock = h.start_pltrackd("log-requests", [
        "--api-key-file", h.key_file, "--upstream", f"http://127.0.0.1:{port}"])

    def drive(side):
        out = subprocess.run([sys.executable, os.path.join(here, "log_requests.py"), "--socket", sock,
                              "--sink-port", str(port), "--requests", str(n), "--side", side],
                             check=True, capture_output=True, text=True, env=env)
        return json.loads(out.stdout)

    cpu = proc.cpu_seconds()
    ours = drive("pltrackd")
    cpu = proc.cpu_seconds() - cpu
    stats = h.pltrackd_stats(sock)
    upstream_calls = h.sink_stats(port)["requests"]
    peak_rss = mib(proc.peak_rss_kib())
    h.processes.stop(proc)
    direct = drive("direct")
    h.processes.stop(sink)
    assert ours["flushed"] and ours["lost"] == 0 and ours["rejected"] == 0, ours
    calls = ours["log_request"]
    folding = {
        "row": "log-folding", "title": f"{n:,} requests, each log + prompt + metadata + score: upstream calls",
        "messages": 4 * n,
        "pltrackd": {"value": round(upstream_calls / n, 3), "unit": "upstream calls per request",
                     "cpu_us_per_msg": per_message_us(cpu, 4 * n), "peak_rss_mib": peak_rss,
                     "details": {"requests": n, "calls_sent": 4 * n, "upstream_calls": upstream_calls,
                                 "logs_answered": stats.get("logs_answered"),
                                 "folded_by_type": stats.get("folded_by_type"),
                                 "delivered": stats.get("delivered"), "dead_lettered": stats.get("dead_lettered")}},
        "syslog_ng": None,
        "compared": f"{n:,} requests through the Python client (fire-and-forget, one connection): each a "
                    "log.request of about 2 KiB, then track.prompt, track.metadata and an unnamed track.score "
                    "naming it by ref, sent at once; pltrackd at its defaults (window 50 ms); upstream calls as "
                    "the bench sink counted them (it answers each log 201 with an id). Target: at most one per "
                    "request.",
    }
    cost = {
        "row": "log-request-cost", "title": "Python client: the app's time in one log_request (2 KiB log)",
        "messages": n,
        "pltrackd": {"value": calls["p50_us"], "unit": "µs (p50)", "cpu_us_per_msg": None,
                     "details": {**calls, "frame_bytes": ours["frame_bytes"], "direct_post": direct["post"]}},
        "syslog_ng": None,
        "compared": f"perf_counter_ns around each of {n:,} calls in one Python process: PLTrack.log_request "
                    "(UUID ref, the SDK's defaults filled in, JSON encoded, one frame written to pltrackd's "
                    "socket; not acknowledged) against the SDK's way, the same log JSON encoded and POSTed to "
                    "the bench sink on loopback over one keep-alive connection with http.client and its "
                    "answer read (no TLS, no network: a floor for what the SDK costs). Target: 20 µs.",
    }
    return [folding, cost]
