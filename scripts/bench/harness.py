"""Starting pltrackd, syslog-ng, nginx and the sink for one row, driving the generator, and
reading counters: everything a row needs, so that each row reads as what it measures."""

import json
import os
import shutil
import socket
import subprocess
import urllib.request

import configs
from procs import wait_until


def system_program(name):
    """A daemon from Debian's packages, which live in /usr/sbin (not always on PATH)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin") or name


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Harness:
    def __init__(self, bin_dir, work, processes):
        bin_dir = os.path.abspath(bin_dir)
        self.pltrackd_bin = os.path.join(bin_dir, "pltrackd")
        self.bench_bin = os.path.join(bin_dir, "pltrackd-bench")
        self.work = work
        self.processes = processes
        self.key_file = os.path.join(work, "api-key")
        with open(self.key_file, "w") as f:
            f.write("bench-key\n")
        os.chmod(self.key_file, 0o600)
        self.empty_config = os.path.join(work, "empty.toml")
        open(self.empty_config, "w").close()
        self.ca = None

    def directory(self, name):
        """A new directory for `name` in the work directory; a repeated run gets a fresh one
        (name-2, name-3, ...), never the spool or the socket of the run before."""
        path, n = os.path.join(self.work, name), 1
        while os.path.exists(path):
            n += 1
            path = os.path.join(self.work, f"{name}-{n}")
        os.makedirs(path)
        return path

    # --- pltrackd ---------------------------------------------------------------------------

    def start_pltrackd(self, name, arguments, environment=None):
        """pltrackd in its own directory, with no configuration file and a clean environment
        (plus `environment`); returns (process, socket path) once it answers stats."""
        directory = self.directory(name)
        sock = os.path.join(directory, "pltrackd.sock")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("PLTRACKD_") and k not in
               ("PROMPTLAYER_API_KEY", "PROMPTLAYER_BASE_URL", "STATE_DIRECTORY", "CREDENTIALS_DIRECTORY",
                "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "WATCHDOG_USEC",
                "WATCHDOG_PID")}
        env.update(environment or {})
        argv = [self.pltrackd_bin, "run", "--config", self.empty_config, "--socket", sock,
                "--outbox", os.path.join(directory, "outbox.jsonl"),
                "--dead-letter", os.path.join(directory, "dead-letters.jsonl"),
                "--log-level", "warning",
                # A stop after a row's figures are taken need not deliver what is left.
                "--drain-timeout", "0s", *arguments]
        proc = self.processes.start("pltrackd-" + name, argv, env=env, cwd=directory)
        wait_until(lambda: proc.check_alive() or self.counter(sock, "accepted") is not None, 30,
                   f"pltrackd ({name}) to answer on {sock}", interval=0.05)
        return proc, sock

    def counter(self, sock, name, at_least=0, timeout=600):
        """A pltrackd stats counter, once it is at least `at_least`; polled by the generator's
        `wait` (every 10 ms, one connection). Returns its JSON: value, finished_at."""
        return self.wait(["--socket", sock], name, at_least, timeout)

    def wait(self, daemon, counter, at_least, timeout):
        """`pltrackd-bench wait`: the one way this benchmark watches a counter of either daemon,
        one query every 10 ms on one connection, so that watching costs both the same."""
        out = subprocess.run(
            [self.bench_bin, "wait", *daemon, "--counter", counter, "--at-least", str(at_least),
             "--timeout", str(timeout)],
            check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    def pltrackd_stats(self, sock):
        out = subprocess.run([self.pltrackd_bin, "stats", "--json", "--socket", sock],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout)

    # --- the generator ----------------------------------------------------------------------

    def generate(self, *arguments):
        """Runs the generator to the end and returns its summary."""
        return self.generate_in_background(*arguments).result()

    def generate_in_background(self, *arguments):
        return Generator(self.processes.start(
            "generator-" + arguments[0], [self.bench_bin, *map(str, arguments)], stdout=subprocess.PIPE))

    # --- the sink -----------------------------------------------------------------------------

    def start_sink(self, name, hang=False, delay_ms=0, rate_limit=None, port=None):
        """The generator's HTTP sink on a free port; returns (process, port). `delay_ms` answers
        each call that much later (a distant server); `rate_limit` answers at most that many a
        second and refuses the rest with 429 and Retry-After: 1."""
        port_file = os.path.join(self.directory(name), "sink.port")
        argv = [self.bench_bin, "sink", "--port-file", port_file] + (["--hang"] if hang else [])
        argv += ["--delay-ms", str(delay_ms)] if delay_ms else []
        argv += ["--rate-limit", str(rate_limit)] if rate_limit else []
        argv += ["--port", str(port)] if port else []
        proc = self.processes.start("sink-" + name, argv)
        port = wait_until(lambda: proc.check_alive() or int(open(port_file).read()), 30, "the sink")
        return proc, port

    @staticmethod
    def sink_stats(port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/stats", timeout=10) as response:
            return json.load(response)

    # --- nginx ------------------------------------------------------------------------------

    def start_nginx(self, distant_sink_port=None):
        """nginx on free ports (see configs.nginx_conf), with a certificate from a fresh test CA.
        Returns (process, ports, ca_file, access_log)."""
        directory = self.directory("nginx")
        self.ca, certificate, key = configs.make_test_ca(directory)
        names = ["http", "https", "h2"] + (["h2_distant"] if distant_sink_port else [])
        ports = {name: free_port() for name in names}
        conf = os.path.join(directory, "nginx.conf")
        with open(conf, "w") as f:
            f.write(configs.nginx_conf(directory, ports, certificate, key, distant_sink_port))
        proc = self.processes.start("nginx", [system_program("nginx"), "-c", conf, "-p", directory])
        for port in ports.values():
            wait_until(lambda: proc.check_alive() or socket.create_connection(("127.0.0.1", port), 1).close() or True,
                       30, f"nginx on port {port}")
        return proc, ports, self.ca, os.path.join(directory, "h2-access.log")

    # --- syslog-ng --------------------------------------------------------------------------

    def start_syslog_ng(self, name, destination):
        """syslog-ng in the foreground with a generated configuration; returns a SyslogNG."""
        directory = self.directory("syslog-ng-" + name)
        source = os.path.join(directory, "in.sock")
        control = os.path.join(directory, "control.sock")
        conf = os.path.join(directory, "syslog-ng.conf")
        with open(conf, "w") as f:
            f.write(configs.syslog_ng_conf(source, destination))
        argv = [system_program("syslog-ng"), "--foreground", "--stderr", "--no-caps", "--cfgfile", conf,
                "--persist-file", os.path.join(directory, "syslog-ng.persist"),
                "--pidfile", os.path.join(directory, "syslog-ng.pid"), "--control", control]
        proc = self.processes.start("syslog-ng-" + name, argv, cwd=directory)
        daemon = SyslogNG(self, proc, source, control, directory)
        wait_until(lambda: proc.check_alive() or (os.path.exists(source) and daemon.query("center.*") is not None),
                   30, f"syslog-ng ({name})", interval=0.05)
        return daemon


class Generator:
    """The generator running in the background."""

    def __init__(self, proc):
        self.proc = proc

    def result(self):
        output, _ = self.proc.popen.communicate()
        if self.proc.popen.returncode != 0:
            with open(self.proc.log) as f:
                raise RuntimeError(f"the generator failed: {f.read().strip()}")
        return json.loads(output)


class SyslogNG:
    def __init__(self, harness, proc, source, control, directory):
        self.harness = harness
        self.proc = proc
        self.source = source
        self.control = control
        self.directory = directory

    def query(self, pattern):
        """The sum of the counters matching `pattern` (syslog-ng-ctl query get --sum), for a
        reading outside a timed run: it starts a process."""
        out = subprocess.run([system_program("syslog-ng-ctl"), "query", "get", "--sum", pattern, "--control", self.control],
                             check=True, capture_output=True, text=True).stdout
        # --sum prints the bare number; nothing at all while no counter matches yet (a file
        # destination registers its counters with its first message).
        for line in out.splitlines():
            value = line.rsplit("=", 1)[-1].strip()
            if value.lstrip("-").isdigit():
                return int(value)
        return None

    def wait_for(self, pattern, at_least, timeout=600):
        """Polls every 10 ms, as pltrackd's counters are, until the counters matching `pattern`
        add up to `at_least`; returns the CLOCK_REALTIME time it saw that. Through the control
        socket (QUERY GET_SUM), with no process started per poll: syslog-ng-ctl every 10 ms
        took a good part of a core from syslog-ng while it was measured."""
        return self.harness.wait(["--syslog-ng-control", self.control], pattern, at_least,
                                 timeout)["finished_at"]
