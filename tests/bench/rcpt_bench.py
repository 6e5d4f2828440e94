#!/usr/bin/python3
"""rcpt_bench.py — postern-rcpt against a real slapd on loopback, policy protocol only:
requests/s and latency (p50, p99) with 50 concurrent connections (as 50 Postfix smtpd
processes would hold), for cache hits and for cache misses, in the same run.

The directory (tests/integration/slapd_server.py, MDB, proxyAddresses indexed eq,sub) holds
--users users uNNNNN@bench.example, each with SMTP:primary and smtp:alias addresses.
  hits:   --hit-set recipients (aliases of the first users plus 20 % unknown ones) are looked
          up once (warming the positive and negative caches), then requested at random for
          --duration seconds: every answer comes from the in-process cache.
  misses: a fresh daemon; every request a recipient never seen (the primaries of the other
          users interleaved with unknown addresses, 1 in 4), each once: every answer is an
          LDAP search (the AD default filter) on the pool of --ldap-pool-size connections.
  hits-redis: as hits, with the caches in a real redis-server (--redis-cache): one GET per
          request (redis-server's CPU in its own column).
CPU per request is utime+stime (/proc/PID/stat) of postern-rcpt and of slapd over a phase,
divided by its requests. The machine is shared: figures are disturbed by other load; CPU
per request is the steadier number.

usage: tests/bench/rcpt_bench.py [--build DIR] [--connections 50] [--duration 10]
                                 [--users 10000] [--hit-set 1000] [--port 25900]
Needs slapd (deploy/install-deps). Build first:
  cmake --build BUILD --target postern-rcpt policy_load
Not part of ctest: figures, not pass/fail. Figures of the last run: tests/bench/README.md.
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from redis_server import RedisServer  # noqa: E402
from slapd_server import SlapdServer  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, wait_port  # noqa: E402

DOMAIN = "bench.example"


def users_ldif(n):
    out = []
    for i in range(n):
        uid = "u%05d" % i
        out.append("dn: uid=%s,ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\n"
                   "objectClass: mailRecipient\nuid: %s\ncn: %s\nsn: %s\n"
                   "proxyAddresses: SMTP:%s@%s\nproxyAddresses: smtp:alias.%s@%s\n\n"
                   % (uid, uid, uid, uid, uid, DOMAIN, uid, DOMAIN))
    return "".join(out)


class Daemon:
    def __init__(self, build, tmp, slapd, port, extra=()):
        self.port = port
        self.log = open(os.path.join(tmp, "rcpt-%d.log" % time.monotonic_ns()), "w")
        self.proc = subprocess.Popen(
            [os.path.join(build, "policyd", "rcpt", "postern-rcpt"),
             "--socket", "inet:%d@127.0.0.1" % port, "--log", "stderr", "--log-level", "warning",
             "--relay-domains", DOMAIN, "--ldap-servers", slapd.uri,
             "--ldap-search-base", slapd.suffix, "--ldap-bind-dn", slapd.reader_dn,
             "--ldap-bind-password", slapd.reader_password] + list(extra),
            stdout=self.log, stderr=self.log)
        wait_port(port, 15)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def load(build, port, tmp, recipients, connections, duration=None, unique=False):
    rfile = os.path.join(tmp, "recipients-%d.txt" % time.monotonic_ns())
    with open(rfile, "w") as f:
        f.write("\n".join(recipients) + "\n")
    dfile = os.path.join(tmp, "domains.txt")
    with open(dfile, "w") as f:
        f.write("sender.example\n")
    cmd = [os.path.join(build, "tests", "bench", "policy_load"),
           "--socket", "inet:127.0.0.1:%d" % port, "--connections", str(connections),
           "--domains", dfile, "--recipients", rfile]
    cmd += ["--unique-recipients"] if unique else ["--duration", str(duration)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False).stdout
    return dict(re.findall(r"(\w+)=(\S+)", out))


def measured(daemon, slapd, fn, redis=None):
    pids = {"rcpt": daemon.proc.pid, "slapd": slapd.proc.pid}
    if redis:
        pids["redis"] = redis.proc.pid
    before = {k: cpu_seconds(p) for k, p in pids.items()}
    result = fn()
    n = max(1, int(result.get("requests", "0")))
    for k, p in pids.items():
        result[k + "_cpu_ms"] = "%.3f" % ((cpu_seconds(p) - before[k]) * 1000 / n)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--hit-set", type=int, default=1000)
    ap.add_argument("--port", type=int, default=25900)
    a = ap.parse_args()
    rng = random.Random(1)
    tmp = tempfile.mkdtemp(prefix="postern-rcpt-bench-")
    slapd = daemon = None
    try:
        t0 = time.monotonic()
        slapd = SlapdServer(tmp, a.port, ldif=users_ldif(a.users))
        slapd.start()
        print("slapd: %d users loaded in %.1f s" % (a.users, time.monotonic() - t0))
        known = ["alias.u%05d@%s" % (i, DOMAIN) for i in range(a.hit_set * 4 // 5)]
        hit_set = known + ["nobody%05d@%s" % (i, DOMAIN) for i in range(a.hit_set // 5)]
        miss_known = ["u%05d@%s" % (i, DOMAIN) for i in range(a.hit_set, a.users)]
        miss_set = miss_known + ["unknown%05d@%s" % (i, DOMAIN)
                                 for i in range(len(miss_known) // 3)]
        rng.shuffle(miss_set)
        rows = []

        daemon = Daemon(a.build, tmp, slapd, a.port + 1)
        load(a.build, daemon.port, tmp, hit_set, a.connections, unique=True)  # warm
        rows.append(("hits", measured(daemon, slapd, lambda: load(
            a.build, daemon.port, tmp, hit_set, a.connections, duration=a.duration))))
        daemon.stop()

        daemon = Daemon(a.build, tmp, slapd, a.port + 2)
        rows.append(("misses", measured(daemon, slapd, lambda: load(
            a.build, daemon.port, tmp, miss_set, a.connections, unique=True))))
        daemon.stop()
        daemon = None

        # The same hits with the cache in Redis (--redis-cache, shared by gateways).
        redis = RedisServer(a.port + 3).start()
        try:
            daemon = Daemon(a.build, tmp, slapd, a.port + 4,
                            ["--redis-url", redis.url, "--redis-cache",
                             "--redis-recipient-key", "", "--redis-domain-key", ""])
            load(a.build, daemon.port, tmp, hit_set, a.connections, unique=True)  # warm
            row = measured(daemon, slapd, lambda: load(
                a.build, daemon.port, tmp, hit_set, a.connections, duration=a.duration),
                redis)
            daemon.stop()
            daemon = None
        finally:
            redis.stop()
        rows.append(("hits-redis", row))

        print("connections=%d users=%d (load average %.1f %.1f %.1f on %d cores)"
              % ((a.connections, a.users) + os.getloadavg() + (os.cpu_count(),)))
        print("%-10s %9s %7s %8s %8s %8s %12s %12s %12s  actions"
              % ("phase", "requests", "errors", "req/s", "p50 ms", "p99 ms", "rcpt CPU ms",
                 "slapd CPU ms", "redis CPU ms"))
        for name, r in rows:
            actions = " ".join("%s=%s" % (k[7:], v) for k, v in r.items()
                               if k.startswith("action_"))
            print("%-10s %9s %7s %8s %8s %8s %12s %12s %12s  %s"
                  % (name, r.get("requests"), r.get("errors"), r.get("rps"), r.get("p50_ms"),
                     r.get("p99_ms"), r["rcpt_cpu_ms"], r["slapd_cpu_ms"],
                     r.get("redis_cpu_ms", "-"), actions))
    finally:
        if daemon:
            daemon.stop()
        if slapd:
            slapd.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
