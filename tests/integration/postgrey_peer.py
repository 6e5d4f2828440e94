"""postgrey_peer.py — test fixture: Debian's real postgrey (/usr/sbin/postgrey, 1.37) as a
comparison peer for postern-greylist, with a clock both can share.

    clock = FakeClock(tmp, start=1772330400)        # Unix seconds; frozen until set()
    pg = Postgrey(tmp, port, clock=clock, delay=300, max_age_days=35, retry_window="2",
                  auto_whitelist_clients=5, whitelist_clients=[...], whitelist_recipients=[...])
    pg.start(); c = PolicyClient(port); c.query({...}) -> "DEFER_IF_PERMIT ..."; pg.stop()
    gl = PosternGreylist(tmp, binary, port, args=[...], clock=clock)   # same clock
    decision(action) -> ("DEFER", 300) | ("PREPEND", 301) | ("DUNNO", None) | (verb, None)

Time. postgrey reads the clock with Perl's time() (and localtime() for its nightly
maintenance); postern-greylist with std::chrono::system_clock (clock_gettime). Both run under
libfaketime (Debian package faketime, in deploy/install-deps) with
FAKETIME_TIMESTAMP_FILE=<file> and FAKETIME_NO_CACHE=1: every time(), gettimeofday() and
clock_gettime(CLOCK_REALTIME) call re-reads the file, which holds an absolute
"YYYY-MM-DD hh:mm:ss" (TZ=UTC), i.e. a frozen clock the test moves with set()/advance().
Monotonic clocks are left real (FAKETIME_DONT_FAKE_MONOTONIC=1), so timeouts and the policy
server's request deadlines keep working. Why not postgrey's own means: its request attribute
policy_test_time only replaces `now` inside smtpd_access_policy, not in the maintenance that
expires entries (mux_input calls do_maintenance with the real time()), and a tiny --delay
cannot show the retry window, max-age (days) or the once-an-hour auto-whitelist counting.
A binary built with AddressSanitizer gets libasan preloaded before libfaketime (ASan must come
first in the library list).

postgrey runs as root (--user/--group root) in the foreground with a private --dbdir in the
temp dir, listening on --inet=127.0.0.1:PORT, its log (stderr) in TMP/postgrey/stderr.log.
Stdlib and harness.py only; every process is stopped (process group) by stop(), safe to call twice.
"""

import calendar
import os
import re
import socket
import subprocess
import time

import harness

POSTGREY = "/usr/sbin/postgrey"
LIBFAKETIME_DIRS = ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime",
                    "/usr/lib/faketime")
DEBIAN_WHITELIST_CLIENTS = "/etc/postgrey/whitelist_clients"
DEBIAN_WHITELIST_RECIPIENTS = "/etc/postgrey/whitelist_recipients"


def libfaketime(multithreaded=True):
    """Path of libfaketime (the MT variant for threaded programs), or None."""
    name = "libfaketimeMT.so.1" if multithreaded else "libfaketime.so.1"
    for d in LIBFAKETIME_DIRS:
        path = os.path.join(d, name)
        if os.path.exists(path):
            return path
    return None


def asan_runtime(binary):
    """The libasan a binary links to (ldd), or None."""
    try:
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\blibasan\.so\.\d+ => (\S+)", out)
    return m.group(1) if m else None


