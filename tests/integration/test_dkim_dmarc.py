"""test_dkim_dmarc.py — DMARC in postern-dkim through a real Postfix, the parts that need more
than DKIM: SPF alignment and pct= sampling.

DmarcSpfAlignmentTests: the real postern-spf behind check_policy_service (--receiver
mx.verify.test) makes Postfix prepend Received-SPF; postern-dkim (--mode verify,
--spf-receiver mx.verify.test, --dmarc-reject) folds it in as spf= and uses its MAIL FROM domain
for SPF alignment (RFC 7489 §3.1.2, §4.2): an unsigned message whose MAIL FROM domain passes
SPF and aligns with From: passes DMARC with no DKIM at all (p=reject, yet delivered); relaxed
alignment takes a MAIL FROM subdomain, aspf=s does not; an SPF softfail is no pass.

DmarcPctTests (RFC 7489 §6.6.4): with --dmarc-reject and --dmarc-quarantine, a failing message
under p=reject; pct=0 gets the next-lower policy (quarantine: Postfix's hold queue), under
p=quarantine; pct=0 the one below that (none: delivered), and p=reject; pct=100 a 550.

DNS answers come from tests/dns/zone_server.py on the class's port block; each class has its
own Postfix, postern-dkim (and postern-spf).
"""

import time
import unittest

import harness
from test_dkim_verify import AUTHSERV_ID, message, unfold

CLIENT = {"ADDR": "203.0.113.9"}
RECEIVER = AUTHSERV_ID  # postern-spf --receiver = postern-dkim --spf-receiver
SPF_PASS = "v=spf1 ip4:203.0.113.0/24 -all"


class DmarcEnvTestCase(harness.ClassEnv, unittest.TestCase):
    """Zone server, (postern-spf,) Postfix and postern-dkim --mode verify per class."""

    dns = spf = None
    zone = {}
    with_spf = False
    milter_args = ()

    @classmethod
    def setUpClass(cls):
        spf_binary = harness.spf_binary() if cls.with_spf else None
        cls.env = harness.Env(cls.__name__)
        if cls.env.adapter.name != "postern-dkim":
            cls.env.close()
            raise unittest.SkipTest("postern-dkim only")
        with cls.env.starting():
            cls.dns = cls.env.start_zone_server(cls.make_zone())
            sets = ["myhostname=%s" % AUTHSERV_ID]
            if cls.with_spf:
                cls.spf = cls.env.start_policy_daemon(
                    "postern-spf", spf_binary,
                    ["--dns-server", "127.0.0.1@%d" % cls.dns.port, "--dns-timeout", "1",
                     "--receiver", RECEIVER])
                sets.append(harness.policy_restrictions(cls.spf.postfix_spec))
            cls.env.start_postfix(sets)
            cls.env.start_milter(harness.MilterSpec(
                [], [], extra_args=["--mode", "verify", "--dns-server",
                                    "127.0.0.1@%d" % cls.dns.port, "--dns-timeout", "1"]
                + cls.make_milter_args()))

    @classmethod
    def make_zone(cls):
        """The zone served; cls.env exists (subclasses may add keys)."""
        return cls.zone

    @classmethod
    def make_milter_args(cls):
        return list(cls.milter_args)

    def submit(self, from_domain, mail_from, subject):
        return self.env.submit(message(subject, from_addr="ann@" + from_domain),
                               xclient=CLIENT, mail_from=mail_from)

    def delivered_ar(self, queue_id):
        """Our Authentication-Results field of the delivered message, unfolded."""
        self.delivered = self.env.wait_delivered(queue_id)
        fields = [unfold(f) for f in self.delivered.headers("Authentication-Results")]
        self.assertTrue(fields and fields[0].startswith(AUTHSERV_ID + ";"), fields)
        return fields[0]

    def assertRejected(self, from_domain, mail_from, subject):
        before = set(self.env.sink_files())
        with self.assertRaises(harness.SmtpError) as cm:
            self.submit(from_domain, mail_from, subject)
        err = cm.exception
        self.assertEqual((err.stage, err.code), ("end of DATA", 550), str(err))
        self.assertIn("5.7.1 Rejected by DMARC policy for " + from_domain, err.msg)
        time.sleep(1)
        self.assertEqual(set(self.env.sink_files()), before)


