"""test_dkim_verify.py — postern-dkim verifying inbound mail through a real Postfix.

A private Postfix (myhostname mx.verify.test, so Postfix's {j} macro — the
default authserv-id — is that name), postern-dkim in its default mode (both:
internal clients' mail signed, all other mail verified) with --dns-server
pointing at tests/dns/zone_server.py on loopback, which serves the public keys.
Messages come from an "external" client (XCLIENT ADDR=203.0.113.9) signed at
test time by dkimpy (dkim.sign, RSA and Ed25519) and by OpenDKIM (`opendkim
-t` in signing mode prints the DKIM-Signature it would insert; that is the
offline OpenDKIM signer used here — opendkim-testmsg 2.11 fails on any input
with "dkim_chunk(): Syntax error").

Each class gets its own environment (port block) so ctest runs them in
parallel; the zone server is harness.ZoneServer on the block's DNS_OFF port.
"""

import base64
import os
import random
import re
import subprocess
import time
import unittest

import harness

AUTHSERV_ID = "mx.verify.test"
SIGNED_DOMAIN = "example.org"   # external senders' domain (keys in the zone)
OWN_DOMAIN = "example.com"      # our domain (postern-dkim signs it)
EXTERNAL = {"ADDR": "203.0.113.9"}
DNS_TIMEOUT = 1
DMARC_DOMAIN = "reject.example"       # publishes _dmarc p=reject
SLOW_DMARC_DOMAIN = "slowdmarc.example"  # its _dmarc query is never answered


def message(subject, body="Hello from outside.\r\n",
            from_addr="alice@example.org", extra_headers=""):
    return ("%sFrom: Alice <%s>\r\nTo: Bob <bob@example.net>\r\n"
            "Subject: %s\r\nMessage-ID: <%d@example.org>\r\n"
            "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n%s"
            % (extra_headers, from_addr, subject, random.randrange(1 << 30),
               body)).encode()


def unfold(value):
    return re.sub(r"\s+", " ", str(value)).strip()


def ed25519_seed_b64(key):
    """dkimpy wants an Ed25519 private key as the base64 32-octet seed: the
    last 32 octets of the PKCS#8 DER."""
    der = subprocess.run(["openssl", "pkey", "-in", key.path, "-outform",
                          "DER"], check=True, stdout=subprocess.PIPE).stdout
    return base64.b64encode(der[-32:])


def dkimpy_sign(data, key, headers=(b"from", b"to", b"subject", b"message-id",
                                    b"date"), **kw):
    import dkim
    if key.algorithm == "ed25519":
        priv, alg = ed25519_seed_b64(key), b"ed25519-sha256"
    else:
        with open(key.path, "rb") as f:
            priv, alg = f.read(), b"rsa-sha256"
    sig = dkim.sign(data, key.selector.encode(), key.domain.encode(), priv,
                    include_headers=list(headers), signature_algorithm=alg,
                    **kw)
    return sig + data


