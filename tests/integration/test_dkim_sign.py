"""test_dkim_sign.py — postern-dkim signing through a real Postfix.

Each class gets its own environment (private Postfix + smtp-sink + milter on
the port block from POSTERN_IT_PORT_BASE) so ctest can run classes as
separate, parallel tests. Signatures are checked by two independent
verifiers: dkimpy (keys served by a dnsfunc) and OpenDKIM in test mode
(`opendkim -t` with TestPublicKeys instead of DNS), see harness.py.

The milter under test is postern-dkim (POSTERN_IT_DKIM_BIN); with
POSTERN_IT_MILTER=opendkim the same tests run against OpenDKIM to validate
the harness (tests that need postern-only behaviour are skipped then).
"""

import os
import random
import re
import signal
import subprocess
import time
import unittest

import harness

DOMAIN = "example.com"
UNSIGNED_DOMAIN = "example.org"
EXTERNAL = "203.0.113.9"


def message(subject, body="Hello.\r\n", from_addr="alice@example.com",
            extra_headers=""):
    tag = "".join(c if c.isalnum() else "-" for c in subject[:20])
    return ("From: Alice <%s>\r\nTo: Bob <bob@example.net>\r\n"
            "Subject: %s\r\nMessage-ID: <%s.%d@example.com>\r\n%s\r\n%s"
            % (from_addr, subject, tag, random.randrange(1 << 30),
               extra_headers, body))


class EnvTestCase(harness.ClassEnv, unittest.TestCase):
    """One Env per class; logs are printed at class teardown if any test of
    the class failed."""

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env(cls.__name__)
        with cls.env.starting():
            cls.make_keys()
            cls.env.start_postfix()
            cls.env.start_milter(cls.milter_spec())
            cls.verifier = harness.OpenDkimVerifier(
                os.path.join(cls.env.tmp, "verify"), cls.env.keys)

    @classmethod
    def make_keys(cls):
        cls.rsa = cls.env.keys.add(DOMAIN, "s1", "rsa", 2048)
        cls.ed = cls.env.keys.add(DOMAIN, "s2", "ed25519")

    @classmethod
    def signing_keys(cls):
        if cls.env.adapter.can_dual_sign:
            return [cls.rsa, cls.ed]
        return [cls.rsa]

    @classmethod
    def milter_spec(cls):
        return harness.MilterSpec(cls.signing_keys(), [DOMAIN])

    @property
    def postern(self):
        return self.env.adapter.name == "postern-dkim"

    # -- assertions --------------------------------------------------------

    def assertSigned(self, delivered, keys=None, opendkim=True):
        keys = keys if keys is not None else self.signing_keys()
        tags = delivered.signature_tags()
        got = sorted((t.get("d"), t.get("s")) for t in tags)
        want = sorted((k.domain, k.selector) for k in keys)
        self.assertEqual(got, want, "DKIM-Signature d=/s= pairs\n%s"
                         % delivered.data[:3000].decode(errors="replace"))
        for t in tags:
            self.assertIn("from", t.get("h", "").lower().split(":"),
                          "From not in h=")
        results = harness.dkimpy_verify_all(delivered.data, self.env.keys)
        self.assertTrue(results and all(ok for _, _, ok in results),
                        "dkimpy: %r\n%s" % (results, delivered.path))
        if opendkim:
            res, out = self.verifier.verify(delivered.data)
            for k in keys:
                self.assertEqual(res.get((k.domain, k.selector)), "pass",
                                 "OpenDKIM on %s s=%s: %r\n%s"
                                 % (delivered.path, k.selector, res, out))

    def assertUnsigned(self, delivered):
        self.assertEqual(delivered.dkim_signatures, [],
                         "unexpected DKIM-Signature in %s" % delivered.path)

    def assertLogged(self, *needles, timeout=5.0):
        """postern-dkim only: some stderr line contains all needles."""
        if not self.env.adapter.logs_to_stderr:
            return
        super().assertLogged(*needles, timeout=timeout)


