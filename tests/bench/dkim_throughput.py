#!/usr/bin/python3
"""dkim_throughput.py — end-to-end signing throughput through a real Postfix.

smtp-source (N sessions, ~10 KB messages) → private Postfix with a milter → smtp-sink.
Runs, in one go and on the same machine: plain Postfix (no milter), postern-dkim over a unix
socket and over TCP, and OpenDKIM over a unix socket and over TCP; prints messages/s, the
milter's CPU milliseconds per message (utime+stime from /proc), ratios, and the resident
memory of postern-dkim while 100 SMTP sessions are open at once.

usage: tests/bench/dkim_throughput.py [--build DIR] [--messages N] [--sessions N] [--size BYTES]
                                     [--rounds N]
Each configuration is measured --rounds times, the rounds interleaved, and the median is
reported (the machine's background load moves single runs by ±20%). The work directory is on
/dev/shm when there is one, so Postfix's queue fsyncs do not measure the disk.
Needs root (Postfix), Debian's postfix, opendkim and python3-dkim (deploy/install-deps).
Ports 24125-24127 on 127.0.0.1. Not part of ctest: figures, not pass/fail.
"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTANCE = os.path.join(TOP, "deploy", "postfix-instance")
SMTP_PORT, SINK_PORT, MILTER_PORT = 24125, 24126, 24127
DOMAIN, SELECTOR = "bench.example", "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def run(*args, **kw):
    return subprocess.run(args, check=True, **kw)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def memory_kib(pid):
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def wait_port(port, timeout=20):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} never answered")


def wait_path(path, timeout=20):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise RuntimeError(f"{path} never appeared")
        time.sleep(0.05)


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

    def __init__(self, kind, transport, work, binary, key_file):
        self.binary, self.key_file = binary, key_file
        super().__init__(kind, transport, work, MILTER_PORT)

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


def postfix_up(work, milter_spec, sessions, smtp_port=SMTP_PORT, sink_port=SINK_PORT,
               extra_sets=()):
    """A private Postfix in work/postfix on smtp_port relaying to sink_port, no client limits."""
    pdir = os.path.join(work, "postfix")
    args = [INSTANCE, "init", pdir, "--port", str(smtp_port), "--relay", f"127.0.0.1:{sink_port}",
            "--set", "smtpd_client_connection_count_limit=0",
            "--set", "smtpd_client_connection_rate_limit=0",
            "--set", f"default_process_limit={max(100, sessions + 20)}",
            "--set", "smtp_connection_cache_on_demand=yes"]
    for setting in extra_sets:
        args += ["--set", setting]
    if milter_spec:
        args += ["--milter", milter_spec]
    run(*args, stdout=subprocess.DEVNULL)
    run(INSTANCE, "start", pdir, stdout=subprocess.DEVNULL)
    return pdir


def smtp_source(messages, sessions, size):
    start = time.monotonic()
    run("/usr/sbin/smtp-source", "-s", str(sessions), "-l", str(size), "-m", str(messages),
        "-f", f"sender@{DOMAIN}", "-t", "rcpt@sink.example", f"127.0.0.1:{SMTP_PORT}")
    return time.monotonic() - start


def signed_fraction(sink_dir, sample=50):
    files = sorted(os.listdir(sink_dir))[-sample:]
    signed = 0
    for name in files:
        with open(os.path.join(sink_dir, name), "rb") as f:
            if b"\nDKIM-Signature:" in f.read(8192):
                signed += 1
    return signed, len(files)


def measure(label, kind, transport, args, work, key_file):
    cdir = tempfile.mkdtemp(prefix=label + "-", dir=work)
    os.chmod(cdir, 0o755)
    milter = Milter(kind, transport, cdir, args.binary, key_file) if kind else None
    pdir = postfix_up(cdir, milter.postfix_spec if milter else None, args.sessions)
    run(INSTANCE, "sink", pdir, str(SINK_PORT), stdout=subprocess.DEVNULL)
    try:
        smtp_source(min(200, args.messages), args.sessions, args.size)  # warm up
        cpu0 = cpu_seconds(milter.proc.pid) if milter else 0
        seconds = smtp_source(args.messages, args.sessions, args.size)
        cpu = (cpu_seconds(milter.proc.pid) - cpu0) if milter else 0
        time.sleep(1)
        signed, sampled = signed_fraction(os.path.join(pdir, "sink"))
    finally:
        run(INSTANCE, "stop", pdir, stdout=subprocess.DEVNULL)
        run(INSTANCE, "sink-stop", pdir, stdout=subprocess.DEVNULL)
        if milter:
            milter.stop()
    rate = args.messages / seconds
    cpu_ms = cpu * 1000 / args.messages
    print(f"  {label:15s} {rate:8.0f} msgs/s   milter CPU {cpu_ms:5.2f} ms/msg   "
          f"signed {signed}/{sampled} sampled", flush=True)
    if kind and signed != sampled:
        raise RuntimeError(f"{label}: only {signed} of {sampled} sampled messages were signed")
    return rate, cpu_ms


def memory_under_load(args, work, key_file, sessions=100):
    cdir = tempfile.mkdtemp(prefix="memory-", dir=work)
    os.chmod(cdir, 0o755)
    milter = Milter("postern", "tcp", cdir, args.binary, key_file)
    pdir = postfix_up(cdir, milter.postfix_spec, sessions)
    run(INSTANCE, "sink", pdir, str(SINK_PORT), stdout=subprocess.DEVNULL)
    idle = memory_kib(milter.proc.pid)["VmRSS"]
    peak = 0
    try:
        source = subprocess.Popen(["/usr/sbin/smtp-source", "-s", str(sessions), "-l",
                                   str(args.size), "-m", str(sessions * 10), "-f",
                                   f"sender@{DOMAIN}", "-t", "rcpt@sink.example",
                                   f"127.0.0.1:{SMTP_PORT}"])
        while source.poll() is None:
            peak = max(peak, memory_kib(milter.proc.pid)["VmRSS"])
            time.sleep(0.02)
        threads = len(os.listdir(f"/proc/{milter.proc.pid}/task"))
        hwm = memory_kib(milter.proc.pid)["VmHWM"]
    finally:
        run(INSTANCE, "stop", pdir, stdout=subprocess.DEVNULL)
        run(INSTANCE, "sink-stop", pdir, stdout=subprocess.DEVNULL)
        milter.stop()
    print(f"postern-dkim memory: idle RSS {idle / 1024:.1f} MiB, peak RSS with {sessions} SMTP "
          f"sessions {peak / 1024:.1f} MiB (VmHWM {hwm / 1024:.1f} MiB, {threads} threads after)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(TOP, "build"))
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--size", type=int, default=10240)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.binary = os.path.join(args.build, "milters", "dkim", "postern-dkim")
    if os.geteuid() != 0:
        sys.exit("dkim_throughput: needs root (runs a private Postfix)")
    work = tempfile.mkdtemp(prefix="postern-bench-",
                            dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.chmod(work, 0o755)
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
