#!/usr/bin/python3
"""spf_policy_bench.py — postern-spf against postfix-policyd-spf-python, policy protocol only.

Both services get the same requests (tests/bench/policy_load: --connections persistent
connections, random client addresses, random local@domain senders, helo_name=mail.DOMAIN)
and the same DNS data, in the same run, served on 127.0.0.1:53 by Debian's unbound from
local-data (--dns unbound, the default: a C server that keeps up with both services) or by
tests/dns/zone_server.py (--dns zone_server: Python, the bottleneck of cold runs). Everything
runs inside a private network + mount + pid namespace (`unshare`, re-executed automatically)
with lo up and /etc/resolv.conf bind-mounted to "nameserver 127.0.0.1", as the SPF
conformance rig does, so both services use their default resolver and no packet leaves.

Sender domains (ZONE below): four kinds of SPF record, mixed — `a mx include:` with an include
chain of depth 2 (own records), plain ip4 ranges, `mx include:` (chain of depth 2), and an
include of a shared provider chain of depth 2 plus an own include — ~all / -all. The random
clients almost never match, so every mechanism is evaluated: several DNS queries per check.

  warm: --duration seconds against a running service over a pool of --warm-domains domains,
        twice; the second run is reported (postern-spf then answers from its DNS and result
        caches; policyd-spf has no cache across requests).
  cold: a freshly started service, each request a sender domain never seen before
        (--cold-domains requests, each domain once).

postern-spf runs with --skip-networks 192.0.2.255/32 (nothing the generator sends is skipped).
policyd-spf is spawn-style (stdin/stdout): a small bridge (this script, --bridge) accepts TCP
connections and starts one `policyd-spf CONF` per connection with the socket as its
stdin/stdout, as Postfix's spawn(8) does; CONF is the conformance rig's (never reject, always
PREPEND Received-SPF). CPU per request is utime+stime (/proc) of postern-spf, and of all
policyd-spf processes (the bridge's reaped children), over a run, divided by its requests.
DNS queries per check come from the DNS server's query log; its CPU per request is printed
too. For postern-spf the bench also reads its /metrics (--metrics-listen): the server-side
latency histogram (request read → answer queued; p50/p99 as the bucket bound they fall under),
the result cache's hits and misses, and from /proc/PID/task/*/schedstat how long its threads
were runnable but waiting for a CPU, per request (the cost of the machine's other load).
--postern-arg ARG adds an argument to postern-spf (e.g. --postern-arg=--workers=2, or
--postern-arg=--skip-networks=0.0.0.0/0: every request DUNNO without a check, the server path
alone, as a control for what latency the machine allows).

usage: tests/bench/spf_policy_bench.py [--build DIR] [--connections 20] [--duration 10]
                                       [--warm-domains 200] [--cold-domains 4000]
                                       [--only postern|policyd] [--dns unbound|zone_server]
                                       [--postern-arg ARG]...
Needs root (unshare, mount), Debian's unbound, python3-dnslib and postfix-policyd-spf-python
(installed through deploy/install-deps when missing, which never starts a service). Build first:
  cmake -S . -B BUILD -G Ninja -DCMAKE_BUILD_TYPE=Release &&
  cmake --build BUILD --target postern-spf policy_load
Not part of ctest: figures, not pass/fail.

Measured on 2026-11-21, DNS from unbound (Debian 12, 2 cores shared with six other engineers'
builds: load average 10-16 during the run; 20 connections, 10 s warm runs, --cold-domains 1000):
  service      phase  req/s  p50 ms  p99 ms  CPU ms/req  DNS q/check
  postern-spf  warm    9004    0.85   16.13   0.103        0.0   (result cache 72% hits)
  postern-spf  cold    2360    8.63   12.43   0.480        4.3
  policyd-spf  warm      63  156.17 5472.58   9.114        6.7
  policyd-spf  cold      94  100.94 5028.53   7.650        6.8
  ratio warm ×143 req/s, cold ×25.2 (an earlier run the same evening: cold 2724 vs 77 req/s,
  ×35.2; warm 6546 vs 102). unbound spends 0.08 (postern-spf) and 0.26 (policyd-spf) ms CPU per
  request, so DNS no longer limits the cold runs (with zone_server.py they gave ×8.2).
  Warm p99 swings with the machine's load (5.9-19 ms in runs minutes apart) and is not the SPF
  work: postern-spf's threads wait 0.3 ms per request for a CPU against 0.1 ms of CPU, and the
  control --postern-arg=--skip-networks=0.0.0.0/0 (DUNNO, no SPF at all, 0.028 ms CPU/req) had
  p50 0.53 ms and p99 12.7 ms at 13,200 req/s. policyd-spf's multi-second p99 comes with its
  9 ms CPU per request on the same busy cores plus a Python start-up per connection (spawn).
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import cpu_seconds, private_namespace_resolver, wait_port  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZONE_SERVER = os.path.join(TOP, "tests", "dns", "zone_server.py")
INSTALL_DEPS = os.path.join(TOP, "deploy", "install-deps")
INNER_FLAG = "--inner-namespace"
POSTERN_PORT, BRIDGE_PORT = 23031, 23032  # inside the private namespace; in our range anyway
METRICS_PORT = 23033  # postern-spf's /metrics: server-side latency and result-cache counters
UNBOUND = "/usr/sbin/unbound"
DNS_TTL = 300
POLICYD_CONF = """\
debugLevel = 0
TestOnly = 1
HELO_reject = False
Mail_From_reject = False
PermError_reject = False
TempError_Defer = False
Header_Type = SPF
Hide_Receiver = Yes
Lookup_Time = 5
Void_Limit = 2
"""


# --------------------------------------------------------------------------
# zone


def domain_records(i, name):
    """Zone entries for sender domain `name` (kind chosen by i)."""
    n = i % 250
    kind = i % 4
    z = {"mail." + name: {"A": ["198.51.%d.%d" % (n % 100, 1 + n)], "TXT": ["v=spf1 a -all"]}}
    own_chain = {
        "_spf." + name: {"TXT": ["v=spf1 ip4:203.0.%d.0/24 include:_spf2.%s -all" % (n, name)]},
        "_spf2." + name: {"TXT": ["v=spf1 ip4:100.%d.0.0/20 ip4:100.%d.16.0/24 -all"
                                  % (64 + n % 64, 64 + n % 64)]},
    }
    mx = {"MX": [[10, "mx1." + name], [20, "mx2." + name]]}
    mx_hosts = {"mx1." + name: {"A": ["198.18.%d.1" % n]},
                "mx2." + name: {"A": ["198.18.%d.2" % n, "198.18.%d.3" % n]}}
    if kind == 0:
        z[name] = dict(mx, A=["198.19.%d.1" % n], TXT=["v=spf1 a mx include:_spf.%s ~all" % name])
        z.update(own_chain)
        z.update(mx_hosts)
    elif kind == 1:
        z[name] = {"TXT": ["v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.%d/32 "
                           "ip4:192.0.2.0/25 -all" % n]}
    elif kind == 2:
        z[name] = dict(mx, TXT=["v=spf1 mx include:_spf.%s -all" % name])
        z.update(own_chain)
        z.update(mx_hosts)
    else:
        z[name] = {"TXT": ["v=spf1 include:_spf.provider.example include:_spf.%s ~all" % name]}
        z["_spf." + name] = own_chain["_spf." + name]
        z["_spf2." + name] = own_chain["_spf2." + name]
    return z


def build_zone(warm, cold):
    zone = {
        "_spf.provider.example": {"TXT": ["v=spf1 ip4:198.51.100.0/24 include:_netblocks."
                                          "provider.example ~all"]},
        "_netblocks.provider.example": {"TXT": ["v=spf1 ip4:100.64.0.0/16 ip4:100.65.0.0/16 "
                                                "ip4:100.66.0.0/16 ~all"]},
    }
    for i, d in enumerate(warm + cold):
        zone.update(domain_records(i, d))
    return zone


def unbound_conf(zone, directory, log_path):
    """unbound.conf(5) serving `zone` (zone_server.py's JSON format: A, AAAA, MX, TXT) from
    local-data on 127.0.0.1:53, authoritative for every name (local-zone static: names not
    listed are NXDOMAIN, listed names without the asked type NODATA), nothing forwarded or
    recursed, no DNSSEC, one thread, one log line per query (log-queries) for counting."""
    lines = ["server:",
             "  interface: 127.0.0.1", "  port: 53", "  do-daemonize: no",
             '  username: ""', '  chroot: ""', '  directory: "%s"' % directory,
             '  pidfile: ""', "  use-syslog: no", '  logfile: "%s"' % log_path,
             "  log-queries: yes", "  verbosity: 0", "  num-threads: 1",
             '  module-config: "iterator"', "  access-control: 127.0.0.0/8 allow",
             "  do-not-query-localhost: no", "  harden-glue: no",
             "  local-zone: \"example.\" static"]
    for name, types in sorted(zone.items()):
        for rtype, values in types.items():
            for v in values:
                if rtype == "MX":
                    data = "%d %s." % (v[0], v[1])
                elif rtype == "TXT":
                    if not isinstance(v, str) or '"' in v or "\\" in v or len(v) > 255:
                        raise ValueError("TXT %r: one plain string of at most 255 octets" % v)
                    data = '"%s"' % v
                elif rtype in ("A", "AAAA"):
                    data = v
                else:
                    raise ValueError("unbound_conf: record type %s not supported" % rtype)
                lines.append("  local-data: '%s. %d IN %s %s'" % (name, DNS_TTL, rtype, data))
    lines += ["remote-control:", "  control-enable: no", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# namespace and processes (the technique of ../shared/conformance/spf/run)


def die_with_parent():
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def prepare_namespace(tmp):
    private_namespace_resolver(tmp, "spf_policy_bench", "127.0.0.1", "timeout:1 attempts:2")
    nss = os.path.join(tmp, "nsswitch.conf")
    with open(nss, "w") as f:
        f.write("hosts: files dns\n")
    subprocess.run(["mount", "--bind", nss, "/etc/nsswitch.conf"], check=True)


def start(cmd, log, **kw):
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True, preexec_fn=die_with_parent, **kw)


def stop(proc):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(5)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def runqueue_wait_seconds(pid):
    """Time the threads of `pid` spent runnable but waiting for a CPU (second field of
    /proc/PID/task/*/schedstat, ns): what the machine's other load costs this process."""
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def has_children(pid):
    for task in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, task)) as f:
            if f.read().strip():
                return True
    return False


def scrape_metrics():
    """postern-spf's /metrics as {series: value} (histogram buckets included)."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % METRICS_PORT, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def server_side(before, after):
    """From two scrapes: the result cache's hits and misses, and the p50/p99 of
    postern_spf_policy_seconds (request read → answer queued) as bucket bounds in ms
    ("≤ X": the quantile lies in the bucket ending at X)."""
    diff = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    hits = diff.get('postern_spf_cache_lookups_total{result="hit"}', 0)
    misses = diff.get('postern_spf_cache_lookups_total{result="miss"}', 0)
    buckets = sorted((float(re.search(r'le="([^"]+)"', k).group(1)), v) for k, v in diff.items()
                     if k.startswith("postern_spf_policy_seconds_bucket"))
    total = buckets[-1][1] if buckets else 0
    quantile = {}
    for q in (0.5, 0.99):
        quantile[q] = next((le for le, cum in buckets if cum >= q * total), float("inf"))
    return {"cache_hits": hits, "cache_misses": misses,
            "server_p50_le_ms": 1000 * quantile[0.5], "server_p99_le_ms": 1000 * quantile[0.99]}


# --------------------------------------------------------------------------
# the spawn(8) bridge for policyd-spf


class SpawnHandler(socketserver.BaseRequestHandler):
    def handle(self):
        # the connection is policyd-spf's stdin and stdout, as with spawn(8)
        fd = self.request.fileno()
        proc = subprocess.Popen(self.server.command, stdin=fd, stdout=fd,
                                stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.request.close()
        proc.wait()


class Bridge(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def bridge_main(port, command):
    server = Bridge(("127.0.0.1", port), SpawnHandler)
    server.command = command
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever()


# --------------------------------------------------------------------------
# the benchmark


class Bench:
    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.load = os.path.join(args.build, "tests", "bench", "policy_load")
        self.postern = os.path.join(args.build, "policyd", "spf", "postern-spf")
        self.dns_log_path = os.path.join(tmp, "dns-queries.log")
        self.dns = None

    def dns_queries(self):
        # zone_server: "zone_server: query NAME TYPE udp"; unbound: "info: 127.0.0.1 NAME TYPE IN"
        marker = b" query " if self.args.dns == "zone_server" else b" IN"
        with open(self.dns_log_path, "rb") as f:
            return sum(1 for line in f if marker in line)

    def run_load(self, port, domains_file, extra):
        cmd = [self.load, "--socket", "inet:127.0.0.1:%d" % port, "--domains", domains_file,
               "--connections", str(self.args.connections)] + extra
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
        r = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if not r:
            raise RuntimeError("policy_load failed: %s" % out.stderr.strip())
        return r

    def measure(self, name, port, pid, children, domains_file, extra):
        q0, c0 = self.dns_queries(), cpu_seconds(pid, children)
        d0 = cpu_seconds(self.dns.pid)
        m0 = scrape_metrics() if port == POSTERN_PORT else None
        w0 = runqueue_wait_seconds(pid)
        r = self.run_load(port, domains_file, extra)
        if m0 is not None:
            r.update(server_side(m0, scrape_metrics()))
            r["runqueue_wait_ms"] = 1000.0 * (runqueue_wait_seconds(pid) - w0) / max(
                int(r["requests"]), 1)
        if children:  # let the bridge reap its policyd-spf processes (their CPU joins cutime)
            deadline = time.time() + 15
            while time.time() < deadline and has_children(pid):
                time.sleep(0.05)
        q1, c1 = self.dns_queries(), cpu_seconds(pid, children)
        n = int(r["requests"])
        r["cpu_ms"] = 1000.0 * (c1 - c0) / max(n, 1)
        r["dns_cpu_ms"] = 1000.0 * (cpu_seconds(self.dns.pid) - d0) / max(n, 1)
        r["dns_per_check"] = (q1 - q0) / max(n, 1)
        actions = " ".join("%s=%s" % (k[7:], v) for k, v in r.items() if k.startswith("action_"))
        print("  %-14s %7s req  %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms  max %7.1f ms  "
              "%.3f ms CPU/req  %.1f DNS q/check (DNS server %.3f ms CPU/req)  errors %s  [%s]"
              % (name, r["requests"], float(r["rps"]),
                 float(r["p50_ms"]), float(r["p99_ms"]), float(r["max_ms"]), r["cpu_ms"],
                 r["dns_per_check"], r["dns_cpu_ms"], r["errors"], actions), flush=True)
        if m0 is not None:
            print("  %-14s server side (request read → answer queued): p50 ≤ %g ms, p99 ≤ %g ms; "
                  "result cache %d hits, %d misses; runnable but waiting for a CPU %.3f ms/req"
                  % ("", r["server_p50_le_ms"], r["server_p99_le_ms"], r["cache_hits"],
                     r["cache_misses"], r["runqueue_wait_ms"]), flush=True)
        return r

    def service(self, name, start_fn, port, children):
        a = self.args
        warm_extra = ["--duration", str(a.duration), "--clients", "1000", "--senders", "1000"]
        results = {}
        proc = start_fn()
        try:
            wait_port(port, 15.0, proc)
            r = self.measure(name + " cold", port, proc.pid, children, self.cold_file, ["--unique"])
            results["cold"] = r
        finally:
            stop(proc)
        proc = start_fn()
        try:
            wait_port(port, 15.0, proc)
            self.measure(name + " warm-up", port, proc.pid, children, self.warm_file,
                         warm_extra + ["--seed", "7"])
            results["warm"] = self.measure(name + " warm", port, proc.pid, children, self.warm_file,
                                           warm_extra + ["--seed", "7"])
        finally:
            stop(proc)
        return results

    def run(self):
        a = self.args
        for path in (self.load, self.postern):
            if not os.access(path, os.X_OK):
                sys.exit("spf_policy_bench: %s missing: cmake --build %s --target postern-spf "
                         "policy_load" % (path, a.build))
        warm = ["w%04d.bench.example" % i for i in range(a.warm_domains)]
        cold = ["c%05d.cold.example" % i for i in range(a.cold_domains)]
        self.warm_file = os.path.join(self.tmp, "warm-domains")
        self.cold_file = os.path.join(self.tmp, "cold-domains")
        for path, names in ((self.warm_file, warm), (self.cold_file, cold)):
            with open(path, "w") as f:
                f.write("\n".join(names) + "\n")
        zone = build_zone(warm, cold)
        if a.dns == "unbound":
            self.start_unbound(zone)
        else:
            self.start_zone_server(zone)
        print("# %d connections, warm: %d domains, %.0f s runs (2nd reported); cold: %d new "
              "domains, one request each; DNS: %s" % (a.connections, a.warm_domains, a.duration,
                                                      a.cold_domains, a.dns), flush=True)
        results = {}
        if a.only in (None, "postern"):
            postern_args = list(a.postern_arg)
            if not any(x.startswith("--skip-networks") for x in postern_args):
                postern_args += ["--skip-networks", "192.0.2.255/32"]
            log = open(os.path.join(self.tmp, "postern-spf.log"), "ab")
            results["postern-spf"] = self.service("postern", lambda: start(
                [self.postern, "--socket", "inet:%d@127.0.0.1" % POSTERN_PORT, "--log", "stderr",
                 "--metrics-listen", "127.0.0.1:%d" % METRICS_PORT] + postern_args, log),
                POSTERN_PORT, False)
        if a.only in (None, "policyd"):
            conf = os.path.join(self.tmp, "policyd-spf.conf")
            with open(conf, "w") as f:
                f.write(POLICYD_CONF)
            log = open(os.path.join(self.tmp, "bridge.log"), "ab")
            results["policyd-spf"] = self.service("policyd", lambda: start(
                [sys.executable, os.path.abspath(__file__), "--bridge", str(BRIDGE_PORT),
                 "/usr/bin/policyd-spf", conf], log), BRIDGE_PORT, True)
        self.table(results)

    def start_zone_server(self, zone):
        zone_path = os.path.join(self.tmp, "zone.json")
        with open(zone_path, "w") as f:
            json.dump(zone, f)
        dns_log = open(self.dns_log_path, "ab")
        self.dns = subprocess.Popen(
            ["/usr/bin/python3", ZONE_SERVER, "--zone", zone_path, "--port", "53", "--verbose",
             "--ttl", str(DNS_TTL)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=dns_log,
            start_new_session=True, preexec_fn=die_with_parent)
        ready = self.dns.stdout.readline().decode()
        if not ready.startswith("READY"):
            raise RuntimeError("zone_server did not start (see %s)" % self.dns_log_path)

    def start_unbound(self, zone):
        if not os.access(UNBOUND, os.X_OK):
            sys.exit("spf_policy_bench: %s missing: deploy/install-deps installs unbound"
                     % UNBOUND)
        conf = os.path.join(self.tmp, "unbound.conf")
        with open(conf, "w") as f:
            f.write(unbound_conf(zone, self.tmp, self.dns_log_path))
        open(self.dns_log_path, "ab").close()
        log = open(os.path.join(self.tmp, "unbound.stderr"), "ab")
        self.dns = start([UNBOUND, "-d", "-c", conf], log)
        wait_port(53, 60.0, self.dns)

    def table(self, results):
        print()
        print("| service | phase | req/s | p50 ms | p99 ms | max ms | CPU ms/req | DNS q/check "
              "| errors |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, phases in results.items():
            for phase in ("warm", "cold"):
                r = phases[phase]
                print("| %s | %s | %.0f | %.2f | %.2f | %.1f | %.3f | %.1f | %s |"
                      % (name, phase, float(r["rps"]), float(r["p50_ms"]), float(r["p99_ms"]),
                         float(r["max_ms"]), r["cpu_ms"], r["dns_per_check"], r["errors"]))
        if len(results) == 2:
            p, q = results["postern-spf"], results["policyd-spf"]
            for phase in ("warm", "cold"):
                print("# %s: postern-spf/policyd-spf  req/s ×%.1f   p99 ×%.3f   CPU/req ×%.3f"
                      % (phase, float(p[phase]["rps"]) / float(q[phase]["rps"]),
                         float(p[phase]["p99_ms"]) / float(q[phase]["p99_ms"]),
                         p[phase]["cpu_ms"] / max(q[phase]["cpu_ms"], 1e-9)))


def ensure_policyd():
    if os.path.exists("/usr/bin/policyd-spf"):
        return
    print("# installing postfix-policyd-spf-python (deploy/install-deps, no service started)",
          flush=True)
    if subprocess.call([INSTALL_DEPS, "postfix-policyd-spf-python"]) != 0:
        sys.exit("spf_policy_bench: install it with: %s postfix-policyd-spf-python"
                 % INSTALL_DEPS)


def main():
    argv = sys.argv[1:]
    if argv[:1] == ["--bridge"]:
        return bridge_main(int(argv[1]), argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="/work/build-spfbench")
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warm-domains", type=int, default=200)
    ap.add_argument("--cold-domains", type=int, default=4000)
    ap.add_argument("--only", choices=("postern", "policyd"))
    ap.add_argument("--dns", choices=("unbound", "zone_server"), default="unbound",
                    help="the DNS server both services query (default: Debian's unbound)")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--postern-arg", action="append", default=[],
                    help="one more postern-spf argument (repeat the option for several)")
    ap.add_argument(INNER_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.build = os.path.abspath(args.build)
    if not args.inner_namespace:
        if os.geteuid() != 0:
            sys.exit("spf_policy_bench: needs root (unshare, mount)")
        if args.only != "postern":
            ensure_policyd()
        cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
               "--", sys.executable, os.path.abspath(__file__), INNER_FLAG] + argv
        return subprocess.call(cmd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    tmp = tempfile.mkdtemp(prefix="spf-policy-bench-", dir=base)
    bench = Bench(args, tmp)
    try:
        prepare_namespace(tmp)
        bench.run()
    finally:
        stop(bench.dns)
        if args.keep_tmp:
            print("# work directory kept: %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
