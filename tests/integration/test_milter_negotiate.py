"""test_milter_negotiate.py — protocol negotiation of the libmilter adapter
(common/milter.{hpp,cpp}), spoken to by an MTA played here (Sendmail milter
protocol v6, no Postfix needed), so the MTA can offer protocol steps Postfix
never varies.

The milter is tests/integration/fault_milter (POSTERN_IT_FAULT_MILTER_BIN)
with --stage connect --step-replies no: its connect callback throws for the
client 203.0.113.66 (the adapter answers TEMPFAIL), and it asks for no reply
to connect, MAIL, header and body chunks (SMFIP_NR_CONN/_MAIL/_HDR/_BODY), as
postern-dkim and postern-av do. libmilter offers its filter every SMFIP_NR_*
step whether the MTA offered it or not (it fakes a CONTINUE reply for the MTA
that did not), so the adapter must ask only for what the MTA offered, and
decide per connection whether a step's verdict can be sent:

  * an MTA offering no SMFIP_NR_* gets the tempfail as the reply to connect
    (not a CONTINUE with the tempfail deferred to end of header);
  * an MTA offering them gets no reply to connect, MAIL and header, and the
    tempfail at end of header;
  * two connections negotiating differently, interleaved, each keep their own.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import harness
from milter_wire import (NO_REPLY_STEPS, SMFIP_HDR_LEADSPC, SMFIP_NR_BODY, SMFIP_NR_CONN,
                         SMFIP_NR_HDR, SMFIP_NR_MAIL, SMFIP_SKIP, MilterWire, connect_data)

# What Postfix 3.7 offers with milter_protocol = 6 (the steps it can skip or not wait for).
POSTFIX_V6_STEPS = 0x1FFFFF

FAULT_CLIENT = "203.0.113.66"
CLEAN_CLIENT = "203.0.113.67"


class MtaSide(MilterWire):
    """The MTA side of one milter connection, with the commands these tests send."""

    def connect(self, address):
        self.send(b"C", connect_data("client.example", 40000, address))

    def mail(self):
        self.send(b"M", b"<alice@example.org>\0")

    def rcpt(self):
        self.send(b"R", b"<bob@example.net>\0")

    def header(self):
        self.send(b"L", b"Subject\0 negotiation test\0")

    def end_of_header(self):
        self.send(b"N")


class MilterNegotiationTests(unittest.TestCase):
    """One fault_milter for the class (SIGKILL stop in tearDownClass)."""

    @classmethod
    def setUpClass(cls):
        path = os.environ.get("POSTERN_IT_FAULT_MILTER_BIN", "")
        if not path:
            raise unittest.SkipTest("POSTERN_IT_FAULT_MILTER_BIN not set")
        cls.port = harness.port_base()
        cls.tmp = tempfile.mkdtemp(prefix="postern-neg-%d-" % cls.port)
        cls.log_path = os.path.join(cls.tmp, "milter.log")
        rfd, wfd = os.pipe()
        with open(cls.log_path, "w") as log:
            cls.proc = subprocess.Popen(
                [path, "--socket", "inet:%d@127.0.0.1" % cls.port, "--stage", "connect",
                 "--step-replies", "no", "--ready-fd", str(wfd)],
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(wfd,), cwd=cls.tmp,
                start_new_session=True)
        os.close(wfd)
        try:
            ready = harness.wait_ready_fd(rfd, cls.proc, 30)
        finally:
            os.close(rfd)
        if not ready:
            log = cls.log()
            cls.tearDownClass()
            raise RuntimeError("fault_milter not ready:\n" + log)

    @classmethod
    def tearDownClass(cls):
        harness.stop_group(cls.proc, signal.SIGKILL)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def log(cls):
        with open(cls.log_path) as f:
            return f.read()

    def setUp(self):
        self.mtas = []

    def tearDown(self):
        for mta in self.mtas:
            mta.close()

    def mta(self):
        mta = MtaSide(self.port)
        self.mtas.append(mta)
        return mta

    def test_tempfail_at_connect_without_no_reply_steps(self):
        """MTA offers only SMFIP_HDR_LEADSPC: the connect tempfail is the connect reply."""
        mta = self.mta()
        asked = mta.negotiate(SMFIP_HDR_LEADSPC)
        self.assertEqual(asked & NO_REPLY_STEPS, 0,
                         "asked for no-reply steps 0x%x the MTA did not offer" % asked)
        mta.connect(FAULT_CLIENT)
        self.assertEqual(mta.recv()[0], b"t", self.log()[-2000:])

    def test_clean_connect_without_no_reply_steps(self):
        """The same MTA: a clean client gets CONTINUE at each step (each replies)."""
        mta = self.mta()
        mta.negotiate(SMFIP_HDR_LEADSPC)
        for step in (lambda: mta.connect(CLEAN_CLIENT), mta.mail, mta.rcpt, mta.header,
                     mta.end_of_header):
            step()
            self.assertEqual(mta.recv()[0], b"c")

    def test_tempfail_at_end_of_header_with_no_reply_steps(self):
        """MTA offers Postfix's v6 steps: no reply to connect/MAIL/header; tempfail at EOH."""
        mta = self.mta()
        asked = mta.negotiate(POSTFIX_V6_STEPS)
        want = SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_BODY
        self.assertEqual(asked & NO_REPLY_STEPS, want, "asked 0x%x" % asked)
        mta.connect(FAULT_CLIENT)
        mta.mail()
        mta.rcpt()
        self.assertEqual(mta.recv()[0], b"c", "first reply must be RCPT's")
        mta.header()
        mta.end_of_header()
        self.assertEqual(mta.recv()[0], b"t", self.log()[-2000:])

    def test_partial_offer(self):
        """MTA offers SMFIP_NR_HDR but not NR_CONN/NR_MAIL: connect answers at once."""
        mta = self.mta()
        asked = mta.negotiate(SMFIP_HDR_LEADSPC | SMFIP_NR_HDR | SMFIP_SKIP)
        self.assertEqual(asked & NO_REPLY_STEPS, SMFIP_NR_HDR, "asked 0x%x" % asked)
        mta.connect(FAULT_CLIENT)
        self.assertEqual(mta.recv()[0], b"t", self.log()[-2000:])

    def test_interleaved_connections_keep_their_own_negotiation(self):
        """A later negotiation on another connection does not change an earlier one's steps."""
        quiet, talking = self.mta(), self.mta()
        quiet.negotiate(POSTFIX_V6_STEPS)
        talking.negotiate(SMFIP_HDR_LEADSPC)
        quiet.connect(FAULT_CLIENT)
        talking.connect(FAULT_CLIENT)
        self.assertEqual(talking.recv()[0], b"t")
        quiet.mail()
        quiet.rcpt()
        self.assertEqual(quiet.recv()[0], b"c", "first reply must be RCPT's")
        quiet.end_of_header()
        self.assertEqual(quiet.recv()[0], b"t")
        # And the other way round: the connection that replies still replies.
        again = self.mta()
        again.negotiate(SMFIP_HDR_LEADSPC)
        late_quiet = self.mta()
        late_quiet.negotiate(POSTFIX_V6_STEPS)
        again.connect(CLEAN_CLIENT)
        self.assertEqual(again.recv()[0], b"c")
        again.mail()
        self.assertEqual(again.recv()[0], b"c")


if __name__ == "__main__":
    unittest.main()
