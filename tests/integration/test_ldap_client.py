"""test_ldap_client.py — common/ldap.hpp against a real slapd (slapd_server.py), through the
ldap_probe tool (tests/integration/ldap_probe.cpp): AD-style proxyAddresses lookups in any
case, RFC 4515 escaping of an injection attempt, simple bind with a password file and a
refused bind, StartTLS and ldaps:// with a CA file, failover to a second server, reconnect
after a restart with one outage line per outage, operation timeout on a frozen server, the
connection pool under concurrent searches, a refused search.

Environment: POSTERN_IT_LDAP_PROBE_BIN (skips when unset), POSTERN_IT_PORT_BASE.
"""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import harness
from slapd_server import SlapdServer, group_ldif, public_folder_ldif, user_ldif

AD_FILTER = ("(&(|(objectClass=person)(objectClass=group)(objectClass=publicFolder))"
             "(proxyAddresses=smtp:%s))")

DIRECTORY = (user_ldif("alice", "alice@example.org", ["a.smith@example.org"])
             + user_ldif("bob", "bob@example.org")
             + group_ldif("sales", "sales@example.org", ["orders@example.org"])
             + public_folder_ldif("archive", "archive@example.org"))


class Probe:
    """One ldap_probe process: a Client kept across commands."""

    def __init__(self, tmp, args):
        self.stderr_path = os.path.join(tmp, "probe-%d.log" % time.monotonic_ns())
        self._err = open(self.stderr_path, "w")
        self.proc = subprocess.Popen([os.environ["POSTERN_IT_LDAP_PROBE_BIN"]] + args,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True)

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().rstrip("\n")
        if not answer:
            raise AssertionError("ldap_probe died: " + self.log())
        return answer

    def log(self):
        with open(self.stderr_path) as f:
            return f.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self._err.close()


