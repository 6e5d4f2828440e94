#!/usr/bin/python3
"""dkim_verify_throughput.py — end-to-end DKIM verification throughput through a real Postfix.

A corpus of ~10 KB messages signed with dkimpy (RSA-2048, relaxed/relaxed, d=bench.example,
From: user@bench.example) is sent by a small multi-threaded Python SMTP client (--sessions
threads, one message per SMTP connection as smtp-source does, each connection announcing an
external client with XCLIENT ADDR=203.0.113.x) → private Postfix with a milter → smtp-sink.

Both milters resolve the key from the same real DNS server: Debian's unbound, started by the
bench with the zone as local-data (the key's TXT record, _dmarc.bench.example "v=DMARC1;
p=none", every other name NXDOMAIN), on 127.0.0.1 port 53 — of a private network and mount
namespace (the script re-executes itself under `unshare --net --mount`), because OpenDKIM's
Nameservers option takes addresses only (port 53); its ResolverConfiguration (an unbound config
file forwarding to another port) made OpenDKIM die in libunbound's config scanner in an earlier
version of this bench ("fatal flex scanner internal error", the file parsed from several threads).
postern-dkim (--mode verify) uses --dns-server 127.0.0.1, OpenDKIM (Mode v) Nameservers
127.0.0.1; both resolve through libunbound, which caches. postern-dkim also evaluates DMARC
(its default; OpenDKIM does no DMARC): one more TXT lookup per message (--no-dmarc: off).

Configurations, measured in one run on the same machine, rounds interleaved: plain Postfix (no
milter), postern-dkim over a unix socket and over TCP, OpenDKIM over a unix socket and over TCP.
Prints messages/s, the milter's CPU milliseconds per message (utime+stime from /proc) and how
many delivered messages carry an Authentication-Results field with dkim=pass (all must).

--instructions: each milter runs under valgrind --tool=callgrind instead, its counters zeroed
after the warm-up (callgrind_control -z) and dumped after the measured messages; prints
instructions per message (all threads, libraries and libmilter included). Unlike CPU time this
does not move with the machine's load; use a few hundred messages (valgrind is ~50x slower).

usage: tests/bench/dkim_verify_throughput.py [--build DIR] [--messages N] [--sessions N]
           [--size BYTES] [--corpus N] [--rounds N] [--port-base N] [--only postern|opendkim]
           [--no-dmarc] [--instructions]
The client is Python, so it costs CPU on the same cores the milters and Postfix use: the rates
are of the whole pipeline, identical for every configuration; the CPU per message is the
milter's own. Needs root (unshare, Postfix), Debian's postfix, opendkim, unbound, python3-dkim,
python3-dnslib (and valgrind for --instructions); run it with /usr/bin/python3. TCP ports
--port-base .. +2 (SMTP, sink, milter; default 22100) and 53, all on the namespace's own
loopback. Not part of ctest: figures, not pass/fail.

Figures of the last run: tests/bench/README.md.
"""
import argparse
import base64
import os
import shlex
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (TOP, configuration, cpu_split, private_namespace_resolver,  # noqa: E402
                      run, work_dir)
from dkim_throughput import MilterProcess  # noqa: E402

DOMAIN, SELECTOR = "bench.example", "bench"
AUTHSERV_ID = "mx.bench.test"
DNS_ADDRESS = "127.0.0.1"  # unbound, port 53 of the private namespace
INNER_FLAG = "--inner-namespace"


