"""test_rcpt_postfix.py — postern-rcpt behind a real Postfix (check_policy_service) with a real
slapd (slapd_server.py: Active-Directory-style proxyAddresses, users, a group, a public folder):

    smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:PORT,
        permit_mynetworks, reject_unauth_destination

RcptVerdictTests: primary and secondary addresses in any case, a group and a public folder →
250 and delivered; an unknown recipient → 450 4.1.1 (the default final action) with nothing
naming a server; the RFC 4515 injection "*)(uid=*" and a bare "*" local part → 450 4.1.1 (not
accepted, not a fault); a domain outside --relay-domains → not checked; the access table wins
over LDAP (REJECT for an existing user, OK for one LDAP does not know) and SIGHUP reloads it;
repeat lookups come from the cache (slapd sees one search).
RcptFaultTests: slapd stopped → 450 4.4.3 (DEFER_IF_PERMIT, never 5xx), one
"backend-down backend=ldap" line for several faults and one backend-up, accepted again once slapd
is back; slapd frozen (SIGSTOP) → 450 4.4.3 within the LDAP timeout, one backend-down
kind=timeout, the metrics, recovery after SIGCONT; /healthz stays 200 during both outages while
postern_rcpt_ldap_up is 0 (policyd/rcpt/README.md says why); the bind refused → 450 4.4.3.
RcptFinalActionTests: --final-action reject → 550 5.1.1; dry-run → accepted and logged.
RcptRedisTests (real redis-server, docker-postfix-redis keys): VALI:<address> valid, a domain
listed only by VDOM:<domain> checked; Redis killed → 450 4.4.3 for what LDAP does not know, one
backend-down line. RcptRedisFrozenTests: Redis frozen (SIGSTOP) → 450 4.4.3 within
--redis-timeout, one backend-down line, the metrics, /healthz 200, recovery after SIGCONT.
RcptRedisCacheTests: --redis-cache keeps answers in Redis with the positive
and negative TTLs, and another gateway's cached answer is used while slapd is down.
RcptCheckConfigTests: --check-config exit codes and messages.

Needs root and POSTERN_IT_RCPT_BIN (set by tests/integration/rcpt.cmake).
"""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness
from redis_server import RedisServer
from slapd_server import SlapdServer, group_ldif, public_folder_ldif, user_ldif

SLAPD_OFF, METRICS_OFF, REDIS_OFF = 6, 7, 8  # in the harness's port block (0..5 are taken)
METRICS_ARGS = ("--metrics-listen", "127.0.0.1:%d" % (harness.port_base() + METRICS_OFF))

DIRECTORY = (user_ldif("alice", "alice@example.org", ["a.smith@example.org",
                                                      "alice@legacy.example.org"])
             + user_ldif("bob", "Bob.Jones@example.org")
             + user_ldif("closed", "closed@example.org")
             + group_ldif("sales", "sales@example.org", ["orders@example.org"])
             + public_folder_ldif("archive", "archive@example.org"))

TABLE = "closed@example.org  REJECT This mailbox is closed\ntemp@example.org  OK\n"

BODY = "From: sender@example.com\r\nTo: x@example.org\r\nSubject: rcpt {tag}\r\n\r\nbody\r\n"


def rcpt_binary():
    return harness.daemon_binary("POSTERN_IT_RCPT_BIN")


