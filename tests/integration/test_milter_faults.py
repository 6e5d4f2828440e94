"""test_milter_faults.py — fault injection through a real Postfix into the
libmilter adapter (common/milter.{hpp,cpp}).

The milter is tests/integration/fault_milter (POSTERN_IT_FAULT_MILTER_BIN):
its session throws std::runtime_error at one stage chosen on the command line
(connect, mail, header, eoh, body, eom), only for messages whose envelope
sender contains "fault" (connect: for client 203.0.113.66, played with
XCLIENT ADDR). For every stage, with and without replies to the steps before end of header
(SMFIP_NR_HDR, where a header fault is answered at end of header), this
proves the adapter's promise: no exception crosses into libmilter; an
unexpected error becomes TEMPFAIL plus one "milter-error" log line. So:

  * the SMTP client gets a 4xx (never 5xx, never 250) at the expected step;
  * nothing reaches the sink and nothing stays in the Postfix queue;
  * the milter process is still alive and the next, clean message passes;
  * the milter's stderr has "milter-error ... stage=<stage> ... action=tempfail".
"""

import time
import unittest

import harness

FAULT_CLIENT = "203.0.113.66"

# stage -> SMTP step at which Postfix answers the TEMPFAIL (harness.SmtpError
# stage names). connect: Postfix keeps the milter's connect verdict and
# answers the next command that can be refused (MAIL FROM).
# Where the client sees the 4xx when every step replies. With the steps before end of header
# unanswered (SMFIP_NR_CONN/_MAIL/_HDR/_BODY), a connect or MAIL fault is answered at end of
# header, which Postfix reports at end of DATA.
SMTP_STEP = {
    "connect": "MAIL",
    "mail": "MAIL",
    "header": "end of DATA",
    "eoh": "end of DATA",
    "body": "end of DATA",
    "eom": "end of DATA",
}


def message(subject, from_addr="alice@example.com"):
    return ("From: Alice <%s>\r\nTo: Bob <bob@example.net>\r\n"
            "Subject: %s\r\nX-After-Subject: one more field\r\n\r\n"
            "body line\r\n" % (from_addr, subject))


class MilterFaultTests(harness.ClassEnv, unittest.TestCase):
    """One Postfix for the class; fault_milter restarted per case (SIGTERM,
    which its Daemon::serve_milter answers at once: a restart costs milliseconds)."""

    @classmethod
    def setUpClass(cls):
        adapter = harness.fault_milter_adapter()
        cls.env = harness.Env(cls.__name__, adapter=adapter)
        with cls.env.starting():
            cls.env.start_postfix()

    def fault_log_lines(self, stage):
        return [line for line in self.env.milter_stderr().splitlines()
                if "milter-error" in line and "stage=%s " % stage in line + " "]

    def check_stage(self, stage, step_replies):
        env = self.env
        env.stop_milter()
        env.start_milter(harness.FaultMilterSpec(stage, step_replies))
        sink_before = set(env.sink_files())
        logged_before = len(self.fault_log_lines(stage))

        if stage == "connect":
            kw = {"xclient": {"ADDR": FAULT_CLIENT}}
        else:
            kw = {"mail_from": "fault@example.com"}
        with self.assertRaises(harness.SmtpError) as cm:
            env.submit(message("FAULT at %s" % stage), **kw)
        err = cm.exception
        self.assertTrue(400 <= err.code < 500, "want 4xx, got %s" % err)
        want_step = SMTP_STEP[stage] if step_replies else "end of DATA"
        self.assertEqual(err.stage, want_step, str(err))

        # The adapter logged the fault with its stage and answered TEMPFAIL.
        deadline = time.monotonic() + 5
        while len(self.fault_log_lines(stage)) <= logged_before:
            if time.monotonic() > deadline:
                self.fail("no 'milter-error stage=%s' line in:\n%s"
                          % (stage, env.milter_stderr()[-3000:]))
            time.sleep(0.05)
        line = self.fault_log_lines(stage)[-1]
        self.assertIn("action=tempfail", line)
        self.assertIn("injected fault at %s" % stage, line)

        # Still alive; a clean message (same client shape) passes, and it is
        # the only thing that reached the sink.
        self.assertIsNone(env.milter_proc.poll(), "fault_milter died")
        if stage == "connect":
            kw = {"xclient": {"ADDR": "203.0.113.67"}}
        else:
            kw = {"mail_from": "alice@example.com"}
        d = env.send_and_wait(message("clean after %s" % stage), **kw)
        self.assertEqual(set(env.sink_files()) - sink_before,
                         {harness.os.path.basename(d.path)})
        self.assertIsNone(env.milter_proc.poll(), "fault_milter died")
        empty, out = env.queue_empty()
        self.assertTrue(empty, "queue not empty:\n" + out)
        self.assertNotIn("FAULT at", d.message.get("Subject", ""))


def _add_stage_tests():
    for stage in SMTP_STEP:
        for replies in (False, True):
            name = "test_%s_%s" % (stage, "replies" if replies else "no_replies")

            def test(self, stage=stage, replies=replies):
                self.check_stage(stage, replies)
            test.__name__ = name
            test.__doc__ = ("fault at %s, step replies %s -> 4xx, no loss"
                            % (stage, "on" if replies else "off (NR_CONN, NR_MAIL, NR_HDR, NR_BODY)"))
            setattr(MilterFaultTests, name, test)


_add_stage_tests()

if __name__ == "__main__":
    unittest.main()