class FakeClock:
    """A frozen wall clock shared by processes through libfaketime's timestamp file.
    Times are Unix seconds (UTC)."""

    def __init__(self, tmp, start):
        self.path = os.path.join(tmp, "faketime")
        self.now = None
        self.set(start)

    def set(self, unix_seconds):
        unix_seconds = int(unix_seconds)
        text = time.strftime("%Y-%m-%d %H:%M:%S\n", time.gmtime(unix_seconds))
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)  # readers see the old or the new time, never half a line
        self.now = unix_seconds

    def advance(self, seconds):
        self.set(self.now + seconds)

    def env(self, binary=None, multithreaded=True):
        """Environment additions that put a process (`binary`, to detect ASan) on this clock."""
        lib = libfaketime(multithreaded)
        if lib is None:
            raise RuntimeError("libfaketime not installed (deploy/install-deps faketime)")
        preload = [lib]
        asan = asan_runtime(binary) if binary else None
        if asan:
            preload.insert(0, asan)
        return {"LD_PRELOAD": " ".join(preload), "FAKETIME_TIMESTAMP_FILE": self.path,
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1", "TZ": "UTC"}


def utc(text):
    """"2026-03-01 03:00:00" (UTC) → Unix seconds."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))


class PolicyClient:
    """One persistent connection to a policy service (Postfix policy delegation protocol)."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def query(self, attrs):
        """Sends one smtpd_access_policy request (`attrs`: name → value; request= is added) and
        returns the action's value ("DUNNO", "DEFER_IF_PERMIT 4.7.1 ...")."""
        lines = ["request=smtpd_access_policy"]
        lines += ["%s=%s" % (k, v) for k, v in attrs.items() if k != "request"]
        self.sock.sendall(("\n".join(lines) + "\n\n").encode())
        reply = {}
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("policy service closed the connection")
            line = line.decode(errors="replace").rstrip("\n")
            if line == "":
                break
            k, _, v = line.partition("=")
            reply[k] = v
        if "action" not in reply:
            raise RuntimeError("reply without action: %r" % reply)
        return reply["action"]

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


_DEFER_SECONDS = re.compile(r"(\d+) seconds")
_DELAYED = re.compile(r"X-Greylist: delayed (\d+) seconds")


def decision(action):
    """A reply action reduced to what the two implementations must agree on:
    ("DEFER", seconds left) for a greylisting deferral (the number from a "%s seconds" text,
    None when the text has none), ("PREPEND", seconds delayed) for the X-Greylist header,
    ("DUNNO", None), or (verb, None) for anything else."""
    verb = action.split(" ", 1)[0].upper()
    if verb in ("DEFER_IF_PERMIT", "DEFER", "450", "451", "DEFER_IF_REJECT"):
        m = _DEFER_SECONDS.search(action)
        return ("DEFER", int(m.group(1)) if m else None)
    if verb == "PREPEND":
        m = _DELAYED.search(action)
        return ("PREPEND", int(m.group(1)) if m else None)
    return (verb, None)


class _Service:
    """A policy service process on 127.0.0.1:port, its own dir TMP/NAME, stderr in
    TMP/NAME/stderr.log, in its own process group."""

    name = "service"

    def __init__(self, tmp, port, clock=None):
        self.tmp, self.port, self.clock = tmp, port, clock
        self.dir = os.path.join(tmp, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None

    def command(self):
        raise NotImplementedError

    def env_binary(self):
        return None

    def start(self, timeout=20.0):
        cmd = self.command()
        env = harness.milter_env()
        if self.clock is not None:
            env.update(self.clock.env(self.env_binary()))
        with open(self.log_path, "ab") as log:
            log.write(("--- start: %s\n" % " ".join(cmd)).encode())
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, cwd=self.dir, start_new_session=True)
        if not harness.wait_port(self.port, timeout, proc=self.proc):
            rc = self.proc.poll()
            self.stop()
            raise RuntimeError("%s exited with status %s" % (self.name, rc) if rc is not None
                               else "%s: nothing accepts on port %d after %ss"
                               % (self.name, self.port, timeout))
        return self

    def stop(self):
        p, self.proc = self.proc, None
        harness.stop_group(p)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def log(self):
        return harness.read_log(self.log_path)


class Postgrey(_Service):
    """Debian's postgrey with postgrey's option names and defaults (delay 300 s, max-age
    35 days, retry window "2" days or "Nh", auto-whitelisting after 5 passes; None leaves an
    option out). greylist_text gets a "%s seconds" so that decision() can read the delay."""

    name = "postgrey"

    def __init__(self, tmp, port, clock=None, delay=None, max_age_days=None, retry_window=None,
                 auto_whitelist_clients=None, whitelist_clients=None, whitelist_recipients=None,
                 greylist_text="Greylisted, try again in %s seconds", hostname="postgrey.test",
                 extra=()):
        super().__init__(tmp, port, clock)
        self.dbdir = os.path.join(self.dir, "db")
        os.makedirs(self.dbdir, exist_ok=True)
        o = ["--inet=127.0.0.1:%d" % port, "--dbdir=" + self.dbdir, "--user=root",
             "--group=root", "--hostname=" + hostname, "--greylist-text=" + greylist_text]
        if delay is not None:
            o.append("--delay=%d" % delay)
        if max_age_days is not None:
            o.append("--max-age=%d" % max_age_days)
        if retry_window is not None:
            o.append("--retry-window=%s" % retry_window)
        if auto_whitelist_clients is not None:
            o.append("--auto-whitelist-clients=%d" % auto_whitelist_clients)
        for f in whitelist_clients or ():
            o.append("--whitelist-clients=" + f)
        for f in whitelist_recipients or ():
            o.append("--whitelist-recipients=" + f)
        self.options = o + list(extra)

    def command(self):
        return ["/usr/bin/perl", "-T", POSTGREY] + self.options

    def env_binary(self):
        return None  # perl: no ASan

    def db_records(self):
        """Records in postgrey's triplet database (postgrey.db) and its client auto-whitelist
        (postgrey_clients.db), counted with Perl's BerkeleyDB module (postgrey's own); call
        after stop(). None when they cannot be read."""
        script = ('use BerkeleyDB; my $n = 0; for my $f (@ARGV) { my %h; '
                  'tie %h, "BerkeleyDB::Btree", -Filename => $f, -Flags => DB_RDONLY '
                  'or next; $n += scalar keys %h; untie %h } print $n')
        files = [os.path.join(self.dbdir, f) for f in ("postgrey.db", "postgrey_clients.db")
                 if os.path.exists(os.path.join(self.dbdir, f))]
        try:
            out = subprocess.run(["/usr/bin/perl", "-e", script] + files, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, timeout=300).stdout
            return int(out)
        except (OSError, subprocess.SubprocessError, ValueError):
            return None

    def db_bytes(self):
        """Size of postgrey's Berkeley DB files (postgrey*.db), bytes."""
        return sum(os.path.getsize(os.path.join(self.dbdir, f))
                   for f in os.listdir(self.dbdir) if f.endswith(".db"))


class PosternGreylist(_Service):
    """postern-greylist (`binary`) on inet:PORT@127.0.0.1 with --log stderr and `args`."""

    name = "postern-greylist"

    def __init__(self, tmp, binary, port, args=(), clock=None, name=None):
        if name:
            self.name = name
        super().__init__(tmp, port, clock)
        self.binary = binary
        self.args = list(args)

    def command(self):
        return [self.binary, "--socket", "inet:%d@127.0.0.1" % self.port,
                "--log", "stderr"] + self.args

    def env_binary(self):
        return self.binary
