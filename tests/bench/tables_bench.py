#!/usr/bin/python3
"""tables_bench.py — postern-tables lookups per second and latency, against Redis and LDAP on
loopback, next to Postfix's own lmdb: (the ceiling: a memory-mapped file in the client) and
ldap: tables.

Two ways in:
  * socketmap_load (tests/bench/socketmap_load.cpp): N persistent connections sending
    "name key" requests back to back, as Postfix's socketmap client does (one at a time per
    connection): lookups/s, p50/p99/max, and the CPU time postern-tables and the backend
    spent per lookup (utime+stime from /proc/PID/stat, before and after).
  * postmap -q - TABLE < keys: one Postfix client process doing the lookups one after the
    other, for socketmap:(redis), socketmap:(ldap), ldap: (Postfix's LDAP client) and lmdb:.

Data: --keys aliases user<i>@example.com → user<i>@example.org, as Redis strings
(VALI:...), as LDAP entries (mail + proxyAddresses smtp:...), and as an lmdb: table; half of
the looked-up keys exist.

    cmake --build build --target postern-tables socketmap_load
    tests/bench/tables_bench.py --build build [--keys 5000] [--duration 5] [--connections 8]

Figures of 2026-11-22 00:01 UTC (RelWithDebInfo build, --keys 5000 --duration 5, 8
connections; 2 cores shared with six other engineers' builds, load average 8-11, so rates
are low and noisy — the CPU columns are the steadier figures):

    run                                    lookups/s  p50 ms  p99 ms  tables CPU ms  backend ms
    socketmap_load vali (redis), 8 conn        21542   0.335   1.027          0.045       0.014
    socketmap_load aliases (ldap), 8 conn       6440   1.028   4.825          0.084       0.118
    postmap lmdb:                             145365       -       -   client 0.004         -
    postmap socketmap (redis)                   5188       -       -   client 0.026         -
    postmap socketmap (ldap)                    2924       -       -   client 0.026         -
    postmap ldap: (Postfix's client)            5004       -       -   client 0.046         -

(postmap: one client, lookups one after the other, 5000 keys of which 2543 exist; the
postmap rows give no p99: postmap -q - reports no per-lookup time.)

Ports --port-base .. +2 (default 28900). Needs redis-server, slapd, postfix-ldap,
postfix-lmdb. Figures depend on the load of the machine: compare the rows of one run, and the
CPU ms per lookup more than the rates.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))
import slapd_server  # noqa: E402
sys.path.insert(0, HERE)
from benchlib import cpu_seconds, wait_port  # noqa: E402

PORT_BASE = 28900


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--keys", type=int, default=5000)
    ap.add_argument("--duration", type=float, default=5)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--postmap-keys", type=int, default=5000)
    ap.add_argument("--port-base", type=int, default=PORT_BASE,
                    help="redis-server, slapd and postern-tables on this port and the next two")
    o = ap.parse_args()
    tables_bin = os.path.join(o.build, "policyd", "tables", "postern-tables")
    load_bin = os.path.join(o.build, "tests", "bench", "socketmap_load")
    tmp = tempfile.mkdtemp(prefix="postern-tables-bench-")
    procs = []
    slapd = None
    try:
        redis_port, slapd_port, tables_port = o.port_base, o.port_base + 1, o.port_base + 2
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind",
                                  "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp],
                                 stdout=subprocess.DEVNULL)
        procs.append(redis)
        wait_port(redis_port, 10)
        users = ["user%d" % i for i in range(o.keys)]
        cmds = b"".join(resp("SET", "VALI:%s@example.com" % u, "%s@example.org" % u)
                        for u in users)
        subprocess.run(["redis-cli", "-p", str(redis_port), "--pipe"], input=cmds, check=True,
                       stdout=subprocess.DEVNULL)
        ldif = "".join(slapd_server.user_ldif(u, "%s@example.org" % u, ["%s@example.com" % u])
                       for u in users)
        slapd = slapd_server.SlapdServer(tmp, slapd_port, ldif=ldif)
        slapd.start()
        lmdb_src = os.path.join(tmp, "vali")
        with open(lmdb_src, "w") as f:
            for u in users:
                f.write("%s@example.com %s@example.org\n" % (u, u))
        conf = os.path.join(tmp, "etc")
        os.makedirs(conf)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        subprocess.run(["postmap", "-c", conf, "lmdb:" + lmdb_src], check=True)
        ldap_cf = os.path.join(tmp, "aliases-ldap.cf")
        with open(ldap_cf, "w") as f:
            f.write("server_host = %s\nsearch_base = dc=example,dc=org\n"
                    "query_filter = (proxyAddresses=smtp:%%s)\nresult_attribute = mail\n"
                    "version = 3\nbind = no\n" % slapd.uri)
        tables = subprocess.Popen(
            [tables_bin, "--socket", "inet:%d@127.0.0.1" % tables_port, "--log-level", "warning",
             "--redis-url", "redis://127.0.0.1:%d/0" % redis_port, "--ldap-server", slapd.uri,
             "--workers", str(o.connections), "--map", "vali redis",
             "--map", "aliases ldap search_base=dc=example,dc=org "
             "query_filter=(proxyAddresses=smtp:%s) result_attribute=mail"],
            stderr=open(os.path.join(tmp, "tables.log"), "w"))
        procs.append(tables)
        wait_port(tables_port, 10)
        slapd_pid = slapd.proc.pid

        rnd = random.Random(1)
        keys = ["%s@example.com" % rnd.choice(users) if rnd.random() < 0.5
                else "nobody%d@example.com" % i for i in range(o.postmap_keys)]
        rows = []
        for name, backend_pid in (("vali", redis.pid), ("aliases", slapd_pid)):
            reqs = os.path.join(tmp, "requests-" + name)
            with open(reqs, "w") as f:
                for k in keys:
                    f.write("%s %s\n" % (name, k))
            before = (cpu_seconds(tables.pid), cpu_seconds(backend_pid))
            p = subprocess.run([load_bin, "--socket", "inet:127.0.0.1:%d" % tables_port,
                                "--requests", reqs, "--connections", str(o.connections),
                                "--duration", str(o.duration)], capture_output=True, text=True)
            after = (cpu_seconds(tables.pid), cpu_seconds(backend_pid))
            kv = dict(w.split("=", 1) for w in p.stdout.split())
            n = int(kv["requests"])
            rows.append(("socketmap_load %s (%s), %d conn" % (
                name, "redis" if name == "vali" else "ldap", o.connections),
                float(kv["rps"]), kv["p50_ms"], kv["p99_ms"],
                "%.3f" % (1000 * (after[0] - before[0]) / n),
                "%.3f" % (1000 * (after[1] - before[1]) / n), kv.get("errors")))
        sm = "socketmap:inet:127.0.0.1:%d:" % tables_port
        for label, table in (("postmap lmdb:", "lmdb:" + lmdb_src),
                             ("postmap socketmap (redis)", sm + "vali"),
                             ("postmap socketmap (ldap)", sm + "aliases"),
                             ("postmap ldap: (Postfix's client)", "ldap:" + ldap_cf)):
            start = time.monotonic()
            r0 = os.times()
            p = subprocess.run(["postmap", "-c", conf, "-q", "-", table],
                               input="".join(k + "\n" for k in keys), capture_output=True,
                               text=True)
            r1 = os.times()
            secs = time.monotonic() - start
            found = len(p.stdout.splitlines())
            client_cpu = (r1.children_user + r1.children_system
                          - r0.children_user - r0.children_system)
            rows.append((label, len(keys) / secs, "-", "-",
                         "client %.3f" % (1000 * client_cpu / len(keys)), "-",
                         "found %d/%d" % (found, len(keys))))
        print("%-40s %12s %8s %8s %14s %12s %s" % ("run", "lookups/s", "p50 ms", "p99 ms",
                                                  "tables CPU ms", "backend ms", "notes"))
        for r in rows:
            print("%-40s %12.0f %8s %8s %14s %12s %s" % r)
        print("load: %s" % open("/proc/loadavg").read().strip())
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        if slapd:
            slapd.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
