"""test_spf_postfix.py — postern-spf behind a real Postfix (check_policy_service).

A private Postfix (deploy/postfix-instance) asks the real postern-spf binary at RCPT:

    smtpd_recipient_restrictions = check_policy_service inet:127.0.0.1:PORT,
        permit_mynetworks, reject_unauth_destination

The policy check comes before permit_mynetworks here because every test client connects from
127.0.0.1 (a real deployment puts it after reject_unauth_destination); XCLIENT ADDR= then
presents the address that SPF checks (smtpd_authorized_xclient_hosts = 127.0.0.0/8) and the
EHLO after XCLIENT gives helo_name. postern-spf resolves through tests/dns/zone_server.py on
loopback (--dns-server 127.0.0.1@PORT). Messages are relayed to smtp-sink.

SpfVerdictTests: pass/softfail/none/permerror → accepted with one Received-SPF header naming
the XCLIENT address; fail → 550 5.7.23 at RCPT, nothing delivered; the null sender is checked
as postmaster@HELO; three recipients → one evaluation and one header (also when a later
restriction rejects the first recipient: Postfix keeps that recipient's PREPEND); a loopback
client (--skip-networks) → no check, no header.

SpfFaultTests (fault behaviour, DESIGN.md "never lose mail"): a name whose DNS server never
answers, and the DNS server stopped → temperror → DEFER_IF_PERMIT → 450 4.7.24 at RCPT, never
5xx, nothing delivered or queued, and the same transaction accepted once DNS is back;
postern-spf killed → Postfix's policy client cannot connect, retries
(smtpd_policy_service_try_limit = 2, 1 s apart) and applies
smtpd_policy_service_default_action = 451 4.3.5 "Server configuration problem"; after a
restart Postfix reconnects by itself.

Needs root and POSTERN_IT_SPF_BIN (set by tests/integration/CMakeLists.txt).
"""

import re
import signal
import time
import unittest

import harness

RECEIVER = "spf-it.example"

ZONE = {
    # MAIL FROM domains
    "pass.example": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "fail.example": {"TXT": ["v=spf1 ip4:192.0.2.10 -all"]},
    "softfail.example": {"TXT": ["v=spf1 ip4:192.0.2.10 ~all"]},
    "nospf.example": {"A": ["192.0.2.99"], "TXT": ["some unrelated text"]},
    "broken.example": {"TXT": ["v=spf1 ip4:192.0.2.300 -all"]},
    # HELO names for the null sender (postmaster@HELO): "a" finds the HELO's own address
    "mx.helo.example": {"A": ["198.51.100.7"], "TXT": ["v=spf1 a -all"]},
    # faults
    "slow.example": {"TIMEOUT": True},
    "later.example": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
    "later2.example": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]},
}

BODY = "From: {sender}\r\nTo: bob@example.net\r\nSubject: spf {tag}\r\n\r\nbody {tag}\r\n"


class SpfEnv:
    """Postfix + smtp-sink + zone_server (serving `zone`, default ZONE) + postern-spf in one
    temp dir."""

    def __init__(self, name, spf_args=(), after_policy="", zone=None):
        binary = harness.spf_binary()
        self.env = harness.Env(name, relay_domains="example.net",
                               adapter=harness.NoMilter())
        with self.env.starting():
            self.dns = self.env.start_zone_server(ZONE if zone is None else zone)
            self.spf = self.env.start_policy_daemon(
                "postern-spf", binary,
                ["--dns-server", "127.0.0.1@%d" % self.dns.port, "--dns-timeout", "1",
                 "--receiver", RECEIVER] + list(spf_args))
            self.env.start_postfix(milter=False, extra_sets=[
                harness.policy_restrictions(self.spf.postfix_spec, after_policy)])

    def close(self):
        self.env.close()

    def transaction(self, client_ip, sender, rcpts=("bob@example.net",),
                    helo="client.example", tag="t", client_name=None):
        """One SMTP transaction from XCLIENT ADDR=client_ip (and NAME=client_name,
        Postfix's verified client name, when given). Returns (rcpt replies
        [(code, text)], queue id or None when no RCPT was accepted; the
        transaction is then reset)."""
        xclient = {"ADDR": client_ip}
        if client_name is not None:
            xclient["NAME"] = client_name
        return self.env.transaction(sender, rcpts, BODY.format(sender=sender or "<>", tag=tag),
                                    xclient=xclient, helo=helo)


def received_spf(delivered):
    """The Received-SPF fields of a delivered message, unfolded."""
    return [re.sub(r"\s+", " ", str(h)).strip() for h in delivered.headers("Received-SPF")]