class SignTests(EnvTestCase):
    """Who gets signed: internal, external, authenticated, unknown domain."""

    def test_internal_client_signed_and_verified(self):
        q = self.env.submit(message("internal"))
        d = self.env.wait_delivered(q)
        self.assertSigned(d)
        self.assertLogged("dkim-sign", "queue_id=" + q)
        self.assertLogged("dkim-sign", "sdid=" + DOMAIN, "selector=s1")

    def test_rsa_and_ed25519_dual_signature(self):
        if not self.env.adapter.can_dual_sign:
            self.skipTest("OpenDKIM 2.11 cannot sign RSA and Ed25519 from "
                          "one instance (one global SignatureAlgorithm)")
        d = self.env.send_and_wait(message("dual"))
        tags = {t["s"]: t for t in d.signature_tags()}
        self.assertEqual(tags["s1"]["a"], "rsa-sha256")
        self.assertEqual(tags["s2"]["a"], "ed25519-sha256")
        # Both verifiers check both: OpenDKIM 2.11 (Debian 12) verifies
        # ed25519-sha256 too (checked: it reports dkim=pass for it).
        self.assertSigned(d, [self.rsa, self.ed])

    def test_external_unauthenticated_client_not_signed(self):
        q = self.env.submit(message("external"), xclient={"ADDR": EXTERNAL})
        self.assertUnsigned(self.env.wait_delivered(q))
        self.assertLogged("dkim-skip", "external")

    def test_authenticated_external_client_signed(self):
        q = self.env.submit(message("authenticated"),
                            xclient={"ADDR": EXTERNAL, "LOGIN": "alice"})
        self.assertSigned(self.env.wait_delivered(q), opendkim=False)

    def test_from_domain_without_key_not_signed(self):
        q = self.env.submit(message("nokey", from_addr="carol@example.org"),
                            mail_from="carol@example.org")
        self.assertUnsigned(self.env.wait_delivered(q))
        self.assertLogged("dkim-skip")


