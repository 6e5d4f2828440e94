"""benchlib.py — the pieces the benchmark scripts in tests/bench/ share: CPU and memory of a
process from /proc, waiting for a port, a path or a condition, a private Postfix instance
(deploy/postfix-instance) tuned for load, smtp-source, a work directory on /dev/shm, and the
loopback and resolver set-up inside a private network namespace (unshare -n).

Stdlib only; run with /usr/bin/python3. Every waiting helper raises RuntimeError naming what
it waited for when its timeout (seconds) passes.
"""

import contextlib
import fcntl
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTANCE = os.path.join(TOP, "deploy", "postfix-instance")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def run(*args, **kw):
    """subprocess.run(args, check=True, **kw)."""
    return subprocess.run(args, check=True, **kw)


def cpu_split(pid, children=False):
    """(user, system) CPU seconds of process `pid` and its threads (utime and stime of
    /proc/PID/stat, proc(5)); with children, plus those of its reaped children (cutime,
    cstime)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])
    if children:
        user, system = user + int(fields[13]), system + int(fields[14])
    return user / CLK_TCK, system / CLK_TCK


def cpu_seconds(pid, children=False):
    """User + system CPU seconds of process `pid` (see cpu_split)."""
    return sum(cpu_split(pid, children))


def memory_kib(pid):
    """{"VmRSS": KiB, "VmHWM": KiB} of process `pid` from /proc/PID/status (a key is missing
    when the kernel does not report it, e.g. for a zombie)."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def port_open(port):
    """True when 127.0.0.1:`port` accepts a TCP connection now."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def wait_for(predicate, what, timeout=120):
    """Polls predicate() every 50 ms until it is true; RuntimeError naming `what` after
    `timeout` s."""
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise RuntimeError(f"{what}: not within {timeout}s")
        time.sleep(0.05)


def wait_port(port, timeout=20, proc=None):
    """Waits until 127.0.0.1:`port` accepts; RuntimeError after `timeout` s, or at once when
    `proc` (a Popen, when given) has exited."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with status {proc.returncode}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing accepts on port {port} after {timeout}s")


def wait_path(path, timeout=20):
    """Waits until `path` exists (a unix socket, a pid file); RuntimeError after `timeout` s."""
    wait_for(lambda: os.path.exists(path), f"{path} appearing", timeout)


def work_dir(prefix):
    """A new temp dir (mode 0755, so Postfix's unprivileged processes can enter it), on
    /dev/shm when there is one: Postfix's queue fsyncs then do not measure the disk."""
    work = tempfile.mkdtemp(prefix=prefix,
                            dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.chmod(work, 0o755)
    return work


def postfix_up(work, milter_spec, sessions, smtp_port, sink_port, extra_sets=(), sink=False):
    """A private Postfix in WORK/postfix on 127.0.0.1:`smtp_port` relaying to `sink_port`,
    with no client limits and processes for `sessions` SMTP sessions; `milter_spec` (a
    Postfix milter address, or None) as smtpd_milters; `extra_sets` more main.cf settings.
    sink=True also starts smtp-sink on `sink_port`. Returns the instance directory."""
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
    if sink:
        run(INSTANCE, "sink", pdir, str(sink_port), stdout=subprocess.DEVNULL)
    return pdir


def postfix_down(pdir):
    """Stops the Postfix instance and its smtp-sink started by postfix_up."""
    run(INSTANCE, "stop", pdir, stdout=subprocess.DEVNULL)
    run(INSTANCE, "sink-stop", pdir, stdout=subprocess.DEVNULL)


@contextlib.contextmanager
def configuration(work, label, start_milter, sessions, smtp_port, sink_port, extra_sets=()):
    """One measured configuration: its own directory WORK/LABEL-* (0755), the milter
    start_milter(directory) returns (an object with postfix_spec and stop(); None: no
    milter) and a Postfix + smtp-sink (postfix_up) using it. Yields (milter, Postfix instance
    directory); stops Postfix, the sink and the milter on the way out, also on errors."""
    cdir = tempfile.mkdtemp(prefix=label + "-", dir=work)
    os.chmod(cdir, 0o755)
    milter = start_milter(cdir)
    try:
        pdir = postfix_up(cdir, milter.postfix_spec if milter else None, sessions, smtp_port,
                          sink_port, extra_sets, sink=True)
        try:
            yield milter, pdir
        finally:
            postfix_down(pdir)
    finally:
        if milter:
            milter.stop()


def smtp_source(smtp_port, messages, sessions, sender, *source_args):
    """Postfix's smtp-source sending `messages` messages from `sender` to rcpt@sink.example
    over `sessions` parallel sessions to 127.0.0.1:`smtp_port`; `source_args` choose the
    message (e.g. "-l", "10240" or "-F", FILE). Returns the seconds taken."""
    start = time.monotonic()
    run("/usr/sbin/smtp-source", "-s", str(sessions), *source_args, "-m", str(messages),
        "-f", sender, "-t", "rcpt@sink.example", f"127.0.0.1:{smtp_port}")
    return time.monotonic() - start


def bring_lo_up():
    """Sets the loopback interface up (SIOCSIFFLAGS IFF_UP), which a new network namespace
    has down."""
    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        ifr = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | IFF_UP))
    finally:
        s.close()


def private_namespace_resolver(work, program, nameserver, options):
    """Inside a private network namespace (exits naming `program` when there is any interface
    but lo): loopback up, and /etc/resolv.conf bind-mounted (this mount namespace only) from
    WORK/resolv.conf naming `nameserver` with resolver `options` ("timeout:1 attempts:1")."""
    ifaces = sorted(name for _, name in socket.if_nameindex())
    if ifaces != ["lo"]:
        sys.exit(f"{program}: not in a private network namespace ({ifaces})")
    bring_lo_up()
    resolv = os.path.join(work, "resolv.conf")
    with open(resolv, "w") as f:
        f.write(f"nameserver {nameserver}\noptions {options}\n")
    run("mount", "--bind", resolv, "/etc/resolv.conf")
