#!/usr/bin/python3
"""dkim_throughput.py — end-to-end signing throughput through a real Postfix.

smtp-source (N sessions, ~10 KB messages) → private Postfix with a milter → smtp-sink.
Runs, in one go and on the same machine: plain Postfix (no milter), postern-dkim over a unix
socket and over TCP, and OpenDKIM over a unix socket and over TCP; prints messages/s, the
milter's CPU milliseconds per message (utime+stime from /proc), ratios, and the resident
memory of postern-dkim while 100 SMTP sessions are open at once.

usage: tests/bench/dkim_throughput.py [--build DIR] [--messages N] [--sessions N] [--size BYTES]
                                     [--rounds N] [--port-base N]
Each configuration is measured --rounds times, the rounds interleaved, and the median is
reported (the machine's background load moves single runs by ±20%). The work directory is on
/dev/shm when there is one, so Postfix's queue fsyncs do not measure the disk.
Needs root (Postfix), Debian's postfix, opendkim and python3-dkim (deploy/install-deps).
Ports --port-base .. +2 (SMTP, sink, milter; default 24125) on 127.0.0.1. Not part of ctest:
figures, not pass/fail.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (TOP, configuration, cpu_seconds, memory_kib, run,  # noqa: E402
                      smtp_source, wait_path, wait_port, work_dir)

DOMAIN, SELECTOR = "bench.example", "bench"


class MilterProcess:
    """A milter under test on a unix socket in `work` or on TCP `port` of 127.0.0.1. Subclasses
    give command(kind, milter_spec, work); `kind` "postern" speaks unix:, others local:."""

    def __init__(self, kind, transport, work, port):
        sock_path = os.path.join(work, f"{kind}.sock")
        if transport == "unix":
            self.postfix_spec = f"unix:{sock_path}"
            milter_spec = f"unix:{sock_path}" if kind == "postern" else f"local:{sock_path}"
        else:
            self.postfix_spec = f"inet:127.0.0.1:{port}"
            milter_spec = f"inet:{port}@127.0.0.1"
        self.proc = subprocess.Popen(self.command(kind, milter_spec, work),
                                     stdout=subprocess.DEVNULL)
        if transport == "unix":
            wait_path(sock_path)
        else:
            wait_port(port)

    def command(self, kind, milter_spec, work):
        raise NotImplementedError

    def stop(self):
        # SIGKILL: libmilter needs ~5 s to notice SIGTERM, and a clean stop is not measured here.
        self.proc.kill()
        self.proc.wait()


class Milter(MilterProcess):
    """The signer under test: postern-dkim or opendkim."""

    def __init__(self, kind, transport, work, binary, key_file, port):
        self.binary, self.key_file = binary, key_file
        super().__init__(kind, transport, work, port)

    def command(self, kind, milter_spec, work):
        if kind == "postern":
            return [self.binary, "--socket", milter_spec, "--domain", DOMAIN, "--selector",
                    SELECTOR, "--key-file", self.key_file, "--socket-mode", "0666",
                    "--log-level", "warning"]
        conf = os.path.join(work, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(f"Mode s\nDomain {DOMAIN}\nSelector {SELECTOR}\nKeyFile {self.key_file}\n"
                    f"Socket {milter_spec}\nCanonicalization relaxed/relaxed\n"
                    "InternalHosts 127.0.0.1\nSyslog no\nUMask 000\nRequireSafeKeys false\n"
                    f"PidFile {work}/opendkim.pid\nOversignHeaders From\n")
        return ["/usr/sbin/opendkim", "-f", "-x", conf]


def ports(args):
    """(SMTP, sink, milter) ports: --port-base and the next two."""
    return args.port_base, args.port_base + 1, args.port_base + 2


def signed_fraction(sink_dir, sample=50):
    files = sorted(os.listdir(sink_dir))[-sample:]
    signed = 0
    for name in files:
        with open(os.path.join(sink_dir, name), "rb") as f:
            if b"\nDKIM-Signature:" in f.read(8192):
                signed += 1
    return signed, len(files)


def measure(label, kind, transport, args, work, key_file):
    smtp_port, sink_port, milter_port = ports(args)

    def start_milter(cdir):
        return Milter(kind, transport, cdir, args.binary, key_file, milter_port) if kind else None
    with configuration(work, label, start_milter, args.sessions, smtp_port,
                       sink_port) as (milter, pdir):
        source = ("-l", str(args.size))
        smtp_source(smtp_port, min(200, args.messages), args.sessions, f"sender@{DOMAIN}",
                    *source)  # warm up
        cpu0 = cpu_seconds(milter.proc.pid) if milter else 0
        seconds = smtp_source(smtp_port, args.messages, args.sessions, f"sender@{DOMAIN}",
                              *source)
        cpu = (cpu_seconds(milter.proc.pid) - cpu0) if milter else 0
        time.sleep(1)
        signed, sampled = signed_fraction(os.path.join(pdir, "sink"))
    rate = args.messages / seconds
    cpu_ms = cpu * 1000 / args.messages
    print(f"  {label:15s} {rate:8.0f} msgs/s   milter CPU {cpu_ms:5.2f} ms/msg   "
          f"signed {signed}/{sampled} sampled", flush=True)
    if kind and signed != sampled:
        raise RuntimeError(f"{label}: only {signed} of {sampled} sampled messages were signed")
    return rate, cpu_ms


def memory_under_load(args, work, key_file, sessions=100):
    smtp_port, sink_port, milter_port = ports(args)

    def start_milter(cdir):
        return Milter("postern", "tcp", cdir, args.binary, key_file, milter_port)
    with configuration(work, "memory", start_milter, sessions, smtp_port,
                       sink_port) as (milter, _):
        idle = memory_kib(milter.proc.pid)["VmRSS"]
        peak = 0
        source = subprocess.Popen(["/usr/sbin/smtp-source", "-s", str(sessions), "-l",
                                   str(args.size), "-m", str(sessions * 10), "-f",
                                   f"sender@{DOMAIN}", "-t", "rcpt@sink.example",
                                   f"127.0.0.1:{smtp_port}"])
        while source.poll() is None:
            peak = max(peak, memory_kib(milter.proc.pid)["VmRSS"])
            time.sleep(0.02)
        threads = len(os.listdir(f"/proc/{milter.proc.pid}/task"))
        hwm = memory_kib(milter.proc.pid)["VmHWM"]
    print(f"postern-dkim memory: idle RSS {idle / 1024:.1f} MiB, peak RSS with {sessions} SMTP "
          f"sessions {peak / 1024:.1f} MiB (VmHWM {hwm / 1024:.1f} MiB, {threads} threads after)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(TOP, "build"))
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port-base", type=int, default=24125,
                        help="SMTP port; sink and milter on the next two")
    args = parser.parse_args()
    args.binary = os.path.join(args.build, "milters", "dkim", "postern-dkim")
    if os.geteuid() != 0:
        sys.exit("dkim_throughput: needs root (runs a private Postfix)")
    work = work_dir("postern-bench-")
    try:
        keys = os.path.join(work, "keys")
        os.makedirs(keys, mode=0o700)
        run(args.binary, "genkey", "--domain", DOMAIN, "--selector", SELECTOR, "--out-dir", keys,
            stdout=subprocess.DEVNULL)
        key_file = os.path.join(keys, f"{SELECTOR}.private")
        print(f"{args.messages} messages of {args.size} bytes, {args.sessions} SMTP sessions, "
              f"RSA-2048 relaxed/relaxed, {os.cpu_count()} cores", flush=True)
        configs = [("plain-postfix", None, None), ("postern-unix", "postern", "unix"),
                   ("postern-tcp", "postern", "tcp"), ("opendkim-unix", "opendkim", "unix"),
                   ("opendkim-tcp", "opendkim", "tcp")]
        runs = {label: [] for label, _, _ in configs}
        for round_number in range(1, args.rounds + 1):
            print(f"round {round_number}/{args.rounds}", flush=True)
            for label, kind, transport in configs:
                runs[label].append(measure(label, kind, transport, args, work, key_file))
        print(f"median of {args.rounds} rounds:")
        rate, cpu = {}, {}
        for label, _, _ in configs:
            rate[label] = statistics.median(r for r, _ in runs[label])
            cpu[label] = statistics.median(c for _, c in runs[label])
            print(f"  {label:15s} {rate[label]:8.0f} msgs/s   milter CPU {cpu[label]:5.2f} ms/msg")
        print(f"ratios: postern-tcp/postern-unix {rate['postern-tcp'] / rate['postern-unix']:.2f}, "
              f"postern-unix/opendkim-unix {rate['postern-unix'] / rate['opendkim-unix']:.2f}, "
              f"postern-tcp/opendkim-tcp {rate['postern-tcp'] / rate['opendkim-tcp']:.2f}, "
              f"postern-unix/plain {rate['postern-unix'] / rate['plain-postfix']:.2f}, "
              f"CPU opendkim-unix/postern-unix {cpu['opendkim-unix'] / cpu['postern-unix']:.2f}")
        memory_under_load(args, work, key_file)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
