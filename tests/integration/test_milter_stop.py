"""test_milter_stop.py — how the milters stop (common/daemon.hpp, Daemon::serve_milter).

The real postern-av (with a one-signature ClamAV database made here) and postern-dkim
(verify mode), spoken to over the milter protocol (Sendmail milter v6, as Postfix speaks
it) by a small client below, no Postfix needed:
  * SIGTERM stops at once with exit status 0 (libmilter alone waits for its 5 s accept poll;
    postern-dkim used to die of SIGTERM in a DNS thread, status 143);
  * a message in progress when SIGTERM arrives is still answered at end of message (libmilter
    alone abandons it), while a new connection is answered with a tempfail; then the milter
    exits 0 at once.

POSTERN_IT_AV_BIN / POSTERN_IT_DKIM_BIN: the binaries (tests/integration/daemon.cmake); a
class skips when its variable is unset.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness

from milter_wire import MilterWire, connect_data


class MilterClient(MilterWire):
    """The MTA side of one milter connection; every step waits for its reply (no SMFIP_NR_*
    offered)."""

    def step(self, cmd, data=b""):
        self.send(cmd, data)
        return self.recv()[0]

    def message_until_body(self):
        """Connect, MAIL, RCPT, one header, end of header and one body chunk; their replies."""
        return [
            self.step(b"C", connect_data("client.example", 40000, "127.0.0.1")),
            self.step(b"M", b"<alice@example.org>\0"),
            self.step(b"R", b"<bob@example.net>\0"),
            self.step(b"L", b"Subject\0 stop test\0"),
            self.step(b"N"),
            self.step(b"B", b"a clean body line\r\n"),
        ]

    def until_not_continue(self):
        """Connect, MAIL, RCPT, one header, end of header until a reply other than continue;
        that reply (b"c" if all continue)."""
        for cmd, data in ((b"C", connect_data("late.example", 40001, "127.0.0.1")),
                          (b"M", b"<carol@example.org>\0"), (b"R", b"<dave@example.net>\0"),
                          (b"L", b"Subject\0 late\0"), (b"N", b"")):
            reply = self.step(cmd, data)
            if reply != b"c":
                return reply
        return b"c"

    def end_of_message(self):
        """The replies to end of message: modifications, then the final answer."""
        self.send(b"E")
        replies = []
        while True:
            cmd, _ = self.recv()
            replies.append(cmd)
            if cmd in (b"c", b"a", b"r", b"t", b"d", b"y"):
                return replies


def binary(variable):
    path = os.environ.get(variable, "")
    if not path:
        raise unittest.SkipTest("%s not set" % variable)
    return path


class MilterStopCase(unittest.TestCase):
    """Starts the milter of `args()` on the test's first port, with --ready-fd."""

    VARIABLE = None

    def setUp(self):
        self.binary = binary(self.VARIABLE)
        self.port = harness.port_base()
        self.tmp = tempfile.mkdtemp(prefix="postern-stop-%d-" % self.port)
        self.log_path = os.path.join(self.tmp, "milter.log")
        rfd, wfd = os.pipe()
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [self.binary, "--socket", "inet:%d@127.0.0.1" % self.port,
                 "--ready-fd", str(wfd)] + self.args(),
                stdout=log, stderr=subprocess.STDOUT, pass_fds=(wfd,), cwd=self.tmp,
                start_new_session=True)
        os.close(wfd)
        harness.write_pidfile(self.tmp, "milter", self.proc.pid)
        try:
            ready = harness.wait_ready_fd(rfd, self.proc, 30)
        finally:
            os.close(rfd)
        self.assertTrue(ready, "milter not ready:\n" + self.log())

    def tearDown(self):
        harness.stop_group(self.proc, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def args(self):
        return []

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop_and_time(self):
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(15)
        return status, time.monotonic() - started

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text not in self.log():
            self.assertLess(time.monotonic(), deadline, "no %r in:\n%s" % (text, self.log()))
            time.sleep(0.05)

    def assert_refused(self, timeout=5):
        """The listening socket is closed: a new connection is refused (a unix socket file
        would be gone; inet: nothing listens on the port)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except ConnectionRefusedError:
                return
            self.assertLess(time.monotonic(), deadline, "the milter still accepts")
            time.sleep(0.05)


class AvStopTests(MilterStopCase):
    VARIABLE = "POSTERN_IT_AV_BIN"

    def args(self):
        db = os.path.join(self.tmp, "db")
        os.makedirs(db, exist_ok=True)
        with open(os.path.join(db, "test.hdb"), "w") as f:  # EICAR's MD5 and length
            f.write("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")
        return ["--database", db, "--tmp-dir", self.tmp]

    def test_sigterm_stops_at_once_with_status_0(self):
        status, seconds = self.stop_and_time()
        self.assertEqual(status, 0, self.log())
        # libmilter alone ends its accept loop at its next 5 s poll timeout
        self.assertLess(seconds, 2.5, self.log())
        self.assertIn("milter-stopping signal=15 messages=0", self.log())

    def test_message_in_progress_is_answered_after_sigterm(self):
        client = MilterClient(self.port)
        try:
            client.negotiate()
            self.assertEqual(client.message_until_body(), [b"c"] * 6)
            self.proc.send_signal(signal.SIGTERM)
            self.wait_log("milter-stopping signal=15 messages=1")
            late = MilterClient(self.port)
            try:
                late.negotiate()
                # The connect step's tempfail is answered at the first step that replies
                # (postern-av replies from end of header on).
                self.assertEqual(late.until_not_continue(), b"t",
                                 "a new connection while stopping")
            finally:
                late.close()
            self.assertIsNone(self.proc.poll(), "exited with a message in progress")
            replies = client.end_of_message()
            self.assertIn(replies[-1], (b"c", b"a"), replies)
            self.assertTrue({b"h", b"i"} & set(replies), "no X-Virus-* field: %r" % replies)
        finally:
            client.close()
        self.assertEqual(self.proc.wait(2.5), 0, self.log())
        self.assertNotIn("milter-stop-timeout", self.log())
        self.assert_refused()


class DkimStopTests(MilterStopCase):
    VARIABLE = "POSTERN_IT_DKIM_BIN"

    def args(self):
        return ["--mode", "verify"]

    def test_sigterm_stops_at_once_with_status_0(self):
        status, seconds = self.stop_and_time()
        self.assertEqual(status, 0, self.log())  # not -15: no thread dies of the signal
        self.assertLess(seconds, 2.5, self.log())


if __name__ == "__main__":
    unittest.main()
