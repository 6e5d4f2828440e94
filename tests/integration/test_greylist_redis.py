"""test_greylist_redis.py — postern-greylist on a real Redis (tests/integration/redis_server.py),
spoken to over the Postfix policy protocol directly (no Postfix needed for store behaviour).

GreylistRedisTests: two postern-greylist processes on one redis-server see each other's
triplets (greylisted by one, passed by the other after the delay); redis-server killed mid-run
→ every request answered at once with the fault action (default DUNNO, fail-open; a daemon
with --fault-action DEFER_IF_PERMIT answers that), no crash, one backend-down log line per
outage; redis-server restarted → greylisting again without restarting the daemons, and a
backend-up line.

GreylistSentinelTests: --store redis-sentinel://...: the master is found through Sentinel;
after the master is killed and Sentinel promotes the replica, the daemon follows it and the
replicated triplet is still known.

Ports: POSTERN_IT_PORT_BASE + 0 redis (+1 replica, +2 sentinel), + 4..6 daemons.
"""

import os
import socket
import time
import unittest

import harness
from redis_server import RedisServer, start_replicated

BIN = os.environ.get("POSTERN_IT_GREYLIST_BIN")
DELAY = 1


class PolicyClient:
    """One persistent policy connection, as Postfix keeps them."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.sock.makefile("rb")

    def ask(self, client="192.0.2.10", sender="alice@example.com", rcpt="bob@example.net",
            instance="i1"):
        req = ("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n"
               "client_name=unknown\nsender=%s\nrecipient=%s\ninstance=%s\n\n"
               % (client, sender, rcpt, instance))
        self.sock.sendall(req.encode())
        line = self.f.readline().decode().rstrip("\n")
        blank = self.f.readline()
        if not line.startswith("action=") or blank != b"\n":
            raise AssertionError("bad policy reply %r %r" % (line, blank))
        return line[len("action="):]

    def close(self):
        self.f.close()
        self.sock.close()


def daemon(tmp, name, port, store, *args):
    d = harness.PolicyDaemon(tmp, name, BIN, port,
                             ["--store", store, "--delay", str(DELAY), "--store-timeout", "0.3",
                              "--skip-networks", "127.0.0.0/8"] + list(args))
    d.start()
    return d


@unittest.skipUnless(BIN, "POSTERN_IT_GREYLIST_BIN not set")
class GreylistRedisTests(unittest.TestCase):
    def setUp(self):
        self.base = harness.port_base()
        self.tmp = self.enterContext_tmp()
        self.redis = RedisServer(self.base)
        self.addCleanup(self.redis.stop)
        self.redis.start()
        self.a = daemon(self.tmp, "greylist-a", self.base + 4, self.redis.url)
        self.addCleanup(self.a.stop)
        self.b = daemon(self.tmp, "greylist-b", self.base + 5, self.redis.url)
        self.addCleanup(self.b.stop)

    def enterContext_tmp(self):
        import shutil
        import tempfile
        tmp = tempfile.mkdtemp(prefix="postern-it-greylist-redis-")
        self.addCleanup(shutil.rmtree, tmp, True)
        self.addCleanup(self.dump_logs_on_failure)
        return tmp

    def dump_logs_on_failure(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result and (result.failures or result.errors):
            for d in (getattr(self, "a", None), getattr(self, "b", None)):
                if d:
                    print("\n===== %s =====\n%s" % (d.name, d.log()[-5000:]))

    def client(self, d):
        c = PolicyClient(d.port)
        self.addCleanup(c.close)
        return c

    def test_two_daemons_share_triplets(self):
        a, b = self.client(self.a), self.client(self.b)
        self.assertRegex(a.ask(), r"^DEFER_IF_PERMIT 4\.7\.1 Greylisted, try again in 1 seconds$")
        self.assertRegex(b.ask(), r"^DEFER_IF_PERMIT ", "b must see a's triplet as still early")
        time.sleep(DELAY + 0.2)
        self.assertTrue(b.ask(instance="i2").startswith("PREPEND X-Greylist: delayed "))
        self.assertEqual(a.ask(instance="i3"), "DUNNO")
        keys = self.redis.command("KEYS", "postern:greylist:t:*")
        self.assertEqual(keys, ["postern:greylist:t:192.0.2.0/alice@example.com/bob@example.net"])
        ttl = self.redis.command("TTL", keys[0])
        self.assertGreater(ttl, 34 * 86400, "a passed triplet lives max-age (35 days)")

    def test_redis_killed_fail_open_then_recovers(self):
        strict = daemon(self.tmp, "greylist-strict", self.base + 6, self.redis.url,
                        "--fault-action", "DEFER_IF_PERMIT 4.3.0 Greylisting store unavailable")
        self.addCleanup(strict.stop)
        a, s = self.client(self.a), self.client(strict)
        self.assertTrue(a.ask().startswith("DEFER_IF_PERMIT 4.7.1"))
        self.redis.kill()
        started = time.monotonic()
        for i in range(5):
            self.assertEqual(a.ask(sender="x%d@example.com" % i), "DUNNO")
        self.assertLess(time.monotonic() - started, 2.0, "fail-open must not wait long")
        self.assertEqual(s.ask(), "DEFER_IF_PERMIT 4.3.0 Greylisting store unavailable")
        self.assertIsNone(self.a.proc.poll(), "daemon a died")
        self.redis.start()
        time.sleep(0.6)  # the client's retry interval after a failed connect
        deadline = time.monotonic() + 5
        while True:
            reply = a.ask(sender="after@example.com")
            if reply.startswith("DEFER_IF_PERMIT 4.7.1") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertTrue(reply.startswith("DEFER_IF_PERMIT 4.7.1"), "got %r after restart" % reply)
        log = self.a.log()
        self.assertEqual(log.count("backend-down"), 1, log[-3000:])
        self.assertEqual(log.count("backend-up"), 1, log[-3000:])


@unittest.skipUnless(BIN, "POSTERN_IT_GREYLIST_BIN not set")
class GreylistSentinelTests(unittest.TestCase):
    def setUp(self):
        import shutil
        import tempfile
        self.base = harness.port_base()
        self.tmp = tempfile.mkdtemp(prefix="postern-it-greylist-sentinel-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.master, self.replica, self.sentinel = start_replicated(
            self.base, "greylist", self.addCleanup)
        self.d = daemon(self.tmp, "greylist-s", self.base + 4, self.sentinel.url())
        self.addCleanup(self.d.stop)

    def test_follows_failover(self):
        c = PolicyClient(self.d.port)
        self.addCleanup(c.close)
        self.assertTrue(c.ask().startswith("DEFER_IF_PERMIT 4.7.1"))
        self.master.command("WAIT", "1", "1000")  # the triplet reached the replica
        self.master.kill()
        self.sentinel.wait_master(self.base + 1, timeout=30)
        time.sleep(DELAY)
        deadline = time.monotonic() + 10
        while True:
            reply = c.ask(instance="i2")
            if reply != "DUNNO" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        self.assertTrue(reply.startswith("PREPEND X-Greylist: delayed "),
                        "got %r: the promoted replica must know the triplet" % reply)
        self.assertIn("redis-master", self.d.log())


if __name__ == "__main__":
    unittest.main()
