"""redis_server.py — test fixture: a real redis-server (optionally a replica) and
redis-sentinel on given loopback ports, each in its own temp dir, stopped and
removed by stop() (call it in tearDown / addCleanup, it is safe to call twice).

    r = RedisServer(port)            # r.start(); r.url -> "redis://127.0.0.1:PORT/0"
    r.kill(); r.start()              # crash (SIGKILL) and restart on the same port
    r.pause(); r.resume()            # SIGSTOP/SIGCONT: a server that accepts but never answers
    replica = RedisServer(port2, replicaof=port)
    s = RedisSentinel(port3, "mymaster", master_port=port)
    s.url([s2])                      # "redis-sentinel://127.0.0.1:P3,.../mymaster"
    s.wait_master(port2)             # after killing the master: wait for the failover
    master, replica, s = start_replicated(base, "mymaster", self.addCleanup)  # ports base..+2

Stdlib only; talks RESP itself (redis-cli is not needed). Processes die with
the test process group if the test is killed (see stop_all()).
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_SENTINEL = "/usr/bin/redis-sentinel"


def _encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError("bad RESP line %r" % line)


def command(port, *args, timeout=2.0, password=None):
    """One command to 127.0.0.1:port; returns the decoded reply, raises on -ERR."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        f = s.makefile("rb")
        if password:
            s.sendall(_encode(["AUTH", password]))
            _read_reply(f)
        s.sendall(_encode(args))
        return _read_reply(f)


def _wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except (OSError, RuntimeError, ConnectionError) as e:
            last = e
        time.sleep(0.05)
    raise TimeoutError("%s not reached in %.1f s (last error: %s)" % (what, timeout, last))


class _Process:
    binary = REDIS_SERVER
    conf_name = "redis.conf"

    def __init__(self, port, password=None):
        self.port = port
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="postern-%s-" % self.__class__.__name__.lower())
        self.proc = None

    def config(self):
        raise NotImplementedError

    def start(self, timeout=10.0):
        conf = os.path.join(self.dir, self.conf_name)
        if not os.path.exists(conf) or self.conf_name == "redis.conf":
            # sentinel rewrites its own file; keep it across restarts
            with open(conf, "w") as f:
                f.write(self.config())
        log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen([self.binary, conf], stdout=log, stderr=log,
                                     cwd=self.dir, start_new_session=True)
        log.close()
        _wait(lambda: command(self.port, "PING", password=self.password) == "PONG",
              timeout, "%s on port %d answering PING" % (self.binary, self.port))
        return self

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server must run to act on sig
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pause(self):
        """SIGSTOP: the kernel still accepts connections (the listen backlog) but nothing is
        answered until resume(). kill() and stop() resume a paused server first."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        """SIGCONT after pause(); the server then answers what it was sent meanwhile."""
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        self.kill(signal.SIGTERM)
        if self.dir and os.path.isdir(self.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def command(self, *args):
        return command(self.port, *args, password=self.password)

    def log(self):
        path = os.path.join(self.dir or "", "redis.log")
        if self.dir and os.path.exists(path):
            with open(path, errors="replace") as f:
                return f.read()
        return ""


class RedisServer(_Process):
    """redis-server on 127.0.0.1:port, no persistence; replicaof=PORT makes it a replica."""

    def __init__(self, port, password=None, replicaof=None):
        super().__init__(port, password)
        self.replicaof = replicaof

    def config(self):
        lines = ["port %d" % self.port, "bind 127.0.0.1", "dir %s" % self.dir,
                 'save ""', "appendonly no", "daemonize no", "loglevel notice",
                 "logfile %s" % os.path.join(self.dir, "redis.log"),
                 "enable-debug-command local"]
        if self.password:
            lines += ["requirepass %s" % self.password, "masterauth %s" % self.password]
        if self.replicaof:
            lines.append("replicaof 127.0.0.1 %d" % self.replicaof)
        return "\n".join(lines) + "\n"

    @property
    def url(self):
        auth = ":%s@" % self.password if self.password else ""
        return "redis://%s127.0.0.1:%d/0" % (auth, self.port)

    def wait_replicating(self, timeout=10.0):
        """Replica only: wait until its link to the master is up."""
        _wait(lambda: "master_link_status:up" in self.command("INFO", "replication"),
              timeout, "replica on %d linked to its master" % self.port)


class RedisSentinel(_Process):
    """redis-sentinel on 127.0.0.1:port monitoring master_name at 127.0.0.1:master_port.
    Fast failover for tests: down after 1 s, quorum `quorum`."""
    binary = REDIS_SENTINEL
    conf_name = "sentinel.conf"

    def __init__(self, port, master_name, master_port, quorum=1, password=None):
        super().__init__(port)
        self.master_name = master_name
        self.master_port = master_port
        self.quorum = quorum
        self.master_password = password

    def config(self):
        n = self.master_name
        lines = ["port %d" % self.port, "bind 127.0.0.1", "dir %s" % self.dir,
                 "daemonize no", "logfile %s" % os.path.join(self.dir, "redis.log"),
                 "sentinel monitor %s 127.0.0.1 %d %d" % (n, self.master_port, self.quorum),
                 "sentinel down-after-milliseconds %s 1000" % n,
                 "sentinel failover-timeout %s 5000" % n,
                 "sentinel parallel-syncs %s 1" % n]
        if self.master_password:
            lines.append("sentinel auth-pass %s %s" % (n, self.master_password))
        return "\n".join(lines) + "\n"

    def master(self):
        """(host, port) Sentinel reports for the master now."""
        r = self.command("SENTINEL", "get-master-addr-by-name", self.master_name)
        return (r[0], int(r[1])) if r else None

    def wait_master(self, port, timeout=20.0):
        _wait(lambda: self.master() == ("127.0.0.1", port), timeout,
              "sentinel %d reporting master port %d" % (self.port, port))

    def url(self, others=(), db=0):
        hosts = ",".join("127.0.0.1:%d" % s.port for s in (self,) + tuple(others))
        return "redis-sentinel://%s/%s/%d" % (hosts, self.master_name, db)


def start_replicated(base, master_name, add_cleanup):
    """A master on 127.0.0.1:`base`, its replica on base+1 and a Sentinel on base+2 that
    monitors it as `master_name`; each handed to `add_cleanup` (e.g. TestCase.addCleanup)
    for its stop(), then started. Returns (master, replica, sentinel) once the replica's link
    is up and the Sentinel reports the master."""
    master = RedisServer(base)
    replica = RedisServer(base + 1, replicaof=base)
    sentinel = RedisSentinel(base + 2, master_name, base)
    for p in (master, replica, sentinel):
        add_cleanup(p.stop)
    master.start()
    replica.start()
    replica.wait_replicating()
    sentinel.start()
    sentinel.wait_master(base)
    return master, replica, sentinel