@unittest.skipUnless(os.environ.get("POSTERN_IT_LDAP_PROBE_BIN"), "ldap_probe not built")
class LdapClientTests(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="postern-ldap-")
        base = harness.port_base()
        self.dead_port = base + 2  # nothing listens here
        self.slapd = SlapdServer(self.tmp, base, tls_port=base + 1, ldif=DIRECTORY)
        self.slapd.start()
        self.probes = []
        self.password_file = os.path.join(self.tmp, "bind.pw")
        with open(self.password_file, "w") as f:
            f.write(self.slapd.reader_password + "\n")

    def tearDown(self):
        for p in self.probes:
            p.close()
        self.slapd.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def probe(self, *args, uris=None, bind=True):
        argv = []
        for uri in uris or [self.slapd.uri]:
            argv += ["--uri", uri]
        argv += ["--base", self.slapd.suffix, "--filter", AD_FILTER, "--timeout", "2",
                 "--network-timeout", "2"]
        if bind:
            argv += ["--bind-dn", self.slapd.reader_dn, "--bind-password-file",
                     self.password_file]
        p = Probe(self.tmp, argv + list(args))
        self.probes.append(p)
        return p

    def dn(self, name, ou="people", attr="uid"):
        return "%s=%s,ou=%s,%s" % (attr, name, ou, self.slapd.suffix)

    def test_primary_and_secondary_addresses_in_any_case(self):
        p = self.probe()
        alice = self.dn("alice")
        for key in ("alice@example.org", "ALICE@Example.ORG", "a.smith@example.org",
                    "A.Smith@EXAMPLE.org"):
            self.assertEqual(p.ask("find " + key), "OK 1 " + alice, key)
        self.assertEqual(p.ask("find orders@example.org"),
                         "OK 1 " + self.dn("sales", "groups", "cn"))
        self.assertEqual(p.ask("find archive@example.org"),
                         "OK 1 " + self.dn("archive", "groups", "cn"))
        self.assertEqual(p.ask("find nobody@example.org"), "OK 0 ")
        self.assertEqual(p.ask("values alice@example.org proxyAddresses"),
                         "OK SMTP:alice@example.org|smtp:a.smith@example.org")

    def test_injection_does_not_change_the_filter(self):
        p = self.probe()
        # Unescaped, these would match every person (uid=*) or every entry.
        for key in ("*)(uid=*", "*)(uid=*@example.org", "*", "*@example.org",
                    "alice@example.org)(|(objectClass=*"):
            self.assertEqual(p.ask("find " + key), "OK 0 ", key)
        # The same filter with a trusted wildcard does match: the escaping is what stops it.
        raw = self.probe("--filter", "(proxyAddresses=smtp:*)")
        self.assertEqual(raw.ask("find anything@example.org").split()[1], "4")

    def test_refused_bind_is_a_bind_fault(self):
        with open(self.password_file, "w") as f:
            f.write("wrong\n")
        p = self.probe()
        answer = p.ask("find alice@example.org")
        self.assertTrue(answer.startswith("ERR bind "), answer)
        self.assertIn("Invalid credentials", answer)
        self.assertNotIn("wrong", answer)  # never the password
        anonymous = self.probe(bind=False)
        self.assertEqual(anonymous.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))

    def test_start_tls_and_ldaps_with_a_ca_file(self):
        for args, uris in ((["--start-tls"], [self.slapd.uri]), ([], [self.slapd.ldaps_uri])):
            p = self.probe("--ca-file", self.slapd.ca_file, *args, uris=uris)
            self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"), uris)
        # Without our CA the certificate is not trusted: a fault, not a silent plain-text link.
        other_ca = os.path.join(self.tmp, "other-ca.pem")
        harness.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                     os.path.join(self.tmp, "other.key"), "-out", other_ca, "-days", "1",
                     "-subj", "/CN=other"])
        for args, uris in ((["--start-tls"], [self.slapd.uri]), ([], [self.slapd.ldaps_uri])):
            p = self.probe("--ca-file", other_ca, *args, uris=uris)
            answer = p.ask("find bob@example.org")
            self.assertTrue(answer.startswith("ERR unavailable "), answer)

    def test_failover_to_the_second_server(self):
        dead = "ldap://127.0.0.1:%d" % self.dead_port
        p = self.probe(uris=[dead, self.slapd.uri])
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        self.assertNotIn("ldap-outage", p.log())
        p.close()
        only_dead = self.probe(uris=[dead])
        answer = only_dead.ask("find bob@example.org")
        self.assertTrue(answer.startswith("ERR unavailable ldap://127.0.0.1:%d"
                                          % self.dead_port), answer)

    def test_reconnect_after_restart_with_one_outage_line(self):
        p = self.probe()
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        self.slapd.stop()
        for _ in range(3):
            answer = p.ask("find bob@example.org")
            self.assertTrue(answer.startswith("ERR unavailable "), answer)
        self.slapd.start()
        # The pooled connection is dead; the client reconnects within this one search.
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        log = p.log()
        self.assertEqual(len(re.findall(r"ldap-outage name=probe kind=unavailable", log)), 1,
                         log)
        self.assertEqual(len(re.findall(r"ldap-recovered name=probe", log)), 1, log)

    def test_restart_between_searches_is_invisible(self):
        p = self.probe()
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        self.slapd.stop()
        self.slapd.start()
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        self.assertNotIn("ldap-outage", p.log())

    def test_frozen_server_times_out(self):
        p = self.probe("--timeout", "1")
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        self.slapd.pause()
        try:
            t0 = time.monotonic()
            answer = p.ask("find bob@example.org")
            elapsed = time.monotonic() - t0
        finally:
            self.slapd.resume()
        self.assertTrue(answer.startswith("ERR timeout "), answer)
        self.assertLess(elapsed, 5.0)
        self.assertEqual(p.ask("find bob@example.org"), "OK 1 " + self.dn("bob"))
        self.assertIn("ldap-outage name=probe kind=timeout", p.log())

    def test_pool_serves_more_threads_than_connections(self):
        p = self.probe("--pool", "3")
        self.assertEqual(p.ask("parallel 24 alice@example.org"), "OK 24 0")
        # The pool keeps its connections open: count them on the server port.
        out = harness.run(["ss", "-Htn", "state", "established",
                           "( dport = :%d )" % self.slapd.port]).stdout
        conns = len(out.splitlines())
        self.assertTrue(1 <= conns <= 3, "%d connections for a pool of 3:\n%s" % (conns, out))

    def test_refused_search_is_a_search_fault(self):
        p = self.probe()
        argv = ["--base", "ou=missing," + self.slapd.suffix]
        bad = self.probe(*argv)
        answer = bad.ask("find bob@example.org")
        self.assertTrue(answer.startswith("ERR search "), answer)
        self.assertIn("No such object", answer)
        self.assertEqual(p.ask("check"), "OK")


if __name__ == "__main__":
    unittest.main()
