#!/usr/bin/python3
"""dkim_verify_throughput.py — end-to-end DKIM verification throughput through a real Postfix.

A corpus of ~10 KB messages signed with dkimpy (RSA-2048, relaxed/relaxed, d=bench.example,
From: user@bench.example) is sent by a small multi-threaded Python SMTP client (--sessions
threads, one message per SMTP connection as smtp-source does, each connection announcing an
external client with XCLIENT ADDR=203.0.113.x) → private Postfix with a milter → smtp-sink.
The key's TXT record is served by tests/dns/zone_server.py on 127.0.0.1 (a free port);
postern-dkim (--mode verify) reaches it with --dns-server 127.0.0.1@PORT and OpenDKIM (Mode v)
with ResolverConfiguration: an unbound config forwarding "." to 127.0.0.1@PORT (Debian's
OpenDKIM resolves through libunbound), so both do real DNS lookups, then cache them.
Configurations, measured in one run on the same machine: plain Postfix (no milter), postern-dkim
over a unix socket and over TCP, OpenDKIM over a unix socket and over TCP. Prints messages/s,
the milter's CPU milliseconds per message (utime+stime from /proc) and how many delivered
messages carry an Authentication-Results field with dkim=pass (all must, for each milter).

usage: tests/bench/dkim_verify_throughput.py [--build DIR] [--messages N] [--sessions N]
                                            [--size BYTES] [--corpus N] [--rounds N]
Reuses the helpers of tests/bench/dkim_throughput.py (milter process, private Postfix, /proc CPU). The client is
Python, so it costs CPU on the same 2 cores the milters and Postfix use: the rates are of the
whole pipeline, identical for every configuration; the CPU per message is the milter's own.
Needs root (Postfix), Debian's postfix, opendkim, python3-dkim and python3-dnslib; run it with
/usr/bin/python3. Ports 24135-24137 on 127.0.0.1. Not part of ctest: figures, not pass/fail.

OpenDKIM does not use DNS here: see Milter (TestPublicKeys); postern-dkim does (cached).

Measured on 2026-11-21 (Debian 12, 2 cores, Release build, 3000 messages of 10.8 KB cycled from
1000 signed ones, 20 sessions, median of 3 interleaved rounds; every delivered message of the
milter runs carried dkim=pass):
  plain-postfix   574 msgs/s
  postern-unix    361 msgs/s   milter CPU 1.08 ms/msg
  postern-tcp     358 msgs/s   milter CPU 1.37 ms/msg
  opendkim-unix   297 msgs/s   milter CPU 1.78 ms/msg
  opendkim-tcp    198 msgs/s   milter CPU 1.85 ms/msg
  rate postern/opendkim: unix 1.21, tcp 1.81; CPU opendkim/postern: unix 1.64, tcp 1.35.
  The issue's target (faster on both sockets at under half OpenDKIM's CPU/msg) is met for
  speed, not for CPU. Rounds vary: a 300-message smoke run gave postern-unix 522 vs
  opendkim-unix 379 msgs/s, 0.90 vs 1.27 ms/msg.
"""
import argparse
import base64
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import json
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dkim_throughput  # noqa: E402
from dkim_throughput import INSTANCE, TOP, MilterProcess, cpu_seconds, run  # noqa: E402

SMTP_PORT, SINK_PORT, MILTER_PORT = 24135, 24136, 24137
DOMAIN, SELECTOR = "bench.example", "bench"
AUTHSERV_ID = "mx.bench.test"
KEY_RECORD = []  # the TXT record, set by start_zone_server
ZONE_SERVER = os.path.join(TOP, "tests", "dns", "zone_server.py")


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