class RcptEnv:
    """Postfix + smtp-sink + slapd + postern-rcpt in one temp dir."""

    def __init__(self, name, rcpt_args=(), bind_password=None, redis=False):
        binary = rcpt_binary()
        self.env = harness.Env(name, relay_domains="example.org legacy.example.org example.net "
                               "redis-only.example", adapter=harness.NoMilter())
        self.redis = None
        with self.env.starting():
            if redis:
                self.redis = self.env.own(RedisServer(self.env.base + REDIS_OFF))
                self.redis.start()
                self.seed_redis()
                rcpt_args = ["--redis-url", self.redis.url, "--redis-timeout", "0.5"] + list(
                    rcpt_args)
            self.slapd = self.env.own(
                SlapdServer(self.env.tmp, self.env.base + SLAPD_OFF, ldif=DIRECTORY))
            self.slapd.start()
            self.table = os.path.join(self.env.tmp, "rcpt_access")
            with open(self.table, "w") as f:
                f.write(TABLE)
            pw = os.path.join(self.env.tmp, "bind.pw")
            with open(pw, "w") as f:
                f.write((bind_password or self.slapd.reader_password) + "\n")
            self.rcpt = self.env.start_policy_daemon(
                "postern-rcpt", binary,
                ["--relay-domains", "example.org .example.org",
                 "--ldap-servers", self.slapd.uri,
                 "--ldap-bind-dn", self.slapd.reader_dn, "--ldap-bind-password-file", pw,
                 "--ldap-search-base", self.slapd.suffix,
                 "--ldap-timeout", "1", "--ldap-network-timeout", "1",
                 "--access-table", self.table] + list(rcpt_args))
            self.env.start_postfix(milter=False, extra_sets=[
                harness.policy_restrictions(self.rcpt.postfix_spec)])

    def close(self, failed=False):
        self.env.failed = self.env.failed or failed
        self.env.close()

    def seed_redis(self):
        """The docker-postfix-redis key schema: VALI:<address>, VDOM:<domain>."""
        for key, value in (("VALI:dave@example.org", "dave@example.org"),
                           ("VALI:eve@redis-only.example", "eve@redis-only.example"),
                           ("VDOM:redis-only.example", "redis-only.example")):
            self.redis.command("SET", key, value)

    def rcpt_replies(self, rcpts, tag="t"):
        """One transaction: RCPT for each address; DATA when one was accepted. Returns
        ([(code, text)], queue id or None)."""
        return self.env.transaction("sender@example.com", rcpts, BODY.format(tag=tag),
                                    accept=(250,), rcpt_command=True)


