"""test_tables_postfix.py — postern-tables behind a real Postfix, with a real redis-server.

A private Postfix (deploy/postfix-instance) uses postern-tables' maps as socketmap tables
(socketmap_table(5)): SM = socketmap:inet:127.0.0.1:PORT

    smtpd_recipient_restrictions = check_client_access SM:rev,
        reject_unknown_reverse_client_hostname, check_helo_access SM:hlo,
        reject_non_fqdn_helo_hostname, check_recipient_access SM:recip
    virtual_mailbox_domains = SM:vdom      virtual_alias_maps = SM:vali
    virtual_mailbox_maps = SM:vbox (empty: VALI alone says which users exist, as in the seed)
    postscreen_access_list = SM:psa        (PostscreenTests: postscreen in master.cf,
                                            the client address given by the HAProxy protocol)

with the maps declared as the seed's keys (../shared/seeds/a16bitsysop-docker-postfix-redis.md):
psa and rev are cidr maps (PSA:192.168.0.0/24 covers 192.168.0.8), hlo, vdom, vali and recip
plain Redis maps (vbox too). Test clients present their address with XCLIENT ADDR= (and NAME=/REVERSE_NAME=
where the reverse-DNS check must pass). Entries are added with redis-cli while Postfix runs and
take effect on the next lookup (no cache). Each redis-cli example of the seed is run as written
there, except that its `redis-cli add` (no such Redis command) is `set`.

SeedExampleTests: every seed example, through SMTP; the keys Postfix asks a socketmap.
FaultTests: Redis stopped → RCPT gets 451 (4.3.5 "Server configuration error" from the access
restrictions, Postfix's answer to a table lookup error there), nothing bounced or delivered,
/healthz 503; all back when Redis is back. PostscreenTests: postscreen_access_list
permit/reject/del; Redis down → postscreen skips the list (its own behaviour on a lookup
error), nothing rejected. ParityTests: `postmap -q` through socketmap answers as the hash: and
cidr: tables built from the same generated data. FormsTests: maps with forms=access /
forms=virtual — a RECIP: domain entry refuses every recipient of the domain and its
subdomains, a VALI:@domain catch-all, mixed-case HELO and client names matching lower-case
parent-domain entries. FormsParityTests: smtpd replies alike through check_recipient_access
hash: and a forms=access socketmap over generated data. LdapTests: an ldap map as virtual_alias_maps,
parity with Postfix's ldap: table, slapd stopped → 451. CheckConfigTests: --check-config.

Needs root, redis-server and redis-cli, slapd, postfix-ldap, POSTERN_IT_TABLES_BIN (set by
tests/integration/tables.cmake).
"""

import ipaddress
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness
import redis_server
import slapd_server

REDIS_OFF, TABLES_OFF, SLAPD_OFF = harness.AUX_OFF, harness.POLICY_OFF, harness.DNS_OFF
METRICS_OFF = 6

MAPS = [
    "psa cidr",
    "rev cidr",
    "hlo redis",
    "vdom redis",
    "vali redis",
    "recip redis",
    "vbox redis",
    "team redis prefix=TEAM: type=set",
    "box redis prefix=BOX: type=hash field=mailbox",
]


def tables_binary():
    return harness.daemon_binary("POSTERN_IT_TABLES_BIN")


