"""test_redis_client.py — the shared Redis client (common/redis.hpp) against a real
redis-server and redis-sentinel, driven through tests/integration/redis_probe:
TCP URL, server killed and restarted under one long-lived client (fault, then
reconnect without restart), Sentinel master discovery, and failover to a
promoted replica (killed master, and a forced SENTINEL FAILOVER → READONLY).

Ports: block POSTERN_IT_PORT_BASE + 0..3 (master, replica, sentinel).
"""

import os
import subprocess
import time
import unittest

import harness
from redis_server import RedisServer, start_replicated

PROBE = os.environ.get("POSTERN_IT_REDIS_PROBE_BIN")


class Probe:
    """One redis_probe process: one Client for the whole test."""

    def __init__(self, url):
        self.proc = subprocess.Popen([PROBE, url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)

    def run(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().rstrip("\n")
        kind, _, text = out.partition(" ")
        if kind not in ("reply", "error"):
            raise AssertionError("probe said %r" % out)
        return kind, text

    def until_reply(self, line, timeout):
        """Repeats `line` until it gets a reply; returns (reply, errors seen)."""
        errors = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            kind, text = self.run(line)
            if kind == "reply":
                return text, errors
            errors.append(text)
            time.sleep(0.1)
        raise AssertionError("no reply to %r in %.0f s; errors: %s" % (line, timeout, errors[-3:]))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(5)
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        return err


@unittest.skipUnless(PROBE, "POSTERN_IT_REDIS_PROBE_BIN not set")
class RedisTcpTests(unittest.TestCase):
    def setUp(self):
        self.base = harness.port_base()
        self.server = RedisServer(self.base)
        self.addCleanup(self.server.stop)
        self.server.start()

    def test_kill_and_restart_recovers_without_new_client(self):
        probe = Probe(self.server.url)
        self.addCleanup(lambda: probe.proc.poll() is None and probe.proc.kill())
        self.assertEqual(probe.run("SET greeting hello"), ("reply", "OK"))
        self.assertEqual(probe.run("GET greeting"), ("reply", "hello"))
        self.server.kill()
        kind, text = probe.run("GET greeting")
        self.assertEqual(kind, "error", "got %s %s, want an error with the server killed" % (kind, text))
        self.assertEqual(probe.run("PING")[0], "error")
        self.server.start()
        reply, _ = probe.until_reply("PING", 5)
        self.assertEqual(reply, "PONG")
        self.assertEqual(probe.run("GET greeting"), ("reply", "(nil)"))  # no persistence
        log = probe.close()
        self.assertEqual(log.count("backend-down"), 1, log)
        self.assertEqual(log.count("backend-up"), 1, log)


@unittest.skipUnless(PROBE, "POSTERN_IT_REDIS_PROBE_BIN not set")
class RedisSentinelTests(unittest.TestCase):
    def setUp(self):
        self.base = harness.port_base()
        self.master, self.replica, self.sentinel = start_replicated(
            self.base, "postern", self.addCleanup)
        # Sentinel must have found the replica before it can promote it.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.sentinel.command("SENTINEL", "replicas", "postern"):
                break
            time.sleep(0.1)

    def start_probe(self):
        probe = Probe(self.sentinel.url())
        self.addCleanup(lambda: probe.proc.poll() is None and probe.proc.kill())
        return probe

    def test_discovers_master(self):
        probe = self.start_probe()
        self.assertEqual(probe.run("SET k v"), ("reply", "OK"))
        self.assertEqual(probe.run("server"), ("reply", "127.0.0.1:%d" % self.base))
        self.assertEqual(self.master.command("GET", "k"), "v")

    def test_follows_failover_after_master_killed(self):
        probe = self.start_probe()
        self.assertEqual(probe.run("SET before 1"), ("reply", "OK"))
        self.master.kill()
        self.sentinel.wait_master(self.base + 1)
        reply, errors = probe.until_reply("SET after 2", 10)
        self.assertEqual(reply, "OK")
        self.assertEqual(probe.run("server"), ("reply", "127.0.0.1:%d" % (self.base + 1)))
        self.assertEqual(self.replica.command("GET", "after"), "2")
        self.assertLessEqual(len(errors), 3, errors)

    def test_forced_failover_readonly_reasks_sentinel(self):
        probe = self.start_probe()
        self.assertEqual(probe.run("SET x 1"), ("reply", "OK"))
        deadline = time.monotonic() + 15
        while True:  # NOGOODSLAVE until Sentinel has polled the replica's INFO (up to 10 s)
            try:
                self.sentinel.command("SENTINEL", "FAILOVER", "postern")
                break
            except RuntimeError as e:
                if "NOGOODSLAVE" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.sentinel.wait_master(self.base + 1)
        # Sentinel demotes the old master at its next INFO poll (up to 10 s); do it now, as it
        # would. Writes on the client's pooled connection to it then get READONLY, and the
        # client must ask Sentinel again and write to the new master.
        self.master.command("REPLICAOF", "127.0.0.1", str(self.base + 1))
        reply, errors = probe.until_reply("SET y 2", 10)
        self.assertEqual(reply, "OK")
        self.assertEqual(self.replica.command("GET", "y"), "2")
        self.assertEqual(errors, [], "READONLY must be retried on the new master at once")


if __name__ == "__main__":
    unittest.main()