class RcptCase(harness.MarksEnvFailed, unittest.TestCase):
    NAME = "rcpt"
    ARGS = ()
    BIND_PASSWORD = None
    REDIS = False

    @classmethod
    def setUpClass(cls):
        cls.r = RcptEnv(cls.NAME, cls.ARGS, cls.BIND_PASSWORD, cls.REDIS)

    @classmethod
    def tearDownClass(cls):
        cls.r.close()

    def failed_env(self):
        return self.r.env

    def reply(self, address):
        ((code, text),), _ = self.r.rcpt_replies([address])
        return code, text

    def assert_reply(self, address, code, status):
        got_code, text = self.reply(address)
        self.assertEqual((got_code, text.split(" ")[0]), (code, status),
                         "RCPT %s: got %d %s, want %d %s" % (address, got_code, text, code, status))
        return text

    # With METRICS_ARGS only:
    def http_get(self, path):
        """(status, body) of GET path on the metrics server; 503 is an answer, not an error."""
        url = "http://127.0.0.1:%d%s" % (self.r.env.base + METRICS_OFF, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as f:
                return f.status, f.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        status, text = self.http_get("/metrics")
        self.assertEqual(status, 200, text)
        return text

    def metric(self, text, series):
        m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
        self.assertTrue(m, "no %s in\n%s" % (series, text))
        return float(m.group(1))

    def assert_deltas(self, before, after, deltas):
        for series, delta in deltas:
            self.assertEqual(self.metric(after, series) - self.metric(before, series), delta,
                             series)

    def assert_healthy(self):
        """/healthz is the daemon's own health: 200 "ok" even while a backend is down."""
        self.assertEqual(self.http_get("/healthz"), (200, "ok\n"))


class RcptVerdictTests(RcptCase):
    NAME = "rcpt-verdict"

    def test_existing_recipients_any_case_accepted_and_delivered(self):
        rcpts = ["alice@example.org", "ALICE@EXAMPLE.ORG", "a.smith@example.org",
                 "A.Smith@Example.Org", "alice@legacy.example.org", "bob.jones@example.org",
                 "sales@example.org", "Orders@example.org", "archive@example.org"]
        replies, qid = self.r.rcpt_replies(rcpts)
        for r, (code, text) in zip(rcpts, replies):
            self.assertEqual(code, 250, "RCPT %s: got %d %s" % (r, code, text))
        self.r.env.wait_delivered(qid)

    def test_unknown_recipient_gets_450_4_1_1(self):
        text = self.assert_reply("nobody@example.org", 450, "4.1.1")
        self.assertIn("<nobody@example.org>: Recipient address rejected: User unknown", text)
        self.assertNotIn("127.0.0.1", text)
        self.assertNotIn("ldap", text.lower())
        (event,) = self.r.rcpt.events("rcpt-unknown", recipient="nobody@example.org")
        self.assertEqual(event["action"], "450 4.1.1 User unknown")

    def test_ldap_injection_is_refused_not_matched(self):
        outages = len(self.r.rcpt.events("backend-down"))
        # Unescaped, "*" would match every proxyAddresses value and "*)(uid=*" would turn the
        # filter into a broken one (a fault, 4.4.3); escaped, both are unknown: 4.1.1. (Postfix
        # reads an unquoted "*)(uid=*@example.org" as RFC 822 comments, so it is sent quoted.)
        for address in ("*@example.org", '"*)(uid=*"@example.org', '"*)(uid=*)("@example.org'):
            code, text = self.reply(address)
            self.assertEqual((code, text.split(" ")[0]), (450, "4.1.1"),
                             "RCPT %s: got %d %s" % (address, code, text))
        self.assertEqual(len(self.r.rcpt.events("backend-down")), outages)

    def test_other_domain_not_checked(self):
        replies, qid = self.r.rcpt_replies(["nobody@example.net"])
        self.assertEqual(replies[0][0], 250, replies)
        self.r.env.wait_delivered(qid)
        self.assertFalse(self.r.rcpt.events("rcpt-unknown", recipient="nobody@example.net"))

    def test_table_override_wins_and_sighup_reloads(self):
        text = self.assert_reply("closed@example.org", 554, "5.7.1")  # exists in LDAP
        self.assertIn("This mailbox is closed", text)
        self.assert_reply("temp@example.org", 250, "2.1.5")  # LDAP does not know it
        with open(self.r.table, "w") as f:
            f.write("bob.jones@example.org 550 5.1.6 Recipient has moved\n")
        self.r.rcpt.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while len(self.r.rcpt.events("rcpt-table-loaded")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            self.assert_reply("bob.jones@example.org", 550, "5.1.6")
            self.assert_reply("closed@example.org", 250, "2.1.5")  # LDAP again
            self.assert_reply("temp@example.org", 450, "4.1.1")
            # a broken table is refused and the loaded one kept
            with open(self.r.table, "w") as f:
                f.write("bob.jones@example.org NO_SUCH_ACTION\n")
            self.r.rcpt.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while not self.r.rcpt.events("rcpt-table-error") and time.monotonic() < deadline:
                time.sleep(0.05)
            (err,) = self.r.rcpt.events("rcpt-table-error")
            self.assertIn(self.r.table + ":1: 'NO_SUCH_ACTION'", err["error"])
            self.assert_reply("bob.jones@example.org", 550, "5.1.6")
        finally:
            with open(self.r.table, "w") as f:
                f.write(TABLE)
            self.r.rcpt.proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)

    def test_answers_are_cached(self):
        self.assert_reply("cached-unknown@example.org", 450, "4.1.1")
        self.assert_reply("Orders@Example.org", 250, "2.1.5")
        self.r.slapd.stop()  # from now on only the cache can answer
        try:
            self.assert_reply("cached-unknown@example.org", 450, "4.1.1")
            self.assert_reply("orders@example.org", 250, "2.1.5")
            self.assert_reply("not-cached@example.org", 450, "4.4.3")
        finally:
            self.r.slapd.start()


class RcptFaultTests(RcptCase):
    NAME = "rcpt-fault"
    ARGS = METRICS_ARGS

    def test_slapd_stopped_gives_450_4_4_3_and_one_outage_line(self):
        self.assert_reply("alice@example.org", 250, "2.1.5")
        outages = len(self.r.rcpt.events("backend-down", backend="ldap"))
        recoveries = len(self.r.rcpt.events("backend-up", backend="ldap"))
        before = self.metrics()
        self.r.slapd.stop()
        try:
            for address in ("bob.jones@example.org", "sales@example.org", "nobody2@example.org"):
                text = self.assert_reply(address, 450, "4.4.3")
                self.assertIn("Recipient verification temporarily unavailable", text)
                self.assertNotIn("127.0.0.1", text)
            self.assertEqual(self.metric(self.metrics(), "postern_rcpt_ldap_up"), 0)
            self.assert_healthy()
        finally:
            self.r.slapd.start()
        self.assert_reply("bob.jones@example.org", 250, "2.1.5")
        down = self.r.rcpt.events("backend-down", backend="ldap")
        self.assertEqual(len(down), outages + 1, self.r.rcpt.log())
        self.assertEqual((down[-1]["kind"], down[-1]["server"]),
                         ("unavailable", self.r.slapd.uri))
        self.assertIn("Can't contact LDAP server", down[-1]["reason"])
        up = self.r.rcpt.events("backend-up", backend="ldap")
        self.assertEqual(len(up), recoveries + 1, self.r.rcpt.log())
        self.assertEqual(up[-1]["server"], self.r.slapd.uri)
        self.assertGreater(float(up[-1]["down_seconds"]), 0)
        self.assertFalse(self.r.rcpt.events("ldap-outage"))  # the old event name is gone
        self.assertFalse(self.r.rcpt.events("policy-error"))
        after = self.metrics()
        self.assert_deltas(before, after, (('postern_rcpt_faults_total{source="ldap"}', 3),
                                           ('postern_rcpt_answers_total{result="fault"}', 3),
                                           ("postern_rcpt_ldap_outages_total", 1)))
        self.assertEqual(self.metric(after, "postern_rcpt_ldap_up"), 1)
        self.assert_healthy()

    def test_frozen_slapd_gives_450_4_4_3_within_the_timeout(self):
        self.assert_reply("alice@example.org", 250, "2.1.5")  # a pooled connection to freeze
        outages = len(self.r.rcpt.events("backend-down", backend="ldap"))
        recoveries = len(self.r.rcpt.events("backend-up", backend="ldap"))
        before = self.metrics()
        self.r.slapd.pause()
        try:
            for address in ("frozen@example.org", "frozen2@example.org"):
                t0 = time.monotonic()
                self.assert_reply(address, 450, "4.4.3")
                # --ldap-timeout 1; the rest is Postfix and the load of a shared machine
                self.assertLess(time.monotonic() - t0, 4.0, address)
            self.assertEqual(self.metric(self.metrics(), "postern_rcpt_ldap_up"), 0)
            self.assert_healthy()
        finally:
            self.r.slapd.resume()
        self.assert_reply("frozen@example.org", 450, "4.1.1")  # unknown, now known to be
        self.assert_reply("archive@example.org", 250, "2.1.5")  # (not cached: tests share it)
        down = self.r.rcpt.events("backend-down", backend="ldap")
        self.assertEqual(len(down), outages + 1, self.r.rcpt.log())
        self.assertEqual((down[-1]["kind"], down[-1]["server"]), ("timeout", self.r.slapd.uri))
        self.assertEqual(len(self.r.rcpt.events("backend-up", backend="ldap")), recoveries + 1,
                         self.r.rcpt.log())
        after = self.metrics()
        self.assert_deltas(before, after, (('postern_rcpt_faults_total{source="ldap"}', 2),
                                           ('postern_rcpt_ldap_errors_total{kind="timeout"}', 2),
                                           ("postern_rcpt_ldap_outages_total", 1)))
        self.assertEqual(self.metric(after, "postern_rcpt_ldap_up"), 1)


class RcptBindRefusedTests(RcptCase):
    NAME = "rcpt-bind"
    BIND_PASSWORD = "wrong"

    def test_refused_bind_gives_450_4_4_3(self):
        self.assert_reply("alice@example.org", 450, "4.4.3")
        (outage,) = self.r.rcpt.events("backend-down", backend="ldap")
        self.assertEqual((outage["kind"], outage["server"]), ("bind", self.r.slapd.uri))
        self.assertIn("Invalid credentials", outage["reason"])


class RcptFinalActionTests(unittest.TestCase):
    def test_reject_and_dry_run(self):
        for action, code, status in (("reject", 550, "5.1.1"), ("dry-run", 250, "2.1.5")):
            r = RcptEnv("rcpt-final-" + action, ["--final-action", action])
            try:
                ((got, text),), _ = r.rcpt_replies(["nobody@example.org"])
                self.assertEqual((got, text.split(" ")[0]), (code, status), text)
                (event,) = r.rcpt.events("rcpt-unknown", recipient="nobody@example.org")
                self.assertEqual(event["action"], "dry-run" if action == "dry-run"
                                 else "550 5.1.1 User unknown")
            except Exception:
                r.close(failed=True)
                raise
            r.close()


class RcptRedisTests(RcptCase):
    """Redis as the third source (after the table and LDAP) and for the relay domains."""
    NAME = "rcpt-redis"
    REDIS = True

    def test_valid_in_redis_or_ldap(self):
        for address in ("dave@example.org", "Dave@Example.org", "alice@example.org",
                        "eve@redis-only.example"):
            self.assert_reply(address, 250, "2.1.5")
        self.assert_reply("nobody@example.org", 450, "4.1.1")
        self.assert_reply("nobody@redis-only.example", 450, "4.1.1")  # VDOM: checked
        self.assert_reply("nobody@example.net", 250, "2.1.5")  # neither listed nor VDOM

    def test_redis_down_is_a_fault_not_unknown(self):
        self.assert_reply("alice@example.org", 250, "2.1.5")  # LDAP answers first
        self.r.redis.kill()
        try:
            # unknown to LDAP: Redis must be asked and cannot answer
            for address in ("nobody2@example.org", "dave2@example.org"):
                self.assert_reply(address, 450, "4.4.3")
            self.assert_reply("bob.jones@example.org", 250, "2.1.5")  # LDAP knows him
        finally:
            self.r.redis.start()
            self.r.seed_redis()
        time.sleep(0.6)  # the client's retry interval after a failed connect
        self.assert_reply("dave@example.org", 250, "2.1.5")
        self.assertEqual(len(self.r.rcpt.events("backend-down", backend="rcpt-redis")), 1,
                         self.r.rcpt.log())
        self.assertEqual(len(self.r.rcpt.events("backend-up", backend="rcpt-redis")), 1)


class RcptRedisFrozenTests(RcptCase):
    """A slow Redis, not a dead one: SIGSTOP leaves the port accepting, nothing answers."""
    NAME = "rcpt-redis-frozen"
    REDIS = True  # --redis-timeout 0.5
    ARGS = METRICS_ARGS

    def test_frozen_redis_gives_450_4_4_3_within_the_timeout(self):
        self.assert_reply("dave@example.org", 250, "2.1.5")  # a pooled connection to freeze
        self.r.redis.command("SET", "VALI:frank@example.org", "frank@example.org")
        before = self.metrics()
        self.r.redis.pause()
        try:
            # unknown to LDAP: Redis must be asked and does not answer
            for address in ("nobody3@example.org", "dave3@example.org", "Dave4@example.org"):
                t0 = time.monotonic()
                text = self.assert_reply(address, 450, "4.4.3")
                self.assertLess(time.monotonic() - t0, 3.0, address)
                self.assertNotIn("127.0.0.1", text)
            self.assert_reply("bob.jones@example.org", 250, "2.1.5")  # LDAP knows him
            self.assertEqual(self.metric(self.metrics(), "postern_rcpt_redis_up"), 0)
            self.assert_healthy()
        finally:
            self.r.redis.resume()
        # After SIGCONT (and the client's 0.5 s retry interval after a failed connect, if any):
        # (dave@ would come from the memory cache now; frank@ is new and only Redis knows him)
        deadline = time.monotonic() + 5
        while self.reply("frank@example.org")[0] != 250 and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assert_reply("frank@example.org", 250, "2.1.5")
        self.assert_reply("nobody3@example.org", 450, "4.1.1")  # a fault was not cached
        (down,) = self.r.rcpt.events("backend-down", backend="rcpt-redis")
        self.assertTrue(down["reason"], down)
        (up,) = self.r.rcpt.events("backend-up", backend="rcpt-redis")
        self.assertGreater(float(up["down_seconds"]), 0)
        self.assertFalse(self.r.rcpt.events("backend-down", backend="ldap"))
        self.assertFalse(self.r.rcpt.events("policy-error"))
        after = self.metrics()
        faults = self.metric(after, 'postern_rcpt_faults_total{source="redis"}') - self.metric(
            before, 'postern_rcpt_faults_total{source="redis"}')
        self.assertGreaterEqual(faults, 3)  # 3, more if a retry during recovery hit the window
        self.assert_deltas(before, after, (("postern_rcpt_redis_outages_total", 1),))
        self.assertEqual(self.metric(after, "postern_rcpt_redis_up"), 1)
        self.assert_healthy()


class RcptRedisCacheTests(RcptCase):
    """--redis-cache: the positive and negative answers live in Redis, shared by gateways."""
    NAME = "rcpt-redis-cache"
    REDIS = True
    ARGS = ("--redis-cache", "--positive-ttl", "3600", "--negative-ttl", "300")

    def test_answers_shared_through_redis_with_their_ttls(self):
        self.assert_reply("alice@example.org", 250, "2.1.5")
        self.assert_reply("nobody@example.org", 450, "4.1.1")
        r = self.r.redis
        self.assertEqual(r.command("GET", "postern:rcpt:alice@example.org"), "1")
        self.assertEqual(r.command("GET", "postern:rcpt:nobody@example.org"), "0")
        self.assertTrue(3590_000 < r.command("PTTL", "postern:rcpt:alice@example.org")
                        <= 3600_000)
        self.assertTrue(290_000 < r.command("PTTL", "postern:rcpt:nobody@example.org")
                        <= 300_000)
        # Another gateway's answer, written to the shared cache, is used as is.
        r.command("SET", "postern:rcpt:other-gw@example.org", "1", "PX", "60000")
        self.r.slapd.stop()
        try:
            self.assert_reply("other-gw@example.org", 250, "2.1.5")
            self.assert_reply("alice@example.org", 250, "2.1.5")
            self.assert_reply("nobody@example.org", 450, "4.1.1")
            self.assert_reply("not-cached@example.org", 450, "4.4.3")
        finally:
            self.r.slapd.start()


class RcptCheckConfigTests(unittest.TestCase):
    """--check-config: the table parses, the directory answers and accepts the bind."""

    def setUp(self):
        self.binary = rcpt_binary()
        self.tmp = tempfile.mkdtemp(prefix="postern-rcpt-check-")
        self.slapd = SlapdServer(self.tmp, harness.port_base() + SLAPD_OFF, ldif=DIRECTORY)
        self.slapd.start()
        self.pw = os.path.join(self.tmp, "bind.pw")
        with open(self.pw, "w") as f:
            f.write(self.slapd.reader_password + "\n")
        self.table = os.path.join(self.tmp, "rcpt_access")
        with open(self.table, "w") as f:
            f.write(TABLE)

    def tearDown(self):
        self.slapd.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, **overrides):
        """Runs --check-config; `overrides` replace options (ldap_scope="all")."""
        options = {"relay-domains": "example.org", "ldap-servers": self.slapd.uri,
                   "ldap-bind-dn": self.slapd.reader_dn, "ldap-bind-password-file": self.pw,
                   "ldap-search-base": self.slapd.suffix, "ldap-timeout": "1",
                   "ldap-network-timeout": "1", "access-table": self.table}
        options.update((k.replace("_", "-"), v) for k, v in overrides.items())
        args = [self.binary, "--check-config"]
        for name, value in options.items():
            args += ["--" + name, value]
        p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        return p.returncode, p.stdout

    def test_good_configuration(self):
        code, out = self.check()
        self.assertEqual(code, 0, out)
        self.assertTrue(out.endswith("postern-rcpt: configuration OK\n"), out)

    def test_directory_down_or_bind_refused(self):
        with open(self.pw, "w") as f:
            f.write("wrong\n")
        code, out = self.check()
        self.assertEqual(code, 69, out)
        self.assertIn("Invalid credentials", out)
        self.slapd.stop()
        code, out = self.check()
        self.assertEqual(code, 69, out)
        self.assertIn("Can't contact LDAP server", out)

    def test_bad_table_and_options(self):
        with open(self.table, "a") as f:
            f.write("x@example.org ACCEPT\n")
        code, out = self.check()
        self.assertEqual(code, 78, out)
        self.assertIn("%s:3: 'ACCEPT' is not an access(5) action" % self.table, out)
        with open(self.table, "w") as f:
            f.write(TABLE)
        for extra, message in (({"final_action": "bounce"}, "'bounce' is not one of defer"),
                               ({"ldap_query_filter": "(mail=%x)"}, "unknown expansion %x"),
                               ({"ldap_scope": "all"}, "scope 'all'"),
                               ({"ldap_servers": "http://x"}, "not an ldap://"),
                               ({"relay_domains": ""}, "no domain to check")):
            code, out = self.check(**extra)
            self.assertEqual(code, 78, out)
            self.assertIn(message, out)


if __name__ == "__main__":
    unittest.main()
