"""test_image_compose.py — the compose recipes in deploy/compose/ brought up with Debian's
docker-compose (1.29) against the private dockerd of test_image_gateway.py (same cache, so the
image build is a cache hit after ImageTests; image.cmake keeps the two tests from running at
the same time, since each stops that dockerd when it ends).

Each recipe is copied unchanged into a project directory of its own, beside the files a user
puts there (dkim-keys/) and a docker-compose.override.yml with what only the test needs: the
image tag this test built, a short healthcheck interval, where mail goes (RELAYHOST: an
smtp-sink on the sandbox bridge address, which containers on any of the sandbox's networks
reach through their gateway; there is no way out of the host) and this test's ports (the
recipe's published port through its POSTERN_PUBLISH_* variable, since an override file adds
to a ports list and cannot replace an entry). `docker-compose down -v` in cleanup.

Port block: +0 outbound-relay's 587 published on 127.0.0.1, +1 the sink on the bridge address,
+2 dropin postern-dkim (milter), +3 its metrics, +4 dropin postern-spf (policy), +5 its
metrics, +6 the host Postfix's smtpd for the drop-in daemons, +7 its sink; exchange-gateway:
+8 mail_out's 25 and +9 mail_in's 25 published on 127.0.0.1, +10 "Exchange" and +11 "the
Internet" (sinks on the bridge address). mail_in's recipient verification asks a slapd on
the host through a unix socket (ldapi://) mounted into the container.
"""

import os
import re
import shutil
import smtplib
import socket
import subprocess
import time
import unittest
import urllib.request

import harness
from harness import SmtpError, run
from slapd_server import READER_DN, SUFFIX, user_ldif
from test_image_gateway import CACHE, Image, ImageTestCase, LdapiSlapd, docker

COMPOSE = "/usr/bin/docker-compose"
RECIPES = os.path.join(harness.REPO, "deploy", "compose")


def keyring(txt):
    """A harness.KeyRing for {"selector._domainkey.domain": TXT value}."""
    k = harness.KeyRing.__new__(harness.KeyRing)
    k.keys = []
    for name, value in txt.items():
        key = harness.Key.__new__(harness.Key)
        key.selector, _, key.domain = name.partition("._domainkey.")
        key.txt = value
        k.keys.append(key)
    return k


def genkeys(directory, domains):
    """boky/postfix's layout: DOMAIN.private (selector "mail"); returns the DNS TXT values."""
    os.makedirs(directory)
    txt = {}
    for d in domains:
        run(["/usr/sbin/opendkim-genkey", "-b", "2048", "-s", "mail", "-d", d, "-D", directory])
        os.rename(os.path.join(directory, "mail.private"),
                  os.path.join(directory, "%s.private" % d))
        with open(os.path.join(directory, "mail.txt")) as f:
            txt["mail._domainkey.%s" % d] = "".join(re.findall(r'"([^"]*)"', f.read()))
        os.unlink(os.path.join(directory, "mail.txt"))
    for name in os.listdir(directory):
        # as opendkim-genkey leaves it: root's, 0600 (postern-dkim reads it before dropping
        # privileges and refuses a key others may read)
        os.chmod(os.path.join(directory, name), 0o600)
    return txt


