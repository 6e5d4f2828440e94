"""test_image_gateway.py — the gateway image (deploy/Dockerfile) built and run under a private
dockerd (deploy/docker-sandbox: Debian's docker.io, started here and stopped by pid; a bridge of
its own, no iptables). The main container uses --network host and listens on this test's
loopback ports (its daemons' ports, XCLIENT and the "Postfix does not listen" check need the
host's loopback); a second one on the sandbox bridge publishes 25 and 587 with -p on
127.0.0.1 (docker-proxy) and relays to an smtp-sink on the host's bridge address.

Build: the base image postern-base:bookworm comes from debootstrap + docker import (cached);
the daemons are the ones this build tree made (BINARIES=prebuilt), so no compiler runs here;
POSTERN_IMAGE_FULL_BUILD=1 compiles them in the Dockerfile's build stage instead (minutes).
Docker's state and the base rootfs are kept in POSTERN_IMAGE_CACHE (default
/var/cache/postern/image-test) so later runs reuse the layers.

Skips, with the reason, when not root, when docker.io is missing, when dockerd cannot start
here, and in sanitizer builds (the image takes optimized binaries).

Port block: +0 smtpd (in the container), +1 sink (host), +2 postern-dkim, +3 its metrics,
+4 postern-spf, +5 its metrics, +6 postern-av, +7 its metrics, +8 postern-rcpt, +9 its metrics, +10 postern-greylist, +11 its metrics, +12 Redis (host),
+13 postern-tables, +14 its metrics; +15 and +16 the bridge container's 25 and 587 published
on 127.0.0.1, +17 the sink on the bridge address.
postern-rcpt's slapd (on the host) listens on a unix socket (ldapi://) mounted into the
container, since the block has no port left; postern-av's database (EICAR signatures) is made
here and mounted at /var/lib/clamav; freshclam is off (no network).
"""

import json
import os
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import harness
from harness import MarksEnvFailed, SmtpError, run
from slapd_server import SlapdServer, user_ldif

DEPLOY = os.path.join(harness.REPO, "deploy")
DOCKER = "/usr/bin/docker"       # the docker.io client (BuildKit built in, no buildx)
CACHE = os.environ.get("POSTERN_IMAGE_CACHE", "/var/cache/postern/image-test")


def docker(*args, check=True, timeout=600, **kw):
    env = dict(os.environ, DOCKER_HOST="unix://%s/docker.sock" % CACHE, DOCKER_BUILDKIT="1")
    p = subprocess.run([DOCKER] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, env=env, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("docker %s failed (%d):\n%s" % (" ".join(args[:3]), p.returncode,
                                                           p.stdout[-6000:]))
    return p


class LdapiSlapd(SlapdServer):
    """The test slapd on a unix socket only (ldapi://, RFC 4516 with the path %-encoded)."""

    def __init__(self, tmp, socket_path, ldif):
        self.socket_path = socket_path
        super().__init__(tmp, 0, ldif=ldif)

    def urls(self):
        return "ldapi://%s/" % self.socket_path.replace("/", "%2F")

    def start(self, timeout=10.0):
        super().start(timeout)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.socket_path):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("slapd made no socket %s:\n%s" % (self.socket_path,
                                                                      self.log()))
            time.sleep(0.05)