class DmarcSpfAlignmentTests(DmarcEnvTestCase):
    """SPF-aligned DMARC pass from postern-spf's Received-SPF, no DKIM."""

    with_spf = True
    milter_args = ("--spf-receiver", RECEIVER, "--dmarc-reject")
    zone = {
        "spf.example": {"TXT": [SPF_PASS]},
        "bounces.spf.example": {"TXT": [SPF_PASS]},
        "_dmarc.spf.example": {"TXT": ["v=DMARC1; p=reject"]},
        "strict.example": {"TXT": [SPF_PASS]},
        "bounces.strict.example": {"TXT": [SPF_PASS]},
        "_dmarc.strict.example": {"TXT": ["v=DMARC1; p=reject; aspf=s"]},
        "softfail.example": {"TXT": ["v=spf1 ~all"]},
        "_dmarc.softfail.example": {"TXT": ["v=DMARC1; p=reject"]},
    }

    def test_spf_aligned_pass_without_dkim(self):
        q = self.submit("spf.example", "alice@spf.example", "spf aligned")
        ar = self.delivered_ar(q)
        self.assertEqual(ar, "%s; dkim=none; spf=pass smtp.mailfrom=alice@spf.example; "
                             "dmarc=pass (p=reject dis=none) header.from=spf.example "
                             "policy.dmarc=none" % AUTHSERV_ID)
        self.assertLogged("dmarc", "queue_id=" + q, "header.from=spf.example",
                          "result=pass")
        spf = [unfold(f) for f in self.delivered.headers("Received-SPF")]
        self.assertEqual(len(spf), 1, spf)
        self.assertTrue(spf[0].startswith("pass ") and "receiver=%s;" % RECEIVER in spf[0], spf)
        self.assertEqual(self.delivered.headers("DKIM-Signature"), [])

    def test_relaxed_alignment_takes_a_mail_from_subdomain(self):
        q = self.submit("spf.example", "bounce@bounces.spf.example", "relaxed")
        ar = self.delivered_ar(q)
        self.assertIn("spf=pass smtp.mailfrom=bounce@bounces.spf.example", ar)
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=spf.example", ar)

    def test_strict_alignment_refuses_a_mail_from_subdomain(self):
        self.assertRejected("strict.example", "bounce@bounces.strict.example", "strict")
        self.assertLogged("dmarc", "header.from=strict.example", "result=fail",
                          "disposition=reject")

    def test_spf_softfail_is_no_pass(self):
        self.assertRejected("softfail.example", "alice@softfail.example", "softfail")
        self.assertLogged("dmarc", "header.from=softfail.example", "result=fail")


class DmarcPctTests(DmarcEnvTestCase):
    """pct= (RFC 7489 §6.6.4): a message pct= leaves out gets the next-lower policy."""

    milter_args = ("--dmarc-reject", "--dmarc-quarantine")
    zone = {
        "_dmarc.pct0.example": {"TXT": ["v=DMARC1; p=reject; pct=0"]},
        "_dmarc.pct0q.example": {"TXT": ["v=DMARC1; p=quarantine; pct=0"]},
        "_dmarc.pct100.example": {"TXT": ["v=DMARC1; p=reject; pct=100"]},
    }

    def test_pct0_reject_applies_quarantine(self):
        before = set(self.env.sink_files())
        q = self.submit("pct0.example", "alice@example.org", "pct0 reject")
        with open(self.env.held_file(q), "rb") as f:
            held = f.read()
        self.assertIn(b"dmarc=fail (p=reject dis=quarantine)", held)
        self.assertIn(b"policy.dmarc=quarantine", held)
        self.assertLogged("dmarc", "queue_id=" + q, "result=fail", "policy=quarantine",
                          "disposition=quarantine")
        time.sleep(1)
        self.assertEqual(set(self.env.sink_files()), before)

    def test_pct0_quarantine_applies_none(self):
        q = self.submit("pct0q.example", "alice@example.org", "pct0 quarantine")
        ar = self.delivered_ar(q)
        self.assertTrue(ar.endswith("; dmarc=fail (p=quarantine dis=none) "
                                    "reason=\"DKIM and SPF not aligned with pct0q.example\" "
                                    "header.from=pct0q.example policy.dmarc=none"), ar)
        self.assertLogged("dmarc", "queue_id=" + q, "result=fail", "policy=none",
                          "disposition=none")

    def test_pct100_reject_is_enforced(self):
        self.assertRejected("pct100.example", "alice@example.org", "pct100")
        self.assertLogged("dmarc", "header.from=pct100.example", "policy=reject",
                          "disposition=reject")


if __name__ == "__main__":
    unittest.main()
