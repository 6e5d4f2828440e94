"""test_postfix_xclient.py — pins down what Postfix (3.7) tells a milter when
the test client uses XCLIENT, which the DKIM tests rely on to play an
external or a SASL-authenticated client from 127.0.0.1. Uses macro_milter.py,
not the milter under test.

Observed and asserted here:
  * XCLIENT ADDR=203.0.113.9: Postfix aborts and closes the milter session
    that was opened for 127.0.0.1 and opens a new one whose connect callback
    gets hostname "[203.0.113.9]" and address 203.0.113.9 (macro
    "_" = "unknown [203.0.113.9]").
  * XCLIENT LOGIN=alice: the MAIL FROM macros carry {auth_authen}=alice and
    {auth_type}=XCLIENT, even with smtpd_sasl_auth_enable=no.
  * Without XCLIENT LOGIN, {auth_authen} is not sent at all.
"""

import json
import os
import subprocess
import sys
import time
import unittest

import harness


class XclientMacroTests(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.env = harness.Env("xclient")
        cls.out = os.path.join(cls.env.tmp, "macros.jsonl")
        with cls.env.starting():
            cls.env.start_postfix()
            cls.milter = subprocess.Popen(
                [sys.executable, os.path.join(harness.HERE, "macro_milter.py"),
                 str(cls.env.milter_port), cls.out],
                stdout=subprocess.PIPE, text=True)
            if cls.milter.stdout.readline().strip() != "ready":
                raise RuntimeError("macro_milter did not start")

    @classmethod
    def tearDownClass(cls):
        cls.milter.terminate()
        cls.milter.wait(5)
        cls.env.close()

    def sessions_for(self, queue_id):
        """Milter sessions whose end-of-message macro i= is queue_id."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = []
            if os.path.exists(self.out):
                with open(self.out) as f:
                    for line in f:
                        rec = json.loads(line)
                        if rec["macros"].get("E", {}).get("i") == queue_id:
                            found.append(rec)
            if found:
                return found
            time.sleep(0.1)
        self.fail("no milter session recorded for %s" % queue_id)

    def send(self, xclient):
        q = self.env.submit("From: alice@example.com\r\nTo: bob@example.net\r\n"
                            "Subject: xclient\r\n\r\nbody\r\n", xclient=xclient)
        self.env.wait_delivered(q)
        (rec,) = self.sessions_for(q)
        return rec

    def test_plain_loopback_client(self):
        rec = self.send(None)
        self.assertEqual(rec["connect"]["address"], "127.0.0.1")
        self.assertNotIn("{auth_authen}", rec["macros"].get("M", {}))

    def test_xclient_addr_reaches_connect_callback(self):
        rec = self.send({"ADDR": "203.0.113.9"})
        self.assertEqual(rec["connect"]["address"], "203.0.113.9")
        self.assertEqual(rec["connect"]["hostname"], "[203.0.113.9]")
        self.assertNotIn("{auth_authen}", rec["macros"].get("M", {}))

    def test_xclient_login_sets_auth_authen(self):
        rec = self.send({"ADDR": "203.0.113.9", "LOGIN": "alice"})
        self.assertEqual(rec["connect"]["address"], "203.0.113.9")
        self.assertEqual(rec["macros"]["M"].get("{auth_authen}"), "alice")
        self.assertEqual(rec["macros"]["M"].get("{auth_type}"), "XCLIENT")


if __name__ == "__main__":
    unittest.main()
