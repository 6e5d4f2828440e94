"""test_greylist_daemon.py — the postern-greylist process itself, over the policy protocol:
SIGHUP reloads the whitelist files (a bad file is refused with a log line and the old lists
stay in force), --dry-run answers DUNNO while counting, and configuration errors stop the start
with exit status 78 and a message naming the option or file:line.

Ports: POSTERN_IT_PORT_BASE + 4.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from test_greylist_redis import PolicyClient

BIN = os.environ.get("POSTERN_IT_GREYLIST_BIN")


@unittest.skipUnless(BIN, "POSTERN_IT_GREYLIST_BIN not set")
class GreylistDaemonTests(unittest.TestCase):
    def setUp(self):
        self.base = harness.port_base()
        self.tmp = tempfile.mkdtemp(prefix="postern-it-greylist-daemon-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.wl = os.path.join(self.tmp, "whitelist_clients")
        with open(self.wl, "w") as f:
            f.write("# nothing yet\n")

    def start(self, *args):
        d = harness.PolicyDaemon(self.tmp, "postern-greylist", BIN, self.base + 4,
                                 ["--store", "lmdb:" + os.path.join(self.tmp, "g.mdb"),
                                  "--whitelist-clients", self.wl] + list(args))
        d.start()
        self.addCleanup(d.stop)
        c = PolicyClient(d.port)
        self.addCleanup(c.close)
        return d, c

    def wait_log(self, d, text, count):
        deadline = time.monotonic() + 5
        while d.log().count(text) < count:
            self.assertLess(time.monotonic(), deadline, "no %r in log:\n%s" % (text, d.log()))
            time.sleep(0.05)

    def test_sighup_reloads_whitelists_and_keeps_them_on_error(self):
        d, c = self.start()
        self.assertTrue(c.ask(client="192.0.2.1").startswith("DEFER_IF_PERMIT"))
        with open(self.wl, "w") as f:
            f.write("192.0.2.0/24\n")
        d.proc.send_signal(signal.SIGHUP)
        self.wait_log(d, "greylist-reload client_entries=1", 1)
        self.assertEqual(c.ask(client="192.0.2.1", sender="new@example.com"), "DUNNO")
        with open(self.wl, "w") as f:
            f.write("192.0.2.0/24\n/[broken/\n")
        d.proc.send_signal(signal.SIGHUP)
        self.wait_log(d, "kept=\"previous whitelists\"", 1)
        self.assertIn(self.wl + ":2: bad regular expression", d.log())
        self.assertEqual(c.ask(client="192.0.2.1", sender="other@example.com"), "DUNNO")
        self.assertIsNone(d.proc.poll())

    def test_dry_run_answers_dunno(self):
        d, c = self.start("--dry-run")
        self.assertEqual(c.ask(client="192.0.2.1"), "DUNNO")
        self.assertIn("outcome=greylisted", d.log())
        self.assertIn("dry_run=yes", d.log())

    def test_configuration_errors_exit_78(self):
        cases = [
            (["--store", "memcache://x"], "option --store"),
            (["--delay", "-1"], "option --delay"),
            (["--fault-action", "REJECT no"], "option --fault-action"),
            (["--retry-window", "2d"], "option --retry-window"),
            (["--whitelist-clients", self.wl + ".missing"], "cannot open whitelist file"),
            (["--store", "lmdb:/nonexistent/dir/g.mdb"], "option --store"),
        ]
        for args, want in cases:
            p = subprocess.run([BIN, "--check-config"] + args, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=20)
            self.assertEqual(p.returncode, 78, "%s: got %d %s" % (args, p.returncode, p.stdout))
            self.assertIn(want, p.stdout, args)
        p = subprocess.run([BIN, "--check-config", "--store",
                            "lmdb:" + os.path.join(self.tmp, "ok.mdb")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout)


if __name__ == "__main__":
    unittest.main()