class SpfCase(harness.MarksEnvFailed, unittest.TestCase):
    NAME = "spf"
    SPF_ARGS = ()
    AFTER_POLICY = ""
    ZONE = None  # None: the module's ZONE

    @classmethod
    def setUpClass(cls):
        cls.s = SpfEnv(cls.NAME, cls.SPF_ARGS, cls.AFTER_POLICY, cls.ZONE)

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def failed_env(self):
        return self.s.env

    def accepted(self, client_ip, sender, **kw):
        replies, qid = self.s.transaction(client_ip, sender, **kw)
        for code, text in replies:
            self.assertEqual(code, 250, "RCPT got %d %s, want 250" % (code, text))
        return self.s.env.wait_delivered(qid)

    def spf_checks(self, **fields):
        return self.s.spf.events("spf-check", **fields)

    def assert_nothing_delivered(self, before):
        time.sleep(0.3)
        self.assertEqual(self.s.env.sink_files(), before, "something was delivered")
        empty, text = self.s.env.queue_empty()
        self.assertTrue(empty, "queue not empty:\n" + text)


class SpfVerdictTests(SpfCase):
    NAME = "spf-verdict"
    # a restriction after the policy check that rejects one recipient
    AFTER_POLICY = "check_recipient_access inline:{{nobody@example.net=REJECT no such user}}, "

    def test_pass_prepends_received_spf(self):
        msg = self.accepted("192.0.2.20", "alice@pass.example", helo="out.pass.example")
        (hdr,) = received_spf(msg)
        self.assertTrue(hdr.startswith(
            "pass (%s: domain of alice@pass.example designates 192.0.2.20 as permitted "
            "sender)" % RECEIVER), hdr)
        for field in ("client-ip=192.0.2.20;", 'envelope-from="alice@pass.example";',
                      "helo=out.pass.example;", "receiver=%s;" % RECEIVER,
                      "identity=mailfrom;"):
            self.assertIn(field, hdr)
        # the policy request carried the XCLIENT address, not 127.0.0.1
        (check,) = self.spf_checks(sender="alice@pass.example")
        self.assertEqual(check["client"], "192.0.2.20")
        self.assertEqual(check["helo"], "out.pass.example")
        self.assertEqual((check["result"], check["action"]), ("pass", "PREPEND"))

    def test_fail_rejected_550_5_7_23_at_rcpt(self):
        before = self.s.env.sink_files()
        replies, qid = self.s.transaction("203.0.113.5", "mallory@fail.example")
        self.assertIsNone(qid)
        ((code, text),) = replies
        self.assertEqual(code, 550, text)
        self.assertTrue(text.startswith("5.7.23 "), "got %r, want 5.7.23 ..." % text)
        self.assertIn("not authorized", text)
        self.assertIn("203.0.113.5", text)
        self.assert_nothing_delivered(before)
        (check,) = self.spf_checks(sender="mallory@fail.example")
        self.assertEqual((check["result"], check["client"]), ("fail", "203.0.113.5"))

    def test_fail_domain_permitted_client_passes(self):
        msg = self.accepted("192.0.2.10", "ok@fail.example")
        (hdr,) = received_spf(msg)
        self.assertTrue(hdr.startswith("pass "), hdr)

    def test_softfail_accepted_with_header(self):
        msg = self.accepted("203.0.113.6", "bob@softfail.example")
        (hdr,) = received_spf(msg)
        self.assertTrue(hdr.startswith("softfail ("), hdr)
        self.assertIn("client-ip=203.0.113.6;", hdr)

    def test_no_spf_record_is_none(self):
        msg = self.accepted("203.0.113.7", "carol@nospf.example")
        (hdr,) = received_spf(msg)
        self.assertTrue(hdr.startswith("none ("), hdr)
        self.assertIn("does not publish an SPF record", hdr)

    def test_permerror_accepted_with_header(self):
        msg = self.accepted("203.0.113.8", "dave@broken.example")
        (hdr,) = received_spf(msg)
        self.assertTrue(hdr.startswith("permerror ("), hdr)

    def test_null_sender_checks_postmaster_at_helo(self):
        msg = self.accepted("198.51.100.7", "", helo="mx.helo.example")
        (hdr,) = received_spf(msg)
        self.assertTrue(hdr.startswith(
            "pass (%s: domain of postmaster@mx.helo.example designates 198.51.100.7"
            % RECEIVER), hdr)
        self.assertIn("identity=helo;", hdr)
        self.assertIn('envelope-from="";', hdr)
        # the same HELO from another address fails, and the null sender is rejected too
        replies, qid = self.s.transaction("203.0.113.9", "", helo="mx.helo.example")
        self.assertIsNone(qid)
        self.assertEqual(replies[0][0], 550, replies)
        self.assertTrue(replies[0][1].startswith("5.7.23 "), replies)

    def test_three_recipients_one_evaluation_one_header(self):
        sender = "multi@pass.example"
        rcpts = ("r1@example.net", "r2@example.net", "r3@example.net")
        msg = self.accepted("192.0.2.30", sender, rcpts=rcpts)
        self.assertEqual(len(received_spf(msg)), 1, msg.data[:2000])
        with open(msg.path, "rb") as f:
            envelope_rcpts = re.findall(rb"^X-Rcpt-Args: <([^>]*)>", f.read(), re.M)
        self.assertEqual(sorted(r.decode() for r in envelope_rcpts), sorted(rcpts))
        self.assertEqual(len(self.spf_checks(sender=sender)), 1,
                         "want one spf-check line for 3 recipients (instance cache)")

    def test_three_recipients_fail_each_rejected_once_evaluated(self):
        sender = "multi@fail.example"
        replies, qid = self.s.transaction(
            "203.0.113.10", sender, rcpts=("r1@example.net", "r2@example.net", "r3@example.net"))
        self.assertIsNone(qid)
        self.assertEqual([c for c, _ in replies], [550, 550, 550], replies)
        self.assertEqual(len(self.spf_checks(sender=sender)), 1)

    def test_first_recipient_rejected_later_header_kept(self):
        # The first recipient gets PREPEND from postern-spf, then a later restriction rejects
        # it; the next recipient of the same message gets DUNNO (instance cache). Postfix
        # keeps the header of the rejected recipient's PREPEND: one Received-SPF.
        sender = "later@pass.example"
        replies, qid = self.s.transaction("192.0.2.31", sender,
                                          rcpts=("nobody@example.net", "bob@example.net"))
        self.assertEqual([c for c, _ in replies], [554, 250], replies)
        (hdr,) = received_spf(self.s.env.wait_delivered(qid))
        self.assertTrue(hdr.startswith("pass "), hdr)
        self.assertEqual(len(self.spf_checks(sender=sender)), 1)

    def test_loopback_client_is_skipped(self):
        # no XCLIENT: 127.0.0.1 is in --skip-networks → DUNNO, no check, no header
        before = len(self.s.spf.events("spf-check"))
        qid = self.s.env.submit(BODY.format(sender="x@fail.example", tag="loop"),
                                mail_from="x@fail.example")
        msg = self.s.env.wait_delivered(qid)
        self.assertEqual(received_spf(msg), [])
        self.assertEqual(len(self.s.spf.events("spf-check")), before)


