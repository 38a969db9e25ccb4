"""Processes the benchmark starts, and what /proc says about them.

Every process is started through Processes.start, which records it, sends its output to a
log file in the work directory and asks the kernel to SIGTERM it if this driver dies
(PR_SET_PDEATHSIG); Processes.stop_all stops whatever is still running.
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Proc:
    """One started process."""

    def __init__(self, name, popen, log):
        self.name = name
        self.popen = popen
        self.log = log

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def cpu_seconds(self):
        """User plus system CPU time of every thread, from /proc/PID/stat (clock ticks)."""
        return self.cpu_seconds_of(self.pid)

    @staticmethod
    def cpu_seconds_of(pid):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # After "pid (comm)", field 3 (state) is fields[0]; utime is field 14, stime 15.
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def _status_kib(self, key):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise KeyError(key)

    def rss_kib(self):
        """Resident memory now (VmRSS)."""
        return self._status_kib("VmRSS")

    def peak_rss_kib(self):
        """Peak resident memory since the process started (VmHWM)."""
        return self._status_kib("VmHWM")

    def check_alive(self):
        if not self.alive():
            raise RuntimeError(f"{self.name} exited with status {self.popen.returncode}; see {self.log}")


class Processes:
    def __init__(self, log_directory):
        self.log_directory = log_directory
        self.running = []
        self.count = 0

    def start(self, name, argv, env=None, cwd=None, stdout=None):
        """Starts argv in the background; its standard error (and output, unless piped) go to a log."""
        self.count += 1
        log = os.path.join(self.log_directory, f"{self.count:02d}-{name}.log")
        log_file = open(log, "wb")
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else log_file,
            stderr=log_file,
            env=env,
            cwd=cwd,
            preexec_fn=_die_with_parent,
        )
        log_file.close()
        proc = Proc(name, popen, log)
        self.running.append(proc)
        return proc

    def stop(self, proc, timeout=10.0):
        """SIGTERM, then SIGKILL after timeout seconds; waits for the exit."""
        if proc in self.running:
            self.running.remove(proc)
        if proc.popen.poll() is not None:
            return proc.popen.returncode
        started = time.monotonic()
        proc.popen.send_signal(signal.SIGTERM)
        try:
            return proc.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            print(f"bench: {proc.name} did not stop within {timeout:.0f} s of SIGTERM; killed", file=sys.stderr)
            proc.popen.kill()
            return proc.popen.wait()
        finally:
            if time.monotonic() - started > 2:
                print(f"bench: {proc.name} took {time.monotonic() - started:.1f} s to stop", file=sys.stderr)

    def stop_all(self):
        for proc in list(reversed(self.running)):
            self.stop(proc, timeout=5.0)


def machine_busy_seconds():
    """CPU seconds every core has spent on anything but idling, since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...
    busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + (fields[7] if len(fields) > 7 else 0)
    return busy / CLOCK_TICKS


def tree_cpu_seconds(pid):
    """CPU seconds of a process and its direct children (nginx's master and workers)."""
    total = Proc.cpu_seconds_of(pid)
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for child in f.read().split():
                try:
                    total += Proc.cpu_seconds_of(int(child))
                except OSError:
                    pass
    return total


class Interference:
    """How much CPU something other than this benchmark used while a row ran: the machine's busy
    time, less this driver's, its children's (reaped when stopped) and those of the long-lived
    processes in `extra` (functions returning CPU seconds)."""

    def __init__(self, extra=()):
        self.extra = list(extra)
        self.start = self._reading()
        self.wall = time.monotonic()

    def _reading(self):
        times = os.times()
        ours = times.user + times.system + times.children_user + times.children_system
        return machine_busy_seconds(), ours + sum(f() for f in self.extra)

    def result(self):
        busy, ours = self._reading()
        wall = time.monotonic() - self.wall
        other = max(0.0, (busy - self.start[0]) - (ours - self.start[1]))
        return {"seconds": round(wall, 1), "other_cpu_seconds": round(other, 3),
                "other_cpu_percent_of_machine": round(100 * other / (wall * os.cpu_count()), 1)}


def journal_cpu_seconds():
    """CPU seconds of the filesystem journal's kernel threads (jbd2/...), or None where none
    runs (an ext4 without a journal, as on this project's machines)."""
    total, found = 0.0, False
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if not f.read().startswith("jbd2/"):
                    continue
            total += Proc.cpu_seconds_of(int(pid))
            found = True
        except OSError:
            pass
    return total if found else None


def machine_busy_percent(seconds=2.0):
    """How busy the machine is, as a share of all its cores, over `seconds` of doing nothing:
    the load before and after a run, which a one-minute load average mixes with the run's own."""
    before, wall = machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    return round(100 * (machine_busy_seconds() - before) / ((time.monotonic() - wall) * os.cpu_count()), 1)


class RunCost:
    """The CPU one daemon's run cost: its own, and the machine's outside every process this
    benchmark knows (the kernel's threads: block I/O, writeback, the filesystem journal; and
    anything else that ran). On a quiet machine the second is the kernel work the run caused,
    such as what fsync costs outside the process that calls it. `extra` are functions giving
    the CPU seconds of the other live processes of the run (an upstream, nginx)."""

    def __init__(self, daemon, extra=()):
        self.daemon = daemon
        self.own = daemon.cpu_seconds()
        self.outside = Interference([daemon.cpu_seconds, *extra])
        self.journal = journal_cpu_seconds()

    def result(self, messages):
        """CPU microseconds per message: the daemon's, outside every known process, and the
        journal threads' (None where there are none). Read while the daemon still runs."""
        own = self.daemon.cpu_seconds() - self.own
        outside = self.outside.result()["other_cpu_seconds"]
        journal = journal_cpu_seconds()
        journal = None if journal is None or self.journal is None else journal - self.journal
        per_message = lambda seconds: None if seconds is None else round(seconds / messages * 1e6, 2)
        return {"cpu_us_per_msg": per_message(own), "outside_cpu_us_per_msg": per_message(outside),
                "journal_cpu_us_per_msg": per_message(journal)}


def wait_until(predicate, timeout, what, interval=0.01):
    """Calls predicate until it returns a true value, which it returns; raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, subprocess.CalledProcessError, ValueError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(interval)