class NxdomainServer:
    """A DNS server on the sandbox bridge address, port 53 (where docker-sandbox points the
    containers' resolvers) that answers every query NXDOMAIN (RFC 1035 4.1.1 RCODE 3): there
    is no DNS here, and a resolver nobody answers costs each lookup its full timeout (smtpd's
    client name lookup, DMARC and SPF queries: 5-10 s per SMTP session)."""

    def __init__(self, address):
        import dnslib
        import threading
        self.dnslib = dnslib
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 53))
        self.sock.settimeout(0.2)
        self.running = True
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.running:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                reply = self.dnslib.DNSRecord.parse(data).reply()
            except Exception:  # not DNS: ignored, as a server would
                continue
            reply.header.rcode = self.dnslib.RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), peer)

    def stop(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


class Image:
    """The private dockerd, the image, a sink on the host and one container."""

    def __init__(self, ports=18):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (dockerd)")
        if os.environ.get("POSTERN_IT_SANITIZE") == "1":
            raise unittest.SkipTest("sanitizer build: the image test runs in the optimized "
                                    "build only (the image takes optimized binaries)")
        for prog in (DOCKER, "/usr/sbin/dockerd", "/usr/sbin/debootstrap"):
            if not os.access(prog, os.X_OK):
                raise unittest.SkipTest("%s missing (deploy/install-deps installs docker.io "
                                        "and debootstrap)" % prog)
        self.bins = {}
        for var in ("POSTERN_IT_DKIM_BIN", "POSTERN_IT_SPF_BIN", "POSTERN_IT_AV_BIN",
                    "POSTERN_IT_RCPT_BIN", "POSTERN_IT_GREYLIST_BIN", "POSTERN_IT_TABLES_BIN"):
            if not os.environ.get(var):
                raise unittest.SkipTest("%s not set (daemon not built)" % var)
            self.bins[var] = os.environ[var]
        self.base = harness.port_base()
        if harness.port_count() < ports:  # base .. base + ports - 1 (image.cmake: PORTS)
            raise RuntimeError("this image test uses %d ports from its base; "
                               "POSTERN_IT_PORT_COUNT is %d" % (ports, harness.port_count()))
        self.smtpd_port, self.sink_port = self.base, self.base + 1
        self.name = "postern-it-%d" % self.base
        self.tag = "postern:it-%d" % self.base
        self.tmp = tempfile.mkdtemp(prefix="postern-image-%d-" % self.base,
                                    dir=harness.TMP_ROOT)
        os.chmod(self.tmp, 0o755)
        self.pfdir = os.path.join(self.tmp, "pf")
        self.dockerd_started = False
        self.container_started = False
        self.bridge = None          # the sandbox bridge's address (the host, seen from containers)
        self.bridge_why = "docker-sandbox printed no BRIDGE line"
        self.sinks = []             # smtp-sink processes on the bridge address
        self.dns = None
        self.sink_started = False
        self.slapd = None
        self.redis = None
        self.failed = False
        self.timings = {}

    def start_dockerd(self):
        os.makedirs(CACHE, exist_ok=True)
        p = run([os.path.join(DEPLOY, "docker-sandbox"), "start", CACHE], check=False)
        if p.returncode == 3:
            raise unittest.SkipTest("dockerd cannot start here:\n" + p.stdout[-3000:])
        if p.returncode != 0:
            raise RuntimeError("docker-sandbox start failed:\n" + p.stdout)
        self.dockerd_started = True
        m = re.search(r"^BRIDGE=(\S+)(?: (\d+\.\d+\.\d+\.\d+)/\d+)?$", p.stdout, re.M)
        if m and m.group(2):
            self.bridge = m.group(2)
            try:
                self.dns = NxdomainServer(self.bridge)
            except OSError as err:   # then lookups in containers wait out their timeouts
                sys.stderr.write("no DNS server on %s:53: %s\n" % (self.bridge, err))
        elif m:
            self.bridge_why = "docker-sandbox made no bridge: " + p.stdout[-1000:]
        docker("rm", "-f", "-v", self.name, self.name + "-b", check=False)  # a killed run's

    def build(self):
        t0 = time.monotonic()
        run([os.path.join(DEPLOY, "docker-sandbox"), "base", CACHE])
        self.timings["base"] = time.monotonic() - t0
        ctx = os.path.join(self.tmp, "context")
        full = os.environ.get("POSTERN_IMAGE_FULL_BUILD") == "1"
        build_dir = os.path.dirname(os.path.dirname(os.path.dirname(
            self.bins["POSTERN_IT_DKIM_BIN"])))
        run([os.path.join(DEPLOY, "image-context"), ctx]
            + ([] if full else ["--prebuilt", build_dir]))
        t0 = time.monotonic()
        docker("build", "--network", "host", "-f", os.path.join(ctx, "deploy", "Dockerfile"),
               "--build-arg", "BINARIES=%s" % ("compile" if full else "prebuilt"),
               "-t", self.tag, ctx, timeout=1800)
        self.timings["build"] = time.monotonic() - t0

    def start_sink(self):
        run([harness.POSTFIX_INSTANCE, "sink", self.pfdir, str(self.sink_port)])
        self.sink_started = True

    def start_bridge_sink(self, port, directory):
        """smtp-sink on the bridge address (what a container on a bridge network reaches the
        host by), one file per message in DIRECTORY, as deploy/postfix-instance's sink."""
        os.makedirs(directory)
        shutil.chown(directory, "postfix")
        log = open(os.path.join(os.path.dirname(directory), "bridge-sink.log"), "ab")
        proc = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "postfix", "-h", "sink.example",
                                 "-d", os.path.join(directory, "%Y%m%d%H%M%S."),
                                 "%s:%d" % (self.bridge, port), "100"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
        log.close()
        self.sinks.append(proc)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((self.bridge, port), 0.5).close()
                return
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("smtp-sink did not start on %s:%d" % (self.bridge, port))
                time.sleep(0.1)

    def run_container(self, env, volumes=(), name=None, network=("--network", "host")):
        args = ["run", "-d", "--name", name or self.name] + list(network) + [
                "--read-only", "--tmpfs", "/run:exec", "--tmpfs", "/tmp",
                "--health-interval", "1s", "--health-retries", "2", "--health-timeout", "5s",
                "--health-start-period", "2s"]
        for v in volumes:
            args += ["-v", v]
        for k, v in env.items():
            args += ["-e", "%s=%s" % (k, v)]
        self.container_started = self.container_started or name is None
        docker(*(args + [self.tag]))

    def inspect(self, name=None):
        return json.loads(docker("inspect", name or self.name).stdout)[0]

    def health(self, name=None):
        h = self.inspect(name)["State"].get("Health") or {}
        return h.get("Status"), [l.get("Output", "").strip() for l in h.get("Log", [])[-2:]]

    def wait_health(self, want, timeout, name=None):
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            state = self.inspect(name)["State"]
            if not state["Running"]:
                raise AssertionError("container exited %s:\n%s" % (state["ExitCode"],
                                                                   self.logs(name)[-4000:]))
            status, log = self.health(name)
            if status == want:
                return log
            time.sleep(0.3)
        raise AssertionError("health %s, not %s, after %ss: %s" % (status, want, timeout,
                                                                   self.health(name)[1]))

    def exec(self, *args, check=True):
        return docker("exec", self.name, *args, check=check)

    def pid_of(self, program):
        # the kernel's comm is 15 characters (postern-greylis)
        out = self.exec("pgrep", "-x", program[:15], check=False).stdout.split()
        return int(out[0]) if out else None

    def logs(self, name=None):
        return docker("logs", name or self.name, check=False).stdout

    def close(self):
        if self.dockerd_started:
            if self.container_started and (self.failed or
                                           os.environ.get("POSTERN_IT_VERBOSE") == "1"):
                sys.stderr.write("\n===== container log =====\n%s\n" % self.logs()[-12000:])
            docker("rm", "-f", "-v", self.name, self.name + "-x", self.name + "-b", check=False)
            docker("rmi", self.tag, check=False)
            run([os.path.join(DEPLOY, "docker-sandbox"), "stop", CACHE], check=False)
        for proc in self.sinks:
            harness.stop_group(proc)
        if self.dns:
            self.dns.stop()
        if self.sink_started:
            run([harness.POSTFIX_INSTANCE, "sink-stop", self.pfdir], check=False)
        if self.slapd:
            self.slapd.stop()
        if self.redis:
            self.redis.stop()
        if os.environ.get("POSTERN_IT_KEEP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- mail -------------------------------------------------------------------------------

    def smtp(self, helo="app.example.com", xclient=None, port=None):
        s = smtplib.SMTP("127.0.0.1", port or self.smtpd_port, local_hostname=helo, timeout=30)
        s.ehlo()
        if xclient:
            code, msg = s.docmd("XCLIENT", " ".join("%s=%s" % kv for kv in xclient.items()))
            if code != 220:
                raise SmtpError("XCLIENT", code, msg.decode(errors="replace"))
            s.ehlo_resp = None
            s.ehlo()
        return s

    def send(self, mail_from, rcpt, text="hello from the image test", helo="app.example.com",
             xclient=None, port=None):
        s = self.smtp(helo, xclient, port)
        try:
            body = ("From: <%s>\r\nTo: <%s>\r\nSubject: image test\r\nMessage-ID: <%d@t>\r\n"
                    "\r\n%s\r\n" % (mail_from, rcpt, time.time_ns(), text))
            code, msg = s.mail(mail_from)
            if code != 250:
                raise SmtpError("MAIL", code, msg.decode(errors="replace"))
            code, msg = s.rcpt(rcpt)
            if code != 250:
                raise SmtpError("RCPT", code, msg.decode(errors="replace"))
            code, msg = s.data(body.encode())
            if code != 250:
                raise SmtpError("DATA", code, msg.decode(errors="replace"))
            return re.search(r"queued as (\w+)", msg.decode()).group(1)
        finally:
            s.quit()

    def delivered(self, queue_id, timeout=30, sink=None):
        needle = re.compile(rb"with E?SMTP id %s\b" % re.escape(queue_id.encode()))
        sink = sink or os.path.join(self.pfdir, "sink")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in sorted(os.listdir(sink)):
                path = os.path.join(sink, name)
                with open(path, "rb") as f:
                    if needle.search(f.read(65536)):
                        return harness.Delivered(path)
            time.sleep(0.2)
        raise AssertionError("%s not delivered in %ss" % (queue_id, timeout))


class ImageTestCase(MarksEnvFailed, unittest.TestCase):
    """A test class with one Image (cls.img) for all its tests: timings printed and the image
    closed in tearDownClass, the image's logs printed when a test fails."""

    img = None

    @classmethod
    def start_image(cls, img, more=lambda: None):
        """Sets cls.img, starts its dockerd, builds, then calls more(); closes it on failure."""
        cls.img = img
        try:
            img.start_dockerd()
            img.build()
            more()
        except BaseException:
            img.failed = True
            img.close()
            raise

    @classmethod
    def tearDownClass(cls):
        sys.stderr.write("image timings (s): %s\n" % ", ".join(
            "%s %.1f" % kv for kv in cls.img.timings.items()))
        cls.img.close()

    def failed_env(self):
        return type(self).img


class ImageTests(ImageTestCase):
    """One image, one container (ALLOWED_SENDER_DOMAINS, DKIM keys mounted the boky way,
    ENABLE_SPF, ENABLE_CLAMAV, ENABLE_RECIPIENT_VERIFY for the relay domain example.org,
    ENABLE_POSTGREY with the state volume and mikenye's /etc/postgrey, a16bitsysop's REDIS):
    signing and delivery, virus and recipient checks, greylisting, Redis tables, s6 restarts,
    HEALTHCHECK, read-only root, clean stop, no mail accepted while postern-av has no engine.
    Test names are ordered: the stop comes last."""

    @classmethod
    def setUpClass(cls):
        cls.start_image(Image(), cls.prepare)

    @classmethod
    def prepare(cls):
        """After the build: keys, sinks, slapd, Redis, volumes, the container, healthy."""
        keys = os.path.join(cls.img.tmp, "keys")
        os.makedirs(keys)
        run(["/usr/sbin/opendkim-genkey", "-b", "2048", "-s", "mail", "-d", "example.com",
             "-D", keys])
        os.rename(os.path.join(keys, "mail.private"), os.path.join(keys, "example.com.private"))
        with open(os.path.join(keys, "mail.txt")) as f:
            cls.txt = {"mail._domainkey.example.com": "".join(re.findall(
                r'"([^"]*)"', f.read()))}
        cls.img.start_sink()
        cls.img.tables = os.path.join(cls.img.tmp, "tables")
        os.makedirs(cls.img.tables)
        cls.img.clamav = os.path.join(cls.img.tmp, "clamav")
        from test_av_postfix import make_db
        make_db(cls.img.clamav, synthetic=0)
        ldapi = os.path.join(cls.img.tmp, "ldapi")
        os.makedirs(ldapi)
        cls.img.slapd = LdapiSlapd(cls.img.tmp, os.path.join(ldapi, "slapd.sock"),
                                   user_ldif("alice", "alice@example.org"))
        cls.img.slapd.start()
        import redis_server
        b = cls.img.base
        cls.img.redis = redis_server.RedisServer(b + 12)
        cls.img.redis.start()
        cls.img.state = os.path.join(cls.img.tmp, "state")
        cls.img.postgrey = os.path.join(cls.img.tmp, "postgrey")
        os.makedirs(cls.img.state)
        os.makedirs(cls.img.postgrey)
        with open(os.path.join(cls.img.postgrey, "postgrey_whitelist_clients.local"),
                  "w") as f:
            f.write("198.51.100.7\n")
        secrets = os.path.join(cls.img.tmp, "secrets")
        os.makedirs(secrets)
        with open(os.path.join(secrets, "ldap_pw"), "w") as f:
            f.write(cls.img.slapd.reader_password + "\n")
        b = cls.img.base
        t0 = time.monotonic()
        cls.img.run_container({
            "ALLOWED_SENDER_DOMAINS": "example.com",
            "ENABLE_SPF": "true",
            "HOSTNAME": "gateway.example.com",
            "POSTERN_SMTPD_LISTEN": "127.0.0.1:%d" % cls.img.smtpd_port,
            "POSTFIX_INET_INTERFACES": "127.0.0.1",
            "RELAYHOST": "[127.0.0.1]:%d" % cls.img.sink_port,
            "POSTERN_DKIM_SOCKET": "inet:%d@127.0.0.1" % (b + 2),
            "POSTERN_DKIM_METRICS_LISTEN": "127.0.0.1:%d" % (b + 3),
            "POSTERN_SPF_SOCKET": "inet:%d@127.0.0.1" % (b + 4),
            "POSTERN_SPF_METRICS_LISTEN": "127.0.0.1:%d" % (b + 5),
            "ENABLE_CLAMAV": "true",
            "ENABLE_FRESHCLAM": "false",
            "POSTERN_AV_SOCKET": "inet:%d@127.0.0.1" % (b + 6),
            "POSTERN_AV_METRICS_LISTEN": "127.0.0.1:%d" % (b + 7),
            "ENABLE_RECIPIENT_VERIFY": "true",
            "POSTFIX_RELAY_DOMAINS": "example.org",
            "POSTFIX_LDAP_SERVERS": "ldapi://%2Fldapi%2Fslapd.sock",
            "POSTFIX_LDAP_BIND_DN": cls.img.slapd.reader_dn,
            "POSTFIX_LDAP_BIND_PW_FILE": "/secrets/ldap_pw",
            "POSTFIX_LDAP_SEARCH_BASE": cls.img.slapd.suffix,
            "POSTERN_RCPT_SOCKET": "inet:%d@127.0.0.1" % (b + 8),
            "POSTERN_RCPT_METRICS_LISTEN": "127.0.0.1:%d" % (b + 9),
            # mikenye's ENABLE_POSTGREY; a 1 s delay keeps the test short
            "ENABLE_POSTGREY": "true",
            "POSTERN_GREYLIST_DELAY": "1",
            "POSTERN_GREYLIST_SOCKET": "inet:%d@127.0.0.1" % (b + 10),
            "POSTERN_GREYLIST_METRICS_LISTEN": "127.0.0.1:%d" % (b + 11),
            # a16bitsysop's REDIS: postern-tables with the seed's keys
            "REDIS": "127.0.0.1:%d" % (b + 12),
            "POSTERN_TABLES_SOCKET": "inet:%d@127.0.0.1" % (b + 13),
            "POSTERN_TABLES_METRICS_LISTEN": "127.0.0.1:%d" % (b + 14),
            # mail from "the internet" through XCLIENT; no DNS here, so SPF skips it
            "POSTFIX_SMTPD_AUTHORIZED_XCLIENT_HOSTS": "127.0.0.0/8",
            "POSTERN_SPF_SKIP_NETWORKS": "127.0.0.0/8 203.0.113.0/24 192.0.2.0/24",
        }, volumes=["%s:/etc/opendkim/keys:ro" % keys,
                    "%s:/var/lib/postern" % cls.img.state,
                    "%s:/etc/postgrey:ro" % cls.img.postgrey,
                    "%s:/etc/postfix/tables:ro" % cls.img.tables,
                    "%s:/var/lib/clamav" % cls.img.clamav,
                    "%s:/ldapi" % ldapi, "%s:/secrets:ro" % secrets])
        cls.img.wait_health("healthy", 60)
        cls.img.timings["healthy"] = time.monotonic() - t0

    def test_0_unsafe_or_broken_setups_stop_with_a_message(self):
        # no relay rule at all (a16bitsysop's example): refused, exit 1, the reason logged
        listen = "POSTERN_SMTPD_LISTEN=127.0.0.1:%d" % self.img.smtpd_port
        p = docker("run", "--rm", "--name", self.img.name + "-x", "--network", "host",
                   "--read-only", "--tmpfs", "/run:exec", "-e", listen, self.img.tag,
                   check=False, timeout=120)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("no rule says which mail this gateway may relay", p.stdout)
        # a noexec /run (plain --tmpfs /run) is named as such
        p = docker("run", "--rm", "--name", self.img.name + "-x", "--network", "host",
                   "--read-only", "--tmpfs", "/run", "-e", listen,
                   "-e", "ALLOWED_SENDER_DOMAINS=example.com", self.img.tag, check=False,
                   timeout=120)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("use --tmpfs /run:exec", p.stdout)

    def test_1_mail_is_signed_and_delivered(self):
        m = self.img.delivered(self.img.send("app@example.com", "someone@example.net"))
        self.assertEqual(harness.dkimpy_verify_all(m.data, self.keyring()),
                         [("example.com", "mail", True)])
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@not-allowed.example", "someone@example.net")
        self.assertEqual(cm.exception.code // 100, 5)
        ps = self.img.exec("ps", "-eo", "user:20,comm").stdout
        self.assertRegex(ps, r"postern-dkim\s+postern-dkim")
        self.assertRegex(ps, r"postern-spf\s+postern-spf")
        self.assertRegex(ps, r"postern-av\s+postern-av")
        self.assertRegex(ps, r"postern-rcpt\s+postern-rcpt")
        self.assertRegex(ps, r"postern-greylist\s+postern-greylis")   # comm: 15 characters
        self.assertRegex(ps, r"postern-tables\s+postern-tables")
        self.assertNotIn("freshclam", ps)

    def test_1b_viruses_and_unknown_recipients_are_refused(self):
        # the relay domain: a known recipient (slapd) passes, scanned (from mynetworks, so
        # outbound: no X-Virus-* headers, one av-scan log line)
        qid = self.img.send("app@example.com", "alice@example.org")
        m = self.img.delivered(qid)
        self.assertNotIn(b"X-Virus-Status", m.data)
        self.assertIn("av-scan queue_id=%s result=clean" % qid, self.img.logs())
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@example.com", "nobody@example.org")
        self.assertEqual((cm.exception.stage, cm.exception.code), ("RCPT", 450))
        self.assertIn("4.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
                      cm.exception.msg)
        from test_av_postfix import EICAR
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@example.com", "someone@example.net", EICAR.decode())
        self.assertEqual((cm.exception.stage, cm.exception.code), ("DATA", 550))
        self.assertIn("Virus found: Postern.Test.EICAR", cm.exception.msg)

    def test_1c_greylisting_and_redis_tables(self):
        # greylisting (ENABLE_POSTGREY): the first attempt from outside gets 450, the retry
        # after the delay passes with X-Greylist; the store is in the state volume
        internet = {"ADDR": "203.0.113.9", "NAME": "mx.example.net"}
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@example.com", "alice@example.org", xclient=internet)
        self.assertEqual((cm.exception.stage, cm.exception.code), ("RCPT", 450))
        self.assertIn("Greylisted", cm.exception.msg)
        time.sleep(2.2)
        m = self.img.delivered(self.img.send("app@example.com", "alice@example.org",
                                             xclient=internet))
        self.assertIn(b"X-Greylist: delayed", m.data)
        self.assertTrue(os.listdir(os.path.join(self.img.state, "greylist")))
        # mikenye's whitelist: present at start, then a line added + update_postgrey_whitelist
        self.img.delivered(self.img.send("app@example.com", "alice@example.org",
                                         xclient={"ADDR": "198.51.100.7", "NAME": "a.example"}))
        other = {"ADDR": "192.0.2.99", "NAME": "b.example"}
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@example.com", "alice@example.org", xclient=other)
        self.assertEqual(cm.exception.code, 450)
        with open(os.path.join(self.img.postgrey, "postgrey_whitelist_clients.local"),
                  "a") as f:
            f.write("192.0.2.99\n")
        self.img.exec("update_postgrey_whitelist")
        deadline = time.monotonic() + 10
        while True:
            try:
                qid = self.img.send("app@example.com", "alice@example.org", xclient=other)
                break
            except SmtpError as err:
                if err.code != 450 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.assertNotIn(b"X-Greylist", self.img.delivered(qid).data)
        # REDIS: the seed's redis-cli entries take effect on the next mail
        port = str(self.img.redis.port)
        cli = ["redis-cli", "-h", "127.0.0.1", "-p", port]
        # (from the whitelisted client: not greylisted, not in mynetworks)
        known = {"ADDR": "198.51.100.7", "NAME": "a.example"}
        # (another address than the one tested below: smtpd keeps its last address resolution)
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@example.com", "info@example.info", xclient=known)
        self.assertIn("Relay access denied", cm.exception.msg)   # example.info: not ours yet
        run(cli + ["set", "VDOM:example.info", "example.info"])
        run(cli + ["set", "VALI:sales@example.info", "bob@example.info"])
        m = self.img.delivered(self.img.send("app@example.com", "sales@example.info",
                                             xclient=known))
        with open(m.path, "rb") as f:
            self.assertIn(b"bob@example.info", f.read())
        run(cli + ["set", "HLO:mail.spammer.bulk", "reject"])
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@example.com", "someone@example.net", helo="mail.spammer.bulk")
        self.assertIn("Helo command rejected", cm.exception.msg)

    def test_1d_published_ports_on_a_bridge(self):
        # The usual way to run the image: on a bridge network, 25 and 587 published with -p
        # (here on 127.0.0.1, through docker-proxy), delivering to a host the container
        # reaches through its gateway (the sandbox bridge address: an smtp-sink there).
        if not self.img.bridge:
            self.skipTest(self.img.bridge_why)
        b, name = self.img.base, self.img.name + "-b"
        sink = os.path.join(self.img.tmp, "bridge-sink")
        self.img.start_bridge_sink(b + 17, sink)
        self.addCleanup(docker, "rm", "-f", "-v", name, check=False)
        t0 = time.monotonic()
        self.img.run_container({
            "ALLOWED_SENDER_DOMAINS": "example.com",
            "HOSTNAME": "bridged.example.com",
            "RELAYHOST": "[%s]:%d" % (self.img.bridge, b + 17),
        }, volumes=["%s:/etc/opendkim/keys:ro" % os.path.join(self.img.tmp, "keys")],
            name=name, network=("-p", "127.0.0.1:%d:25" % (b + 15),
                                "-p", "127.0.0.1:%d:587" % (b + 16),
                                "--dns", self.img.bridge))
        self.img.wait_health("healthy", 60, name)
        self.img.timings["bridge-healthy"] = time.monotonic() - t0
        net = self.img.inspect(name)["NetworkSettings"]
        self.assertEqual(net["Networks"]["bridge"]["Gateway"], self.img.bridge)
        for port in (b + 15, b + 16):
            m = self.img.delivered(self.img.send("app@example.com", "someone@example.net",
                                                 port=port), sink=sink)
            self.assertEqual(harness.dkimpy_verify_all(m.data, self.keyring()),
                             [("example.com", "mail", True)])
            # the relay saw docker-proxy's connection from the bridge gateway (in the default
            # mynetworks), and the sink saw the container's bridge address
            self.assertIn(b"[%s]" % self.img.bridge.encode(), m.data)
            self.assertEqual(m.envelope.get("X-Client-Addr"), net["IPAddress"])
        with self.assertRaises(SmtpError) as cm:
            self.img.send("app@not-allowed.example", "someone@example.net", port=b + 15)
        self.assertEqual(cm.exception.code // 100, 5)

    def test_2_killed_daemons_are_restarted(self):
        for program in ("postern-dkim", "postern-spf", "postern-av", "postern-rcpt",
                        "postern-greylist", "postern-tables"):
            before = self.img.pid_of(program)
            self.assertIsNotNone(before, program)
            self.img.exec("kill", "-KILL", str(before))
            deadline = time.monotonic() + 15
            after = None
            while time.monotonic() < deadline:
                after = self.img.pid_of(program)
                if after and after != before:
                    break
                time.sleep(0.2)
            self.assertNotIn(after, (None, before), "%s was not restarted" % program)
        self.img.wait_health("healthy", 30)
        m = self.img.delivered(self.img.send("app@example.com", "other@example.net"))
        self.assertEqual(len(m.dkim_signatures), 1)

    def test_3_healthcheck_turns_unhealthy_when_a_daemon_is_down(self):
        self.img.exec("s6-svc", "-d", "/run/postern/scan/postern-spf")
        try:
            log = self.img.wait_health("unhealthy", 30)
            self.assertTrue(any("postern-spf" in l for l in log), log)
        finally:
            self.img.exec("s6-svc", "-u", "/run/postern/scan/postern-spf")
        self.img.wait_health("healthy", 30)

    def test_4a_root_filesystem_is_read_only(self):
        p = self.img.exec("touch", "/usr/sbin/x", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Read-only file system", p.stdout)

    def test_4b_update_helper_reloads_a_table(self):
        # mikenye/postfix: edit a file in /etc/postfix/tables, run update_<table>
        with open(os.path.join(self.img.tables, "sender_access.hash"), "w") as f:
            f.write("blocked@example.com REJECT blocked by sender_access\n")
        self.img.exec("update_sender_access")
        with self.assertRaises(SmtpError) as cm:
            self.img.send("blocked@example.com", "someone@example.net")
        self.assertIn("blocked by sender_access", cm.exception.msg)
        self.img.delivered(self.img.send("fine@example.com", "someone@example.net"))

    def test_5_stop_drains_and_is_clean(self):
        # A session in progress when docker stop arrives is allowed to finish.
        s = self.img.smtp()
        code, _ = s.mail("app@example.com")
        self.assertEqual(code, 250)
        t0 = time.monotonic()
        stop = subprocess.Popen([DOCKER, "stop", "-t", "30", self.img.name],
                                env=dict(os.environ,
                                         DOCKER_HOST="unix://%s/docker.sock" % CACHE),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        code, _ = s.rcpt("late@example.net")
        self.assertEqual(code, 250)
        code, msg = s.data(b"From: <app@example.com>\r\nSubject: in flight\r\n\r\nx\r\n")
        self.assertEqual(code, 250, msg)
        s.quit()
        stop.wait(60)
        self.img.timings["stop"] = time.monotonic() - t0
        state = self.img.inspect()["State"]
        self.assertFalse(state["Running"])
        self.assertEqual(state["ExitCode"], 0)
        self.assertLess(self.img.timings["stop"], 15)
        self.assertIn("postfix-drain", self.img.logs())
        # The message accepted during the drain is in the queue volume: delivered (and
        # signed) once the container runs again.
        qid = re.search(r"queued as (\w+)", msg.decode()).group(1)
        # Started again with an empty ClamAV database (as on a first start before freshclam
        # has fetched one): postern-av has no engine and never reports ready, so Postfix does
        # not listen and the container is not healthy; once signatures arrive (inotify
        # reload) Postfix starts and the queued message goes out.
        aside = self.img.clamav + ".aside"
        os.rename(self.img.clamav, aside)
        os.makedirs(self.img.clamav)
        docker("start", self.img.name)
        deadline = time.monotonic() + 30
        settled = None     # 2 s after postern-av said it has no engine
        while settled is None or time.monotonic() < settled:
            self.assertLess(time.monotonic(), deadline, "no engine-load-failed logged")
            self.assertFalse(harness.wait_port(self.img.smtpd_port, 0.2),
                             "Postfix listens while postern-av has no engine")
            if settled is None and "engine-load-failed" in self.img.logs():
                settled = time.monotonic() + 2
            time.sleep(0.3)
        self.assertNotEqual(self.img.health()[0], "healthy")
        for name in os.listdir(aside):
            os.rename(os.path.join(aside, name), os.path.join(self.img.clamav, name))
        self.img.wait_health("healthy", 60)
        m = self.img.delivered(qid)
        self.assertEqual(len(m.dkim_signatures), 1)

    def keyring(self):
        k = harness.KeyRing.__new__(harness.KeyRing)
        k.keys = []
        for name, txt in self.txt.items():
            key = harness.Key.__new__(harness.Key)
            key.selector, _, key.domain = name.partition("._domainkey.")
            key.txt = txt
            k.keys.append(key)
        return k


if __name__ == "__main__":
    unittest.main()
