"""Runs the benchmark: pltrackd beside syslog-ng, row by row; prints a table and writes JSON.

Started by scripts/bench.sh, which installs the packages and builds the release binaries."""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time

import report
import rows
from harness import Harness
from procs import Interference, Processes, machine_busy_percent, tree_cpu_seconds

# warmups and repeats apply to the rows that set pltrackd beside syslog-ng for throughput
# (ingest, durable, deliver-*): one dropped run of each side, then three rounds, medians.
SIZES = {
    "full": {"ingest": 1_000_000, "durable": 500_000, "deliver": 200_000, "latency_seconds": 10,
             "backlog": 1_000_000, "fairness": 1_000_000, "fairness_probes": 2_000, "warmups": 1, "repeats": 3,
             "distant": 20_000, "distant_syslog_ng_seconds": 6, "rate_limited": 10_000, "outage": 20_000,
             "outage_seconds": 20, "log_requests": 10_000, "distant_h2": 100_000},
    "short": {"ingest": 100_000, "durable": 50_000, "deliver": 20_000, "latency_seconds": 2,
              "backlog": 100_000, "fairness": 200_000, "fairness_probes": 300, "warmups": 0, "repeats": 1,
              "distant": 2_000, "distant_syslog_ng_seconds": 1, "rate_limited": 3_000, "outage": 2_000,
              "outage_seconds": 3, "log_requests": 1_000, "distant_h2": 10_000},
}
ROWS = ["ingest", "ingest-alone", "durable", "deliver-http", "deliver-tls", "deliver-h2", "distant", "distant-h2",
        "rate-limited", "outage",
        "latency", "fairness", "backlog", "log-requests"]


def main():
    parser = argparse.ArgumentParser(prog="scripts/bench.sh")
    parser.add_argument("--bin", required=True, help="directory of the release pltrackd and pltrackd-bench")
    parser.add_argument("--short", action="store_true", help="small counts (well under five minutes)")
    parser.add_argument("--output", default=".build/bench/results.json", help="where the JSON figures go")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of: " + ", ".join(ROWS))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, configs)")
    parser.add_argument("--repeats", type=int, help="rounds of each paired row (default: 3, short: 1)")
    args = parser.parse_args()
    selected = args.rows.split(",")
    unknown = set(selected) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")
    size = dict(SIZES["short" if args.short else "full"])
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be at least 1")
        size["repeats"] = args.repeats

    # SIGTERM and SIGHUP end the run like Ctrl-C does, through the cleanup below.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    work = tempfile.mkdtemp(prefix="pltrackd-bench.")
    processes = Processes(work)
    results = []
    started = time.monotonic()
    # The machine may be shared: how busy it was just before and just after the run, measured
    # while nothing of the benchmark runs, tells how much else was running.
    load_before = os.getloadavg()
    busy_before = machine_busy_percent()
    try:
        h = Harness(args.bin, work, processes)
        nginx = None
        long_lived = []
        if any(name.startswith("deliver-") or name == "distant-h2" for name in selected):
            # distant-h2: nginx passes each call on to a sink that answers 50 ms later.
            sink, sink_port = h.start_sink("distant-h2", delay_ms=50) if "distant-h2" in selected else (None, None)
            proc, ports, ca, access_log = h.start_nginx(distant_sink_port=sink_port)
            upstream_cpu = [lambda: tree_cpu_seconds(proc.pid)] + ([sink.cpu_seconds] if sink else [])
            nginx = {"proc": proc, "ports": ports, "ca": ca, "access_log": access_log,
                     "cpu_seconds": lambda: sum(f() for f in upstream_cpu)}
            long_lived += upstream_cpu
        for name in selected:
            print(f"bench: {name} …", file=sys.stderr, flush=True)
            interference = Interference(long_lived)
            first = len(results)
            if name == "ingest":
                results.append(rows.ingest(h, size))
            elif name == "ingest-alone":
                results.append(rows.ingest_alone(h, size))
            elif name == "durable":
                results.append(rows.durable(h, size))
            elif name == "deliver-http":
                results.append(rows.delivery_http(h, size, nginx))
            elif name == "deliver-tls":
                results.append(rows.delivery_tls(h, size, nginx))
            elif name == "deliver-h2":
                results.append(rows.delivery_h2(h, size, nginx))
            elif name == "distant-h2":
                results.append(rows.distant_h2(h, size, nginx))
            elif name == "distant":
                for delay_ms in (10, 50, 200):
                    results.append(rows.distant(h, size, delay_ms))
            elif name == "rate-limited":
                results.append(rows.rate_limited(h, size))
            elif name == "outage":
                results.append(rows.outage(h, size))
            elif name == "latency":
                results.append(rows.latency(h, size, "50ms"))
                results.append(rows.latency(h, size, "0ms", beside_syslog_ng=False))
                # A rate pltrackd sustains today, for the latency the window alone costs.
                results.append(rows.latency(h, size, "50ms", rate=2_000, beside_syslog_ng=False))
            elif name == "fairness":
                results.append(rows.fairness(h, size))
            elif name == "backlog":
                results.append(rows.backlog(h, size))
            elif name == "log-requests":
                results += rows.log_requests(h, size)
            # The machine may be shared: what else ran while these rows did.
            machine = interference.result()
            for row in results[first:]:
                row["machine_during_row"] = machine
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        processes.stop_all()
        busy_after = machine_busy_percent()
        if args.keep:
            print(f"bench: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    for row in results:
        row["ratio"] = report.ratio(row)
    document = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "mode": "short" if args.short else "full",
        "machine": {"cores": os.cpu_count(), "kernel": platform.release(), "system": _os_release(),
                    "busy_percent_before": busy_before, "busy_percent_after": busy_after,
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "seconds": round(time.monotonic() - started, 1),
        "sizes": size,
        "rows": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    print(report.table(results))
    print(report.runs(results))
    print(f"\n{document['mode']} run, {document['seconds']} s; the machine, idle 2 s before and after: "
          f"{busy_before:.1f}% and {busy_after:.1f}% busy of {os.cpu_count()} cores (load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after); figures in {args.output}")
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _os_release():
    try:
        with open("/etc/os-release") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        return fields.get("PRETTY_NAME", "").strip('"')
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
