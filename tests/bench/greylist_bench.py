#!/usr/bin/python3
"""greylist_bench.py — postern-greylist (LMDB, Redis) against Debian's postgrey, policy protocol.

All three services run at once and get the same request stream: tests/bench/policy_load with
--connections persistent connections (default 20), --clients random client addresses (about
as many /24 networks), --senders random senders over 200 domains and --recipients random
recipients, the same seed for every service in a round (each connection sends the same
sequence of triplets to each). Most requests are new triplets or early retries (the delay,
300 s, is longer than the run): every request reads and writes the store, greylisting's worst
case. All three read Debian's /etc/postgrey/whitelist_clients and whitelist_recipients and
otherwise run with their defaults (postern-greylist: LMDB decided inline on the io threads,
--store-sync-interval 1; postgrey: one process, Berkeley DB with transactions, an fsync per
commit). The stores live in /var/tmp by default (--tmp-base): a disk, as in production and in
the issue's postgrey figures. By default (--pin) the services run on the first half of the
CPUs and policy_load on the rest. Figures: tests/bench/README.md.

Phases: a 2 s warm-up each; "empty": --rounds short runs per service (--duration split), the
services taking turns in a rotating order so that the machine's changing load falls on all
alike; a fill to --fill triplets (postern-greylist; postgrey --postgrey-fill, it is slower)
with random triplets from a 1000 x 1000 x 1000 space; "full": the same rounds again on the
filled stores. Reported per service and phase: req/s over its rounds, the median of the
rounds' p50 and p99 (and the worst p99), CPU ms per request (utime+stime from /proc of the
service, and of redis-server for the Redis store); after the fill: RSS (LMDB's RSS counts the
mapped pages of its file), the store's size (LMDB: its files; Redis: used_memory; postgrey:
postgrey*.db) and its records (triplets + client auto-whitelist entries: mdb_stat, DBSIZE,
Perl's BerkeleyDB).

usage: tests/bench/greylist_bench.py [--build DIR] [--connections 20] [--duration 10]
           [--rounds 5] [--fill 1000000] [--postgrey-fill 100000] [--port-base 24100]
           [--only lmdb,lmdb-durable,redis,postgrey] [--tmp-base /var/tmp] [--no-pin]
           [--greylist-arg=ARG ...] [--keep-tmp]
Needs root (postgrey drops to its user otherwise), Debian's postgrey, redis-server, lmdb-utils
(deploy/install-deps). Ports: --port-base .. +4 on 127.0.0.1. Build first:
  cmake -S . -B BUILD -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
  ninja -C BUILD postern-greylist policy_load
Not part of ctest: figures, not pass/fail.

greylist_store_bench (tests/bench/greylist.cmake; no sockets, 1,000,000 distinct triplets on
LMDB) measured 9.9 µs CPU per decision (new), 10.9 µs (known); store 132 MiB in use for 1 M
triplets (≈139 bytes each); RSS growth 132 MiB, all of it the mapped database file.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from postgrey_peer import (DEBIAN_WHITELIST_CLIENTS, DEBIAN_WHITELIST_RECIPIENTS,  # noqa: E402
                           Postgrey, PosternGreylist)
from redis_server import RedisServer  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def mib(n):
    return n / 1048576.0


class Subject:
    """One service under test: `pids()` to charge CPU to, `extra()` → figures after the fill."""

    def __init__(self, name, service, backend=None):
        self.name, self.service, self.backend = name, service, backend

    def start(self):
        if self.backend:
            self.backend.start()
        self.service.start()

    def stop(self):
        self.service.stop()
        if self.backend:
            self.backend.stop()

    def pid(self):
        return self.service.pid

    def backend_pid(self):
        return self.backend.proc.pid if self.backend and self.backend.proc else None


class Bench:
    def __init__(self, args, tmp):
        self.a, self.tmp = args, tmp
        self.load = os.path.join(args.build, "tests", "bench", "policy_load")
        self.binary = os.path.join(args.build, "policyd", "greylist", "postern-greylist")
        self.domains = os.path.join(tmp, "domains")
        with open(self.domains, "w") as f:
            f.write("".join("d%03d.bench.example\n" % i for i in range(200)))

    def run_load(self, port, extra):
        cmd = [self.load, "--socket", "inet:127.0.0.1:%d" % port, "--domains", self.domains,
               "--connections", str(self.a.connections)] + extra
        pin = self.a.load_cpus
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        r = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if not r:
            raise RuntimeError("policy_load failed (%d): %s" % (out.returncode, out.stderr))
        return r

    def measure(self, subj, phase, extra):
        pid, bpid = subj.pid(), subj.backend_pid()
        c0 = cpu_seconds(pid)
        b0 = cpu_seconds(bpid) if bpid else 0.0
        r = self.run_load(subj.service.port, extra)
        r["cpu_s"] = cpu_seconds(pid) - c0
        r["backend_cpu_s"] = cpu_seconds(bpid) - b0 if bpid else None
        n = max(int(r["requests"]), 1)
        actions = " ".join("%s=%s" % (k[7:], v) for k, v in r.items() if k.startswith("action_"))
        print("  %-14s %-8s %8s req %9.1f req/s  p50 %7.3f ms  p99 %7.3f ms  max %7.1f ms  "
              "%.4f ms CPU/req%s  errors %s  [%s]"
              % (subj.name, phase, r["requests"], float(r["rps"]), float(r["p50_ms"]),
                 float(r["p99_ms"]), float(r["max_ms"]), 1000.0 * r["cpu_s"] / n,
                 " (+%.4f redis)" % (1000.0 * r["backend_cpu_s"] / n) if bpid else "",
                 r["errors"], actions), flush=True)
        return r

    def rounds(self, subjects, phase, seed):
        """--rounds short runs per service, the services taking turns (the order rotated each
        round) so that the machine's changing load hits all alike. Per service: req/s over all
        rounds, the median of the rounds' p50 and p99, the worst p99, CPU per request."""
        a = self.a
        per = {s.name: [] for s in subjects}
        for i in range(a.rounds):
            order = subjects[i % len(subjects):] + subjects[:i % len(subjects)]
            for subj in order:
                per[subj.name].append(self.measure(
                    subj, "%s#%d" % (phase, i + 1), ["--duration", str(a.duration / a.rounds)]
                    + self.stream(seed + i)))
        out = {}
        for name, runs in per.items():
            n = sum(int(r["requests"]) for r in runs)
            secs = sum(float(r["seconds"]) for r in runs)

            def median(key):
                return sorted(float(r[key]) for r in runs)[len(runs) // 2]

            bcpu = [r["backend_cpu_s"] for r in runs if r["backend_cpu_s"] is not None]
            out[name] = {"requests": n, "rps": n / max(secs, 1e-9), "p50_ms": median("p50_ms"),
                         "p99_ms": median("p99_ms"),
                         "worst_p99_ms": max(float(r["p99_ms"]) for r in runs),
                         "errors": sum(int(r["errors"]) for r in runs),
                         "cpu_ms": 1000.0 * sum(r["cpu_s"] for r in runs) / max(n, 1),
                         "backend_cpu_ms": 1000.0 * sum(bcpu) / max(n, 1) if bcpu else None}
        return out

    def stream(self, seed):
        return ["--clients", str(self.a.clients), "--senders", str(self.a.senders),
                "--random-recipients", str(self.a.recipients), "--seed", str(seed)]

    def fill(self, subj, count):
        t0 = time.monotonic()
        r = self.run_load(subj.service.port, ["--count", str(count), "--clients", "1000",
                                              "--senders", "1000", "--random-recipients", "1000",
                                              "--seed", "424242"])
        print("  %-14s fill   %8s req in %.1f s (%.0f req/s), errors %s"
              % (subj.name, r["requests"], time.monotonic() - t0, float(r["rps"]), r["errors"]),
              flush=True)
        return r

    def store_figures(self, subj):
        """(store bytes, records or None, note) after the fill."""
        if subj.name.startswith("postern-lmdb"):
            path = os.path.join(self.tmp, subj.name[len("postern-"):])
            # allocated bytes: with MDB_WRITEMAP the file is as long as the map, but sparse
            size = sum(os.stat(os.path.join(path, f)).st_blocks * 512 for f in os.listdir(path))
            records = None
            try:
                out = subprocess.run(["mdb_stat", "-a", path], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, timeout=60).stdout
                # "Status of NAME" then "  Entries: N" per named database (not the main one)
                named = re.findall(r"Status of (?!Main DB)(\S+)\n(?:.*\n)*?\s+Entries: (\d+)",
                                   out)
                records = sum(int(n) for _, n in named) if named else None
            except (OSError, subprocess.SubprocessError):
                pass
            return size, records, "data.mdb"
        if subj.name == "postern-redis":
            info = subj.backend.command("INFO", "memory")
            used = int(re.search(r"used_memory:(\d+)", info).group(1))
            return used, int(subj.backend.command("DBSIZE")), "used_memory"
        return subj.service.db_bytes(), "after-stop", "postgrey*.db"

    def subject(self, which):
        base = self.a.port_base
        wl = ["--whitelist-clients", DEBIAN_WHITELIST_CLIENTS,
              "--whitelist-recipients", DEBIAN_WHITELIST_RECIPIENTS] + self.a.greylist_args
        if which == "lmdb":
            os.makedirs(os.path.join(self.tmp, "lmdb"), exist_ok=True)
            return Subject("postern-lmdb", PosternGreylist(
                self.tmp, self.binary, base, name="postern-lmdb",
                args=["--store", "lmdb:" + os.path.join(self.tmp, "lmdb"),
                      "--store-map-size", "4096"] + wl))
        if which == "lmdb-durable":  # a sync per commit, as postgrey's Berkeley DB does
            os.makedirs(os.path.join(self.tmp, "lmdb-durable"), exist_ok=True)
            return Subject("postern-lmdb-durable", PosternGreylist(
                self.tmp, self.binary, base + 4, name="postern-lmdb-durable",
                args=["--store", "lmdb:" + os.path.join(self.tmp, "lmdb-durable"),
                      "--store-map-size", "4096", "--store-sync-interval", "0"] + wl))
        if which == "redis":
            redis = RedisServer(base + 2)
            return Subject("postern-redis", PosternGreylist(
                self.tmp, self.binary, base + 1, name="postern-redis",
                args=["--store", "redis://127.0.0.1:%d/0" % (base + 2)] + wl), backend=redis)
        return Subject("postgrey", Postgrey(self.tmp, base + 3,
                                            whitelist_clients=[DEBIAN_WHITELIST_CLIENTS],
                                            whitelist_recipients=[DEBIAN_WHITELIST_RECIPIENTS]))

    def run(self):
        a = self.a
        for path in (self.load, self.binary):
            if not os.access(path, os.X_OK):
                sys.exit("greylist_bench: %s missing: ninja -C %s postern-greylist policy_load"
                         % (path, a.build))
        print("# %d connections; %d rounds of %.1f s per service and phase, services taking "
              "turns; stream: %d clients x %d senders x %d recipients (the same seeds for every "
              "service); fill: %d triplets (postgrey %d); stores in %s"
              % (a.connections, a.rounds, a.duration / a.rounds, a.clients, a.senders,
                 a.recipients, a.fill, a.postgrey_fill, self.tmp), flush=True)
        subjects = [self.subject(w) for w in a.only]
        results = {s.name: {} for s in subjects}
        try:
            for subj in subjects:
                subj.start()
            for subj in subjects:
                self.measure(subj, "warmup", ["--duration", "2"] + self.stream(7))
            for name, r in self.rounds(subjects, "empty", 100).items():
                results[name]["empty"] = r
            fills = [(s, a.postgrey_fill if s.name == "postgrey" else a.fill) for s in subjects]
            if all(count > 0 for _, count in fills):
                for subj, count in fills:
                    self.fill(subj, count)
                for name, r in self.rounds(subjects, "full", 200).items():
                    results[name]["full"] = r
                for subj, count in fills:
                    self.after_fill(subj, count, results[subj.name])
        finally:
            for subj in subjects:
                subj.stop()
        self.table(results)

    def after_fill(self, subj, count, res):
        res["filled"] = count
        res["rss"] = rss_bytes(subj.pid())
        res["backend_rss"] = rss_bytes(subj.backend_pid()) if subj.backend else None
        res["store"] = list(self.store_figures(subj))
        if res["store"][1] == "after-stop":  # postgrey: counted with BerkeleyDB, stopped
            subj.stop()
            res["store"][1] = subj.service.db_records()
        print("  %-14s after %d fill requests: RSS %.1f MiB%s, store %.1f MiB (%s), %s records"
              % (subj.name, count, mib(res["rss"]),
                 " + redis-server %.1f MiB" % mib(res["backend_rss"]) if res["backend_rss"]
                 else "", mib(res["store"][0]), res["store"][2], res["store"][1]), flush=True)

    def table(self, results):
        print()
        print("| service | store | req/s | p50 ms | p99 ms (worst round) | CPU ms/req "
              "| RSS after fill MiB | store after fill MiB | B per record |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, r in results.items():
            for phase in ("empty", "full"):
                if phase not in r:
                    continue
                m = r[phase]
                cpu = "%.4f" % m["cpu_ms"]
                if m.get("backend_cpu_ms") is not None:
                    cpu += " + %.4f redis" % m["backend_cpu_ms"]
                rss = store = per = ""
                if phase == "full":
                    rss = "%.1f" % mib(r["rss"])
                    if r.get("backend_rss"):
                        rss += " + %.1f redis" % mib(r["backend_rss"])
                    store = "%.1f" % mib(r["store"][0])
                    per = "%.0f" % (r["store"][0] / max(r["store"][1] or r["filled"], 1))
                print("| %s | %s | %.0f | %.3f | %.3f (%.3f) | %s | %s | %s | %s |"
                      % (name, phase if phase == "empty" else "full (%d)" % r["filled"],
                         m["rps"], m["p50_ms"], m["p99_ms"], m["worst_p99_ms"], cpu, rss,
                         store, per))
        pg = results.get("postgrey")
        for name in ("postern-lmdb", "postern-lmdb-durable", "postern-redis"):
            if pg and name in results:
                for phase in ("empty", "full"):
                    if phase in results[name] and phase in pg:
                        p, q = results[name][phase], pg[phase]
                        print("# %s/postgrey %s: req/s x%.1f  p99 x%.3f  CPU/req x%.3f"
                              % (name, phase, float(p["rps"]) / float(q["rps"]),
                                 float(p["p99_ms"]) / max(float(q["p99_ms"]), 1e-9),
                                 p["cpu_ms"] / max(q["cpu_ms"], 1e-9)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--duration", type=float, default=10.0,
                    help="seconds per service and phase, split into --rounds")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--senders", type=int, default=1000)
    ap.add_argument("--recipients", type=int, default=100)
    ap.add_argument("--fill", type=int, default=1000000)
    ap.add_argument("--postgrey-fill", type=int, default=100000)
    ap.add_argument("--port-base", type=int,
                    default=int(os.environ.get("POSTERN_BENCH_PORT_BASE", "24100")))
    ap.add_argument("--only", default="lmdb,redis,postgrey")
    ap.add_argument("--tmp-base", default="/var/tmp",
                    help="where the stores live (default /var/tmp: a disk, as /var/lib/postgrey "
                    "and /var/lib/postern are; /dev/shm takes the disk out; postgrey commits "
                    "every request with fsync, so on a disk it measures the disk)")
    ap.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                    help="services on the first half of the CPUs, policy_load on the other "
                    "(default; --no-pin: all share every CPU)")
    ap.add_argument("--greylist-arg", dest="greylist_args", action="append", default=[],
                    metavar="ARG", help="one more postern-greylist argument (repeatable), e.g. "
                    "--greylist-arg=--io-threads=1")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.only = [w for w in args.only.split(",") if w]
    if set(args.only) - {"lmdb", "lmdb-durable", "redis", "postgrey"}:
        sys.exit("greylist_bench: --only takes lmdb, lmdb-durable, redis, postgrey")
    if os.geteuid() != 0 and "postgrey" in args.only:
        sys.exit("greylist_bench: needs root for postgrey (or --only lmdb,redis)")
    cpus = sorted(os.sched_getaffinity(0))
    args.load_cpus = None
    if args.pin and len(cpus) >= 2:
        # The services (started from here: they inherit it) on the first half of the CPUs,
        # policy_load on the rest, so the load generator's 20 threads never preempt a service.
        half = len(cpus) // 2
        os.sched_setaffinity(0, cpus[:half])
        args.load_cpus = set(cpus[half:])
        print("# pinned: services on CPUs %s, policy_load on %s"
              % (cpus[:half], sorted(args.load_cpus)), flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="greylist-bench-", dir=args.tmp_base)
    try:
        Bench(args, tmp).run()
    finally:
        if args.keep_tmp:
            print("# work directory kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