def opendkim_sign(data, key, workdir):
    """Sign `data` with OpenDKIM in test mode (`opendkim -t`, Mode s): it
    prints the DKIM-Signature it would insert; prepend that field."""
    os.makedirs(workdir, mode=0o700, exist_ok=True)
    os.chmod(workdir, 0o700)
    kt, st = os.path.join(workdir, "kt"), os.path.join(workdir, "st")
    conf, msg = os.path.join(workdir, "sign.conf"), os.path.join(workdir, "m")
    with open(kt, "w") as f:
        f.write("k1 %s:%s:%s\n" % (key.domain, key.selector, key.path))
    with open(st, "w") as f:
        f.write("*@%s k1\n" % key.domain)
    with open(conf, "w") as f:
        f.write("Syslog no\nMode s\nKeyTable file:%s\nSigningTable refile:%s\n"
                "RequireSafeKeys false\nCanonicalization relaxed/simple\n"
                % (kt, st))
    with open(msg, "wb") as f:
        f.write(data.replace(b"\r\n", b"\n"))
    p = subprocess.run([harness.OPENDKIM, "-x", conf, "-vvv", "-t", msg],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    m = re.search(rb"INSHEADER: idx=0 hname='DKIM-Signature' hvalue='([^']*)'",
                  p.stdout)
    if not m:
        raise RuntimeError("opendkim -t did not sign:\n%s"
                           % p.stdout.decode(errors="replace"))
    value = m.group(1).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return b"DKIM-Signature: " + value + b"\r\n" + data


class VerifyEnvTestCase(harness.ClassEnv, unittest.TestCase):
    """One Env + zone server per class."""

    dns = None
    extra_milter_args = ()
    extra_postfix_sets = ()

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env(cls.__name__)
        if cls.env.adapter.name != "postern-dkim":
            cls.env.close()
            raise unittest.SkipTest("postern-dkim only")
        with cls.env.starting():
            keys = cls.env.keys
            cls.own = keys.add(OWN_DOMAIN, "own1", "rsa", 2048)
            cls.rsa = keys.add(SIGNED_DOMAIN, "py1", "rsa", 2048)
            cls.ed = keys.add(SIGNED_DOMAIN, "py2", "ed25519")
            cls.od = keys.add(SIGNED_DOMAIN, "od1", "rsa", 2048)
            cls.absent = keys.add(SIGNED_DOMAIN, "gone", "rsa", 2048)
            cls.slow = keys.add(SIGNED_DOMAIN, "slow", "rsa", 2048)
            cls.down = keys.add(SIGNED_DOMAIN, "down", "rsa", 2048)
            zone = {k.name: {"TXT": [k.txt]}
                    for k in (cls.rsa, cls.ed, cls.od, cls.down)}
            zone[cls.slow.name] = {"TIMEOUT": True}
            cls.aligned = keys.add(DMARC_DOMAIN, "dm1", "rsa", 2048)
            zone[cls.aligned.name] = {"TXT": [cls.aligned.txt]}
            zone["_dmarc." + DMARC_DOMAIN] = {"TXT": ["v=DMARC1; p=reject"]}
            zone["_dmarc." + SLOW_DMARC_DOMAIN] = {"TIMEOUT": True}
            cls.dns = cls.env.start_zone_server(zone)
            cls.env.start_postfix(["myhostname=%s" % AUTHSERV_ID]
                                  + list(cls.extra_postfix_sets))
            args = ["--dns-server", "127.0.0.1@%d" % cls.dns.port,
                    "--dns-timeout", str(DNS_TIMEOUT)]
            cls.env.start_milter(harness.MilterSpec(
                [cls.own], [OWN_DOMAIN],
                extra_args=args + list(cls.extra_milter_args)))

    # -- helpers -------------------------------------------------------------

    def without_dmarc(self, ar):
        """`ar` up to its dmarc= clause (on by default; DmarcTests check it)."""
        return ar.split("; dmarc=")[0]

    def deliver(self, data, xclient=EXTERNAL, **kw):
        q = self.env.submit(data, xclient=xclient,
                            mail_from="alice@example.org", **kw)
        return q, self.env.wait_delivered(q)

    def our_ar(self, delivered):
        """The first Authentication-Results field, unfolded; it must carry
        our authserv-id; and its raw lines must stay within 78 octets."""
        fields = delivered.headers("Authentication-Results")
        self.assertTrue(fields, "no Authentication-Results in %s"
                        % delivered.path)
        raw = delivered.data.decode(errors="replace")
        start = raw.lower().index("authentication-results:")
        lines = raw[start:].split("\r\n")
        field_lines = [lines[0]] + [l for l in
                                    _continuations(lines[1:])]
        for line in field_lines:
            self.assertLessEqual(len(line.expandtabs(8)), 78, repr(line))
        ar = unfold(fields[0])
        self.assertTrue(ar.startswith(AUTHSERV_ID + ";"), ar)
        return ar

def _continuations(lines):
    for line in lines:
        if line[:1] not in (" ", "\t"):
            return
        yield line


class VerifyTests(VerifyEnvTestCase):
    """Results of verifying dkimpy- and OpenDKIM-signed inbound mail."""

    def test_dkimpy_rsa_pass(self):
        q, d = self.deliver(dkimpy_sign(message("rsa"), self.rsa))
        ar = self.our_ar(d)
        self.assertIn("dkim=pass header.d=example.org header.i=@example.org "
                      "header.s=py1 header.a=rsa-sha256 header.b=", ar)
        self.assertEqual(d.dkim_signatures and len(d.dkim_signatures), 1,
                         "external mail must not be signed by us")
        self.assertLogged("dkim-verify", "queue_id=" + q, "sdid=example.org",
                          "selector=py1", "result=pass")

    def test_dkimpy_ed25519_and_rsa_both_pass(self):
        data = dkimpy_sign(dkimpy_sign(message("ed", body="x\r\n"), self.rsa),
                           self.ed)
        _, d = self.deliver(data)
        ar = self.our_ar(d)
        self.assertIn("dkim=pass header.d=example.org header.i=@example.org "
                      "header.s=py2 header.a=ed25519-sha256", ar)
        self.assertIn("header.s=py1 header.a=rsa-sha256", ar)
        self.assertEqual(ar.count("dkim=pass"), 2, ar)

    def test_dkimpy_simple_canonicalization_and_length(self):
        data = dkimpy_sign(message("simple", body="line one\r\n\r\n\r\n"),
                           self.rsa, canonicalize=(b"simple", b"simple"),
                           length=True)
        _, d = self.deliver(data)
        self.assertIn("dkim=pass header.d=example.org", self.our_ar(d))

    def test_opendkim_signed_pass(self):
        data = opendkim_sign(message("opendkim"), self.od,
                             os.path.join(self.env.tmp, "odsign"))
        _, d = self.deliver(data)
        self.assertIn("dkim=pass header.d=example.org header.i=@example.org "
                      "header.s=od1 header.a=rsa-sha256", self.our_ar(d))

    def test_tampered_body_fails(self):
        data = dkimpy_sign(message("tamper", body="pay 10 EUR\r\n"), self.rsa)
        data = data.replace(b"pay 10 EUR", b"pay 99 EUR")
        q, d = self.deliver(data)
        ar = self.our_ar(d)
        self.assertRegex(ar, r"dkim=fail reason=\"[^\"]*body hash[^\"]*\" "
                             r"header\.d=example\.org")
        self.assertLogged("dkim-verify", "queue_id=" + q, "result=fail")

    def test_tampered_header_fails(self):
        data = dkimpy_sign(message("original subject"), self.rsa)
        data = data.replace(b"Subject: original subject",
                            b"Subject: changed subject")
        _, d = self.deliver(data)
        self.assertIn("dkim=fail", self.our_ar(d))

    def test_missing_key_permerror(self):
        q, d = self.deliver(dkimpy_sign(message("nokey"), self.absent))
        self.assertIn("dkim=permerror", self.our_ar(d))
        self.assertIn("header.s=gone", self.our_ar(d))
        self.assertLogged("dkim-verify", "queue_id=" + q, "selector=gone",
                          "result=permerror")

    def test_dns_timeout_temperror_and_delivered(self):
        q, d = self.deliver(dkimpy_sign(message("slow"), self.slow))
        self.assertIn("dkim=temperror", self.our_ar(d))
        self.assertLogged("dkim-verify", "queue_id=" + q, "result=temperror")

    def test_dns_server_down_temperror_and_delivered(self):
        self.dns.stop()
        try:
            q, d = self.deliver(dkimpy_sign(message("down"), self.down))
        finally:
            self.dns.start()
        self.assertIn("dkim=temperror", self.our_ar(d))
        self.assertIn("header.s=down", self.our_ar(d))

    def test_unsigned_gets_dkim_none(self):
        q, d = self.deliver(message("unsigned"))
        self.assertEqual(self.without_dmarc(self.our_ar(d)),
                         AUTHSERV_ID + "; dkim=none")
        self.assertLogged("dkim-verify", "queue_id=" + q, "result=none")

    def test_forged_results_with_our_authserv_id_removed(self):
        forged = ("Authentication-Results: %s; dkim=pass header.d=bank.example\r\n"
                  "Authentication-Results: other.example; dkim=pass header.d=x.example\r\n"
                  "Authentication-Results: (spoof)\r\n MX.Verify.Test 1;\r\n spf=pass\r\n"
                  "Authentication-Results: \"%s\"; dmarc=pass\r\n"
                  % (AUTHSERV_ID, AUTHSERV_ID))
        _, d = self.deliver(message("forged", extra_headers=forged))
        fields = [unfold(f) for f in d.headers("Authentication-Results")]
        fields[0] = self.without_dmarc(fields[0])
        self.assertEqual(fields, [AUTHSERV_ID + "; dkim=none",
                                  "other.example; dkim=pass header.d=x.example"],
                         d.path)

    def test_internal_client_signed_without_authentication_results(self):
        data = message("internal", from_addr="carol@example.com")
        q = self.env.submit(data, mail_from="carol@example.com")
        d = self.env.wait_delivered(q)
        self.assertEqual(d.headers("Authentication-Results"), [])
        tags = d.signature_tags()
        self.assertEqual([(t["d"], t["s"]) for t in tags],
                         [(OWN_DOMAIN, "own1")])
        self.assertTrue(all(ok for _, _, ok in
                            harness.dkimpy_verify_all(d.data, self.env.keys)))


class ReceivedSpfTests(VerifyEnvTestCase):
    """spf= from the Received-SPF field a policy service made Postfix
    PREPEND (here a static access table stands in for postern-spf), taken
    only with --spf-receiver and only when it is the top-most one; the
    sender's own copy lower down is ignored."""

    extra_milter_args = ("--spf-receiver", AUTHSERV_ID)
    extra_postfix_sets = (
        "smtpd_client_restrictions = check_client_access "
        "static:{PREPEND Received-SPF: softfail (test) client-ip=203.0.113.9; "
        "envelope-from=\"alice@example.org\"; helo=client.example; "
        "receiver=%s; identity=mailfrom}" % AUTHSERV_ID,)

    def test_prepended_received_spf_folded_in(self):
        forged = ("Received-SPF: pass (forged) envelope-from=\"alice@example.org\";"
                  " receiver=%s\r\n" % AUTHSERV_ID)
        _, d = self.deliver(dkimpy_sign(message("spf", extra_headers=forged),
                                        self.rsa))
        ar = self.our_ar(d)
        self.assertIn("dkim=pass header.d=example.org", ar)
        self.assertTrue(self.without_dmarc(ar).endswith(
            "; spf=softfail smtp.mailfrom=alice@example.org"), ar)


class VerifyOnlyTests(VerifyEnvTestCase):
    """--mode verify with an explicit --authserv-id: internal mail is left
    alone (no signature, no Authentication-Results) unless --verify-internal."""

    extra_milter_args = ("--mode", "verify", "--authserv-id", AUTHSERV_ID)

    def test_external_verified_internal_untouched(self):
        _, d = self.deliver(dkimpy_sign(message("v"), self.rsa))
        self.assertIn("dkim=pass", self.our_ar(d))
        q = self.env.submit(message("internal", from_addr="carol@example.com"),
                            mail_from="carol@example.com")
        d = self.env.wait_delivered(q)
        self.assertEqual(d.headers("Authentication-Results"), [])
        self.assertEqual(d.dkim_signatures, [])


class DmarcTests(VerifyEnvTestCase):
    """DMARC (default on, enforcement off): the dmarc= clause ends our
    Authentication-Results field; a failing p=reject message is delivered
    with dis=none. Without --spf-receiver SPF is unknown: DKIM alone."""

    def test_aligned_signature_passes(self):
        data = dkimpy_sign(message("aligned", from_addr="ann@" + DMARC_DOMAIN),
                           self.aligned)
        q, d = self.deliver(data)
        ar = self.our_ar(d)
        self.assertIn("dkim=pass header.d=%s" % DMARC_DOMAIN, ar)
        self.assertTrue(ar.endswith(
            "; dmarc=pass (p=reject dis=none) header.from=%s "
            "policy.dmarc=none" % DMARC_DOMAIN), ar)
        self.assertLogged("dmarc", "queue_id=" + q,
                          "header.from=" + DMARC_DOMAIN, "result=pass")

    def test_unsigned_fails_and_is_delivered_by_default(self):
        q, d = self.deliver(message("unsigned", from_addr="ann@" + DMARC_DOMAIN))
        ar = self.our_ar(d)
        self.assertIn("dmarc=fail (p=reject dis=none)", ar)
        self.assertIn("header.from=%s policy.dmarc=reject" % DMARC_DOMAIN, ar)
        self.assertLogged("dmarc", "queue_id=" + q, "result=fail",
                          "policy=reject", "disposition=none")

    def test_unaligned_signature_fails(self):
        data = dkimpy_sign(message("unaligned", from_addr="ann@" + DMARC_DOMAIN),
                           self.rsa)  # d=example.org
        _, d = self.deliver(data)
        ar = self.our_ar(d)
        self.assertIn("dkim=pass header.d=example.org", ar)
        self.assertIn("dmarc=fail (p=reject dis=none)", ar)

    def test_domain_without_record_is_none(self):
        _, d = self.deliver(dkimpy_sign(message("norecord"), self.rsa))
        ar = self.our_ar(d)
        self.assertIn("; dmarc=none", ar)
        self.assertIn("header.from=example.org policy.dmarc=none", ar)

    def test_dmarc_dns_timeout_is_temperror_and_delivered(self):
        q, d = self.deliver(message("slowdmarc",
                                    from_addr="ann@" + SLOW_DMARC_DOMAIN))
        ar = self.our_ar(d)
        self.assertIn("; dmarc=temperror", ar)
        self.assertIn("header.from=" + SLOW_DMARC_DOMAIN, ar)
        self.assertLogged("dmarc", "queue_id=" + q, "result=temperror")


class DmarcRejectTests(VerifyEnvTestCase):
    """--dmarc-reject: a failing p=reject message is refused at end of DATA
    with 550 5.7.1 and nothing is delivered; passing mail and a temperror
    still go through."""

    extra_milter_args = ("--dmarc-reject",)

    def test_unsigned_rejected_with_550(self):
        before = set(self.env.sink_files())
        with self.assertRaises(harness.SmtpError) as cm:
            self.env.submit(message("reject", from_addr="ann@" + DMARC_DOMAIN),
                            xclient=EXTERNAL, mail_from="alice@example.org")
        err = cm.exception
        self.assertEqual((err.stage, err.code), ("end of DATA", 550), str(err))
        self.assertIn("5.7.1 Rejected by DMARC policy for " + DMARC_DOMAIN,
                      err.msg)
        self.assertLogged("dmarc", "result=fail", "policy=reject",
                          "disposition=reject")
        time.sleep(1)
        self.assertEqual(set(self.env.sink_files()), before)

    def test_aligned_passes(self):
        data = dkimpy_sign(message("ok", from_addr="ann@" + DMARC_DOMAIN),
                           self.aligned)
        _, d = self.deliver(data)
        self.assertIn("dmarc=pass", self.our_ar(d))

    def test_temperror_never_rejects(self):
        _, d = self.deliver(message("slow", from_addr="ann@" + SLOW_DMARC_DOMAIN))
        self.assertIn("dmarc=temperror", self.our_ar(d))


class DmarcQuarantineTests(VerifyEnvTestCase):
    """--dmarc-quarantine without --dmarc-reject: a failing p=reject message
    is accepted and goes to Postfix's hold queue (smfi_quarantine; the
    milter asks for SMFIF_QUARANTINE only with this option); nothing is
    delivered."""

    extra_milter_args = ("--dmarc-quarantine",)

    def test_failing_reject_policy_is_held(self):
        before = set(self.env.sink_files())
        q = self.env.submit(message("hold", from_addr="ann@" + DMARC_DOMAIN),
                            xclient=EXTERNAL, mail_from="alice@example.org")
        self.env.held_file(q)
        self.assertLogged("dmarc", "queue_id=" + q, "result=fail",
                          "policy=reject", "disposition=quarantine")
        time.sleep(1)
        self.assertEqual(set(self.env.sink_files()), before)

    def test_passing_mail_is_delivered(self):
        data = dkimpy_sign(message("ok", from_addr="ann@" + DMARC_DOMAIN),
                           self.aligned)
        _, d = self.deliver(data)
        self.assertIn("dmarc=pass", self.our_ar(d))


class TemperrorTempfailTests(VerifyEnvTestCase):
    """--temperror tempfail: a DNS timeout (dkim= or dmarc= temperror) is
    answered at end of DATA with 451 4.7.5 and nothing is delivered;
    passing mail still goes through."""

    extra_milter_args = ("--temperror", "tempfail")

    def assertTempfailed(self, data):
        before = set(self.env.sink_files())
        with self.assertRaises(harness.SmtpError) as cm:
            self.env.submit(data, xclient=EXTERNAL,
                            mail_from="alice@example.org")
        err = cm.exception
        self.assertEqual((err.stage, err.code), ("end of DATA", 451), str(err))
        self.assertIn("4.7.5 Temporary DKIM/DMARC verification failure",
                      err.msg)
        self.assertLogged("dkim-tempfail", "reason=temperror")
        time.sleep(1)
        self.assertEqual(set(self.env.sink_files()), before)

    def test_dkim_dns_timeout_tempfails(self):
        self.assertTempfailed(dkimpy_sign(message("slow"), self.slow))

    def test_dmarc_dns_timeout_tempfails(self):
        self.assertTempfailed(message("slow",
                                      from_addr="ann@" + SLOW_DMARC_DOMAIN))

    def test_passing_mail_is_delivered(self):
        _, d = self.deliver(dkimpy_sign(message("ok"), self.rsa))
        self.assertIn("dkim=pass", self.our_ar(d))


if __name__ == "__main__":
    unittest.main()
