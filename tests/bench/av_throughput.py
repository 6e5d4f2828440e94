#!/usr/bin/python3
"""av_throughput.py — postern-av vs clamav-milter + clamd through a real Postfix.

smtp-source (N sessions) → private Postfix with the milter → smtp-sink, in one run on the same
machine, with the same generated database and messages for both scanners:
  plain-postfix      no milter (the ceiling)
  postern-unix/tcp   postern-av (libclamav in-process) on a unix socket / on TCP
  clamav-unix/tcp    Debian's clamav-milter on a unix socket / on TCP, talking to Debian's clamd
                     over clamd's unix socket (both started here with private configs)
Prints messages/s and CPU milliseconds per message (utime+stime from /proc: postern-av alone;
clamav-milter + clamd together), for a small database (EICAR .ndb/.hdb + 100 synthetic) and a
large one (~500,000 generated signatures: 450,000 body .ndb + 50,000 .hdb), and resident memory
(VmRSS) after load, under load, and peak during a reload (postern-av: SIGUSR2; clamd: RELOAD;
both hold two engines while the new one compiles). Messages carry a small base64 attachment
in a zip, so MIME and archive parsing run; timed with smtp-source -F) after a check pass of 100
varied messages (Python smtplib; 2 EICAR) whose replies must be 98 × 250 and 2 × 550.

usage: tests/bench/av_throughput.py [--build DIR] [--messages N] [--sessions N] [--rounds N]
                                    [--large N] [--skip-large] [--port-base N]
Each configuration is measured --rounds times (interleaved) and the median reported; the
machine is shared, so rates move by ±20% between runs: compare the side-by-side figures and
the CPU ms/message, not absolute rates. Work dir on /dev/shm. Needs root, postfix, clamav-daemon,
clamav-milter. Ports --port-base .. +2 (SMTP, sink, milter; default 26120) on 127.0.0.1.
Not part of ctest: figures, not pass/fail.
"""
import argparse
import base64
import hashlib
import io
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (TOP, configuration, cpu_seconds, memory_kib, port_open,  # noqa: E402
                      smtp_source, wait_for, work_dir)

SMTP_PORT, SINK_PORT, MILTER_PORT = 26120, 26121, 26122  # main() moves them to --port-base
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
         b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


def rss_kib(pid):
    return memory_kib(pid).get("VmRSS", 0)


# --------------------------------------------------------------------------
# Database and messages


def make_db(path, synthetic_body, synthetic_hash=0):
    os.makedirs(path)
    rnd = random.Random("postern-av bench database")  # not a seed message() uses
    with open(os.path.join(path, "eicar.ndb"), "w") as f:
        f.write(f"Bench.EICAR-NDB:0:*:{EICAR.hex()}\n")
    with open(os.path.join(path, "eicar.hdb"), "w") as f:
        f.write(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Bench.EICAR-HDB\n")
    with open(os.path.join(path, "synthetic.ndb"), "w") as f:
        for i in range(synthetic_body):
            f.write(f"Bench.Body-{i}:0:*:{rnd.randbytes(rnd.randint(16, 24)).hex()}\n")
    if synthetic_hash:
        with open(os.path.join(path, "synthetic.hdb"), "w") as f:
            for i in range(synthetic_hash):
                f.write(f"{rnd.randbytes(16).hex()}:{rnd.randint(100, 100000)}:Bench.Hash-{i}\n")
    return synthetic_body + synthetic_hash + 2


def message(i):
    """About 8 KB: text, a base64 attachment (zipped for odd i); EICAR for every 50th."""
    rnd = random.Random(i)
    payload = EICAR if i % 50 == 49 else rnd.randbytes(3000)
    name = "data.bin"
    if i % 2:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(name, payload)
        payload, name = buf.getvalue(), "data.zip"
    b64 = base64.b64encode(payload).decode()
    b64 = "\r\n".join(b64[j:j + 76] for j in range(0, len(b64), 76))
    text = "".join(f"Line {j} of the message text, nothing special in it at all.\r\n"
                   for j in range(40))
    return (f"From: <sender@bench.example>\r\nTo: <rcpt@sink.example>\r\nSubject: bench {i}\r\n"
            f"Message-ID: <{i}.bench@bench.example>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            f"--b\r\nContent-Type: text/plain\r\n\r\n{text}"
            f"--b\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            f"{b64}\r\n--b--\r\n").encode()


def send_all(count, sessions, results):
    """`sessions` threads submit `count` messages over SMTP; results: code -> count."""
    import smtplib
    lock = threading.Lock()
    next_i = [0]

    def worker():
        conn = None
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= count:
                break
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=120)
                    conn.ehlo("bench.example")
                conn.sendmail("sender@bench.example", ["rcpt@sink.example"], message(i))
                code = 250
            except smtplib.SMTPDataError as e:
                code = e.smtp_code
                conn.rset()
            except (smtplib.SMTPException, OSError):
                code = -1
                conn = None
            with lock:
                results[code] = results.get(code, 0) + 1
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start


# --------------------------------------------------------------------------
# Scanners


class Scanner:
    """A scanner set up on `transport` ("unix"/"tcp"): pids (for CPU and memory) and the
    Postfix milter spec."""

    def pids(self):
        raise NotImplementedError

    def cpu(self):
        return sum(cpu_seconds(p) for p in self.pids())

    def rss(self):
        return sum(rss_kib(p) for p in self.pids())

    def stop(self):
        for p in self.procs:
            p.kill()  # libmilter needs ~5 s for SIGTERM; a clean stop is not measured
            p.wait()


class PosternAv(Scanner):
    def __init__(self, binary, db, work, transport):
        self.work = work
        sock = os.path.join(work, "postern-av.sock")
        spec = f"unix:{sock}" if transport == "unix" else f"inet:{MILTER_PORT}@127.0.0.1"
        self.postfix_spec = spec if transport == "unix" else f"inet:127.0.0.1:{MILTER_PORT}"
        rfd, wfd = os.pipe()
        self.procs = [subprocess.Popen(
            [binary, "--socket", spec, "--socket-mode", "0666", "--database", db,
             "--tmp-dir", work, "--log-level", os.environ.get("AV_BENCH_LOG_LEVEL", "warning"), "--ready-fd", str(wfd),
             "--watch-database", "no"], pass_fds=(wfd,), stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(work, "postern-av.log"), "ab"))]
        os.close(wfd)
        with os.fdopen(rfd, "rb") as r:
            if r.readline() != b"\n":
                raise RuntimeError("postern-av did not become ready")

    def pids(self):
        return [self.procs[0].pid]

    def reload(self):
        os.kill(self.procs[0].pid, signal.SIGUSR2)