class SpfFaultTests(SpfCase):
    NAME = "spf-fault"

    def assert_deferred(self, client_ip, sender):
        before = self.s.env.sink_files()
        t0 = time.monotonic()
        replies, qid = self.s.transaction(client_ip, sender)
        self.assertIsNone(qid)
        ((code, text),) = replies
        self.assertTrue(400 <= code < 500, "got %d %s, want 4xx" % (code, text))
        self.assert_nothing_delivered(before)
        return code, text, time.monotonic() - t0

    def test_dns_timeout_defers_450_4_7_24(self):
        code, text, _ = self.assert_deferred("192.0.2.40", "eve@slow.example")
        self.assertEqual(code, 450, text)
        self.assertTrue(text.startswith("4.7.24 "), text)
        self.assertIn("temperror", text)
        (check,) = self.spf_checks(sender="eve@slow.example")
        self.assertEqual((check["result"], check["action"]), ("temperror", "DEFER_IF_PERMIT"))
        self.assertTrue(self.s.dns.queries("slow.example", "TXT"), "zone server never asked")

    def test_dns_server_stopped_defers_then_recovers(self):
        self.s.dns.stop()
        try:
            code, text, _ = self.assert_deferred("192.0.2.41", "frank@later.example")
            self.assertEqual(code, 450, text)
            self.assertTrue(text.startswith("4.7.24 "), text)
        finally:
            self.s.dns.start()
        # the client retries the same transaction: once DNS answers it is accepted. A fresh
        # name, since unbound may keep the failed one (and the server's state) for a while.
        deadline = time.monotonic() + 15
        while True:
            replies, qid = self.s.transaction("192.0.2.41", "frank@later2.example")
            if qid or time.monotonic() > deadline:
                break
            self.assertTrue(400 <= replies[0][0] < 500, replies)
            time.sleep(1)
        self.assertIsNotNone(qid, "still deferred after DNS came back: %r" % replies)
        (hdr,) = received_spf(self.s.env.wait_delivered(qid))
        self.assertTrue(hdr.startswith("pass "), hdr)

    def test_policy_daemon_killed_451_4_3_5(self):
        # warm up: this smtpd process gets a persistent policy connection
        self.accepted("192.0.2.42", "grace@pass.example")
        self.s.spf.stop(signal.SIGKILL)
        try:
            code, text, took = self.assert_deferred("192.0.2.42", "grace@pass.example")
            # Postfix: connection refused/lost → retry after 1 s → default action
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith("4.3.5 "), text)
            log = self.s.env.postfix_log()
            self.assertRegex(log, r"warning: problem talking to server 127\.0\.0\.1:%d"
                             % self.s.spf.port)
        finally:
            self.s.spf.start()
        # Postfix reconnects by itself
        msg = self.accepted("192.0.2.42", "grace@pass.example")
        self.assertTrue(received_spf(msg)[0].startswith("pass "))


if __name__ == "__main__":
    unittest.main()