def start_zone_server(work, pubkey_b64):
    zone = os.path.join(work, "zone.json")
    with open(zone, "w") as f:
        KEY_RECORD.append(f"v=DKIM1; k=rsa; p={pubkey_b64}")
        json.dump({f"{SELECTOR}._domainkey.{DOMAIN}": {"TXT": [KEY_RECORD[0]]},
                   DOMAIN: {"A": ["192.0.2.1"]}}, f)
    proc = subprocess.Popen(["/usr/bin/python3", ZONE_SERVER, "--zone", zone, "--host",
                             "127.0.0.1"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().split()
    if line[:1] != ["READY"]:
        raise RuntimeError(f"zone_server.py did not start: {line}")
    return proc, int(line[1])


class Milter(MilterProcess):
    """postern-dkim --mode verify or opendkim Mode v, over a unix socket or TCP."""

    def __init__(self, kind, transport, work, binary, dns_port):
        self.binary, self.dns_port = binary, dns_port
        super().__init__(kind, transport, work, MILTER_PORT)

    def command(self, kind, milter_spec, work):
        binary, dns_port = self.binary, self.dns_port
        if kind == "postern":
            args = [binary, "--mode", "verify", "--socket", milter_spec, "--socket-mode", "0666",
                    "--dns-server", f"127.0.0.1@{dns_port}", "--authserv-id", AUTHSERV_ID,
                    "--log-level", "warning"]
        else:
            # TestPublicKeys, not DNS: with ResolverConfiguration (an unbound config forwarding
            # to the zone server) OpenDKIM parses the file per lookup from several threads and
            # dies in libunbound's config scanner ("fatal flex scanner internal error"), and
            # Nameservers takes addresses only (port 53). So OpenDKIM reads the key record
            # from a file: it does no DNS at all, which only flatters it.
            keys = os.path.join(work, "testkeys")
            with open(keys, "w") as f:
                f.write(f"{SELECTOR}._domainkey.{DOMAIN} {KEY_RECORD[0]}\n")
            conf = os.path.join(work, "opendkim.conf")
            with open(conf, "w") as f:
                f.write(f"Mode v\nSocket {milter_spec}\nSyslog no\nUMask 000\n"
                        f"AuthservID {AUTHSERV_ID}\nTestPublicKeys {keys}\n"
                        f"PidFile {work}/opendkim.pid\nSoftwareHeader no\n")
            args = ["/usr/sbin/opendkim", "-f", "-x", conf]
        return args


def postfix_up(work, milter_spec, sessions):
    return dkim_throughput.postfix_up(work, milter_spec, sessions, SMTP_PORT, SINK_PORT,
                                      extra_sets=["relay_domains=sink.example"])


def send_corpus(corpus, messages, sessions):
    """Send `messages` messages (the corpus cycled), one per SMTP connection, from `sessions`
    threads; each connection claims an external client address with XCLIENT."""
    lock = threading.Lock()
    counter = [0]
    errors = []

    def worker(t):
        while True:
            with lock:
                i = counter[0]
                if i >= messages:
                    return
                counter[0] += 1
            try:
                with smtplib.SMTP("127.0.0.1", SMTP_PORT) as s:
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
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(sessions)]
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


def measure(label, kind, transport, args, work, corpus, dns_port):
    cdir = tempfile.mkdtemp(prefix=label + "-", dir=work)
    os.chmod(cdir, 0o755)
    milter = Milter(kind, transport, cdir, args.binary, dns_port) if kind else None
    pdir = postfix_up(cdir, milter.postfix_spec if milter else None, args.sessions)
    run(INSTANCE, "sink", pdir, str(SINK_PORT), stdout=subprocess.DEVNULL)
    try:
        warm = min(200, args.messages)
        send_corpus(corpus, warm, args.sessions)  # warm up (and fill the resolver caches)
        cpu0 = cpu_seconds(milter.proc.pid) if milter else 0
        seconds = send_corpus(corpus, args.messages, args.sessions)
        cpu = (cpu_seconds(milter.proc.pid) - cpu0) if milter else 0
        sink = os.path.join(pdir, "sink")
        deadline = time.time() + 30
        while len(os.listdir(sink)) < warm + args.messages and time.time() < deadline:
            time.sleep(0.2)
        passed, delivered = ar_pass(sink)
    finally:
        run(INSTANCE, "stop", pdir, stdout=subprocess.DEVNULL)
        run(INSTANCE, "sink-stop", pdir, stdout=subprocess.DEVNULL)
        if milter:
            milter.stop()
    rate = args.messages / seconds
    cpu_ms = cpu * 1000 / args.messages
    print(f"  {label:15s} {rate:8.0f} msgs/s   milter CPU {cpu_ms:5.2f} ms/msg   "
          f"dkim=pass {passed}/{delivered} delivered", flush=True)
    if kind and passed != delivered:
        raise RuntimeError(f"{label}: only {passed} of {delivered} delivered messages have "
                           "Authentication-Results dkim=pass")
    return rate, cpu_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(TOP, "build"))
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--corpus", type=int, default=1000, help="distinct signed messages")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.binary = os.path.join(args.build, "milters", "dkim", "postern-dkim")
    if os.geteuid() != 0:
        sys.exit("dkim_verify_throughput: needs root (runs a private Postfix)")
    work = tempfile.mkdtemp(prefix="postern-vbench-",
                            dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.chmod(work, 0o755)
    dns = None
    try:
        key_pem, pub = make_key(work)
        t0 = time.monotonic()
        corpus = make_corpus(args.corpus, args.size, key_pem)
        print(f"signed {len(corpus)} messages with dkimpy in {time.monotonic() - t0:.1f} s",
              flush=True)
        dns, dns_port = start_zone_server(work, pub)
        print(f"{args.messages} messages of {len(corpus[0])} bytes, {args.sessions} SMTP "
              f"sessions, RSA-2048 relaxed/relaxed, verify, {os.cpu_count()} cores", flush=True)
        configs = [("plain-postfix", None, None), ("postern-unix", "postern", "unix"),
                   ("postern-tcp", "postern", "tcp"), ("opendkim-unix", "opendkim", "unix"),
                   ("opendkim-tcp", "opendkim", "tcp")]
        runs = {label: [] for label, _, _ in configs}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", flush=True)
            for label, kind, transport in configs:
                runs[label].append(measure(label, kind, transport, args, work, corpus, dns_port))
        print(f"median of {args.rounds} rounds:")
        rate, cpu = {}, {}
        for label, _, _ in configs:
            rate[label] = statistics.median(r for r, _ in runs[label])
            cpu[label] = statistics.median(c for _, c in runs[label])
            print(f"  {label:15s} {rate[label]:8.0f} msgs/s   milter CPU {cpu[label]:5.2f} ms/msg")
        print(f"ratios: postern-unix/opendkim-unix {rate['postern-unix'] / rate['opendkim-unix']:.2f}, "
              f"postern-tcp/opendkim-tcp {rate['postern-tcp'] / rate['opendkim-tcp']:.2f}, "
              f"postern-unix/plain {rate['postern-unix'] / rate['plain-postfix']:.2f}, "
              f"CPU opendkim-unix/postern-unix {cpu['opendkim-unix'] / cpu['postern-unix']:.2f}, "
              f"CPU opendkim-tcp/postern-tcp {cpu['opendkim-tcp'] / cpu['postern-tcp']:.2f}")
    finally:
        if dns:
            dns.terminate()
            dns.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
