"""test_greylist_spf.py — postern-greylist --skip-spf-pass behind a real Postfix.

A private Postfix (deploy/postfix-instance) asks the real postern-greylist binary at RCPT:

    smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:PORT,
        permit_mynetworks, reject_unauth_destination

XCLIENT ADDR= presents the client address SPF is checked for (every test client connects
from 127.0.0.1) and the EHLO after XCLIENT gives helo_name. postern-greylist evaluates SPF
itself (policy requests carry no headers, so postern-spf's Received-SPF is not visible to it)
with postern-spf's evaluator, resolving through tests/dns/zone_server.py on loopback
(--dns-server 127.0.0.1@PORT, --dns-timeout 0.5, --spf-check-timeout 1). --delay is 60 s, so
a 450 here can only be greylisting.

GreylistSpfTests: a sender whose domain's SPF passes for the client is accepted at once and
delivered without X-Greylist (log: outcome=skip-spf-pass reason=spf-pass; /metrics:
postern_greylist_decisions_total{outcome="skip-spf-pass"} + 1); the null sender
is checked as postmaster@HELO; softfail, none, fail (the pass domain from another client) and
a DNS timeout (the name's server never answers) get 450 4.7.1 Greylisted, never a 5xx,
nothing queued, and the greylist log line names the SPF result; the DNS timeout is answered
within the check budget, not at the request deadline (whose fault action DUNNO would skip).

Needs root and POSTERN_IT_GREYLIST_BIN (set by tests/integration/greylist_spf.cmake).
"""

import os
import time
import unittest
import urllib.request

import harness

BIN = os.environ.get("POSTERN_IT_GREYLIST_BIN")
BODY = "From: {sender}\r\nTo: bob@example.net\r\nSubject: greylist-spf {tag}\r\n\r\nbody\r\n"

ZONE = {
    "pass.example": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "softfail.example": {"TXT": ["v=spf1 ip4:192.0.2.10 ~all"]},
    "nospf.example": {"A": ["192.0.2.99"], "TXT": ["some unrelated text"]},
    "mx.helo.example": {"A": ["198.51.100.7"], "TXT": ["v=spf1 a -all"]},
    "slow.example": {"TIMEOUT": True},
}


@unittest.skipUnless(BIN, "POSTERN_IT_GREYLIST_BIN not set")
class GreylistSpfTests(harness.ClassEnv, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("greylist-spf", relay_domains="example.net",
                              adapter=harness.NoMilter())
        with cls.env.starting():
            cls.dns = cls.env.start_zone_server(ZONE)
            cls.daemon = cls.env.start_policy_daemon(
                "postern-greylist", BIN,
                ["--store", "lmdb:" + os.path.join(cls.env.tmp, "greylist.mdb"),
                 "--delay", "60", "--hostname", "gw.test", "--log-level", "debug",
                 "--skip-spf-pass", "--dns-server", "127.0.0.1@%d" % cls.dns.port,
                 "--dns-timeout", "0.5", "--spf-check-timeout", "1",
                 "--metrics-listen", "127.0.0.1:%d" % cls.env.aux_port])
            cls.env.start_postfix(milter=False, extra_sets=[
                harness.policy_restrictions(cls.daemon.postfix_spec)])

    def transaction(self, client_ip, sender, helo="client.example", tag="t"):
        """One SMTP transaction from XCLIENT ADDR=client_ip; returns
        ((rcpt code, text), queue id or None)."""
        (reply,), qid = self.env.transaction(
            sender, ["bob@example.net"], BODY.format(sender=sender or "<>", tag=tag),
            xclient={"ADDR": client_ip}, helo=helo, accept=(250,))
        return reply, qid

    def assert_accepted(self, client_ip, sender, **kw):
        reply, qid = self.transaction(client_ip, sender, **kw)
        self.assertEqual(reply[0], 250, "RCPT got %d %s, want 250" % reply)
        msg = self.env.wait_delivered(qid)
        self.assertEqual(msg.headers("X-Greylist"), [])
        (line,) = self.daemon.events("greylist", outcome="skip-spf-pass",
                                     client_address=client_ip)
        self.assertEqual(line["reason"], "spf-pass")
        return line

    def assert_greylisted(self, client_ip, sender, spf, **kw):
        reply, qid = self.transaction(client_ip, sender, **kw)
        self.assertEqual(reply[0], 450, "got %d %s, want 450" % reply)
        self.assertRegex(reply[1], r"^4\.7\.1 .*Greylisted, try again in (59|60) seconds")
        self.assertIsNone(qid)
        lines = self.daemon.events("greylist", outcome="greylisted", client_address=client_ip)
        self.assertEqual([l.get("spf") for l in lines], [spf])
        self.assertEqual(self.daemon.events("greylist", outcome="skip-spf-pass",
                                            client_address=client_ip), [])

    def metric(self, series):
        """The value of one /metrics series, e.g. 'x_total{outcome="y"}' (0 if absent)."""
        url = "http://127.0.0.1:%d/metrics" % self.env.aux_port
        with urllib.request.urlopen(url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                name, _, value = line.rpartition(" ")
                if name == series:
                    return float(value)
        return 0.0

    def test_spf_pass_accepted_at_once(self):
        skips = 'postern_greylist_decisions_total{outcome="skip-spf-pass"}'
        passes = 'postern_greylist_spf_checks_total{result="pass"}'
        before = (self.metric(skips), self.metric(passes))
        line = self.assert_accepted("192.0.2.20", "alice@pass.example", tag="pass")
        self.assertEqual(line["sender"], "alice@pass.example")
        self.assertIn("ip4:192.0.2.0/24", line["spf_mechanism"])
        self.assertEqual((self.metric(skips), self.metric(passes)),
                         (before[0] + 1, before[1] + 1))

    def test_null_sender_checked_as_postmaster_at_helo(self):
        self.assert_accepted("198.51.100.7", "", helo="mx.helo.example", tag="bounce")
        self.assert_greylisted("203.0.113.7", "", "fail", helo="mx.helo.example")

    def test_softfail_greylisted(self):
        self.assert_greylisted("203.0.113.6", "carol@softfail.example", "softfail")

    def test_none_greylisted(self):
        self.assert_greylisted("203.0.113.8", "erin@nospf.example", "none")

    def test_pass_domain_from_other_client_greylisted(self):
        self.assert_greylisted("203.0.113.9", "alice@pass.example", "fail")

    def test_dns_timeout_greylisted_within_budget(self):
        start = time.monotonic()
        self.assert_greylisted("203.0.113.10", "ivy@slow.example", "temperror")
        elapsed = time.monotonic() - start
        # --spf-check-timeout 1 + --dns-timeout 0.5, far below the 5 s --request-deadline
        self.assertLess(elapsed, 4.0, "took %.1f s" % elapsed)
        self.assertTrue(self.dns.queries("slow.example"), "no query reached the zone server")
        empty, text = self.env.queue_empty()
        self.assertTrue(empty, "queue not empty:\n" + text)


if __name__ == "__main__":
    unittest.main()