def _sign_one(job):
    import dkim
    i, size, key = job
    head = (f"From: User <user@{DOMAIN}>\r\nTo: rcpt@sink.example\r\n"
            f"Subject: verify bench message {i}\r\nMessage-ID: <{i}.{time.time()}@{DOMAIN}>\r\n"
            f"Date: Sat, 21 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    line = f"message {i} line of benchmark body text, padded to a realistic length ....\r\n"
    body = (line * (size // len(line) + 1)).encode()[:size - len(head)]
    body = body[:body.rfind(b"\r\n") + 2]
    msg = head + body
    sig = dkim.sign(msg, SELECTOR.encode(), DOMAIN.encode(), key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return sig + msg


def make_corpus(n, size, key_pem):
    with Pool(os.cpu_count()) as pool:
        return pool.map(_sign_one, [(i, size, key_pem) for i in range(n)], chunksize=16)


def make_key(work):
    key = os.path.join(work, "key.pem")
    run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out",
        key, stderr=subprocess.DEVNULL)
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    with open(key, "rb") as f:
        return f.read(), base64.b64encode(der).decode()


# --------------------------------------------------------------------------
# the private namespace and its DNS server


def prepare_namespace(work):
    """Loopback up; /etc/resolv.conf (bind-mounted, this namespace only) names our unbound."""
    private_namespace_resolver(work, "dkim_verify_throughput", DNS_ADDRESS,
                               "timeout:1 attempts:1")


def txt_rdata(text):
    """A TXT record's text as unbound local-data character-strings (≤ 255 octets each)."""
    return " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))


def start_unbound(work, key_record):
    conf = os.path.join(work, "unbound.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
  interface: {DNS_ADDRESS}
  port: 53
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{work}"
  pidfile: "{work}/unbound.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "." static
  local-zone: "{DOMAIN}." static
  local-data: '{SELECTOR}._domainkey.{DOMAIN}. 3600 IN TXT {txt_rdata(key_record)}'
  local-data: '_dmarc.{DOMAIN}. 3600 IN TXT "v=DMARC1; p=none"'
  local-data: '{DOMAIN}. 3600 IN A 192.0.2.1'
remote-control:
  control-enable: no
""")
    run("unbound-checkconf", conf, stdout=subprocess.DEVNULL)
    proc = subprocess.Popen(["/usr/sbin/unbound", "-d", "-c", conf], stdout=subprocess.DEVNULL)
    from dnslib import DNSRecord
    deadline = time.time() + 10
    while True:
        try:
            reply = DNSRecord.parse(DNSRecord.question(f"{SELECTOR}._domainkey.{DOMAIN}", "TXT")
                                    .send(DNS_ADDRESS, 53, timeout=0.5))
            served = b"".join(reply.rr[0].rdata.data).decode()
            if served != key_record:
                raise RuntimeError(f"unbound serves a different key record: {served!r}")
            return proc
        except (socket.timeout, OSError, IndexError):
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                raise RuntimeError("unbound did not answer on 127.0.0.1:53")
            time.sleep(0.1)


# --------------------------------------------------------------------------
# milters, Postfix, client


class Milter(MilterProcess):
    """postern-dkim --mode verify or opendkim Mode v, over a unix socket or TCP, both resolving
    through the namespace's unbound; optionally under callgrind."""

    def __init__(self, kind, transport, work, args):
        self.args = args
        self.callgrind_out = os.path.join(work, "callgrind.out")
        super().__init__(kind, transport, work, args.port_base + 2)

    def command(self, kind, milter_spec, work):
        if kind == "postern":
            cmd = [self.args.binary, "--mode", "verify", "--socket", milter_spec,
                   "--socket-mode", "0666", "--dns-server", DNS_ADDRESS,
                   "--authserv-id", AUTHSERV_ID, "--log-level", "warning"]
            if self.args.no_dmarc:
                cmd += ["--dmarc", "no"]
        else:
            conf = os.path.join(work, "opendkim.conf")
            with open(conf, "w") as f:
                f.write(f"Mode v\nSocket {milter_spec}\nSyslog no\nUMask 000\n"
                        f"AuthservID {AUTHSERV_ID}\nNameservers {DNS_ADDRESS}\n"
                        f"PidFile {work}/opendkim.pid\nSoftwareHeader no\n")
            cmd = ["/usr/sbin/opendkim", "-f", "-x", conf]
        if self.args.wrap:
            cmd = shlex.split(self.args.wrap.replace("{label}", os.path.basename(work))) + cmd
        if self.args.instructions:
            cmd = ["valgrind", "--tool=callgrind", "--quiet",
                   f"--callgrind-out-file={self.callgrind_out}"] + cmd
        return cmd

    def stop(self):
        if not (self.args.wrap or self.args.instructions):
            return super().stop()
        # A wrapper (perf record, strace) must finish writing: SIGINT, which it passes on.
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def zero_counters(self):
        run("callgrind_control", "-z", str(self.proc.pid), stdout=subprocess.DEVNULL)

    def dumped_instructions(self):
        """Instructions since zero_counters(): callgrind_control -d, then the dump's totals."""
        before = set(os.listdir(os.path.dirname(self.callgrind_out)))
        run("callgrind_control", "-d", str(self.proc.pid), stdout=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            for name in sorted(set(os.listdir(os.path.dirname(self.callgrind_out))) - before):
                path = os.path.join(os.path.dirname(self.callgrind_out), name)
                with open(path) as f:
                    for line in f:
                        if line.startswith(("totals:", "summary:")):
                            return int(line.split()[1])
            time.sleep(0.2)
        raise RuntimeError("callgrind dump not found")


def send_corpus(corpus, messages, sessions, smtp_port):
    """Send `messages` messages (the corpus cycled), one per SMTP connection, from `sessions`
    threads; each connection claims an external client address with XCLIENT."""
    lock = threading.Lock()
    counter = [0]
    errors = []

    def worker():
        while True:
            with lock:
                i = counter[0]
                if i >= messages:
                    return
                counter[0] += 1
            try:
                with smtplib.SMTP("127.0.0.1", smtp_port) as s:
                    s.ehlo("client.example")
                    code, _ = s.docmd("XCLIENT", f"ADDR=203.0.113.{i % 250 + 1} NAME=[UNAVAILABLE]")
                    if code != 220:
                        raise RuntimeError(f"XCLIENT answered {code}")
                    s.ehlo_resp = None
                    s.ehlo("client.example")
                    s.sendmail(f"user@{DOMAIN}", ["rcpt@sink.example"], corpus[i % len(corpus)])
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    if errors:
        raise RuntimeError(f"{len(errors)} SMTP errors, first: {errors[0]}")
    return seconds


def ar_pass(sink_dir):
    """(delivered messages with Authentication-Results: AUTHSERV_ID; ... dkim=pass, delivered)"""
    files = os.listdir(sink_dir)
    passed = 0
    for name in files:
        with open(os.path.join(sink_dir, name), "rb") as f:
            head = f.read(8192).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        unfolded = head.replace(b"\r\n", b"\n").replace(b"\n\t", b" ").replace(b"\n ", b" ")
        for line in unfolded.split(b"\n"):
            if (line.lower().startswith(b"authentication-results:")
                    and AUTHSERV_ID.encode() in line and b"dkim=pass" in line):
                passed += 1
                break
    return passed, len(files)


def measure(label, kind, transport, args, work, corpus):
    """One configuration: (msgs/s, milter CPU ms/msg, milter instructions/msg or None)."""
    instructions = None

    def start_milter(cdir):
        return Milter(kind, transport, cdir, args) if kind else None
    with configuration(work, label, start_milter, args.sessions, args.port_base,
                       args.port_base + 1,
                       extra_sets=["relay_domains=sink.example"]) as (milter, pdir):
        warm = min(200, args.messages)
        send_corpus(corpus, warm, args.sessions, args.port_base)  # warm-up, fills DNS caches
        if milter and args.instructions:
            milter.zero_counters()
        cpu0 = cpu_split(milter.proc.pid) if milter else (0, 0)
        seconds = send_corpus(corpus, args.messages, args.sessions, args.port_base)
        cpu1 = cpu_split(milter.proc.pid) if milter else (0, 0)
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        cpu = user + system
        if milter and args.instructions:
            instructions = milter.dumped_instructions() / args.messages
        sink = os.path.join(pdir, "sink")
        deadline = time.time() + 30
        while len(os.listdir(sink)) < warm + args.messages and time.time() < deadline:
            time.sleep(0.2)
        passed, delivered = ar_pass(sink)
    rate = args.messages / seconds
    cpu_ms = cpu * 1000 / args.messages
    extra = f"   {instructions / 1e6:6.3f} M instructions/msg" if instructions else ""
    print(f"  {label:15s} {rate:8.0f} msgs/s   milter CPU {cpu_ms:5.2f} ms/msg "
          f"(user {user * 1000 / args.messages:4.2f}, system {system * 1000 / args.messages:4.2f})"
          f"{extra}   dkim=pass {passed}/{delivered} delivered", flush=True)
    if kind and passed != delivered:
        raise RuntimeError(f"{label}: only {passed} of {delivered} delivered messages have "
                           "Authentication-Results dkim=pass")
    return rate, cpu_ms, instructions


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def bench(args, work):
    key_pem, pub = make_key(work)
    key_record = f"v=DKIM1; k=rsa; p={pub}"
    t0 = time.monotonic()
    corpus = make_corpus(args.corpus, args.size, key_pem)
    print(f"signed {len(corpus)} messages with dkimpy in {time.monotonic() - t0:.1f} s",
          flush=True)
    dns = start_unbound(work, key_record)
    try:
        print(f"{args.messages} messages of {len(corpus[0])} bytes, {args.sessions} SMTP "
              f"sessions, RSA-2048 relaxed/relaxed, verify, keys from unbound on "
              f"{DNS_ADDRESS}:53, postern DMARC {'off' if args.no_dmarc else 'on'}, "
              f"{os.cpu_count()} cores, load {load_average()}", flush=True)
        configs = [("plain-postfix", None, None), ("postern-unix", "postern", "unix"),
                   ("postern-tcp", "postern", "tcp"), ("opendkim-unix", "opendkim", "unix"),
                   ("opendkim-tcp", "opendkim", "tcp")]
        if args.instructions:
            configs = [c for c in configs if c[1]]
        if args.only:
            configs = [c for c in configs if c[1] in (None, args.only)]
        runs = {label: [] for label, _, _ in configs}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds} (load {load_average()})", flush=True)
            for label, kind, transport in configs:
                runs[label].append(measure(label, kind, transport, args, work, corpus))
        print(f"median of {args.rounds} rounds (load after: {load_average()}):")
        rate, cpu, ins = {}, {}, {}
        for label, _, _ in configs:
            rate[label] = statistics.median(r for r, _, _ in runs[label])
            cpu[label] = statistics.median(c for _, c, _ in runs[label])
            extra = ""
            if args.instructions:
                ins[label] = statistics.median(i for _, _, i in runs[label])
                extra = f"   {ins[label] / 1e6:6.3f} M instructions/msg"
            print(f"  {label:15s} {rate[label]:8.0f} msgs/s   milter CPU {cpu[label]:5.2f} "
                  f"ms/msg{extra}")
        if args.only:
            return
        for transport in ("unix", "tcp"):
            p, o = f"postern-{transport}", f"opendkim-{transport}"
            line = (f"{transport}: rate postern/opendkim {rate[p] / rate[o]:.2f}, "
                    f"CPU opendkim/postern {cpu[o] / cpu[p]:.2f}")
            if args.instructions:
                line += f", instructions opendkim/postern {ins[o] / ins[p]:.2f}"
            print(line)
    finally:
        dns.terminate()
        dns.wait()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(TOP, "build"))
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--corpus", type=int, default=1000, help="distinct signed messages")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port-base", type=int, default=22100,
                        help="SMTP port; sink and milter on the next two")
    parser.add_argument("--only", choices=("postern", "opendkim"))
    parser.add_argument("--no-dmarc", action="store_true", help="postern-dkim --dmarc no")
    parser.add_argument("--instructions", action="store_true",
                        help="milters under callgrind: instructions per message")
    parser.add_argument("--wrap", metavar="COMMAND",
                        help="run each milter under COMMAND (e.g. 'perf record -g -o "
                        "/tmp/{label}.perf --'; {label} is the configuration's work directory)")
    parser.add_argument(INNER_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.build = os.path.abspath(args.build)
    args.binary = os.path.join(args.build, "milters", "dkim", "postern-dkim")
    if not args.inner_namespace:
        if os.geteuid() != 0:
            sys.exit("dkim_verify_throughput: needs root (unshare, Postfix)")
        return subprocess.call(["unshare", "--net", "--mount", "--fork", "--kill-child", "--",
                                sys.executable, os.path.abspath(__file__), INNER_FLAG] + argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = work_dir("postern-vbench-")
    try:
        prepare_namespace(work)
        bench(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
