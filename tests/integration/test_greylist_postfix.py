"""test_greylist_postfix.py — postern-greylist behind a real Postfix (check_policy_service).

A private Postfix (deploy/postfix-instance) asks the real postern-greylist binary at RCPT:

    smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:PORT,
        permit_mynetworks, reject_unauth_destination

XCLIENT ADDR=/NAME= presents the client the triplet is made of (every test client connects
from 127.0.0.1). The daemon runs with a 1 s --delay (time is real here; the state machine's
timing is covered with an injected clock in tests/unit/greylist_state_test.cpp), an LMDB
store in the temp dir, a postgrey-format whitelist file, and --auto-whitelist-clients 2
with --auto-whitelist-interval 0 (postgrey counts one pass an hour).

GreylistPostfixTests: first attempt 450 4.7.1 with the seconds left, nothing queued; the
retry after the delay accepted and delivered with an X-Greylist header; whitelisted client
(by address and by name) accepted at once without a header; a client auto-whitelisted after
2 successful retries accepted at once for a new sender.

Needs root and POSTERN_IT_GREYLIST_BIN (set by tests/integration/greylist.cmake).
"""

import os
import time
import unittest

import harness

BIN = os.environ.get("POSTERN_IT_GREYLIST_BIN")
DELAY = 1
BODY = "From: {sender}\r\nTo: {rcpt}\r\nSubject: greylist {tag}\r\n\r\nbody {tag}\r\n"


class GreylistEnv:
    """Postfix + smtp-sink + postern-greylist in one temp dir."""

    def __init__(self, name, args=()):
        self.env = harness.Env(name, relay_domains="example.net", adapter=harness.NoMilter())
        with self.env.starting():
            wl = os.path.join(self.env.tmp, "whitelist_clients")
            with open(wl, "w") as f:
                f.write("# postgrey format\nwhitelisted.example\n198.51.100.0/24\n")
            self.daemon = self.env.start_policy_daemon(
                "postern-greylist", BIN,
                ["--store", "lmdb:" + os.path.join(self.env.tmp, "greylist.mdb"),
                 "--delay", str(DELAY), "--whitelist-clients", wl,
                 "--auto-whitelist-clients", "2", "--auto-whitelist-interval", "0",
                 "--hostname", "gw.test", "--log-level", "debug"] + list(args))
            self.env.start_postfix(milter=False, extra_sets=[
                harness.policy_restrictions(self.daemon.postfix_spec)])

    def close(self):
        self.env.close()

    def transaction(self, xclient, sender, rcpt="bob@example.net", tag="t"):
        """One SMTP transaction; returns ((rcpt code, text), queue id or None)."""
        (reply,), qid = self.env.transaction(
            sender, [rcpt], BODY.format(sender=sender, rcpt=rcpt, tag=tag), xclient=xclient,
            accept=(250,))
        return reply, qid


@unittest.skipUnless(BIN, "POSTERN_IT_GREYLIST_BIN not set")
class GreylistPostfixTests(harness.MarksEnvFailed, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.g = GreylistEnv("greylist")

    @classmethod
    def tearDownClass(cls):
        cls.g.close()

    def failed_env(self):
        return self.g.env

    def assert_greylisted(self, reply):
        code, text = reply
        self.assertEqual(code, 450, "got %d %s, want 450" % reply)
        self.assertRegex(text, r"^4\.7\.1 .*Greylisted, try again in [01] seconds")

    def accepted(self, xclient, sender, **kw):
        reply, qid = self.g.transaction(xclient, sender, **kw)
        self.assertEqual(reply[0], 250, "RCPT got %d %s, want 250" % reply)
        return self.g.env.wait_delivered(qid)

    def test_first_attempt_450_then_accepted_after_delay(self):
        client = {"ADDR": "192.0.2.10"}
        reply, qid = self.g.transaction(client, "alice@sender.example", tag="first")
        self.assert_greylisted(reply)
        self.assertIsNone(qid)
        empty, text = self.g.env.queue_empty()
        self.assertTrue(empty, "queue not empty:\n" + text)
        time.sleep(DELAY + 0.2)
        msg = self.accepted(client, "alice@sender.example", tag="retry")
        (hdr,) = msg.headers("X-Greylist")
        self.assertRegex(str(hdr), r"^delayed [12] seconds by postern-greylist-\S+ at gw\.test; ")
        # a later message of the same triplet: no delay, no header
        msg = self.accepted(client, "alice@sender.example", tag="later")
        self.assertEqual(msg.headers("X-Greylist"), [])

    def test_whitelisted_client_accepted_at_once(self):
        msg = self.accepted({"ADDR": "198.51.100.7"}, "bob@sender.example")
        self.assertEqual(msg.headers("X-Greylist"), [])
        msg = self.accepted({"ADDR": "203.0.113.77", "NAME": "mx2.whitelisted.example"},
                            "carol@sender.example")
        self.assertEqual(msg.headers("X-Greylist"), [])

    def test_auto_whitelisted_after_two_retries(self):
        client = {"ADDR": "203.0.113.9"}
        for n in (1, 2):
            sender = "s%d@awl.example" % n
            reply, _ = self.g.transaction(client, sender, tag="awl%d" % n)
            self.assert_greylisted(reply)
            time.sleep(DELAY + 0.2)
            self.accepted(client, sender, tag="awl%d-retry" % n)
        # 2 successful retries: a new sender from this client is not greylisted
        msg = self.accepted(client, "new@awl.example", tag="awl-new")
        self.assertEqual(msg.headers("X-Greylist"), [])
        # the auto-whitelist is per address: a neighbour in the same /24 still waits
        reply, _ = self.g.transaction({"ADDR": "203.0.113.10"}, "other@awl.example")
        self.assert_greylisted(reply)


if __name__ == "__main__":
    unittest.main()