class MessageShapeTests(EnvTestCase):
    """Awkward messages must be signed so that verifiers agree."""

    def check(self, msg, opendkim=False, raw=False):
        q = self.env.submit(msg, raw=raw)
        d = self.env.wait_delivered(q)
        self.assertSigned(d, opendkim=opendkim)
        return d

    def test_8bit_body(self):
        body = ("Grüße aus Köln — naïve café, ½ price, 日本語のテキスト.\r\n"
                "Zweite Zeile: äöü ÄÖÜ ß\r\n")
        d = self.check(message("8bit", body, extra_headers=(
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n")), opendkim=True)
        # Postfix must not have converted the body (signature still valid,
        # but make the point explicit).
        self.assertIn("Grüße".encode(), d.data)

    def test_empty_body(self):
        self.check(message("empty", body=""), opendkim=True)

    def test_trailing_blank_lines_and_whitespace(self):
        body = ("trailing spaces   \r\ntrailing tab\t\r\n  leading\r\n"
                "inner  \t  whitespace\r\n\r\n\r\n \r\n\r\n\r\n")
        self.check(message("trailing", body))

    def test_folded_and_long_headers(self):
        refs = "\r\n".join(" <ref%03d.%s@example.com>" % (i, "x" * 40)
                           for i in range(60))
        # One physical line just under RFC 5322's 998 limit: longer lines
        # are broken by Postfix's SMTP client (smtp_line_length_limit)
        # after signing, which no signer can prevent.
        long_value = " ".join("word%04d" % i for i in range(108))[:975]
        extra = ("X-Folded: first part\r\n\tsecond part after tab\r\n"
                 "   third part after spaces\r\n"
                 "References:\r\n%s\r\n"
                 "X-Long-Unfolded: %s\r\n" % (refs, long_value))
        subject = ("a folded subject line\r\n that continues here\r\n"
                   "\tand here")
        self.check(message(subject, extra_headers=extra), opendkim=True)

    def test_header_names_in_odd_case(self):
        msg = ("fROM: Alice <alice@example.com>\r\nto: bob@example.net\r\n"
               "SUBJECT: odd case\r\nmessage-id: <odd.%d@example.com>\r\n"
               "dAtE: Mon, 2 Jan 2023 10:00:00 +0000\r\n\r\nbody\r\n"
               % random.randrange(1 << 30))
        d = self.check(msg, opendkim=True)
        h = [t["h"].lower().split(":") for t in d.signature_tags()]
        for fields in h:
            self.assertIn("subject", fields)

    def test_bare_lf_line_endings(self):
        msg = ("From: alice@example.com\nTo: bob@example.net\n"
               "Subject: bare LF\nMessage-ID: <lf.%d@example.com>\n\n"
               "line one\nline two\n\nline four\n" % random.randrange(1 << 30))
        self.check(msg.encode(), opendkim=True, raw=True)

    def test_10mb_attachment(self):
        rnd = random.Random(6376)
        blob = rnd.randbytes(10 * 1024 * 1024)
        import base64
        b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
        msg = (b"From: alice@example.com\r\nTo: bob@example.net\r\n"
               b"Subject: big\r\nMIME-Version: 1.0\r\n"
               b"Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n"
               b"--BOUNDARY\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
               b"--BOUNDARY\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Transfer-Encoding: base64\r\n"
               b"Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n"
               + b64 + b"--BOUNDARY--\r\n")
        t0 = time.monotonic()
        q = self.env.submit(msg)
        d = self.env.wait_delivered(q, timeout=90)
        self.assertGreater(len(d.data), 13 * 1024 * 1024)
        self.assertSigned(d, opendkim=False)
        if harness.os.environ.get("POSTERN_IT_VERBOSE") == "1":
            print("10 MB: %.1fs" % (time.monotonic() - t0))


class TempfailTests(EnvTestCase):
    """milter_default_action = tempfail: no milter, no mail lost."""

    def assertNothingQueued(self):
        empty, out = self.env.queue_empty()
        self.assertTrue(empty, "queue not empty:\n" + out)

    def test_milter_down_gives_4xx_and_no_loss(self):
        self.env.stop_milter()
        files_before = set(self.env.sink_files())
        try:
            with self.assertRaises(harness.SmtpError) as cm:
                self.env.submit(message("milter down"))
            self.assertTrue(400 <= cm.exception.code < 500,
                            "want 4xx, got %s" % cm.exception)
            time.sleep(1)
            self.assertNothingQueued()
            self.assertEqual(set(self.env.sink_files()), files_before)
        finally:
            self.env.start_milter()
        d = self.env.send_and_wait(message("milter back"))
        self.assertSigned(d, opendkim=False)

    def test_milter_dies_mid_transaction_4xx_at_end_of_data(self):
        files_before = set(self.env.sink_files())
        s = self.env.connect()
        try:
            self.assertEqual(s.mail("alice@example.com")[0], 250)
            self.assertEqual(s.rcpt("bob@example.net")[0], 250)
            # SIGKILL: no goodbye on the milter socket
            os.killpg(self.env.milter_proc.pid, signal.SIGKILL)
            self.env.milter_proc.wait(5)
            code, msg = s.data(message("killed").encode())
            self.assertTrue(400 <= code < 500, "want 4xx at end of DATA, got "
                            "%d %s" % (code, msg))
        except Exception:
            s.close()
            raise
        else:
            s.quit()
        finally:
            self.env.stop_milter()
        time.sleep(1)
        self.assertNothingQueued()
        self.assertEqual(set(self.env.sink_files()), files_before)
        self.env.start_milter()
        d = self.env.send_and_wait(message("resend after restart"))
        self.assertSigned(d, opendkim=False)


class MultiMessageTests(EnvTestCase):
    """Several messages on one SMTP connection (one milter connection):
    per-message state (header fields, From:, body hash, the decision) must
    reset at MAIL FROM / RSET, and an Accept for an unsigned message must
    not switch the milter off for the rest of the connection."""

    def transaction(self, s, mail_from, msg):
        """One MAIL/RCPT/DATA on an open connection; returns the queue id."""
        self.assertEqual(s.mail(mail_from)[0], 250)
        self.assertEqual(s.rcpt("bob@example.net")[0], 250)
        code, reply = s.data(msg.encode())
        self.assertEqual(code, 250, reply)
        m = re.search(r"queued as ([0-9A-Za-z]+)", reply.decode())
        self.assertTrue(m, reply)
        return m.group(1)

    def test_three_messages_on_one_connection(self):
        s = self.env.connect()
        try:
            # 1: key, signed; a distinctive body so a stale body hash shows.
            q1 = self.transaction(s, "alice@example.com", message(
                "multi 1", body="first message body\r\n" * 50))
            self.assertEqual(s.rset()[0], 250)
            # 2: no key for its From: domain (milter answers Accept at end
            # of header), no RSET before the next message.
            q2 = self.transaction(s, "carol@example.org", message(
                "multi 2", from_addr="carol@example.org"))
            # an aborted transaction (milter abort callback), then RSET
            self.assertEqual(s.mail("alice@example.com")[0], 250)
            self.assertEqual(s.rcpt("bob@example.net")[0], 250)
            self.assertEqual(s.rset()[0], 250)
            # 3: key again, other headers and body.
            q3 = self.transaction(s, "alice@example.com", message(
                "multi 3", body="third\r\n",
                extra_headers="X-Third: yes\r\n"))
        finally:
            s.quit()
        d1 = self.env.wait_delivered(q1)
        d2 = self.env.wait_delivered(q2)
        d3 = self.env.wait_delivered(q3)
        self.assertSigned(d1)
        self.assertUnsigned(d2)
        self.assertSigned(d3)
        self.assertIn(b"X-Third: yes", d3.data)
        self.assertLogged("dkim-sign", "queue_id=" + q1)
        self.assertLogged("dkim-skip", "queue_id=" + q2,
                          "no key for domain example.org")
        self.assertLogged("dkim-sign", "queue_id=" + q3)


class PrivilegeDropTests(EnvTestCase):
    """--user: keys are read as root, then the daemon runs as the user and
    still signs."""

    @classmethod
    def milter_spec(cls):
        if cls.env.adapter.name != "postern-dkim":
            raise unittest.SkipTest("postern-dkim only")
        return harness.MilterSpec(cls.signing_keys(), [DOMAIN],
                                  extra_args=["--user", "nobody"])

    def test_runs_as_user_and_signs(self):
        with open("/proc/%d/status" % self.env.milter_proc.pid) as f:
            ids = {k: v.split() for k, _, v in
                   (line.partition(":") for line in f)
                   if k in ("Uid", "Gid")}
        nobody = int(subprocess.check_output(["id", "-u", "nobody"]))
        self.assertEqual([int(x) for x in ids["Uid"]], [nobody] * 4,
                         "real/effective/saved/fs uid after --user nobody")
        self.assertNotIn("0", ids["Gid"], "still in group root")
        d = self.env.send_and_wait(message("dropped privileges"))
        self.assertSigned(d)


class CheckConfigTests(unittest.TestCase):
    """postern-dkim --check-config refuses a world-readable key file."""

    def test_key_file_mode_0644_refused(self):
        adapter = harness.milter_adapter()
        if adapter.name != "postern-dkim":
            self.skipTest("postern-dkim only")
        with harness.Env("checkconfig") as env:
            key = env.keys.add(DOMAIN, "s1", "rsa", 2048)
            cmd = adapter.command(harness.MilterSpec([key], [DOMAIN]),
                                  env.milter_port, env.milter_dir, None)

            def check_config():
                return subprocess.run(cmd + ["--check-config"], text=True,
                                      stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, timeout=30,
                                      env=harness.milter_env())
            ok = check_config()
            self.assertEqual(ok.returncode, 0,
                             "0600 key refused:\n" + ok.stdout)
            os.chmod(key.path, 0o644)
            bad = check_config()
            self.assertNotEqual(bad.returncode, 0,
                                "0644 key accepted:\n" + bad.stdout)
            self.assertIn(key.path, bad.stdout)


if __name__ == "__main__":
    unittest.main()
