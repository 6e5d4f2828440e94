"""test_greylist_parity.py — decision parity with real postgrey (Debian's postgrey 1.37).

One request trace is replayed, request by request, through postgrey and postern-greylist,
both with their defaults (delay 300 s, max-age 35 days, retry window 2 days, auto-whitelist
after 5 passes an hour apart, /24 and /64 networks), Debian's whitelist files
(/etc/postgrey/whitelist_clients and whitelist_recipients) and the same reply text. Time is
the trace's: each request carries policy_test_time, which postgrey always obeys and
postern-greylist obeys with --trust-test-time. The X-Greylist header differs in its program
name and date only, so PREPEND replies compare by their "delayed N seconds".

The trace covers: new triplets, early retries, the first pass (header) and later passes,
one header per message instance, retries after the retry window, /24 and /64 networks,
sender normalization (+extension, VERP numbers, BATV prvs=), the null sender, client
whitelisting by name, domain, regex and address, recipient whitelisting, auto-whitelisting
after 5 passes and its per-address scope.

Expected differences (asserted as such, not hidden):
  - SRS senders: postern-greylist reduces SRS0/SRS1 addresses to the original sender, so a
    retry through a forwarder whose SRS hash changed passes; postgrey keys on the whole SRS
    address and greylists it again.
Not in the trace: expiry after max-age — postgrey deletes old entries only in its nightly
maintenance (between 2 and 7 a.m. of real time), postern-greylist treats them as gone at once.

Ports: POSTERN_IT_PORT_BASE + 4 (postern-greylist), + 5 (postgrey).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness

BIN = os.environ.get("POSTERN_IT_GREYLIST_BIN")
POSTGREY = "/usr/sbin/postgrey"
WL_CLIENTS = "/etc/postgrey/whitelist_clients"
WL_RECIPIENTS = "/etc/postgrey/whitelist_recipients"
TEXT = "4.7.1 Greylisted, try again in %s seconds"
T0 = 1_700_000_000
HOUR, DAY = 3600, 86400


def trace():
    """[(time, attrs, expect_difference)]"""
    out = []

    def req(t, client, sender, rcpt="bob@example.net", name="unknown", inst=None, diff=False):
        out.append((T0 + t, {"client_address": client, "client_name": name, "sender": sender,
                             "recipient": rcpt, "instance": inst or "i%d" % len(out)}, diff))

    # basic life of a triplet
    req(0, "192.0.2.10", "alice@example.com")
    req(60, "192.0.2.10", "alice@example.com")
    req(299, "192.0.2.10", "alice@example.com")
    req(300, "192.0.2.10", "alice@example.com")
    req(400, "192.0.2.10", "alice@example.com")
    req(5 * DAY, "192.0.2.10", "alice@example.com")
    # same /24, +extension, case: one triplet
    req(1000, "198.18.7.1", "Carol+news@Example.ORG", "Dave@Example.NET")
    req(1400, "198.18.7.200", "carol+other@example.org", "dave@example.net")
    req(1500, "198.18.8.1", "carol@example.org", "dave@example.net")  # other /24
    # VERP numbers and BATV tags
    req(2000, "203.0.113.5", "bounce-1234-77@lists.example", "eve@example.net")
    req(2400, "203.0.113.5", "bounce-9876-12@lists.example", "eve@example.net")
    req(3000, "203.0.113.6", "prvs=0123456789=joe@batv.example", "eve@example.net")
    req(3400, "203.0.113.6", "prvs=9876543210=joe@batv.example", "eve@example.net")
    req(3500, "203.0.113.6", "prvs=joe=abcdefghij@batv.example", "eve@example.net")
    req(3600, "203.0.113.6", "user123@batv.example", "eve@example.net")
    # null sender
    req(4000, "192.0.2.77", "", "frank@example.net")
    req(4299, "192.0.2.77", "", "frank@example.net")
    req(4300, "192.0.2.77", "", "frank@example.net")
    # retry after the retry window (2 days)
    req(5000, "100.64.1.1", "late@example.com")
    req(5000 + 2 * DAY + 1, "100.64.1.1", "late@example.com")
    req(5000 + 2 * DAY + 301, "100.64.1.1", "late@example.com")
    # several recipients of one message: one header
    for t in (6000, 6300):
        for rcpt in ("r1@example.net", "r2@example.net", "r3@example.net"):
            req(t, "192.0.2.150", "multi@example.com", rcpt, inst="msg-%d" % t)
    # IPv6 /64
    req(7000, "2001:db8:5:6::1", "v6@example.com")
    req(7100, "2001:db8:5:6:ffff::2", "v6@example.com")
    req(7300, "2001:db8:5:6:ffff::2", "v6@example.com")
    req(7301, "2001:db8:5:7::1", "v6@example.com")
    # whitelists (Debian's lists): domain, regex, address, network, recipient
    req(8000, "192.0.2.200", "news@debian.org", name="bendel.debian.org")
    req(8001, "192.0.2.201", "x@t-online.example", name="mail12.telekom.de")
    req(8002, "66.216.126.174", "y@example.com")
    req(8003, "205.201.130.9", "z@mailchimp.example")
    req(8004, "192.0.2.202", "spam@example.com", rcpt="postmaster@example.net")
    req(8005, "192.0.2.203", "spam@example.com", rcpt="abuse@example.net")
    req(8006, "192.0.2.204", "w@example.com", name="notdebian.org.example")
    # auto-whitelist: 5 passes at least an hour apart, then any sender passes
    for n in range(6):
        t = 10 * DAY + n * 2 * HOUR
        req(t, "203.0.113.99", "awl%d@example.com" % n, name="mx.awl.example")
        req(t + 301, "203.0.113.99", "awl%d@example.com" % n, name="mx.awl.example")
    req(11 * DAY, "203.0.113.99", "fresh@example.com", name="mx.awl.example")
    req(11 * DAY, "203.0.113.98", "fresh@example.com")  # same /24, not the same address
    # two passes within an hour count once
    for n, t in enumerate((20 * DAY, 20 * DAY + 400)):
        req(t, "198.51.100.9", "hour%d@example.com" % n)
        req(t + 300, "198.51.100.9", "hour%d@example.com" % n)
    # SRS through a forwarder: the hash changes between attempts (expected difference)
    req(30 * DAY, "192.0.2.90", "SRS0=HhH1=TT=orig.example=alice@fwd.example")
    req(30 * DAY + 400, "192.0.2.90", "SRS0=JjJ2=UU=orig.example=alice@fwd.example", diff=True)
    return out


def ask(sock_file, sock, when, attrs):
    lines = ["request=smtpd_access_policy", "protocol_state=RCPT",
             "policy_test_time=%d" % when] + ["%s=%s" % kv for kv in attrs.items()]
    sock.sendall(("\n".join(lines) + "\n\n").encode())
    line = sock_file.readline().decode().rstrip("\n")
    sock_file.readline()
    if not line.startswith("action="):
        raise AssertionError("bad reply %r" % line)
    return line[len("action="):]


def canonical(action):
    m = re.match(r"PREPEND X-Greylist: delayed (\d+) seconds by ", action)
    return "PREPEND X-Greylist delayed=%s" % m.group(1) if m else action


@unittest.skipUnless(BIN and os.path.exists(POSTGREY) and os.path.exists(WL_CLIENTS),
                     "needs POSTERN_IT_GREYLIST_BIN and Debian's postgrey")
class GreylistParityTests(unittest.TestCase):
    def setUp(self):
        base = harness.port_base()
        self.tmp = tempfile.mkdtemp(prefix="postern-it-parity-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ours = harness.PolicyDaemon(
            self.tmp, "postern-greylist", BIN, base + 4,
            ["--store", "lmdb:" + os.path.join(self.tmp, "greylist.mdb"), "--trust-test-time",
             "--skip-networks", "", "--whitelist-clients", WL_CLIENTS,
             "--whitelist-recipients", WL_RECIPIENTS, "--greylist-text", TEXT])
        self.ours.start()
        self.addCleanup(self.ours.stop)
        dbdir = os.path.join(self.tmp, "postgrey")
        os.makedirs(dbdir)
        self.pg_port = base + 5
        self.pg_log = open(os.path.join(self.tmp, "postgrey.log"), "wb")
        self.addCleanup(self.pg_log.close)
        self.postgrey = subprocess.Popen(
            [POSTGREY, "--inet=127.0.0.1:%d" % self.pg_port, "--dbdir=" + dbdir,
             "--user=root", "--group=root", "--greylist-text=" + TEXT,
             "--whitelist-clients=" + WL_CLIENTS, "--whitelist-recipients=" + WL_RECIPIENTS],
            stdout=self.pg_log, stderr=subprocess.STDOUT, start_new_session=True)
        self.addCleanup(self.stop_postgrey)
        if not harness.wait_port(self.pg_port, 20):
            raise RuntimeError("postgrey did not listen")

    def stop_postgrey(self):
        if self.postgrey.poll() is None:
            os.killpg(self.postgrey.pid, signal.SIGTERM)
            try:
                self.postgrey.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.postgrey.pid, signal.SIGKILL)
                self.postgrey.wait()

    def connect(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        self.addCleanup(f.close)
        return s, f

    def test_same_decisions_on_trace(self):
        ours_s, ours_f = self.connect(self.ours.port)
        pg_s, pg_f = self.connect(self.pg_port)
        mismatches, expected, answers = [], [], []
        steps = trace()
        for i, (when, attrs, diff) in enumerate(steps):
            a = canonical(ask(ours_f, ours_s, when, attrs))
            b = canonical(ask(pg_f, pg_s, when, attrs))
            answers.append(b)
            row = "#%d t=+%d %s %s -> %s: ours %r, postgrey %r" % (
                i, when - T0, attrs["client_address"], attrs["sender"], attrs["recipient"], a, b)
            if diff:
                expected.append((a, b, row))
            elif a != b:
                mismatches.append(row)
        self.assertEqual(mismatches, [], "decisions differ:\n" + "\n".join(mismatches))
        # the explained difference: SRS retry passes here, is greylisted again by postgrey
        ((a, b, row),) = expected
        self.assertTrue(a.startswith("PREPEND X-Greylist"), row)
        self.assertTrue(b.startswith("DEFER_IF_PERMIT 4.7.1 Greylisted"), row)
        # the trace exercised every kind of answer
        kinds = {a.split(" ")[0] for a in answers}
        self.assertEqual(kinds, {"DEFER_IF_PERMIT", "PREPEND", "DUNNO"})
        print("\nparity: %d requests, %d same decisions, %d expected difference(s)"
              % (len(steps), len(steps) - len(expected), len(expected)))


if __name__ == "__main__":
    unittest.main()
