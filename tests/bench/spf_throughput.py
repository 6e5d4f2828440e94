#!/usr/bin/python3
"""spf_throughput.py — postern-spf under a real Postfix with 200 concurrent SMTP sessions.

smtp-source (--sessions concurrent sessions, --messages in all) → private Postfix whose
smtpd_recipient_restrictions start with `check_policy_service inet:127.0.0.1:PORT` →
smtp-sink. Every RCPT is one policy request to postern-spf over Postfix's persistent
connections (one per smtpd process, so up to --sessions at once); its DNS comes from
tests/dns/zone_server.py on loopback (libunbound caches, so this measures the policy path with
a warm cache, not DNS). The client is 127.0.0.1, so postern-spf runs with --skip-networks
192.0.2.255/32 (nothing skipped) and the sender's SPF record permits 127.0.0.0/8 through an
include (two TXT lookups per check).

Prints messages/s through the whole chain, postern-spf's CPU per request (utime+stime from
/proc over the run, divided by its spf-check log lines), its RSS (VmRSS after, VmHWM peak), the
peak number of policy connections it had open, and whether anything went wrong (every message
must pass SPF and be relayed; no Postfix policy warnings, no 4xx/5xx). Exit status 1 on errors.

usage: tests/bench/spf_throughput.py [--build DIR] [--sessions N] [--messages N]
                                     [--port-base P]
Needs root (Postfix) and Debian's postfix and python3-dnslib. Ports P..P+3 on 127.0.0.1
(default 24140). Work directory on /dev/shm when there is one. Not part of ctest: figures, not
pass/fail. The default run takes about 25 s.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
import harness  # noqa: E402  (ZoneServer, PolicyDaemon, wait_port)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, memory_kib, work_dir  # noqa: E402

INSTANCE = os.path.join(TOP, "deploy", "postfix-instance")
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
SENDER = "bench@bench.example"
ZONE = {
    "bench.example": {"TXT": ["v=spf1 include:_spf.bench.example -all"]},
    "_spf.bench.example": {"TXT": ["v=spf1 ip4:10.0.0.0/8 ip4:127.0.0.0/8 -all"]},
}


def tcp_connections(port):
    """Established TCP connections to 127.0.0.1:port (server side), from /proc/net/tcp."""
    local = "0100007F:%04X" % port
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if parts[1] == local and parts[3] == "01":
                n += 1
    return n


class Sampler(threading.Thread):
    """Peak policy connections and peak RSS while the load runs."""

    def __init__(self, port, pid):
        super().__init__(daemon=True)
        self.port, self.pid = port, pid
        self.peak_connections = 0
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.wait(0.05):
            self.peak_connections = max(self.peak_connections, tcp_connections(self.port))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.environ.get("POSTERN_BUILD", "/work/build"))
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--port-base", type=int, default=24140)
    args = ap.parse_args()
    binary = os.path.join(args.build, "policyd", "spf", "postern-spf")
    if not os.access(binary, os.X_OK):
        sys.exit(f"no {binary}; build it or pass --build")
    if os.geteuid() != 0:
        sys.exit("needs root (private Postfix instance)")
    smtp_port, sink_port, policy_port, dns_port = (args.port_base + i for i in range(4))

    work = work_dir("postern-spf-bench-")
    pdir = os.path.join(work, "postfix")
    dns = spf = sink = None
    errors = []
    try:
        dns = harness.ZoneServer(work, dns_port, ZONE)
        dns.start()
        spf = harness.PolicyDaemon(work, "postern-spf", binary, policy_port, [
            "--dns-server", f"127.0.0.1@{dns_port}", "--skip-networks", "192.0.2.255/32",
            "--receiver", "bench.example", "--workers", "8"])
        spf.start()
        sink = subprocess.Popen([SMTP_SINK, "-u", "postfix", f"127.0.0.1:{sink_port}", "256"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        harness.wait_port(sink_port, 10)
        subprocess.run([INSTANCE, "init", pdir, "--port", str(smtp_port),
                        "--relay", f"127.0.0.1:{sink_port}",
                        "--set", "relay_domains=example.net",
                        "--set", f"default_process_limit={args.sessions + 50}",
                        "--set", "smtp_connection_cache_on_demand=yes",
                        "--set", "smtpd_recipient_restrictions = check_policy_service "
                                 f"inet:127.0.0.1:{policy_port}, permit_mynetworks, "
                                 "reject_unauth_destination"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([INSTANCE, "start", pdir], check=True, stdout=subprocess.DEVNULL)

        # one message first: DNS answers cached, a policy connection open
        subprocess.run([SMTP_SOURCE, "-s", "1", "-m", "1", "-f", SENDER, "-t",
                        "rcpt@example.net", f"127.0.0.1:{smtp_port}"], check=True)
        pid = spf.proc.pid
        warm_checks = len(spf.events("spf-check"))
        cpu0 = cpu_seconds(pid)
        sampler = Sampler(policy_port, pid)
        sampler.start()
        t0 = time.monotonic()
        src = subprocess.run([SMTP_SOURCE, "-s", str(args.sessions), "-m", str(args.messages),
                              "-f", SENDER, "-t", "rcpt@example.net", "-l", "2048",
                              f"127.0.0.1:{smtp_port}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        elapsed = time.monotonic() - t0
        sampler.stop_flag.set()
        sampler.join()
        cpu = cpu_seconds(pid) - cpu0
        mem = memory_kib(pid)
        if src.returncode != 0 or src.stdout.strip():
            errors.append(f"smtp-source exit {src.returncode}: {src.stdout.strip()[:500]}")

        checks = spf.events("spf-check")[warm_checks:]
        results = {}
        for c in checks:
            results[c.get("result")] = results.get(c.get("result"), 0) + 1
        if len(checks) != args.messages or set(results) != {"pass"}:
            errors.append(f"{len(checks)} spf-check lines for {args.messages} messages: {results}")
        faults = [line for line in spf.log().splitlines()
                  if line.startswith(("policy-error", "policy-timeout", "policy-bad-request",
                                      "warning", "error"))]
        if faults:
            errors.append(f"postern-spf: {len(faults)} fault lines, first: {faults[0]}")
        with open(os.path.join(pdir, "log", "postfix.log"), errors="replace") as f:
            plog = f.read()
        bad = re.findall(r".*(?:problem talking to server|reject: RCPT).*", plog)
        if bad:
            errors.append(f"Postfix: {len(bad)} policy problems/rejects, first: {bad[0]}")
        # wait for the queue to drain: everything accepted is relayed
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sent = len(re.findall(r"status=sent", open(os.path.join(pdir, "log", "postfix.log"),
                                                       errors="replace").read()))
            if sent >= args.messages + 1:
                break
            time.sleep(0.2)
        if sent < args.messages + 1:
            errors.append(f"only {sent} of {args.messages + 1} messages relayed")

        print(f"postern-spf behind Postfix: {args.messages} messages, {args.sessions} "
              f"concurrent SMTP sessions, 1 recipient each")
        print(f"  throughput           {args.messages / elapsed:8.0f} messages/s "
              f"({elapsed:.1f} s, smtp-source -> Postfix -> smtp-sink)")
        print(f"  policy requests      {len(checks):8d} (all {'/'.join(results)})")
        print(f"  CPU per request      {1000 * cpu / max(1, len(checks)):8.3f} ms "
              f"(postern-spf utime+stime {cpu:.2f} s)")
        print(f"  RSS                  {mem['VmRSS'] / 1024:8.1f} MiB after, "
              f"{mem['VmHWM'] / 1024:.1f} MiB peak")
        print(f"  policy connections   {sampler.peak_connections:8d} peak (persistent, "
              "one per smtpd process)")
        print("  errors               " + ("none" if not errors else ""))
        for e in errors:
            print("    " + e)
        return 1 if errors else 0
    finally:
        subprocess.run([INSTANCE, "stop", pdir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if sink is not None:
            harness.stop_group(sink)
        if spf is not None:
            spf.stop()
        if dns is not None:
            dns.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