class TablesEnv:
    """Postfix + smtp-sink + redis-server + postern-tables in one temp dir."""

    def __init__(self, name, sets=(), postscreen=False, maps=MAPS, extra_args=(), ldif=None):
        binary = tables_binary()
        self.env = harness.Env(name, relay_domains="example.net", adapter=harness.NoMilter())
        with self.env.starting():
            args = []
            if any(m.split()[1] in ("redis", "cidr") for m in maps):
                self.redis = self.env.own(redis_server.RedisServer(self.env.base + REDIS_OFF))
                self.redis.start()
                args += ["--redis-url", self.redis.url, "--redis-timeout", "0.5"]
            if ldif is not None:
                self.slapd = self.env.own(slapd_server.SlapdServer(
                    self.env.tmp, self.env.base + SLAPD_OFF, ldif=ldif))
                self.slapd.start()
                args += ["--ldap-server", self.slapd.uri, "--ldap-timeout", "1"]
            for m in maps:
                args += ["--map", m]
            self.tables = self.env.own(harness.PolicyDaemon(
                self.env.tmp, "postern-tables", binary, self.env.base + TABLES_OFF,
                args + list(extra_args)), show_log=True)
            self.tables.start()
            self.sm = "socketmap:inet:127.0.0.1:%d" % self.tables.port
            self.start_postfix([s.format(sm=self.sm, sink=self.env.sink_port, tmp=self.env.tmp)
                                for s in sets], postscreen)

    def start_postfix(self, sets, postscreen):
        env = self.env
        args = ["init", env.pfdir, "--port", str(env.smtpd_port),
                "--relay", "127.0.0.1:%d" % env.sink_port,
                "--set", "relay_domains=%s" % env.relay_domains]
        for s in sets:
            args += ["--set", s]
        env.pfi(*args)
        if postscreen:  # the smtpd line becomes postscreen + a pass-through smtpd
            path = os.path.join(env.pfdir, "etc", "master.cf")
            with open(path) as f:
                text = f.read()
            text = re.sub(r"(?m)^(127\.0\.0\.1:\d+\s+inet\s+n\s+-\s+n\s+-\s+)-(\s+)smtpd$",
                          r"\g<1>1\2postscreen", text)
            text += ("smtpd pass - - n - - smtpd\n"
                     "dnsblog unix - - n - 0 dnsblog\n"
                     "tlsproxy unix - - n - 0 tlsproxy\n")
            with open(path, "w") as f:
                f.write(text)
        env.pfi("sink", env.pfdir, str(env.sink_port))
        env._postfix_started = True
        env.pfi("start", env.pfdir)

    def cli(self, *args):
        """redis-cli (the seed's tool) against the test's Redis; returns its output."""
        p = subprocess.run(["redis-cli", "-p", str(self.redis.port)] + list(args),
                           capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip()

    def pipe(self, commands):
        """Runs every command (a tuple of words) with one redis-cli --pipe."""
        data = b""
        for words in commands:
            data += b"*%d\r\n" % len(words)
            for w in words:
                w = w.encode()
                data += b"$%d\r\n%s\r\n" % (len(w), w)
        p = subprocess.run(["redis-cli", "-p", str(self.redis.port), "--pipe"], input=data,
                           capture_output=True, timeout=60)
        if p.returncode != 0 or b"errors: 0" not in p.stdout:
            raise RuntimeError("redis-cli --pipe: %r %r" % (p.stdout, p.stderr))

    def close(self, failed=False):
        self.env.failed = self.env.failed or failed
        self.env.close()

    def rcpt(self, rcpt, client_ip="203.0.113.9", name="mail.client.example",
             helo="mail.client.example", sender="alice@client.example", data=False):
        """MAIL + one RCPT from XCLIENT ADDR=client_ip; returns (code, text, queue id)."""
        xclient = {"ADDR": client_ip}
        if name:
            xclient.update({"NAME": name, "REVERSE_NAME": name})
        else:
            xclient.update({"NAME": "[UNAVAILABLE]", "REVERSE_NAME": "[UNAVAILABLE]"})
        s = self.env.connect(xclient=xclient, helo=helo)
        try:
            code, msg = s.mail(sender)
            if code != 250:
                raise harness.SmtpError("MAIL", code, msg.decode(errors="replace"))
            code, msg = s.rcpt(rcpt)
            text, qid = msg.decode(errors="replace"), None
            if code == 250 and data:
                dcode, dmsg = s.data("From: %s\r\nTo: %s\r\nSubject: tables\r\n\r\nhi\r\n"
                                     % (sender, rcpt))
                dtext = dmsg.decode(errors="replace")
                if dcode != 250:
                    raise harness.SmtpError("end of DATA", dcode, dtext)
                qid = re.search(r"queued as ([0-9A-Za-z]+)", dtext).group(1)
            else:
                s.rset()
            return code, text, qid
        finally:
            try:
                s.quit()
            except Exception:
                s.close()

    def wait_postmap_answer(self, map_name, key, want, timeout, what):
        """Waits until postmap -q `key` on postern-tables' map `map_name` answers `want`
        (postmap, not RCPTs: an smtpd process keeps its last resolve answer for a repeated
        address); AssertionError "postern-tables answers `what`" after `timeout` s."""
        conf = os.path.join(self.env.tmp, "postmap-recover-etc")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = run_postmap(conf, self.sm + ":" + map_name, [key])
            except AssertionError:  # TEMP: postmap warns and fails
                got = {}
            if got.get(key) == want:
                return
            if time.monotonic() > deadline:
                raise AssertionError("postern-tables answers " + what)
            time.sleep(0.3)

    def delivered_to(self, qid, timeout=harness.DELIVERY_TIMEOUT):
        """The to=<...> addresses Postfix reports as sent for qid (waits for them)."""
        deadline = time.monotonic() + timeout
        pat = re.compile(r"\b%s: to=<([^>]*)>.*status=(\w+)" % re.escape(qid))
        while time.monotonic() < deadline:
            seen = pat.findall(self.env.postfix_log())
            if any(st in ("bounced", "expired") for _, st in seen):
                raise AssertionError("%s bounced: %s" % (qid, seen))
            sent = sorted(addr for addr, st in seen if st == "sent")
            if sent and not any(st == "deferred" for _, st in seen):
                return sent
            time.sleep(0.05)
        raise AssertionError("%s not delivered within %ss" % (qid, timeout))


SMTPD_SETS = [
    "smtpd_recipient_restrictions = check_client_access {sm}:rev, "
    "reject_unknown_reverse_client_hostname, check_helo_access {sm}:hlo, "
    "reject_non_fqdn_helo_hostname, check_recipient_access {sm}:recip",
    "virtual_mailbox_domains = {sm}:vdom",
    "virtual_alias_maps = {sm}:vali",
    "virtual_mailbox_maps = {sm}:vbox",
    "virtual_transport = smtp:[127.0.0.1]:{sink}",
]


class TablesCase(harness.MarksEnvFailed, unittest.TestCase):
    NAME = "tables"
    SETS = SMTPD_SETS
    POSTSCREEN = False
    EXTRA_ARGS = ()
    MAPS = MAPS

    @classmethod
    def setUpClass(cls):
        cls.t = TablesEnv(cls.NAME, cls.SETS, cls.POSTSCREEN, maps=cls.MAPS,
                          extra_args=cls.EXTRA_ARGS)

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    def failed_env(self):
        return self.t.env

    def assert_code(self, got, want):
        code, text = got[0], got[1]
        self.assertEqual(code, want, "got %d %s, want %d" % (code, text, want))


class SeedExampleTests(TablesCase):
    NAME = "tables-seed"
    EXTRA_ARGS = ("--log-level", "debug")  # tables-lookup lines: the keys Postfix asks

    def lookups(self, map_name):
        return [e["key"] for e in self.t.tables.events("tables-lookup", map=map_name)]

    def test_postfix_asks_full_keys_only(self):
        # socketmap is a pattern table to Postfix: no domain, @domain or parent-domain
        # forms for an address, no shorter forms for an IP; addresses lowercased, HELO and
        # client names as sent (policyd/tables/README.md, "What Postfix asks").
        self.t.cli("set", "RECIP:example.net", "REJECT domain entry")
        self.assert_code(self.t.rcpt("Dave@Example.NET", helo="Mixed.Case.Example",
                                     client_ip="198.51.100.7", name="Host.Case.Example"), 250)
        self.assertIn("dave@example.net", self.lookups("recip"))
        self.assertNotIn("example.net", self.lookups("recip"))
        self.assertNotIn("@example.net", self.lookups("recip"))
        self.assertIn("Mixed.Case.Example", self.lookups("hlo"))
        self.assertEqual(sorted(set(self.lookups("rev")) & {"198.51.100.7", "198.51.100",
                                                            "Host.Case.Example"}),
                         ["198.51.100.7", "Host.Case.Example"])

    def test_seed_add_is_not_a_redis_command(self):
        # The seed writes `redis-cli add PSA:... permit`; Redis has no ADD: `set` is meant.
        out = self.t.cli("add", "PSA:192.168.0.0/24", "permit")
        self.assertIn("unknown command", out.lower())

    def test_rev_permits_client_without_reverse_dns(self):
        # redis-cli set REV:192.168.0.8 permit
        self.assert_code(self.t.rcpt("bob@example.net", client_ip="192.168.0.8", name=None), 450)
        self.assertEqual(self.t.cli("set", "REV:192.168.0.8", "permit"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", client_ip="192.168.0.8", name=None), 250)
        # a CIDR entry covers its network; the most specific entry wins
        self.assert_code(self.t.rcpt("bob@example.net", client_ip="192.168.0.9", name=None), 450)
        self.assertEqual(self.t.cli("set", "REV:192.168.0.0/24", "permit"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", client_ip="192.168.0.9", name=None), 250)
        self.assertEqual(self.t.cli("set", "REV:192.168.0.9", "reject"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", client_ip="192.168.0.9", name=None), 554)

    def test_helo_permit_and_reject(self):
        # redis-cli set HLO:REJECTEDMESSAGE permit / set HLO:mail.spammer.bulk reject
        self.assert_code(self.t.rcpt("bob@example.net", helo="REJECTEDMESSAGE"), 504)
        self.assertEqual(self.t.cli("set", "HLO:REJECTEDMESSAGE", "permit"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", helo="REJECTEDMESSAGE"), 250)
        self.assert_code(self.t.rcpt("bob@example.net", helo="mail.spammer.bulk"), 250)
        self.assertEqual(self.t.cli("set", "HLO:mail.spammer.bulk", "reject"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", helo="mail.spammer.bulk"), 554)

    def test_virtual_domain_and_aliases(self):
        # before VDOM:example.com, example.com is no destination of ours
        self.assert_code(self.t.rcpt("user1@example.com"), 554)
        self.assertEqual(self.t.cli("set", "VDOM:example.com", "example.com"), "OK")
        for user in ("user1", "user2"):
            self.assertEqual(self.t.cli("set", "VALI:%s@example.com" % user,
                                        "%s@example.com" % user), "OK")
        self.assertEqual(self.t.cli("set", "VALI:postmaster@example.com", "user1@example.com"),
                         "OK")
        self.assertEqual(self.t.cli("set", "VALI:sales@example.com",
                                    "user1@example.com user2@example.com"), "OK")
        # an address VALI does not list is unknown in the virtual domain
        self.assert_code(self.t.rcpt("nobody@example.com"), 550)
        code, text, qid = self.t.rcpt("sales@example.com", data=True)
        self.assertEqual(code, 250, text)
        self.assertEqual(self.t.delivered_to(qid), ["user1@example.com", "user2@example.com"])
        code, text, qid = self.t.rcpt("postmaster@example.com", data=True)
        self.assertEqual(code, 250, text)
        self.assertEqual(self.t.delivered_to(qid), ["user1@example.com"])

    def test_recipient_access(self):
        self.assert_code(self.t.rcpt("carol@example.net"), 250)
        self.assertEqual(self.t.cli("set", "RECIP:carol@example.net", "REJECT no such user"),
                         "OK")
        code, text, _ = self.t.rcpt("carol@example.net")
        self.assertEqual(code, 554, text)
        self.assertIn("no such user", text)
        self.assertEqual(self.t.cli("del", "RECIP:carol@example.net"), "1")
        self.assert_code(self.t.rcpt("carol@example.net"), 250)

    def test_keys_lists_entries(self):
        self.t.cli("set", "HLO:listed.example", "permit")
        self.assertIn("HLO:listed.example", self.t.cli("keys", "*").split())


class FaultTests(TablesCase):
    NAME = "tables-fault"
    EXTRA_ARGS = ("--metrics-listen", "127.0.0.1:%d" % (harness.port_base() + METRICS_OFF))

    def http_get(self, path):
        import urllib.error
        import urllib.request
        url = "http://127.0.0.1:%d%s" % (harness.port_base() + METRICS_OFF, path)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_redis_frozen_gives_4xx_within_the_timeout(self):
        """A slow backend (redis-server stopped with SIGSTOP: connections are still accepted,
        nothing answers) → TEMP after --redis-timeout (0.5 s), never NOTFOUND."""
        self.t.cli("set", "VDOM:example.com", "example.com")
        self.t.cli("set", "VALI:user2@example.com", "user2@example.com")
        before = self.t.env.sink_files()
        self.t.redis.pause()
        try:
            started = time.monotonic()
            code, text, _ = self.t.rcpt("user2@example.com")
            elapsed = time.monotonic() - started
            self.assertEqual(code, 451, "got %d %s, want 451" % (code, text))
            self.assertRegex(text, r"^4\.3\.[05] ")
            self.assertLess(elapsed, 4.0, "the frozen backend held the RCPT %.1f s" % elapsed)
            self.assertEqual(self.t.env.sink_files(), before, "something was delivered")
            self.assertNotIn("status=bounced", self.t.env.postfix_log())
        finally:
            self.t.redis.resume()
        # another address: an smtpd process's resolve client keeps its last answer (here the
        # failure for user2) for a repeated address, a Postfix cache and not ours
        self.t.cli("set", "VALI:user3@example.com", "user3@example.com")
        code, text, qid = self.t.rcpt("user3@example.com", data=True)
        self.assertEqual(code, 250, "RCPT after SIGCONT: %s" % text)
        self.t.delivered_to(qid)
        self.assertEqual(len(self.t.tables.events("backend-up")), 1)

    def test_redis_stopped_gives_4xx_nothing_bounced(self):
        self.t.cli("set", "VDOM:example.com", "example.com")
        self.t.cli("set", "VALI:user1@example.com", "user1@example.com")
        code, text, qid = self.t.rcpt("user1@example.com", data=True)
        self.assertEqual(code, 250, text)
        self.t.delivered_to(qid)
        before = self.t.env.sink_files()
        self.t.redis.kill()
        try:
            for rcpt in ("user1@example.com", "bob@example.net"):
                code, text, _ = self.t.rcpt(rcpt)
                # access maps: 451 4.3.5 "Server configuration error"; virtual: 4.3.0
                self.assertEqual(code, 451, "RCPT %s: got %d %s, want 451" % (rcpt, code, text))
                self.assertRegex(text, r"^4\.3\.[05] ")
            time.sleep(0.3)
            self.assertEqual(self.t.env.sink_files(), before, "something was delivered")
            empty, queue = self.t.env.queue_empty()
            self.assertTrue(empty, "queue not empty:\n" + queue)
            self.assertNotIn("status=bounced", self.t.env.postfix_log())
            self.assertTrue(self.t.tables.events("tables-backend-error"))
            status, text = self.http_get("/healthz")
            self.assertEqual(status, 503, text)
            self.assertIn("redis", text)
            status, text = self.http_get("/metrics")
            self.assertRegex(text, r'postern_tables_lookups_total\{map="\w+",result="TEMP"\} [1-9]')
        finally:
            self.t.redis.start()
        # Redis is back (empty: a fresh server): entries added now take effect at once
        self.t.cli("set", "VDOM:example.com", "example.com")
        self.t.cli("set", "VALI:user4@example.com", "user4@example.com")
        # wait for postern-tables to answer (postmap, not RCPTs: an smtpd process keeps its
        # last resolve answer for a repeated address), then a new address through SMTP
        self.t.wait_postmap_answer("vali", "user4@example.com", "user4@example.com", 10,
                                   "no Redis lookup 10 s after Redis restarted")
        code, text, qid = self.t.rcpt("user4@example.com", data=True)
        self.assertEqual(code, 250, text)
        self.t.delivered_to(qid)
        self.assertEqual(self.http_get("/healthz"), (200, "ok\n"))


class PostscreenTests(TablesCase):
    NAME = "tables-postscreen"
    POSTSCREEN = True
    SETS = [
        "postscreen_access_list = {sm}:psa",
        "postscreen_denylist_action = drop",
        "postscreen_upstream_proxy_protocol = haproxy",
        "postscreen_greet_action = ignore",
    ]

    def greet(self, client_ip):
        """Connects as client_ip (HAProxy v1 header); returns postscreen's first reply line."""
        s = socket.create_connection(("127.0.0.1", self.t.env.smtpd_port), timeout=10)
        try:
            s.sendall(b"PROXY TCP4 %s 127.0.0.1 40000 25\r\n" % client_ip.encode())
            data = b""
            while b"\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            s.sendall(b"QUIT\r\n")
            return data.decode(errors="replace").split("\r\n")[0]
        finally:
            s.close()

    def log_count(self, pattern, want, timeout=5.0):
        """Matches of `pattern` in the Postfix log, waiting (postlogd writes the log
        asynchronously) up to `timeout` seconds for there to be `want`."""
        deadline = time.monotonic() + timeout
        while True:
            n = len(re.findall(pattern, self.t.env.postfix_log()))
            if n >= want or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def test_permit_network_reject_and_unblock(self):
        # redis-cli set PSA:192.168.0.0/24 permit (the seed's "add")
        self.assertEqual(self.t.cli("set", "PSA:192.168.0.0/24", "permit"), "OK")
        self.assertTrue(self.greet("192.168.0.8").startswith("220"))
        self.assertEqual(self.log_count(r"(?:ALLOWLISTED|WHITELISTED) \[192\.168\.0\.8\]", 1), 1)
        # redis-cli add PSA:8.8.8.8 reject → dropped with 521
        self.assertTrue(self.greet("8.8.8.8").startswith("220"))
        self.assertEqual(self.t.cli("set", "PSA:8.8.8.8", "reject"), "OK")
        self.assertTrue(self.greet("8.8.8.8").startswith("521"))
        self.assertEqual(self.log_count(r"(?:DENYLISTED|BLACKLISTED) \[8\.8\.8\.8\]", 1), 1)
        # redis-cli del PSA:8.8.8.8 → welcome again
        self.assertEqual(self.t.cli("del", "PSA:8.8.8.8"), "1")
        self.assertTrue(self.greet("8.8.8.8").startswith("220"))

    def test_redis_down_postscreen_ignores_the_list(self):
        # postscreen's own answer to a table lookup error: it logs it and skips the rest of
        # postscreen_access_list, so the client goes on to the other postscreen tests (and
        # smtpd); nothing is rejected because Redis is down.
        self.assertEqual(self.t.cli("set", "PSA:203.0.113.66", "reject"), "OK")
        self.assertTrue(self.greet("203.0.113.66").startswith("521"))
        self.t.redis.kill()
        try:
            self.assertTrue(self.greet("203.0.113.66").startswith("220"))
            errors = "table lookup error -- ignoring the remainder of this access list"
            self.assertGreaterEqual(self.log_count(errors, 1), 1)
        finally:
            self.t.redis.start()


LDIF = (slapd_server.user_ldif("alice", "alice@example.org", ["sales@example.net"])
        + slapd_server.user_ldif("bob", "bob@example.org", ["sales@example.net", "b@example.net"])
        + slapd_server.user_ldif("carol", "carol@example.org", ["c*(x)@example.net"])
        + slapd_server.user_ldif("dave", "dave@example.org", ["d@example.net"]))
LDAP_MAPS = ["aliases ldap search_base=dc=example,dc=org "
             "query_filter=(proxyAddresses=smtp:%s) result_attribute=mail"]


class LdapTests(harness.MarksEnvFailed, unittest.TestCase):
    """An ldap map as virtual_alias_maps: a secondary address (proxyAddresses smtp:) is
    rewritten to the primary mail of every entry holding it; postmap -q through socketmap
    answers as Postfix's own ldap: table with the same query; slapd stopped → 451."""

    @classmethod
    def setUpClass(cls):
        cls.t = TablesEnv("tables-ldap", ["virtual_alias_maps = {sm}:aliases"], maps=LDAP_MAPS,
                          ldif=LDIF)

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    def failed_env(self):
        return self.t.env

    def test_alias_expands_to_every_entry(self):
        code, text, qid = self.t.rcpt("sales@example.net", data=True)
        self.assertEqual(code, 250, text)
        self.assertEqual(self.t.delivered_to(qid), ["alice@example.org", "bob@example.org"])

    def test_parity_with_postfix_ldap_table(self):
        cf = os.path.join(self.t.env.tmp, "aliases-ldap.cf")
        with open(cf, "w") as f:
            f.write("server_host = %s\nsearch_base = dc=example,dc=org\n"
                    "query_filter = (proxyAddresses=smtp:%%s)\nresult_attribute = mail\n"
                    "version = 3\nbind = no\n" % self.t.slapd.uri)
        conf = os.path.join(self.t.env.tmp, "postmap-ldap-etc")
        os.makedirs(conf, exist_ok=True)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        keys = ["sales@example.net", "b@example.net", "c*(x)@example.net", "none@example.net",
                "alice@example.org", "*@example.net", "sales"]
        want = run_postmap(conf, "ldap:" + cf, keys)
        got = run_postmap(conf, self.t.sm + ":aliases", keys)
        self.assertIn("b@example.net", want)
        self.assertEqual({k: sorted(v.split(",")) for k, v in got.items()},
                         {k: sorted(v.split(",")) for k, v in want.items()})

    def test_slapd_stopped_gives_451(self):
        self.t.slapd.stop()
        try:
            code, text, _ = self.t.rcpt("b@example.net")
            self.assertEqual(code, 451, text)
            self.assertIn("4.3.0", text)
        finally:
            self.t.slapd.start()
        # Wait for postern-tables itself to answer again (its pool reconnects; slapd may be
        # slow), asking with postmap: an smtpd process's resolve client keeps its last answer
        # for a repeated address, so a failed RCPT while waiting would stick in Postfix. Then
        # through SMTP, with another address than the one that failed (b@) for that reason.
        self.t.wait_postmap_answer("aliases", "d@example.net", "dave@example.org", 20,
                                   "no ldap lookup 20 s after slapd restarted")
        code, text, qid = self.t.rcpt("d@example.net", data=True)
        self.assertEqual(code, 250, text)
        self.assertEqual(self.t.delivered_to(qid), ["dave@example.org"])


FORMS_MAPS = [
    "rev cidr forms=access",
    "hlo redis forms=access",
    "vdom redis",
    "vali redis forms=virtual",
    "recip redis forms=access",
    "vbox redis",
]


class FormsTests(TablesCase):
    """forms=access / forms=virtual: the seed's domain-wide RECIP: entry, a VALI:@domain
    catch-all, parent domains and mixed-case HELO names work as with postfix-redis."""
    NAME = "tables-forms"
    MAPS = FORMS_MAPS
    EXTRA_ARGS = ("--log-level", "debug")

    def test_domain_entry_blocks_every_recipient_of_the_domain(self):
        self.assert_code(self.t.rcpt("bob@example.net"), 250)
        self.assertEqual(self.t.cli("set", "RECIP:example.net", "REJECT domain closed"), "OK")
        try:
            for rcpt in ("bob@example.net", "Carol@Example.NET", "dave@mx.sub.example.net"):
                code, text, _ = self.t.rcpt(rcpt)
                self.assertEqual(code, 554, "%s: %s" % (rcpt, text))
                self.assertIn("domain closed", text)
            # the full address wins over the domain, the domain over user@
            self.assertEqual(self.t.cli("set", "RECIP:boss@example.net", "OK"), "OK")
            self.assert_code(self.t.rcpt("boss@example.net"), 250)
            self.assertEqual(self.t.cli("set", "RECIP:postmaster@", "OK"), "OK")
            self.assert_code(self.t.rcpt("postmaster@example.net"), 554)
            self.assertEqual(self.t.cli("del", "RECIP:example.net"), "1")
            self.assertEqual(self.t.cli("set", "RECIP:abuse@", "REJECT no abuse desk"), "OK")
            code, text, _ = self.t.rcpt("abuse@sub.example.net")
            self.assertEqual(code, 554, text)
            self.assertIn("no abuse desk", text)
        finally:
            self.t.cli("del", "RECIP:example.net", "RECIP:boss@example.net",
                       "RECIP:postmaster@", "RECIP:abuse@")
        self.assert_code(self.t.rcpt("bob@example.net"), 250)

    def test_virtual_catch_all(self):
        self.assertEqual(self.t.cli("set", "VDOM:example.com", "example.com"), "OK")
        self.assertEqual(self.t.cli("set", "VALI:user1@example.com", "user1@example.com"), "OK")
        self.assertEqual(self.t.cli("set", "VALI:user2@example.com", "user2@example.com"), "OK")
        self.assert_code(self.t.rcpt("nobody@example.com"), 550)
        self.assertEqual(self.t.cli("set", "VALI:@example.com", "user1@example.com"), "OK")
        code, text, qid = self.t.rcpt("Nobody@Example.com", data=True)
        self.assertEqual(code, 250, text)
        self.assertEqual(self.t.delivered_to(qid), ["user1@example.com"])
        code, text, qid = self.t.rcpt("user2@example.com", data=True)
        self.assertEqual(code, 250, text)
        self.assertEqual(self.t.delivered_to(qid), ["user2@example.com"],
                         "an address entry wins over the catch-all")

    def test_helo_case_and_parent_domains(self):
        self.assert_code(self.t.rcpt("bob@example.net", helo="Mail.Spammer.BULK"), 250)
        self.assertEqual(self.t.cli("set", "HLO:spammer.bulk", "reject"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", helo="Mail.Spammer.BULK"), 554)
        self.assert_code(self.t.rcpt("bob@example.net", helo="REJECTEDMESSAGE"), 504)
        self.assertEqual(self.t.cli("set", "HLO:rejectedmessage", "permit"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", helo="RejectedMessage"), 250)
        # Postfix still asks the full name only; the forms are ours
        asked = [e["key"] for e in self.t.tables.events("tables-lookup", map="hlo")]
        self.assertIn("Mail.Spammer.BULK", asked)
        self.assertNotIn("spammer.bulk", asked)

    def test_client_name_parent_domain(self):
        # check_client_access: a host-name entry covers the names below it; IPs stay CIDR
        self.assert_code(self.t.rcpt("bob@example.net", client_ip="192.0.2.44", name=None), 450)
        self.assertEqual(self.t.cli("set", "REV:192.0.2.0/24", "permit"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", client_ip="192.0.2.44", name=None), 250)
        self.assertEqual(self.t.cli("set", "REV:bad.example", "reject"), "OK")
        self.assert_code(self.t.rcpt("bob@example.net", name="Host7.Dyn.Bad.Example"), 554)
        self.assert_code(self.t.rcpt("bob@example.net", name="host7.good.example"), 250)


class FormsParityTests(harness.MarksEnvFailed, unittest.TestCase):
    """smtpd answers the same RCPTs alike with check_recipient_access on a hash: table and on
    a forms=access socketmap holding the same generated entries (domains, parent domains,
    user@domain, user@). postmap -q does not walk forms (it asks the key given), so parity is
    checked through smtpd: the MAIL FROM address picks the restriction class (hash or
    socketmap) and every RCPT's reply is compared."""

    @classmethod
    def setUpClass(cls):
        # Both files exist before Postfix starts: an smtpd process opens its tables once, at
        # start, and one that found them missing would answer "Server configuration error"
        # for as long as it lives.
        cls.data = tempfile.mkdtemp(prefix="postern-tables-fparity-data-")
        with open(os.path.join(cls.data, "senders"), "w") as f:
            f.write("hash@parity.test via_hash\nsm@parity.test via_sm\n")
        with open(os.path.join(cls.data, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        cls.entries, cls.rnd, cls.locals_, cls.doms, cls.subs = cls.generate()
        with open(os.path.join(cls.data, "acc"), "w") as f:
            for k, v in cls.entries.items():
                f.write("%s %s\n" % (k, v))
        subprocess.run(["/usr/sbin/postmap", "-c", cls.data,
                        "hash:" + os.path.join(cls.data, "acc")], check=True)
        sets = [
            "smtpd_restriction_classes = via_hash, via_sm",
            "via_hash = check_recipient_access hash:%s/acc" % cls.data,
            "via_sm = check_recipient_access {sm}:acc",
            "smtpd_recipient_restrictions = check_sender_access texthash:%s/senders" % cls.data,
        ]
        try:
            cls.t = TablesEnv("tables-fparity", sets, maps=["acc redis prefix=ACC: forms=access"])
        except Exception:
            shutil.rmtree(cls.data, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.t.close()
        shutil.rmtree(cls.data, ignore_errors=True)

    @staticmethod
    def generate():
        """120 access entries (user@domain, domains and subdomains, user@) over a seeded
        generator; returns them with the generator and the name pools for the RCPTs."""
        rnd = random.Random(19)
        values = ["REJECT listed", "550 5.7.1 go away", "DUNNO", "OK", "452 4.2.2 try later",
                  "REJECT domain wide"]
        locals_ = ["u%d" % i for i in range(12)]
        doms = ["d%d.example.net" % i for i in range(15)]
        subs = ["h%d.%s" % (rnd.randint(0, 3), d) for d in doms]
        entries = {}
        while len(entries) < 120:
            kind = rnd.random()
            if kind < 0.35:
                key = rnd.choice(locals_) + "@" + rnd.choice(doms + subs)
            elif kind < 0.75:
                key = rnd.choice(doms + subs)
            else:
                key = rnd.choice(locals_) + "@"
            entries[key] = rnd.choice(values)
        return entries, rnd, locals_, doms, subs

    def failed_env(self):
        return self.t.env

    def replies(self, sender, rcpts):
        s = self.t.env.connect(xclient={"ADDR": "203.0.113.9"}, helo="mail.client.example")
        try:
            code, msg = s.mail(sender)
            self.assertEqual(code, 250, msg)
            out = []
            for rcpt in rcpts:
                code, msg = s.rcpt(rcpt)
                out.append((rcpt, code, msg.decode(errors="replace")))
            return out
        finally:
            s.quit()

    def test_smtpd_parity_hash_vs_socketmap_forms_access(self):
        entries, rnd = self.entries, self.rnd
        locals_, doms, subs = self.locals_, self.doms, self.subs
        self.t.pipe([("SET", "ACC:" + k, v) for k, v in entries.items()])
        rcpts = set()
        while len(rcpts) < 300:
            local = rnd.choice(locals_ + ["x%d" % rnd.randint(0, 99)])
            pick = rnd.random()
            if pick < 0.4:
                dom = rnd.choice(doms + subs)
            elif pick < 0.9:  # below a listed domain: only the parent-domain walk finds it
                dom = "m%d.%s" % (rnd.randint(0, 9), rnd.choice(doms + subs))
            else:
                dom = "other.example.net"
            if rnd.random() < 0.2:
                local, dom = local.upper(), dom.title()
            rcpts.add(local + "@" + dom)
        rcpts = sorted(rcpts)
        want = self.replies("hash@parity.test", rcpts)
        got = self.replies("sm@parity.test", rcpts)
        self.assertEqual(got, want)
        codes = {code for _, code, _ in want}
        self.assertTrue({250, 452, 550, 554} <= codes, "the data exercises every reply: %s"
                        % codes)
        def walked(rcpt):
            local, _, dom = rcpt.lower().rpartition("@")
            return rcpt.lower() not in entries and dom not in entries and \
                local + "@" not in entries
        by_parent = [r for r, code, _ in want if code != 250 and walked(r)]
        self.assertTrue(by_parent, "some RCPTs are refused through a parent-domain entry only")


def run_postmap(confdir, table, keys):
    """`postmap -q - TABLE` over keys; returns {key: value} of the keys found."""
    p = subprocess.run(["/usr/sbin/postmap", "-c", confdir, "-q", "-", table],
                       input="".join(k + "\n" for k in keys), capture_output=True, text=True,
                       timeout=120)
    if p.returncode not in (0, 1) or "fatal" in p.stderr or "warning" in p.stderr:
        raise AssertionError("postmap -q - %s: rc %d %s" % (table, p.returncode, p.stderr))
    out = {}
    for line in p.stdout.splitlines():
        key, _, value = line.partition("\t")
        out[key] = value
    return out


class ParityTests(harness.MarksEnvFailed, unittest.TestCase):
    """postmap -q through socketmap answers as hash: and cidr: do for the same data."""

    @classmethod
    def setUpClass(cls):
        cls.t = TablesEnv("tables-parity", ["smtpd_recipient_restrictions ="],
                          maps=["acc redis prefix=ACC:", "net cidr prefix=NET:"])
        cls.conf = os.path.join(cls.t.env.tmp, "postmap-etc")
        os.makedirs(cls.conf)
        with open(os.path.join(cls.conf, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")

    @classmethod
    def tearDownClass(cls):
        cls.t.close()

    def failed_env(self):
        return self.t.env

    def load(self, entries):
        """Sets every (key, value) with one redis-cli --pipe."""
        self.t.pipe([("SET", k, v) for k, v in entries])

    def test_hash_parity(self):
        rnd = random.Random(9)
        words = ["OK", "REJECT", "DUNNO", "permit", "reject spam source", "550 5.7.1 go away",
                 "user1@example.com, user2@example.com", "relay:[10.0.0.1]:25"]
        entries = {}
        while len(entries) < 1500:
            local = "".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(1, 8)))
            dom = "d%d.example" % rnd.randint(0, 200)
            key = rnd.choice([local + "@" + dom, dom, "@" + dom, local + "@",
                              "10.%d.%d.%d" % (rnd.randint(0, 9), rnd.randint(0, 9),
                                               rnd.randint(0, 255))])
            entries[key] = rnd.choice(words)
        hashfile = os.path.join(self.t.env.tmp, "acc")
        with open(hashfile, "w") as f:
            for k, v in entries.items():
                f.write("%s %s\n" % (k, v))
        subprocess.run(["/usr/sbin/postmap", "-c", self.conf, "hash:" + hashfile], check=True)
        self.load([("ACC:" + k, v) for k, v in entries.items()])
        keys = list(entries)[:1000] + ["x%d@nowhere.example" % i for i in range(500)]
        rnd.shuffle(keys)
        want = run_postmap(self.conf, "hash:" + hashfile, keys)
        got = run_postmap(self.conf, self.t.sm + ":acc", keys)
        self.assertEqual(len(want), 1000)
        self.assertEqual(got, want)

    def test_cidr_parity(self):
        rnd = random.Random(7)
        nets = {}
        while len(nets) < 400:
            if rnd.random() < 0.7:
                length = rnd.randint(8, 32)
                addr = ipaddress.IPv4Address(0x0A000000 | rnd.getrandbits(24))
                net = ipaddress.IPv4Network((addr, length), strict=False)
            else:
                length = rnd.randint(32, 128)
                addr = ipaddress.IPv6Address((0x20010db8 << 96) | rnd.getrandbits(96))
                net = ipaddress.IPv6Network((addr, length), strict=False)
            nets[net] = rnd.choice(["permit", "reject", "dunno", "OK", "554 no"])
        # cidr: tables take the first match: most specific first gives "most specific wins"
        ordered = sorted(nets.items(), key=lambda kv: -kv[0].prefixlen)
        cidrfile = os.path.join(self.t.env.tmp, "net.cidr")
        with open(cidrfile, "w") as f:
            for net, value in ordered:
                f.write("%s %s\n" % (net.with_prefixlen, value))
        self.load([("NET:" + net.with_prefixlen, v) for net, v in nets.items()])
        keys = []
        for net in list(nets)[:300]:  # addresses inside known networks, and random ones
            keys.append(str(net[rnd.randrange(min(net.num_addresses, 1 << 16))]))
        keys += [str(ipaddress.IPv4Address(0x0A000000 | rnd.getrandbits(24))) for _ in range(300)]
        keys += [str(ipaddress.IPv6Address((0x20010db8 << 96) | rnd.getrandbits(96)))
                 for _ in range(200)]
        want = run_postmap(self.conf, "cidr:" + cidrfile, keys)
        got = run_postmap(self.conf, self.t.sm + ":net", keys)
        self.assertGreater(len(want), 300)
        self.assertEqual(got, want)


class CheckConfigTests(unittest.TestCase):
    """--check-config: the configuration is valid and each backend in use answers, or exit 78
    (EX_CONFIG) with what, where and why. No Postfix."""

    def setUp(self):
        self.binary = tables_binary()
        self.redis = redis_server.RedisServer(harness.port_base() + REDIS_OFF)
        self.addCleanup(self.redis.stop)
        self.redis.start()

    def check(self, *args):
        p = subprocess.run([self.binary, "--check-config"] + list(args), capture_output=True,
                           text=True, timeout=30)
        return p.returncode, (p.stdout + p.stderr).strip()

    def test_reachable_backend_ok(self):
        rc, out = self.check("--redis-url", self.redis.url, "--map", "psa cidr")
        self.assertEqual((rc, out), (0, "postern-tables: configuration OK"))

    def test_unreachable_backend_and_bad_maps_refused(self):
        dead = "redis://127.0.0.1:%d/0" % (harness.port_base() + TABLES_OFF)
        rc, out = self.check("--redis-url", dead, "--map", "psa cidr")
        self.assertEqual(rc, 78, out)
        self.assertIn("--redis-url: redis:", out)
        for args, want in (
                (["--map", "psa mysql"], "map 'psa': kind 'mysql' is not one of redis, cidr, ldap"),
                (["--map", "a redis", "--map", "a cidr"], "map 'a' declared twice"),
                ([], "no map declared"),
                (["--map", "u ldap"], "map 'u' is an ldap map: --ldap-server is needed")):
            rc, out = self.check("--redis-url", self.redis.url, *args)
            self.assertEqual(rc, 78, out)
            self.assertIn(want, out)


if __name__ == "__main__":
    unittest.main()
