"""The table the benchmark prints, from the rows' figures."""


def _number(value, digits=1):
    if value is None:
        return "—"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def ratio(row):
    """pltrackd's figure over syslog-ng's, for throughput rows (higher is better there)."""
    ours, theirs = row.get("pltrackd"), row.get("syslog_ng")
    if not ours or not theirs or not theirs.get("value") or not ours["unit"].endswith("/s"):
        return None
    return round(ours["value"] / theirs["value"], 2)


def _figure(side):
    if not side:
        return "—"
    if "during_flood_ms" in side.get("details", {}):
        during, alone = side["details"]["during_flood_ms"], side["details"]["alone_ms"]
        return (f"p50 {during['p50_ms']:.2f} / p99 {during['p99_ms']:.2f} / max {during['max_ms']:.2f} ms "
                f"(alone: p50 {alone['p50_ms']:.2f} / p99 {alone['p99_ms']:.2f} ms)")
    if "longest_watchdog_gap_s" in side.get("details", {}):
        d = side["details"]
        return (f"drained {side['value']:.2f} s after it was back; {d['attempts_per_s_while_down']:.1f} attempts/s "
                f"while down; longest gap between WATCHDOG=1 {d['longest_watchdog_gap_s']:.2f} s")
    if "direct_post" in side.get("details", {}):
        d, post = side["details"], side["details"]["direct_post"]
        return (f"p50 {d['p50_us']:.1f} / p90 {d['p90_us']:.1f} / p99 {d['p99_us']:.1f} µs (the SDK's way, "
                f"a POST to loopback: p50 {post['p50_us']:.1f} / p90 {post['p90_us']:.1f} µs)")
    if "p50_ms" in side:
        return f"p50 {side['p50_ms']:.1f} / p99 {side['p99_ms']:.1f} / p99.9 {side['p999_ms']:.1f} ms"
    if "idle_rss_mib" in side:
        return f"{side['value']:.1f} MiB (idle {side['idle_rss_mib']:.1f} MiB)"
    return f"{_number(side['value'])} {side['unit']}"


def _cpu(side):
    """The daemon's CPU per message, and the kernel's outside it where measured: "5.1 + 0.4"."""
    if not side:
        return "—"
    own, outside = side.get("cpu_us_per_msg"), side.get("outside_cpu_us_per_msg")
    return _number(own) if outside is None else f"{_number(own)} + {_number(outside)}"


def table(rows):
    header = ["figure", "pltrackd", "syslog-ng", "ratio", "CPU µs/msg pltrackd (+ outside)",
              "CPU µs/msg syslog-ng (+ outside)", "peak RSS MiB pltrackd", "peak RSS MiB syslog-ng"]
    lines = [header]
    for row in rows:
        ours, theirs = row.get("pltrackd"), row.get("syslog_ng")
        r = ratio(row)
        lines.append([
            row["title"], _figure(ours), _figure(theirs), f"{r:.2f}×" if r is not None else "",
            _cpu(ours), _cpu(theirs),
            _number(ours and ours.get("peak_rss_mib")), _number(theirs and theirs.get("peak_rss_mib")),
        ])
    out = ["| " + " | ".join(cells) + " |" for cells in lines]
    out.insert(1, "|" + "|".join("---" for _ in header) + "|")
    busy = [(row["title"], row.get("machine_during_row", {}).get("other_cpu_percent_of_machine", 0))
            for row in rows]
    shared = [f"{title}: {percent:.0f}%" for title, percent in busy if percent >= 5]
    if shared:
        out.append("")
        out.append("Other work on the machine, as a share of all its cores, while these rows ran "
                   "(their figures are lower than on a quiet machine): " + "; ".join(shared) + ".")
    return "\n".join(out)


def runs(rows):
    """Every run of the paired rows, in the order they ran, so a median can be checked."""
    out = []
    for row in rows:
        for name, side in (("pltrackd", row.get("pltrackd")), ("syslog-ng", row.get("syslog_ng"))):
            details = (side or {}).get("details", {})
            if "runs" not in details:
                continue
            values = ", ".join(_number(value) for value in details["runs"])
            out.append(f"- {row['row']}, {name}: {values} {side['unit']} (median {_number(side['value'])})")
            if "unwatched_runs" in details:
                unwatched = ", ".join(_number(value) for value in details["unwatched_runs"])
                out.append(f"- {row['row']}, syslog-ng unwatched (counter read only after the last line): "
                           f"{unwatched} {side['unit']} (median {_number(details['unwatched_msg_per_s'])}; "
                           f"watched/unwatched {details['watched_over_unwatched']:.3f})")
    for row in rows:
        if row["row"] != "durable":
            continue
        journal = [(side or {}).get("journal_cpu_us_per_msg") for side in (row["pltrackd"], row["syslog_ng"])]
        out.append("- durable, the filesystem journal's threads (jbd2): " + (
            "none run on this machine's filesystem; the kernel's share of the fsyncs is in the CPU outside"
            if journal[0] is None else f"{_number(journal[0])} µs/msg during pltrackd's run, "
                                       f"{_number(journal[1])} during syslog-ng's (in the CPU outside)"))
    return ("\nEvery run (warm-up runs dropped):\n" + "\n".join(out)) if out else ""