class Project:
    """One recipe in a project directory: docker-compose.yml (the recipe, unchanged) and
    docker-compose.override.yml (the test's additions)."""

    def __init__(self, img, recipe, override, env=None):
        self.img = img
        self.name = "pit%d%s" % (img.base, re.sub(r"[^a-z]", "", recipe))
        self.dir = os.path.join(img.tmp, recipe)
        os.makedirs(self.dir, exist_ok=True)
        shutil.copy(os.path.join(RECIPES, recipe + ".yml"),
                    os.path.join(self.dir, "docker-compose.yml"))
        with open(os.path.join(self.dir, "docker-compose.override.yml"), "w") as f:
            f.write(override)
        self.env = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % CACHE,
                        **(env or {}))
        self.up_called = False

    def compose(self, *args, check=True, timeout=300):
        p = subprocess.run([COMPOSE, "--ansi", "never", "-p", self.name] + list(args),
                           cwd=self.dir, env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError("docker-compose %s failed (%d):\n%s%s" % (
                " ".join(args), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
        return p

    def up(self):
        self.up_called = True
        self.compose("up", "-d")

    def container(self, service):
        cid = self.compose("ps", "-q", service).stdout.strip()
        if not cid:
            raise AssertionError("no container for %s:\n%s" % (service,
                                                               self.compose("ps").stdout))
        return cid

    def logs(self):
        p = self.compose("logs", "--no-color", check=False)
        return p.stdout + p.stderr

    def down(self, dump=False):
        if not self.up_called:
            return
        if dump:
            import sys
            sys.stderr.write("\n===== %s logs =====\n%s\n" % (self.name, self.logs()[-12000:]))
        t0 = time.monotonic()
        self.compose("down", "-v", "--remove-orphans", "-t", "20", check=False)
        self.img.timings[self.name + "-down"] = time.monotonic() - t0


class ComposeTests(ImageTestCase):
    """The three recipes brought up as a user would, with what they mount made here
    (exchange-gateway: certificates, a KeyTable, a ClamAV database with EICAR signatures
    instead of freshclam, a slapd instead of Active Directory)."""

    img = None

    @classmethod
    def setUpClass(cls):
        if not os.access(COMPOSE, os.X_OK):
            raise unittest.SkipTest("%s missing (deploy/install-deps installs docker-compose)"
                                    % COMPOSE)
        cls.start_image(Image(ports=12))

    def project(self, recipe, override, env=None):
        p = Project(self.img, recipe, override, env)
        self.addCleanup(lambda: p.down(dump=self.img.failed or
                                       os.environ.get("POSTERN_IT_VERBOSE") == "1"))
        return p

    def test_0_every_recipe_is_valid_compose(self):
        # the schema check docker-compose makes before it starts anything (volumes, secrets,
        # healthcheck options...), on the recipes as shipped
        for name in sorted(os.listdir(RECIPES)):
            if not name.endswith(".yml"):
                continue
            p = subprocess.run([COMPOSE, "-f", os.path.join(RECIPES, name), "config", "-q"],
                               cwd=self.img.tmp, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, "%s: %s" % (name, p.stdout))
            self.assertNotIn("WARNING", p.stdout, name)

    def test_1_outbound_relay_signs_for_the_allowed_domains(self):
        if not self.img.bridge:
            self.skipTest(self.img.bridge_why)
        b = self.img.base
        sink = os.path.join(self.img.tmp, "relay-sink")
        self.img.start_bridge_sink(b + 1, sink)
        p = self.project("outbound-relay", """\
services:
  postern:
    image: %s
    dns: ["%s"]
    environment:
      RELAYHOST: "[%s]:%d"
    healthcheck:
      interval: 1s
      timeout: 5s
      retries: 2
      start_period: 2s
""" % (self.img.tag, self.img.bridge, self.img.bridge, b + 1),
            env={"POSTERN_PUBLISH_587": "127.0.0.1:%d" % b})
        txt = genkeys(os.path.join(p.dir, "dkim-keys"), ["example.com", "example.org"])
        t0 = time.monotonic()
        p.up()
        cid = p.container("postern")
        self.img.wait_health("healthy", 60, cid)
        self.img.timings["relay-healthy"] = time.monotonic() - t0
        # from the host through the published port, both allowed domains, each signed with
        # its own key
        for domain in ("example.com", "example.org"):
            m = self.img.delivered(self.img.send("app@" + domain, "someone@example.net",
                                                 port=b), sink=sink)
            self.assertEqual(harness.dkimpy_verify_all(m.data, keyring(txt)),
                             [(domain, "mail", True)])
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@elsewhere.example", "someone@example.net", port=b)
        self.assertEqual((cm.exception.stage, cm.exception.code // 100), ("RCPT", 5))
        # an application container on the project's network sends to postern:587 (bash's
        # /dev/tcp as the application: the image has no SMTP client library)
        app = r"""
exec 3<>/dev/tcp/postern/587
reply() { local l; while IFS= read -r l <&3; do echo "$l"; [[ $l == [0-9][0-9][0-9]" "* ]] && return; done; }
say() { printf '%s\r\n' "$1" >&3; reply; }
reply
say 'EHLO app.example.com'
say 'MAIL FROM:<app@example.com>'
say 'RCPT TO:<friend@example.net>'
say 'DATA'
say $'From: <app@example.com>\r\nTo: <friend@example.net>\r\nSubject: app\r\n\r\nhi\r\n.'
say 'QUIT'
"""
        r = docker("run", "--rm", "--network", p.name + "_default", "--entrypoint",
                   "/bin/bash", self.img.tag, "-c", app, timeout=120)
        self.assertRegex(r.stdout, r"(?m)^250 2\.0\.0 Ok: queued as ", r.stdout)
        deadline = time.monotonic() + 30
        found = None
        while found is None:
            self.assertLess(time.monotonic(), deadline, "the application's mail was not "
                            "delivered")
            for name in os.listdir(sink):
                m = harness.Delivered(os.path.join(sink, name))
                if b"<friend@example.net>" in m.data:
                    found = m
            time.sleep(0.2)
        self.assertEqual(harness.dkimpy_verify_all(found.data, keyring(txt)),
                         [("example.com", "mail", True)])
        # the queue and Postfix's data are the recipe's named volumes
        mounts = {m["Destination"]: m for m in self.img.inspect(cid)["Mounts"]}
        self.assertEqual(mounts["/var/spool/postfix"]["Name"], p.name + "_queue")
        self.assertEqual(mounts["/var/lib/postfix"]["Name"], p.name + "_postfix-data")
        self.assertFalse(mounts["/etc/opendkim/keys"]["RW"])
        # stop_grace_period 20 s: a clean stop well inside it
        t0 = time.monotonic()
        p.compose("stop")
        self.img.timings["relay-stop"] = time.monotonic() - t0
        state = self.img.inspect(cid)["State"]
        self.assertEqual((state["Running"], state["ExitCode"]), (False, 0))
        self.assertLess(self.img.timings["relay-stop"], 20)


    def test_2_dropin_daemons_serve_an_existing_postfix(self):
        # the recipe's daemons on the host's loopback (network_mode: host), this test's ports
        # instead of 8891/10031 (environment entries of an override replace the recipe's);
        # a Postfix on the host configured as the recipe's comment says
        b = self.img.base
        dkim, dkim_metrics, spf, spf_metrics = b + 2, b + 3, b + 4, b + 5
        p = self.project("dropin-daemons", """\
services:
  postern-dkim:
    image: %s
    environment:
      POSTERN_DKIM_SOCKET: "inet:%d@127.0.0.1"
      POSTERN_DKIM_METRICS_LISTEN: "127.0.0.1:%d"
  postern-spf:
    image: %s
    environment:
      POSTERN_SPF_SOCKET: "inet:%d@127.0.0.1"
      POSTERN_SPF_METRICS_LISTEN: "127.0.0.1:%d"
""" % (self.img.tag, dkim, dkim_metrics, self.img.tag, spf, spf_metrics))
        txt = genkeys(os.path.join(p.dir, "dkim-keys"), ["example.com"])
        p.up()
        for port in (dkim_metrics, spf_metrics):
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port,
                                                timeout=2) as r:
                        self.assertEqual(r.status, 200)
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise AssertionError("no /healthz on %d:\n%s" % (port, p.logs()))
                    time.sleep(0.3)
        # the daemons run as their own users, not root
        for service, user in (("postern-dkim", "postern-dkim"), ("postern-spf", "postern-spf")):
            ps = docker("exec", p.container(service), "ps", "-eo", "user:20,comm").stdout
            self.assertRegex(ps, r"(?m)^%s\s+%s$" % (user, service), ps)
        # postern-spf answers the Postfix policy protocol (a client in no network it skips,
        # no DNS here: a temporary error at worst, never a permanent one)
        with socket.create_connection(("127.0.0.1", spf), 10) as c:
            c.sendall(b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
                      b"protocol_name=ESMTP\nclient_address=127.0.0.1\n"
                      b"helo_name=app.example.com\nsender=app@example.com\n"
                      b"recipient=someone@example.net\n\n")
            reply = b""
            while not reply.endswith(b"\n\n"):
                chunk = c.recv(4096)
                if not chunk:
                    break
                reply += chunk
        self.assertRegex(reply.decode(), r"^action=\S")
        self.assertNotRegex(reply.decode(), r"^action=(5\d\d|REJECT)")
        # an existing Postfix with smtpd_milters = inet:127.0.0.1:<dkim>: mail is signed
        pf = os.path.join(self.img.tmp, "host-postfix")
        run([harness.POSTFIX_INSTANCE, "init", pf, "--port", str(b + 6),
             "--relay", "127.0.0.1:%d" % (b + 7), "--milter", "inet:127.0.0.1:%d" % dkim,
             "--set", "smtpd_recipient_restrictions=permit_mynetworks, "
             "reject_unauth_destination, check_policy_service inet:127.0.0.1:%d" % spf])
        run([harness.POSTFIX_INSTANCE, "sink", pf, str(b + 7)])
        self.addCleanup(run, [harness.POSTFIX_INSTANCE, "sink-stop", pf], check=False)
        self.addCleanup(run, [harness.POSTFIX_INSTANCE, "stop", pf], check=False)
        run([harness.POSTFIX_INSTANCE, "start", pf])
        s = smtplib.SMTP("127.0.0.1", b + 6, local_hostname="app.example.com", timeout=30)
        try:
            s.sendmail("app@example.com", ["someone@example.net"],
                       b"From: <app@example.com>\r\nTo: <someone@example.net>\r\n"
                       b"Subject: drop-in\r\n\r\nsigned by the drop-in postern-dkim\r\n")
        finally:
            s.quit()
        deadline = time.monotonic() + 30
        sink = os.path.join(pf, "sink")
        while not os.listdir(sink):
            self.assertLess(time.monotonic(), deadline, "not delivered to the sink")
            time.sleep(0.2)
        m = harness.Delivered(os.path.join(sink, os.listdir(sink)[0]))
        self.assertEqual(harness.dkimpy_verify_all(m.data, keyring(txt)),
                         [("example.com", "mail", True)])
        # docker-compose stop: SIGTERM reaches both daemons (init: true), no SIGKILL
        cids = [p.container(service) for service in ("postern-dkim", "postern-spf")]
        t0 = time.monotonic()
        p.compose("stop", "-t", "20")
        self.img.timings["dropin-stop"] = time.monotonic() - t0
        self.assertLess(self.img.timings["dropin-stop"], 10)
        for cid in cids:
            state = self.img.inspect(cid)["State"]
            self.assertFalse(state["Running"])
            self.assertIn(state["ExitCode"], (0, 128 + 15), state)   # not 137: SIGKILL

    def test_3_exchange_gateway_in_and_out(self):
        if not self.img.bridge:
            self.skipTest(self.img.bridge_why)
        b, bridge = self.img.base, self.img.bridge
        local = bridge.rsplit(".", 2)[0] + ".0.0/16"     # the sandbox's networks: "the LAN"
        exchange = os.path.join(self.img.tmp, "exchange-sink")
        internet = os.path.join(self.img.tmp, "internet-sink")
        self.img.start_bridge_sink(b + 10, exchange)
        self.img.start_bridge_sink(b + 11, internet)
        health = """\
    healthcheck:
      interval: 1s
      timeout: 5s
      retries: 2
      start_period: 2s
"""
        p = self.project("exchange-gateway", """\
services:
  mail_out:
    image: %(tag)s
    dns: ["%(bridge)s"]
    environment:
      POSTFIX_MYNETWORKS: "192.168.10.0/24 %(local)s"
      OPENDKIM_INTERNALHOSTS: "192.168.10.0/24 %(local)s"
      POSTFIX_RELAYHOST: "[%(bridge)s]:%(internet)d"
      ENABLE_FRESHCLAM: "false"
    volumes:
      - ./certs:/etc/postfix/certs:ro
      - ./dkim:/etc/mail/dkim:ro
      - ./clamav:/var/lib/clamav
%(health)s
  mail_in:
    image: %(tag)s
    dns: ["%(bridge)s"]
    environment:
      POSTFIX_RELAYHOST: "[%(bridge)s]:%(exchange)d"
      POSTFIX_LDAP_SERVERS: "ldapi://%%2Fldapi%%2Fslapd.sock"
      POSTFIX_LDAP_BIND_DN: "%(bind_dn)s"
      POSTFIX_LDAP_SEARCH_BASE: "%(base)s"
      ENABLE_FRESHCLAM: "false"
      # the test speaks for Internet clients through XCLIENT; no DNS here, so no SPF for them
      POSTFIX_SMTPD_AUTHORIZED_XCLIENT_HOSTS: "%(local)s"
      POSTERN_SPF_SKIP_NETWORKS: "127.0.0.0/8 203.0.113.0/24"
    volumes:
      - ./certs:/etc/postfix/certs:ro
      - ./clamav:/var/lib/clamav
      - ./ldapi:/ldapi
%(health)s""" % {"tag": self.img.tag, "local": local, "bridge": bridge,
                 "internet": b + 11, "exchange": b + 10, "health": health,
                 "bind_dn": READER_DN, "base": SUFFIX},
            env={"POSTERN_PUBLISH_OUT_25": "127.0.0.1:%d" % (b + 8),
                 "POSTERN_PUBLISH_IN_25": "127.0.0.1:%d" % (b + 9)})
        # what the recipe mounts: certificates, mikenye's KeyTable/SigningTable, the bind
        # password file (a compose secret), ClamAV signatures
        certs = os.path.join(p.dir, "certs")
        os.makedirs(certs)
        run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=mail.example.com", "-keyout", os.path.join(certs, "privkey.pem"),
             "-out", os.path.join(certs, "fullchain.pem")])
        txt = genkeys(os.path.join(p.dir, "dkim"), ["example.com"])
        with open(os.path.join(p.dir, "dkim", "KeyTable"), "w") as f:
            f.write("k1 example.com:mail:/etc/mail/dkim/example.com.private\n")
        with open(os.path.join(p.dir, "dkim", "SigningTable"), "w") as f:
            f.write("*@example.com k1\n")
        from test_av_postfix import EICAR, make_db
        make_db(os.path.join(p.dir, "clamav"), synthetic=0)
        ldapi = os.path.join(p.dir, "ldapi")
        os.makedirs(ldapi)
        slapd = LdapiSlapd(self.img.tmp, os.path.join(ldapi, "slapd.sock"),
                           user_ldif("alice", "alice@example.com"))
        slapd.start()
        self.addCleanup(slapd.stop)
        with open(os.path.join(p.dir, "ldap_bind_pw"), "w") as f:
            f.write(slapd.reader_password + "\n")
        t0 = time.monotonic()
        p.up()
        for service in ("mail_out", "mail_in"):
            self.img.wait_health("healthy", 90, p.container(service))
        self.img.timings["exchange-healthy"] = time.monotonic() - t0
        # mail_in: mail from the Internet for a relay domain goes to Exchange, scanned and
        # with its DKIM result; unknown recipients, other domains and viruses are refused
        mx = {"ADDR": "203.0.113.9", "NAME": "mx.example.net"}
        t0 = time.monotonic()
        m = self.img.delivered(self.img.send("someone@example.net", "alice@example.com",
                                             helo="mx.example.net", xclient=mx, port=b + 9),
                               sink=exchange)
        self.assertIn(b"X-Virus-Scanned", m.data)
        self.assertRegex(m.data.decode(errors="replace"),
                         r"Authentication-Results: mail\.example\.com;\s+dkim=none")
        with self.assertRaises(SmtpError) as cm:
            self.img.send("someone@example.net", "nobody@example.com", xclient=mx, port=b + 9)
        self.assertEqual(cm.exception.stage, "RCPT")
        self.assertIn("User unknown", cm.exception.msg)
        with self.assertRaises(SmtpError) as cm:
            self.img.send("someone@example.net", "friend@example.net", xclient=mx, port=b + 9)
        self.assertIn("Relay access denied", cm.exception.msg)
        with self.assertRaises(SmtpError) as cm:
            self.img.send("someone@example.net", "alice@example.com", EICAR.decode(),
                          xclient=mx, port=b + 9)
        self.assertEqual((cm.exception.stage, cm.exception.code), ("DATA", 550))
        self.img.timings["exchange-in"] = time.monotonic() - t0
        t0 = time.monotonic()
        # mail_out: Exchange (in POSTFIX_MYNETWORKS) sends out through it, signed with the
        # KeyTable's key
        m = self.img.delivered(self.img.send("ceo@example.com", "partner@example.net",
                                             port=b + 8), sink=internet)
        self.assertEqual(harness.dkimpy_verify_all(m.data, keyring(txt)),
                         [("example.com", "mail", True)])
        self.img.timings["exchange-out"] = time.monotonic() - t0


if __name__ == "__main__":
    unittest.main()