class ClamavMilter(Scanner):
    """clamd (LocalSocket) + clamav-milter (MilterSocket unix or inet)."""

    def __init__(self, db, work, transport):
        clamd_sock = os.path.join(work, "clamd.sock")
        milter_sock = os.path.join(work, "clamav-milter.sock")
        self.clamd_sock = clamd_sock
        with open(os.path.join(work, "clamd.conf"), "w") as f:
            f.write(f"LocalSocket {clamd_sock}\nDatabaseDirectory {db}\nForeground yes\n"
                    f"TemporaryDirectory {work}\nPidFile {work}/clamd.pid\nLogSyslog no\n"
                    "User root\nMaxThreads 20\nSelfCheck 0\n")
        spec = f"unix:{milter_sock}" if transport == "unix" else f"inet:{MILTER_PORT}@127.0.0.1"
        self.postfix_spec = spec if transport == "unix" else f"inet:127.0.0.1:{MILTER_PORT}"
        with open(os.path.join(work, "clamav-milter.conf"), "w") as f:
            f.write(f"MilterSocket {spec}\nMilterSocketMode 666\nClamdSocket unix:{clamd_sock}\n"
                    f"Foreground yes\nPidFile {work}/clamav-milter.pid\nOnInfected Reject\n"
                    "AddHeader Replace\nLogSyslog no\nUser root\nMaxThreads 20\n")
        self.procs = [subprocess.Popen(["/usr/sbin/clamd", "-c", f"{work}/clamd.conf"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        wait_for(lambda: self.ping(), "clamd PING")
        self.procs.append(subprocess.Popen(
            ["/usr/sbin/clamav-milter", "-c", f"{work}/clamav-milter.conf"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if transport == "unix":
            wait_for(lambda: os.path.exists(milter_sock), "clamav-milter socket")
        else:
            wait_for(lambda: port_open(MILTER_PORT), "clamav-milter port")

    def command(self, text):
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(120)
            s.connect(self.clamd_sock)
            s.sendall(f"n{text}\n".encode())
            return s.recv(256).decode().strip()

    def ping(self):
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def pids(self):
        return [p.pid for p in self.procs]

    def reload(self):
        self.command("RELOAD")


# --------------------------------------------------------------------------
# Runs


def start_scanner(kind, transport, args, db, work):
    if kind == "postern":
        return PosternAv(args.binary, db, work, transport)
    return ClamavMilter(db, work, transport)


def measure(label, kind, transport, args, db, work):
    def start_milter(cdir):
        return start_scanner(kind, transport, args, db, cdir) if kind else None
    with configuration(work, label, start_milter, args.sessions, SMTP_PORT,
                       SINK_PORT) as (scanner, _):
        # warm-up and check: 100 varied messages, 2 of them EICAR
        results = {}
        send_all(100, args.sessions, results)
        want = {250: 98, 550: 2} if kind else {250: 100}
        if results != want:
            raise RuntimeError(f"{label}: replies {results}, want {want}")
        cpu0 = scanner.cpu() if scanner else 0
        peak = [0]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], scanner.rss())
                time.sleep(0.05)
        sampler = threading.Thread(target=sample) if scanner else None
        if sampler:
            sampler.start()
        seconds = smtp_source(SMTP_PORT, args.messages, args.sessions, "sender@bench.example",
                              "-F", args.message_file)
        done.set()
        if sampler:
            sampler.join()
        cpu = (scanner.cpu() - cpu0) if scanner else 0
    rate = args.messages / seconds
    cpu_ms = cpu * 1000 / args.messages
    print(f"  {label:15s} {rate:7.0f} msgs/s  CPU {cpu_ms:5.2f} ms/msg  RSS under load "
          f"{peak[0] / 1024:6.1f} MiB", flush=True)
    return rate, cpu_ms, peak[0]


def memory_and_reload(kind, args, db, work):
    """RSS after load (idle), and peak RSS from a reload request until 2 s after the RSS
    falls back (or 60 s)."""
    cdir = tempfile.mkdtemp(prefix=f"reload-{kind}-", dir=work)
    os.chmod(cdir, 0o755)
    start = time.monotonic()
    scanner = start_scanner(kind, "unix", args, db, cdir)
    load_seconds = time.monotonic() - start
    try:
        time.sleep(1)
        idle = scanner.rss()
        scanner.reload()
        peak, begin = idle, time.monotonic()
        while time.monotonic() - begin < max(4, 3 * load_seconds):
            peak = max(peak, scanner.rss())
            time.sleep(0.02)
        after = scanner.rss()
    finally:
        scanner.stop()
    return load_seconds, idle, peak, after


def run_db(title, db, args, work):
    print(f"{title}: {args.messages} messages of {os.path.getsize(args.message_file)} bytes "
          f"(text + base64 zip attachment), {args.sessions} SMTP sessions, "
          f"{os.cpu_count()} cores", flush=True)
    configs = [("plain-postfix", None, None), ("postern-unix", "postern", "unix"),
               ("postern-tcp", "postern", "tcp"), ("clamav-unix", "clamav", "unix"),
               ("clamav-tcp", "clamav", "tcp")]
    runs = {label: [] for label, _, _ in configs}
    for r in range(1, args.rounds + 1):
        print(f" round {r}/{args.rounds}", flush=True)
        for label, kind, transport in configs:
            runs[label].append(measure(label, kind, transport, args, db, work))
    print(f" median of {args.rounds} rounds:")
    for label, _, _ in configs:
        rate = statistics.median(x[0] for x in runs[label])
        cpu = statistics.median(x[1] for x in runs[label])
        rss = statistics.median(x[2] for x in runs[label])
        print(f"  {label:15s} {rate:7.0f} msgs/s  CPU {cpu:5.2f} ms/msg  "
              f"RSS under load {rss / 1024:6.1f} MiB")
    for kind, name in (("postern", "postern-av"), ("clamav", "clamd + clamav-milter")):
        load, idle, peak, after = memory_and_reload(kind, args, db, work)
        print(f"  {name:22s} start to ready {load:5.2f} s  RSS idle {idle / 1024:6.1f} MiB  "
              f"peak during reload {peak / 1024:6.1f} MiB  after {after / 1024:6.1f} MiB",
              flush=True)


def main():
    global SMTP_PORT, SINK_PORT, MILTER_PORT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=os.path.join(TOP, "build"))
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large", type=int, default=500000,
                        help="signatures in the large database (9/10 .ndb, 1/10 .hdb)")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--port-base", type=int, default=SMTP_PORT,
                        help="SMTP port; sink and milter on the next two")
    args = parser.parse_args()
    SMTP_PORT, SINK_PORT, MILTER_PORT = args.port_base, args.port_base + 1, args.port_base + 2
    args.binary = os.path.join(args.build, "milters", "av", "postern-av")
    if os.geteuid() != 0:
        sys.exit("av_throughput: needs root (runs a private Postfix)")
    work = work_dir("postern-avbench-")
    try:
        args.message_file = os.path.join(work, "message.eml")
        with open(args.message_file, "wb") as f:
            f.write(message(1))  # clean, base64 zip attachment
        small = os.path.join(work, "db-small")
        n = make_db(small, 100)
        run_db(f"small database ({n} signatures)", small, args, work)
        if not args.skip_large:
            large = os.path.join(work, "db-large")
            n = make_db(large, args.large * 9 // 10, args.large // 10)
            run_db(f"large database ({n} signatures)", large, args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
