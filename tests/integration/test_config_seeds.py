"""test_config_seeds.py — deploy/postern-config, without Docker: each seed image's documented
example environment (../shared/seeds/*.md, docker run and compose examples) goes through the
generator; the generated main.cf/master.cf must pass `postfix check` (the generator runs it),
and a real Postfix started from them (plus the Postern daemons the generator enabled, started
the way the image's s6 run scripts start them: --config RUN/<d>/<d>.conf and the envdir
RUN/<d>/env) must do what the seed says: relay for the allowed domains, refuse the rest, sign.

The container paths the seeds document (/etc/opendkim/keys, /etc/postfix/tables,
/docker-init.db, ...) live under TMP/root (postern-config --root). Only what the test must
change is changed in an example: its relay host becomes the smtp-sink, its smtpd listens on a
loopback test port, Postfix logs to a file; placeholders (yourdomain.tld) become example
domains.

Port block (POSTERN_IT_PORT_BASE): +0 smtpd, +1 sink, +2 postern-dkim, +3 its metrics,
+4 postern-spf, +5 its metrics, +6 DNS (zone_server). MikenyeScanVerifyTests (no DKIM, SPF or
DNS) gives +2/+3 to postern-av, +4/+5 to postern-rcpt and +6 to slapd; MikenyeGreylistTests
+2/+3 to postern-greylist (+7 the HTTP server of the whitelist download); A16bitsysopTests +2/+3
to postern-tables, +6 to redis-server and +7 to the LMTP sink (DOVECOT).
"""

import glob
import os
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Delivered, MarksEnvFailed, SmtpError, run, wait_port

GENERATOR = os.path.join(harness.REPO, "deploy", "postern-config")
S6_SCANDIR = os.path.join(harness.REPO, "deploy", "s6-scandir")
MASTER = "/usr/lib/postfix/sbin/master"
PY = "/usr/bin/python3"


def daemon_bins():
    """{program: path} of the Postern daemons CMake built (POSTERN_IT_*_BIN)."""
    out = {}
    for var, prog in (("POSTERN_IT_DKIM_BIN", "postern-dkim"),
                      ("POSTERN_IT_SPF_BIN", "postern-spf"),
                      ("POSTERN_IT_AV_BIN", "postern-av"),
                      ("POSTERN_IT_RCPT_BIN", "postern-rcpt"),
                      ("POSTERN_IT_GREYLIST_BIN", "postern-greylist"),
                      ("POSTERN_IT_TABLES_BIN", "postern-tables")):
        path = os.environ.get(var, "")
        if path and os.access(path, os.X_OK):
            out[prog] = path
    return out


class Gateway:
    """A temp dir holding the container paths (TMP/root), the generated configuration
    (TMP/pf/etc, queue TMP/pf/queue) and the run dir (TMP/run); a sink; the daemons and the
    Postfix master started from the generated files."""

    def __init__(self, name):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (Postfix)")
        self.base = harness.port_base()
        self.smtpd_port, self.sink_port = self.base, self.base + 1
        self.ports = {"postern-dkim": (self.base + 2, self.base + 3),
                      "postern-spf": (self.base + 4, self.base + 5)}
        self.dns_port = self.base + 6
        for d in glob.glob(os.path.join(harness.TMP_ROOT, "postern-cfg-%d-*" % self.base)):
            self.reap(d)
        self.tmp = tempfile.mkdtemp(prefix="postern-cfg-%d-%s-" % (self.base, name),
                                    dir=harness.TMP_ROOT)
        os.chmod(self.tmp, 0o755)
        self.root = os.path.join(self.tmp, "root")
        self.pfdir = os.path.join(self.tmp, "pf")
        self.etc = os.path.join(self.pfdir, "etc")
        self.rundir = os.path.join(self.tmp, "run")
        os.makedirs(os.path.join(self.pfdir, "log"))
        os.makedirs(self.root)
        self.procs = []
        self.master_started = False
        self.sink_started = False
        self.failed = False
        self.output = ""
        self.bins = daemon_bins()
        self._seen = set()

    @staticmethod
    def reap(d):
        pf = os.path.join(d, "pf")
        if os.path.isdir(os.path.join(d, "run", "scan", ".s6-scandir")):
            run([S6_SCANDIR, "stop", os.path.join(d, "run", "scan")], check=False)
        run([harness.POSTFIX_INSTANCE, "stop", pf], check=False)
        run([harness.POSTFIX_INSTANCE, "sink-stop", pf], check=False)
        for pidfile in glob.glob(os.path.join(d, "procs", "*.pid")):
            harness.kill_own_group(pidfile, d)
        shutil.rmtree(d, ignore_errors=True)

    # -- files under the container root ----------------------------------------------------

    def path(self, container_path):
        return os.path.join(self.root, container_path.lstrip("/"))

    def write(self, container_path, text, mode=0o644):
        p = self.path(container_path)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    # -- the generator ----------------------------------------------------------------------

    def test_env(self, env):
        """The example's environment plus what a test must set (see the module text)."""
        e = dict(env)
        bindirs = sorted({os.path.dirname(p) for p in self.bins.values()})
        e["PATH"] = ":".join(bindirs + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        sink = "[127.0.0.1]:%d" % self.sink_port
        relay_vars = [v for v in ("POSTFIX_RELAYHOST", "RELAYHOST", "RELAY_HOST") if v in e]
        for v in relay_vars:
            e[v] = sink
        if not relay_vars:
            e["POSTFIX_RELAYHOST"] = sink
        e.pop("POSTFIX_RELAYHOST_PORT", None)
        e.setdefault("POSTERN_SMTPD_LISTEN", "127.0.0.1:%d" % self.smtpd_port)
        e["POSTFIX_MAILLOG_FILE"] = os.path.join(self.pfdir, "log", "postfix.log")
        e["POSTFIX_MAILLOG_FILE_PREFIXES"] = self.tmp
        e["POSTFIX_INET_INTERFACES"] = "127.0.0.1"
        e["POSTFIX_INET_PROTOCOLS"] = "ipv4"
        e["POSTFIX_SMTPD_AUTHORIZED_XCLIENT_HOSTS"] = "127.0.0.0/8"
        e["POSTFIX_SMTP_TLS_SECURITY_LEVEL"] = "none"
        e["POSTFIX_SYSLOG_NAME"] = "postern-cfg-%d" % self.base
        for prog, (port, metrics) in self.ports.items():
            short = prog.split("-", 1)[1].upper()
            e.setdefault("POSTERN_%s_SOCKET" % short, "inet:%d@127.0.0.1" % port)
            e.setdefault("POSTERN_%s_METRICS_LISTEN" % short, "127.0.0.1:%d" % metrics)
        return e

    def generate(self, env, check=True):
        """Run the generator; return the CompletedProcess (stdout+stderr in .stdout)."""
        p = subprocess.run(
            [PY, GENERATOR, "--root", self.root, "--config-dir", self.etc,
             "--queue-dir", os.path.join(self.pfdir, "queue"),
             "--data-dir", os.path.join(self.pfdir, "data"), "--run-dir", self.rundir],
            env=self.test_env(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, timeout=120)
        self.output = p.stdout
        if check and p.returncode != 0:
            raise AssertionError("postern-config failed (%d):\n%s" % (p.returncode, p.stdout))
        return p

    def main_cf(self, param):
        p = run(["/usr/sbin/postconf", "-c", self.etc, "-h", param])
        return p.stdout.strip()

    def services(self):
        with open(os.path.join(self.rundir, "services")) as f:
            return f.read().split()

    # -- running what was generated ---------------------------------------------------------

    def start(self):
        """The enabled daemons (like their s6 run scripts), then the sink and Postfix."""
        for svc in self.services():
            if svc.startswith("postern-"):      # not postfix, freshclam, the whitelist update
                self.start_daemon(svc)
        if not self.sink_started:
            run([harness.POSTFIX_INSTANCE, "sink", self.pfdir, str(self.sink_port)])
            self.sink_started = True
        run([MASTER, "-c", self.etc, "-w"])
        self.master_started = True
        if not wait_port(self.smtpd_port, 20):
            raise RuntimeError("smtpd on %d does not answer" % self.smtpd_port)

    def start_daemon(self, prog):
        if prog not in self.bins:
            raise unittest.SkipTest("%s not built" % prog)
        short = prog.split("-", 1)[1]
        ddir = os.path.join(self.rundir, short)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        envdir = os.path.join(ddir, "env")
        for name in os.listdir(envdir):
            with open(os.path.join(envdir, name)) as f:
                env[name] = f.read().split("\n", 1)[0]
        rfd, wfd = os.pipe()
        cmd = [self.bins[prog], "--ready-fd", str(wfd), "--config",
               os.path.join(ddir, short + ".conf")]
        log = open(os.path.join(self.tmp, prog + ".log"), "ab")
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=env, pass_fds=(wfd,), cwd=self.tmp,
                                    start_new_session=True)
        finally:
            log.close()
            os.close(wfd)
        self.procs.append(proc)
        harness.write_pidfile(self.tmp, prog, proc.pid)
        try:
            if not harness.wait_ready_fd(rfd, proc, 15):
                raise RuntimeError("%s not ready:\n%s" % (prog, self.log(prog + ".log")))
        finally:
            os.close(rfd)

    def stop(self):
        if self.master_started:
            run([harness.POSTFIX_INSTANCE, "stop", self.pfdir], check=False)
            self.master_started = False
        for p in self.procs:
            harness.stop_group(p)
        self.procs = []

    def close(self):
        self.stop()
        if self.sink_started:
            run([harness.POSTFIX_INSTANCE, "sink-stop", self.pfdir], check=False)
        if self.failed or os.environ.get("POSTERN_IT_VERBOSE") == "1":
            import sys
            sys.stderr.write("\n===== generator output =====\n%s\n" % self.output)
            for name in ("pf/log/postfix.log", "postern-dkim.log", "postern-spf.log",
                         "postern-av.log", "postern-rcpt.log", "postern-greylist.log",
                         "postern-tables.log"):
                sys.stderr.write("\n===== %s =====\n%s\n" % (name, self.log(name)[-8000:]))
        if os.environ.get("POSTERN_IT_KEEP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self, name):
        try:
            with open(os.path.join(self.tmp, name), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- mail -------------------------------------------------------------------------------

    def send(self, mail_from, rcpt, body=None, xclient=None, helo="client.example.com"):
        """Send one message; return the queue id; SmtpError on a refusal."""
        body = body or ("From: <%s>\r\nTo: <%s>\r\nSubject: seed test\r\n"
                        "Message-ID: <%s@test>\r\n\r\nhello\r\n" % (mail_from, rcpt,
                                                                  time.monotonic_ns()))
        s = smtplib.SMTP("127.0.0.1", self.smtpd_port, local_hostname=helo, timeout=30)
        try:
            s.ehlo()
            if xclient:
                code, msg = s.docmd("XCLIENT", " ".join("%s=%s" % kv for kv in xclient.items()))
                if code != 220:
                    raise SmtpError("XCLIENT", code, msg.decode(errors="replace"))
                s.ehlo_resp = None
                s.ehlo()
            code, msg = s.mail(mail_from)
            if code != 250:
                raise SmtpError("MAIL", code, msg.decode(errors="replace"))
            code, msg = s.rcpt(rcpt)
            if code not in (250, 251):
                raise SmtpError("RCPT", code, msg.decode(errors="replace"))
            code, msg = s.data(body.encode())
            if code != 250:
                raise SmtpError("DATA", code, msg.decode(errors="replace"))
            return re.search(r"queued as (\w+)", msg.decode()).group(1)
        finally:
            try:
                s.quit()
            except Exception:
                s.close()

    def delivered(self, queue_id, timeout=30):
        """The sink's copy of queue_id's message."""
        needle = re.compile(rb"with E?SMTP id %s\b" % re.escape(queue_id.encode()))
        deadline = time.monotonic() + timeout
        sink = os.path.join(self.pfdir, "sink")
        while time.monotonic() < deadline:
            for path in sorted(glob.glob(os.path.join(sink, "*"))):
                if path in self._seen:
                    continue
                with open(path, "rb") as f:
                    if needle.search(f.read(65536)):
                        self._seen.add(path)
                        return Delivered(path)
            time.sleep(0.1)
        raise AssertionError("%s not delivered in %ss" % (queue_id, timeout))


class GatewayTest(MarksEnvFailed, unittest.TestCase):
    """One Gateway per test (each example needs its own configuration)."""

    def setUp(self):
        self.gw = Gateway(type(self).__name__.lower()[:12])
        self.env = None

    def failed_env(self):
        return self.gw

    def tearDown(self):
        self.gw.close()

    def assertRefused(self, mail_from, rcpt, stage="RCPT", code_class=5, **kw):
        with self.assertRaises(SmtpError) as cm:
            self.gw.send(mail_from, rcpt, **kw)
        self.assertEqual(cm.exception.stage, stage, str(cm.exception))
        self.assertEqual(cm.exception.code // 100, code_class, str(cm.exception))
        return cm.exception

    def assertRelayed(self, mail_from, rcpt, **kw):
        qid = self.gw.send(mail_from, rcpt, **kw)
        return self.gw.delivered(qid)


def dkim_verify(data, txt_by_name):
    """dkimpy verification with the given TXT records; list of (d, s, ok)."""
    keyring = harness.KeyRing.__new__(harness.KeyRing)
    keyring.keys = []
    for name, txt in txt_by_name.items():
        k = harness.Key.__new__(harness.Key)
        k.selector, _, k.domain = name.partition("._domainkey.")
        k.txt = txt
        keyring.keys.append(k)
    return harness.dkimpy_verify_all(data, keyring)


def zone_txt(path):
    """The TXT value of a zone-file snippet (opendkim-genkey / postern-dkim genkey .txt)."""
    with open(path) as f:
        zone = f.read()
    inner = zone[zone.index("(") + 1:zone.rindex(")")] if "(" in zone else zone
    return "".join(re.findall(r'"([^"]*)"', inner))


# ---------------------------------------------------------------------------------------------
# boky/postfix


class BokyTests(GatewayTest):
    """boky/postfix: ALLOWED_SENDER_DOMAINS, DKIM keys in /etc/opendkim/keys, RELAYHOST with
    login, MASQUERADED_DOMAINS, /docker-init.db hooks."""

    def test_tldr_relays_allowed_sender_domain_and_refuses_others(self):
        # docker run -e "ALLOWED_SENDER_DOMAINS=example.com" -p 1587:587 boky/postfix
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com"})
        self.assertEqual(self.gw.services(), ["postfix"])
        self.gw.start()
        self.assertRelayed("app@example.com", "someone@example.net")
        self.assertRefused("app@elsewhere.example", "someone@example.net")
        # a client outside MYNETWORKS may not relay even for an allowed sender domain
        self.assertRefused("app@example.com", "someone@example.net",
                           xclient={"ADDR": "203.0.113.9", "NAME": "[UNAVAILABLE]"})

    def test_dkim_keys_directory_signs_each_domain(self):
        # opendkim-genkey -s mail -d $DOMAIN; mv mail.private $DOMAIN.private;
        # -v /host/keys:/etc/opendkim/keys -e "ALLOWED_SENDER_DOMAINS=example.com example.org"
        keys = self.gw.path("/etc/opendkim/keys")
        os.makedirs(keys)
        txt = {}
        for domain in ("example.com", "example.org"):
            run(["/usr/sbin/opendkim-genkey", "-b", "2048", "-h", "rsa-sha256", "-r",
                 "--subdomains", "-s", "mail", "-d", domain, "-D", keys])
            os.rename(os.path.join(keys, "mail.private"), os.path.join(keys, domain + ".private"))
            os.rename(os.path.join(keys, "mail.txt"), os.path.join(keys, domain + ".txt"))
            txt["mail._domainkey." + domain] = zone_txt(os.path.join(keys, domain + ".txt"))
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com example.org"})
        self.assertEqual(self.gw.services(), ["postfix", "postern-dkim"])
        self.gw.start()
        for domain in ("example.com", "example.org"):
            m = self.assertRelayed("app@" + domain, "someone@example.net")
            tags = m.signature_tags()
            self.assertEqual([(t["d"], t["s"]) for t in tags], [(domain, "mail")])
            self.assertEqual(dkim_verify(m.data, txt), [(domain, "mail", True)])

    def test_relayhost_login_masquerade_and_init_hook(self):
        # -e RELAYHOST=... -e RELAYHOST_USERNAME=hello@gmail.com -e RELAYHOST_PASSWORD=world
        # (the password given as RELAYHOST_PASSWORD_FILE, a Docker secret)
        secret = self.gw.write("/run/secrets/relay", "world\n", 0o600)
        self.gw.write("/docker-init.db/additional-config.sh",
                      '#!/bin/sh\npostconf -e "address_verify_negative_cache=yes"\n')
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com example.org",
                          "MASQUERADED_DOMAINS": "example.com",
                          "RELAYHOST": "mail.google.com",
                          "RELAYHOST_USERNAME": "hello@gmail.com",
                          "RELAYHOST_PASSWORD_FILE": secret})
        maps = self.gw.main_cf("smtp_sasl_password_maps")
        self.assertTrue(maps.startswith("texthash:"), maps)
        path = maps[len("texthash:"):]
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path) as f:
            self.assertEqual(f.read().split(), ["[127.0.0.1]:%d" % self.gw.sink_port,
                                                "hello@gmail.com:world"])
        self.assertEqual(self.gw.main_cf("smtp_sasl_auth_enable"), "yes")
        # the hook's postconf -e reached the generated main.cf
        p = run(["/usr/sbin/postconf", "-c", self.gw.etc, "-n", "address_verify_negative_cache"])
        self.assertEqual(p.stdout.strip(), "address_verify_negative_cache = yes")
        self.gw.start()
        m = self.assertRelayed("lorem@ipsum.example.com", "someone@example.net")
        # address masquerading: envelope sender and From: lose the host part
        self.assertTrue(m.envelope.get("X-Mail-Args", "").startswith("<lorem@example.com>"),
                        m.envelope)
        self.assertEqual(m.message["From"], "<lorem@example.com>")


    def test_debian_chroot(self):
        # POSTERN_POSTFIX_CHROOT=yes: Debian's chroot, filled by configure-instance.sh
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com",
                          "POSTERN_POSTFIX_CHROOT": "yes"})
        master = run(["/usr/sbin/postconf", "-c", self.gw.etc, "-F", "smtp/unix/chroot",
                      "127.0.0.1:%d/inet/chroot" % self.gw.smtpd_port]).stdout
        self.assertEqual(master.split(), ["127.0.0.1:%d/inet/chroot" % self.gw.smtpd_port,
                                          "=", "y", "smtp/unix/chroot", "=", "y"])
        queue = os.path.join(self.gw.pfdir, "queue")
        for f in ("etc/resolv.conf", "etc/services", "etc/hosts"):
            self.assertTrue(os.path.isfile(os.path.join(queue, f)), f)
        self.gw.start()
        self.assertRelayed("app@example.com", "someone@example.net")


# ---------------------------------------------------------------------------------------------
# mikenye/postfix


def mikenye_placeholders(env):
    out = {}
    for k, v in env.items():
        v = v.replace("yourdomain.tld", "example.com")
        v = v.replace("your.local.LAN.subnet/prefix", "127.0.0.0/8")
        v = v.replace("your.external.IP.address", "192.0.2.1")
        v = v.replace("exchange.server.IP.addr", "192.0.2.25")
        out[k] = v
    return out


def self_signed(gw, directory):
    key = gw.path(directory + "/privkey.pem")
    cert = gw.path(directory + "/fullchain.pem")
    os.makedirs(os.path.dirname(key), exist_ok=True)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=mail.example.com", "-keyout", key, "-out", cert])
    return key, cert


class MikenyeTests(GatewayTest):
    """mikenye/postfix's mail_out and mail_in compose services."""

    MAIL_OUT = {
        "TZ": "Australia/Perth",
        "POSTMASTER_EMAIL": "postmaster@yourdomain.tld",
        "POSTFIX_INET_PROTOCOLS": "ipv4",
        "POSTFIX_MYORIGIN": "mail.yourdomain.tld",
        "POSTFIX_PROXY_INTERFACES": "your.external.IP.address",
        "POSTFIX_MYNETWORKS": "your.local.LAN.subnet/prefix",
        "POSTFIX_MYDOMAIN": "yourdomain.tld",
        "POSTFIX_MYHOSTNAME": "mail.yourdomain.tld",
        "POSTFIX_MAIL_NAME": "outbound",
        "POSTFIX_SMTPD_TLS_CHAIN_FILES": "/etc/postfix/certs/privkey.pem, "
                                         "/etc/postfix/certs/fullchain.pem",
        "POSTFIX_SMTP_TLS_CHAIN_FILES": "/etc/postfix/certs/privkey.pem, "
                                        "/etc/postfix/certs/fullchain.pem",
        "POSTFIX_SMTPD_TLS_SECURITY_LEVEL": "may",
        "POSTFIX_SMTPD_TLS_LOGLEVEL": "1",
        "POSTFIX_REJECT_INVALID_HELO_HOSTNAME": "false",
        "POSTFIX_REJECT_NON_FQDN_HELO_HOSTNAME": "false",
        "POSTFIX_REJECT_UNKNOWN_HELO_HOSTNAME": "false",
        "ENABLE_OPENDKIM": "true",
        "OPENDKIM_SIGNINGTABLE": "/etc/mail/dkim/SigningTable",
        "OPENDKIM_KEYTABLE": "/etc/mail/dkim/KeyTable",
        "OPENDKIM_MODE": "s",
        "OPENDKIM_INTERNALHOSTS": "your.local.LAN.subnet/prefix",
        "OPENDKIM_LOGRESULTS": "true",
        "OPENDKIM_LOGWHY": "true",
        "ENABLE_CLAMAV": "true",
        "CLAMAV_MILTER_REPORT_HOSTNAME": "mail.yourdomain.tld",
    }

    def mail_out_env(self):
        """mail_out with the container paths under the test root."""
        env = mikenye_placeholders(self.MAIL_OUT)
        for k in ("POSTFIX_SMTPD_TLS_CHAIN_FILES", "POSTFIX_SMTP_TLS_CHAIN_FILES"):
            env[k] = ", ".join(self.gw.path(p.strip()) for p in env[k].split(","))
        for k in ("OPENDKIM_SIGNINGTABLE", "OPENDKIM_KEYTABLE"):
            env[k] = self.gw.path(env[k])
        return env

    def test_mail_out_needs_postern_av_for_enable_clamav(self):
        self_signed(self.gw, "/etc/postfix/certs")
        self.gw.bins.pop("postern-av", None)      # not on the generator's PATH
        p = self.gw.generate(self.mail_out_env(), check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("ENABLE_CLAMAV=true: postern-av is not installed in this image",
                      p.stdout)

    def test_mail_out_signs_from_key_table(self):
        self_signed(self.gw, "/etc/postfix/certs")
        # opendkim-genkey --selector=sales-201309-1024 --domain=example.com, KeyTable and
        # SigningTable in /etc/mail/dkim as mikenye's README describes
        d = self.gw.path("/etc/mail/dkim")
        os.makedirs(d)
        run(["/usr/sbin/opendkim-genkey", "-b", "1024", "-s", "sales-201309-1024",
             "-d", "example.com", "-D", d])
        key = os.path.join(d, "sales-201309-1024.private")
        self.gw.write("/etc/mail/dkim/KeyTable",
                      "k1 example.com:sales-201309-1024:%s\n" % key)
        self.gw.write("/etc/mail/dkim/SigningTable", "*@example.com k1\n")
        env = self.mail_out_env()
        del env["ENABLE_CLAMAV"]
        self.gw.generate(env)
        self.assertEqual(self.gw.main_cf("mail_name"), "outbound")
        self.assertEqual(self.gw.main_cf("myhostname"), "mail.example.com")
        self.assertEqual(self.gw.main_cf("mynetworks"), "127.0.0.0/8")
        self.assertEqual(self.gw.main_cf("smtpd_tls_security_level"), "may")
        self.gw.start()
        m = self.assertRelayed("someone@example.com", "friend@example.net")
        self.assertEqual(dkim_verify(m.data, {
            "sales-201309-1024._domainkey.example.com":
                zone_txt(os.path.join(d, "sales-201309-1024.txt"))}),
            [("example.com", "sales-201309-1024", True)])
        # inbound mail from the Internet to another domain is not relayed
        self.assertRefused("x@example.org", "y@example.net",
                           xclient={"ADDR": "203.0.113.9", "NAME": "mx.example.org"})

    def test_mail_in_relays_for_relay_domains_with_spf(self):
        env = mikenye_placeholders({
            "POSTMASTER_EMAIL": "postmaster@yourdomain.tld",
            "POSTFIX_INET_PROTOCOLS": "ipv4",
            "POSTFIX_MYORIGIN": "mail.yourdomain.tld",
            "POSTFIX_PROXY_INTERFACES": "your.external.IP.address",
            "POSTFIX_MYDOMAIN": "yourdomain.tld",
            "POSTFIX_MYHOSTNAME": "mail.yourdomain.tld",
            "POSTFIX_MAIL_NAME": "inbound",
            "POSTFIX_RELAYHOST": "exchange.server.IP.addr",
            "POSTFIX_RELAY_DOMAINS": "yourdomain.tld,someotherdomain.tld",
            "POSTFIX_DNSBL_SITES": "hostkarma.junkemailfilter.com=127.0.0.2, bl.spamcop.net, "
                                   "cbl.abuseat.org=127.0.0.2, zen.spamhaus.org",
            "ENABLE_SUBMISSION_PORT": "true",
            "ENABLE_SPF": "true",
        })
        if "postern-spf" not in self.gw.bins:
            self.skipTest("postern-spf not built")
        env["POSTERN_SPF_DNS_SERVER"] = "127.0.0.1@%d" % self.gw.dns_port
        zone = harness.ZoneServer(self.gw.tmp, self.gw.dns_port, {
            "spf-fail.example": {"TXT": ["v=spf1 -all"]},
            "spf-pass.example": {"TXT": ["v=spf1 ip4:203.0.113.0/24 -all"]},
        })
        zone.start()
        try:
            self.gw.generate(env)
            self.assertEqual(self.gw.services(), ["postfix", "postern-spf"])
            self.assertIn("postscreen", run(["/usr/sbin/postconf", "-c", self.gw.etc,
                                             "-M"]).stdout)
            self.gw.start()
            internet = {"ADDR": "203.0.113.9", "NAME": "mx.spf-pass.example"}
            self.assertRelayed("a@spf-pass.example", "user@example.com", xclient=internet)
            self.assertRefused("a@spf-pass.example", "user@example.net", xclient=internet)
            e = self.assertRefused("a@spf-fail.example", "user@example.com", xclient=internet)
            self.assertIn("SPF", e.msg)
        finally:
            zone.stop()


class MikenyeAliasesTests(GatewayTest):
    """mikenye/postfix's local aliases: /etc/postfix/local_aliases/aliases (aliases(5)) merged
    with the system aliases (postmaster, root, postfix, clamav -> POSTMASTER_EMAIL). The gateway
    has no local delivery, so they are a virtual_alias_maps table for NAME@myhostname; mail for
    them is relayed to the targets. update_aliases (deploy/postern-reload) rereads the file and
    reloads Postfix; a file with a |command alias is refused with its line."""

    MAIL_OUT = {
        "POSTMASTER_EMAIL": "postmaster@yourdomain.tld",
        "POSTFIX_MYDOMAIN": "yourdomain.tld",
        "POSTFIX_MYHOSTNAME": "mail.yourdomain.tld",
        "POSTFIX_MYNETWORKS": "your.local.LAN.subnet/prefix",
    }

    @staticmethod
    def rcpts(m):
        with open(m.path, "rb") as f:
            return sorted(re.findall(rb"^X-Rcpt-Args: <([^>]*)>", f.read(), re.M))

    def update_aliases(self, env):
        """deploy/postern-reload under mikenye's helper name, as docker exec would run it."""
        helper = os.path.join(self.gw.tmp, "update_aliases")
        if not os.path.exists(helper):
            os.symlink(os.path.join(harness.REPO, "deploy", "postern-reload"), helper)
        e = self.gw.test_env(env)
        e.update({"POSTERN_RUN_DIR": self.gw.rundir, "POSTFIX_CONFIG_DIR": self.gw.etc,
                  "POSTERN_CONFIG": GENERATOR,
                  "POSTERN_CONFIG_ARGS": "--root %s --queue-dir %s --data-dir %s" % (
                      self.gw.root, os.path.join(self.gw.pfdir, "queue"),
                      os.path.join(self.gw.pfdir, "data"))})
        return subprocess.run([helper], env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)

    def test_local_aliases_and_update_aliases(self):
        aliases = self.gw.write("/etc/postfix/local_aliases/aliases",
                                "# mikenye's local aliases\n"
                                "webmaster: web@example.net,\n\tops@example.net\n"
                                "Root: admin\n"
                                "admin: admin@example.net\n")
        env = mikenye_placeholders(self.MAIL_OUT)
        self.gw.generate(env)
        self.assertEqual(self.gw.main_cf("virtual_alias_maps"),
                         "texthash:" + os.path.join(self.gw.rundir, "aliases", "aliases"))
        self.gw.start()
        for rcpt, want in (("postmaster@mail.example.com", [b"postmaster@example.com"]),
                           ("clamav@mail.example.com", [b"postmaster@example.com"]),
                           ("webmaster@mail.example.com", [b"ops@example.net",
                                                           b"web@example.net"]),
                           # root: the local file wins; admin is an alias too (recursive)
                           ("root@mail.example.com", [b"admin@example.net"])):
            self.assertEqual(self.rcpts(self.assertRelayed("app@example.com", rcpt)), want, rcpt)
        # a name the file does not have yet is relayed as it is
        self.assertEqual(self.rcpts(self.assertRelayed("app@example.com",
                                                       "sales@mail.example.com")),
                         [b"sales@mail.example.com"])
        with open(aliases, "a") as f:
            f.write("sales: sales@example.net\n")
        p = self.update_aliases(env)
        self.assertEqual(p.returncode, 0, p.stdout)
        deadline = time.monotonic() + 15
        while True:     # `postfix reload`: new cleanup processes read the new table
            got = self.rcpts(self.assertRelayed("app@example.com", "sales@mail.example.com"))
            if got == [b"sales@example.net"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(got, [b"sales@example.net"])
        # a bad line: update_aliases fails with the line, the running aliases stay
        with open(aliases, "a") as f:
            f.write("backup: |/usr/bin/backup-mail\n")
        p = self.update_aliases(env)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("%s:7: alias 'backup' -> '|/usr/bin/backup-mail': this gateway has no "
                      "local delivery" % aliases, p.stdout)
        self.assertEqual(self.rcpts(self.assertRelayed("app@example.com",
                                                       "sales@mail.example.com")),
                         [b"sales@example.net"])

    def test_aliases_refusals(self):
        for text, needle in (("nobody@example.com: x@example.net\n",
                              ":1: alias name 'nobody@example.com': an aliases(5) name is a "
                              "local part"),
                             ("  x@example.net\n", ":1: a continuation line with no entry"),
                             ("ops:\n", ":1: alias 'ops' has no target"),
                             ("ops: :include:/etc/ops\n", ":1: alias 'ops' -> ':include:"),
                             ("ops: a@@example.net\n", "is not an address"),
                             ("just words\n", "is not 'name: address, ...'")):
            self.gw.write("/etc/postfix/local_aliases/aliases", text)
            p = self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com"}, check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(needle, p.stdout)
            self.assertIn("local_aliases/aliases", p.stdout)


class MikenyeScanVerifyTests(GatewayTest):
    """mikenye/postfix's mail_in with ENABLE_CLAMAV (postern-av) and ENABLE_LDAP_RECIPIENT_ACCESS
    (postern-rcpt, its POSTFIX_LDAP_* variables against a real slapd), through a real Postfix:
    EICAR is rejected with a database the test generates, known recipients pass, unknown ones
    get 450, relaying elsewhere is refused before the directory is asked. ENABLE_OPENDKIM,
    ENABLE_SPF and ENABLE_POSTGREY of the example are left out (tested above; postern-greylist
    is not in the image); freshclam is off (no network in tests)."""

    def setUp(self):
        super().setUp()
        b = self.gw.base
        self.gw.ports = {"postern-av": (b + 2, b + 3), "postern-rcpt": (b + 4, b + 5)}
        self.slapd = None

    def tearDown(self):
        if self.slapd:
            self.slapd.stop()
        super().tearDown()

    def mail_in_env(self):
        from slapd_server import SlapdServer, user_ldif
        for prog in ("postern-av", "postern-rcpt"):
            if prog not in self.gw.bins:
                self.skipTest("%s not built" % prog)
        self.slapd = SlapdServer(self.gw.tmp, self.gw.base + 6, ldif=(
            user_ldif("alice", "alice@example.org") + user_ldif("bob", "bob@example.org")))
        self.slapd.start()
        pw = self.gw.write("/run/secrets/ldap_pw", self.slapd.reader_password + "\n", 0o600)
        db = os.path.join(self.gw.tmp, "clamav")
        from test_av_postfix import make_db
        make_db(db, synthetic=0)
        env = mikenye_placeholders({
            "POSTMASTER_EMAIL": "postmaster@yourdomain.tld",
            "POSTFIX_INET_PROTOCOLS": "ipv4",
            "POSTFIX_MYORIGIN": "mail.yourdomain.tld",
            "POSTFIX_PROXY_INTERFACES": "your.external.IP.address",
            "POSTFIX_MYDOMAIN": "yourdomain.tld",
            "POSTFIX_MYHOSTNAME": "mail.yourdomain.tld",
            "POSTFIX_MAIL_NAME": "inbound",
            "POSTFIX_RELAYHOST": "exchange.server.IP.addr",
            "POSTFIX_RELAY_DOMAINS": "example.org,someotherdomain.tld",
            "POSTFIX_MESSAGE_SIZE_LIMIT": "2000000",
            "ENABLE_SUBMISSION_PORT": "true",
            "ENABLE_CLAMAV": "true",
            "CLAMAV_MILTER_REPORT_HOSTNAME": "mail.yourdomain.tld",
            "ENABLE_LDAP_RECIPIENT_ACCESS": "true",
            "POSTFIX_LDAP_SERVERS": "127.0.0.1:%d" % self.slapd.port,
            "POSTFIX_LDAP_BIND_DN": self.slapd.reader_dn,
            "POSTFIX_LDAP_BIND_PW_FILE": pw,
            "POSTFIX_LDAP_SEARCH_BASE": self.slapd.suffix,
        })
        env["ENABLE_FRESHCLAM"] = "false"
        env["POSTERN_AV_DATABASE"] = db
        return env

    def conf(self, daemon):
        with open(os.path.join(self.gw.rundir, daemon, daemon + ".conf")) as f:
            return dict(l.split(" = ", 1) for l in f.read().splitlines()
                        if l and not l.startswith("#"))

    def rcpt_answers(self):
        import urllib.request
        port = self.gw.ports["postern-rcpt"][1]
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
        return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
                   if l.startswith("postern_rcpt_answers_total"))

    def test_mail_in_scans_and_verifies_recipients(self):
        self.gw.generate(self.mail_in_env())
        self.assertEqual(self.gw.services(), ["postfix", "postern-av", "postern-rcpt"])
        av, rcpt = self.conf("av"), self.conf("rcpt")
        self.assertEqual(av["max-size"], "2000000")                 # = message_size_limit
        self.assertEqual(rcpt["relay-domains"],
                         "example.org .example.org someotherdomain.tld .someotherdomain.tld")
        self.assertEqual(rcpt["ldap-servers"], "ldap://127.0.0.1:%d" % self.slapd.port)
        pwfile = rcpt["ldap-bind-password-file"]
        self.assertEqual(os.stat(pwfile).st_mode & 0o777, 0o600)
        for path in glob.glob(os.path.join(self.gw.rundir, "rcpt", "*.conf")) + [
                os.path.join(self.gw.etc, "main.cf")]:
            with open(path) as f:
                self.assertNotIn(self.slapd.reader_password, f.read(), path)
        milter, policy = self.gw.ports["postern-av"][0], self.gw.ports["postern-rcpt"][0]
        self.assertEqual(self.gw.main_cf("smtpd_milters"), "inet:127.0.0.1:%d" % milter)
        self.assertEqual(self.gw.main_cf("smtpd_recipient_restrictions"),
                         "check_policy_service inet:127.0.0.1:%d, permit" % policy)
        self.assertIn("reject_unauth_destination", self.gw.main_cf("smtpd_relay_restrictions"))
        self.assertEqual(self.gw.main_cf("smtpd_relay_before_recipient_restrictions"), "yes")
        self.gw.start()
        internet = {"ADDR": "203.0.113.9", "NAME": "mx.example.net"}
        m = self.assertRelayed("a@example.net", "alice@example.org", xclient=internet)
        self.assertIn(b"X-Virus-Status: Clean", m.data)
        e = self.assertRefused("a@example.net", "nobody@example.org", code_class=4,
                               xclient=internet)
        self.assertEqual(e.code, 450, str(e))
        self.assertIn("4.1.1 <nobody@example.org>: Recipient address rejected: User unknown",
                      e.msg)
        # relaying to another domain is refused by reject_unauth_destination before the
        # policy service is asked: the directory sees nothing
        before = self.rcpt_answers()
        e = self.assertRefused("a@example.net", "user@example.net", xclient=internet)
        self.assertIn("Relay access denied", e.msg)
        self.assertEqual(self.rcpt_answers(), before)
        from test_av_postfix import EICAR
        eicar = ("From: <a@example.net>\r\nTo: <bob@example.org>\r\nSubject: eicar\r\n"
                 "Message-ID: <eicar@test>\r\n\r\n%s\r\n" % EICAR.decode())
        e = self.assertRefused("a@example.net", "bob@example.org", stage="DATA",
                               body=eicar, xclient=internet)
        self.assertEqual(e.code, 550, str(e))
        self.assertIn("Virus found: Postern.Test.EICAR", e.msg)

    def test_freshclam_and_refusals(self):
        env = mikenye_placeholders({
            "POSTFIX_RELAY_DOMAINS": "yourdomain.tld", "ENABLE_CLAMAV": "true",
            "FRESHCLAM_CHECKS_PER_DAY": "4", "FRESHCLAM_DB_MIRROR": "mirror.example.net"})
        if "postern-av" not in self.gw.bins:
            self.skipTest("postern-av not built")
        if shutil.which("freshclam"):
            # freshclam on by default where installed (mikenye runs it with ClamAV)
            self.gw.generate(env, check=True)
            self.assertEqual(self.gw.services(), ["postfix", "postern-av", "freshclam"])
            with open(os.path.join(self.gw.rundir, "freshclam", "freshclam.conf")) as f:
                conf = f.read()
            for line in ("DatabaseDirectory /var/lib/clamav", "Checks 4",
                         "DatabaseMirror mirror.example.net"):
                self.assertIn(line + "\n", conf)
            self.assertEqual(self.conf("av")["max-size"], "10240000")
        p = self.gw.generate(dict(env, FRESHCLAM_CHECKS_PER_DAY="often"), check=False)
        self.assertIn("FRESHCLAM_CHECKS_PER_DAY='often'", p.stdout)
        # postern-rcpt: a directory is needed, relay_domains must be names it can read,
        # the final action is defer or reject
        if "postern-rcpt" not in self.gw.bins:
            self.skipTest("postern-rcpt not built")
        rcpt = {"POSTFIX_RELAY_DOMAINS": "example.org", "ENABLE_RECIPIENT_VERIFY": "1",
                "POSTFIX_LDAP_SERVERS": "127.0.0.1", "POSTFIX_LDAP_SEARCH_BASE": "dc=x"}
        for extra, needle in (
                ({"POSTFIX_LDAP_SERVERS": ""}, "needs a directory: set POSTFIX_LDAP_SERVERS"),
                ({"POSTFIX_RELAY_DOMAINS": "hash:/etc/postfix/relay"},
                 "list the domains in POSTERN_RCPT_RELAY_DOMAINS"),
                ({"POSTFIX_RELAY_DOMAINS": "", "MYNETWORKS": "127.0.0.0/8"},
                 "relay_domains is empty"),
                ({"POSTFIX_CHECK_RECIPIENT_ACCESS_FINAL_ACTION": "permit"},
                 "defer (450) or reject (550)"),
                ({"POSTFIX_LDAP_VERSION": "2"}, "LDAP version 3 only")):
            e = dict(rcpt, **extra)
            p = self.gw.generate({k: v for k, v in e.items() if v}, check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(needle, p.stdout)
        # mikenye's recipient_access.hash is consulted first, then the directory; the final
        # action becomes postern-rcpt's answer for unknown recipients
        self.gw.write("/etc/postfix/tables/recipient_access.hash", "x@example.org OK\n")
        self.gw.generate(dict(rcpt, POSTFIX_CHECK_RECIPIENT_ACCESS_FINAL_ACTION="reject"))
        self.assertRegex(self.gw.main_cf("smtpd_recipient_restrictions"),
                         r"^check_recipient_access hash:\S+recipient_access.hash, "
                         r"check_policy_service inet:127.0.0.1:\d+, permit$")
        self.assertEqual(self.conf("rcpt")["final-action"], "reject")
        self.assertEqual(self.conf("rcpt")["access-table"],
                         os.path.join(self.gw.rundir, "tables", "recipient_access.hash"))
        # with boky's ALLOWED_SENDER_DOMAINS the policy service comes before the sender class
        # (inside it Postfix would word the 450 as a sender rejection)
        self.gw.generate(dict(rcpt, ALLOWED_SENDER_DOMAINS="example.com"))
        self.assertRegex(self.gw.main_cf("smtpd_recipient_restrictions"),
                         r"^check_policy_service inet:127.0.0.1:\d+, check_sender_access "
                         r"inline:\{ example.com=postern_allowed_sender \}, reject$")
        self.assertNotIn("check_policy_service", self.gw.main_cf("postern_allowed_sender"))


class MikenyeGreylistTests(GatewayTest):
    """mikenye/postfix's mail_in with ENABLE_POSTGREY: postern-greylist (its LMDB store in the
    state volume /var/lib/postern, mikenye's /etc/postgrey/postgrey_whitelist_clients.local)
    through a real Postfix. The delay is POSTERN_GREYLIST_DELAY=1 (postgrey's 300 s would make a
    slow test): the first attempt gets 450, the retry after the delay is relayed with
    X-Greylist, a whitelisted client and mynetworks pass at once; SIGHUP (what
    update_postgrey_whitelist sends through s6) rereads the whitelist."""

    def setUp(self):
        super().setUp()
        b = self.gw.base
        self.gw.ports = {"postern-greylist": (b + 2, b + 3)}

    def conf(self):
        with open(os.path.join(self.gw.rundir, "greylist", "greylist.conf")) as f:
            return [tuple(l.split(" = ", 1)) for l in f.read().splitlines()
                    if l and not l.startswith("#")]

    def test_mail_in_greylists_first_attempt(self):
        if "postern-greylist" not in self.gw.bins:
            self.skipTest("postern-greylist not built")
        wl = self.gw.write("/etc/postgrey/postgrey_whitelist_clients.local",
                           "# mikenye's local whitelist\n198.51.100.7\n")
        env = mikenye_placeholders({
            "POSTMASTER_EMAIL": "postmaster@yourdomain.tld",
            "POSTFIX_MYDOMAIN": "yourdomain.tld",
            "POSTFIX_MYHOSTNAME": "mail.yourdomain.tld",
            "POSTFIX_MYNETWORKS": "your.local.LAN.subnet/prefix",
            "POSTFIX_RELAYHOST": "exchange.server.IP.addr",
            "POSTFIX_RELAY_DOMAINS": "example.org,someotherdomain.tld",
            "ENABLE_POSTGREY": "true",
        })
        env["POSTERN_GREYLIST_DELAY"] = "1"
        self.gw.generate(env)
        self.assertEqual(self.gw.services(), ["postfix", "postern-greylist",
                                              "postgrey-whitelist-update"])
        conf = self.conf()
        store = self.gw.path("/var/lib/postern/greylist")
        self.assertIn(("store", "lmdb:" + store), conf)
        self.assertTrue(os.path.isdir(store))
        self.assertIn(("whitelist-clients", self.gw.path(
            "/var/lib/postern/postgrey/postgrey_whitelist_clients")), conf)
        self.assertIn(("whitelist-clients", wl), conf)
        self.assertIn(("skip-networks", "127.0.0.0/8"), conf)
        policy = self.gw.ports["postern-greylist"][0]
        self.assertEqual(self.gw.main_cf("smtpd_recipient_restrictions"),
                         "check_policy_service inet:127.0.0.1:%d, permit" % policy)
        self.assertEqual(self.gw.main_cf("smtpd_relay_before_recipient_restrictions"), "yes")
        self.gw.start()
        internet = {"ADDR": "203.0.113.9", "NAME": "mx.example.net"}
        e = self.assertRefused("a@example.net", "alice@example.org", code_class=4,
                               xclient=internet)
        self.assertEqual(e.code, 450, str(e))
        self.assertIn("4.7.1", e.msg)
        self.assertIn("Greylisted", e.msg)
        # relaying elsewhere is refused before the greylist is asked (no triplet stored)
        e = self.assertRefused("a@example.net", "user@example.net", xclient=internet)
        self.assertIn("Relay access denied", e.msg)
        # mynetworks and the whitelisted client pass at once
        self.assertRelayed("app@example.com", "alice@example.org")
        self.assertRelayed("a@example.net", "alice@example.org",
                           xclient={"ADDR": "198.51.100.7", "NAME": "mx.example.net"})
        time.sleep(2.2)
        m = self.assertRelayed("a@example.net", "alice@example.org", xclient=internet)
        self.assertIn(b"X-Greylist: delayed ", m.data)
        # the store is in the state volume: the LMDB files are there
        self.assertTrue(os.listdir(store), store)
        # update_postgrey_whitelist: s6-svc -h, i.e. SIGHUP, rereads the file
        other = {"ADDR": "192.0.2.99", "NAME": "mx2.example.net"}
        self.assertRefused("b@example.net", "bob@example.org", code_class=4, xclient=other)
        with open(wl, "a") as f:
            f.write("192.0.2.99\n")
        self.gw.procs[0].send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.gw.send("c@example.net", "bob@example.org", xclient=other)
                break
            except SmtpError as err:
                if err.code != 450 or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def test_store_directory_must_be_writable(self):
        if "postern-greylist" not in self.gw.bins:
            self.skipTest("postern-greylist not built")
        self.gw.write("/var/lib/postern", "not a directory\n")
        p = self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com",
                              "ENABLE_GREYLIST": "true"}, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("cannot make the greylist store directory", p.stdout)
        self.assertIn("/var/lib/postern", p.stdout)


class ListServer:
    """python's http.server on 127.0.0.1:port serving one file, NAME, whose body the test
    sets (.body = bytes; None: 404)."""

    NAME = "/pub/postgrey_whitelist_clients"

    def __init__(self, port):
        import http.server
        import threading
        outer = self
        self.body = None
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                body = outer.body
                if self.path != outer.NAME or body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.url = "http://127.0.0.1:%d%s" % (port, self.NAME)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def policy_action(port, client_address, client_name="mx.example.net",
                  recipient="alice@example.org"):
    """One Postfix policy delegation request (RCPT) to 127.0.0.1:port; its action= value."""
    import socket
    req = ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
           "client_address=%s\nclient_name=%s\nreverse_client_name=%s\n"
           "helo_name=%s\nsender=a@example.net\nrecipient=%s\ninstance=%s\n\n"
           % (client_address, client_name, client_name, client_name, recipient,
              time.monotonic_ns()))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req.encode())
        data = b""
        while not data.endswith(b"\n\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    m = re.search(r"^action=(.*)$", data.decode(), re.M)
    return m.group(1) if m else data.decode()


class MikenyeWhitelistUpdateTests(GatewayTest):
    """mikenye's postgrey_whitelist_update: with ENABLE_POSTGREY the s6 longrun
    postgrey-whitelist-update downloads postgrey's system whitelist (POSTGREY_WHITELIST_URL;
    here a local HTTP server, +7) into the state volume, keeps it only when postern-greylist
    loads it and it has entries, and makes postern-greylist reread it (s6-svc -h). Run under
    plain s6 with deploy/s6-scandir, a round each second (POSTGREY_WHITELIST_UPDATE_INTERVAL);
    postern-greylist is asked directly over the policy protocol."""

    def setUp(self):
        super().setUp()
        b = self.gw.base
        self.gw.ports = {"postern-greylist": (b + 2, b + 3)}
        if "postern-greylist" not in self.gw.bins:
            self.skipTest("postern-greylist not built")
        self.http = ListServer(b + 7)
        self.addCleanup(self.http.stop)
        self.wl = self.gw.path("/var/lib/postern/postgrey/postgrey_whitelist_clients")
        self.scan = None

    def tearDown(self):
        if self.scan:
            run([S6_SCANDIR, "stop", self.scan], check=False)
        super().tearDown()

    def wl_env(self, **extra):
        env = {"POSTFIX_RELAY_DOMAINS": "example.org", "ENABLE_POSTGREY": "true",
               "POSTGREY_WHITELIST_URL": self.http.url}
        env.update(extra)
        return env

    def helper(self, *args):
        e = {"PATH": ":".join([os.path.dirname(self.gw.bins["postern-greylist"]),
                               "/usr/sbin", "/usr/bin", "/bin"])}
        return subprocess.run([PY, os.path.join(harness.REPO, "deploy",
                                                "postgrey-whitelist-update"),
                               "--url", self.http.url, "--file", self.wl,
                               "--service", os.path.join(self.gw.tmp, "no-such-service")]
                              + list(args), env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)

    def read_wl(self):
        with open(self.wl, "rb") as f:
            return f.read()

    def test_helper_keeps_old_list_on_bad_download(self):
        self.gw.generate(self.wl_env())
        self.assertEqual(self.gw.services(), ["postfix", "postern-greylist",
                                              "postgrey-whitelist-update"])
        placeholder = self.read_wl()
        self.assertTrue(placeholder.startswith(b"# postgrey's system whitelist"))
        good = b"# postgrey whitelist\n192.0.2.10\n.example.net\n/^mx[0-9]+\\.example\\.com$/\n"
        for body, needle in (
                (None, "HTTP 404"),
                (b"", "no entries"),
                (b"# nothing but comments\n\n", "no entries"),
                (b"<html>\n<head><title>Maintenance</title></head>\n</html>\n",
                 "postern-greylist does not load it: %s:2: " % self.http.url),
                (b"192.0.2.10\n/[unclosed/\n", "bad regular expression")):
            self.http.body = body
            p = self.helper()
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn("kept %s: " % self.wl, p.stdout)
            self.assertIn(needle, p.stdout)
            self.assertEqual(self.read_wl(), placeholder)
        self.http.body = good
        p = self.helper()
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("replaced %s from %s" % (self.wl, self.http.url), p.stdout)
        self.assertIn("postern-greylist is not running here", p.stdout)
        self.assertEqual(self.read_wl(), good)
        self.assertEqual(oct(os.stat(self.wl).st_mode & 0o777), "0o644")
        p = self.helper()
        self.assertEqual(p.returncode, 3, p.stdout)
        self.assertIn("up to date", p.stdout)
        self.http.body = b"garbage line with spaces\n"
        self.assertEqual(self.helper().returncode, 1)
        self.assertEqual(self.read_wl(), good)
        # no temp files left beside it
        self.assertEqual(os.listdir(os.path.dirname(self.wl)), ["postgrey_whitelist_clients"])

    def test_switches_and_refusals(self):
        p = self.gw.generate(self.wl_env(ENABLE_POSTGREY_WHITELIST_UPDATE="false"))
        self.assertEqual(self.gw.services(), ["postfix", "postern-greylist"])
        self.assertFalse(os.path.isdir(os.path.join(self.gw.rundir, "postgrey-whitelist-update",
                                                    "env")))
        mounted = self.gw.write("/etc/postgrey/postgrey_whitelist_clients", "192.0.2.1\n")
        p = self.gw.generate(self.wl_env())
        self.assertEqual(self.gw.services(), ["postfix", "postern-greylist"])
        self.assertIn("is mounted: it is the system whitelist (no daily download)", p.stdout)
        os.unlink(mounted)
        for extra, needle in (
                ({"POSTGREY_WHITELIST_URL": "ftp://example.net/list"},
                 "POSTGREY_WHITELIST_URL='ftp://example.net/list': want an http:// or https://"),
                ({"POSTGREY_WHITELIST_UPDATE_INTERVAL": "daily"},
                 "POSTGREY_WHITELIST_UPDATE_INTERVAL='daily': want a number of seconds"),
                ({"ENABLE_POSTGREY_WHITELIST_UPDATE": "maybe"},
                 "ENABLE_POSTGREY_WHITELIST_UPDATE='maybe': want true or false")):
            p = self.gw.generate(self.wl_env(**extra), check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(needle, p.stdout)
        # a state volume it cannot write: the default-on download is skipped with a note, an
        # explicit switch refuses (the store elsewhere, so greylisting itself can start)
        shutil.rmtree(self.gw.path("/var/lib/postern"))
        blocker = self.gw.write("/var/lib/postern", "not a directory\n")
        store = "lmdb:" + os.path.join(self.gw.tmp, "store")
        os.makedirs(store[5:])
        p = self.gw.generate(self.wl_env(POSTERN_GREYLIST_STORE=store))
        self.assertEqual(self.gw.services(), ["postfix", "postern-greylist"])
        self.assertIn("cannot make the system whitelist's directory", p.stdout)
        self.assertIn("no daily download", p.stdout)
        p = self.gw.generate(self.wl_env(POSTERN_GREYLIST_STORE=store,
                                         ENABLE_POSTGREY_WHITELIST_UPDATE="true"), check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("error: %s: cannot make the system whitelist's directory"
                      % self.gw.path("/var/lib/postern/postgrey"), p.stdout)
        os.unlink(blocker)
        self.gw.generate(self.wl_env())
        env_dir = os.path.join(self.gw.rundir, "postgrey-whitelist-update", "env")
        with open(os.path.join(env_dir, "POSTGREY_WHITELIST_UPDATE_INTERVAL")) as f:
            self.assertEqual(f.read(), "86400\n")
        with open(os.path.join(env_dir, "POSTGREY_WHITELIST_FILE")) as f:
            self.assertEqual(f.read(), self.wl + "\n")

    def test_s6_longrun_downloads_and_reloads(self):
        if not shutil.which("s6-svscan"):
            self.skipTest("s6 not installed")
        self.http.body = b"192.0.2.10\n"
        self.gw.generate(self.wl_env(POSTGREY_WHITELIST_UPDATE_INTERVAL="1"))
        scan = os.path.join(self.gw.rundir, "scan")
        s6 = S6_SCANDIR
        path = ":".join([os.path.dirname(self.gw.bins["postern-greylist"]),
                         os.path.join(harness.REPO, "deploy"),
                         "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        run([s6, "make", scan, "--only", "--env", "PATH=" + path,
             "--env", "POSTERN_RUN_DIR=" + self.gw.rundir,
             "postern-greylist", "postgrey-whitelist-update"])
        self.scan = scan            # stopped by tearDown, before the temp dir goes
        run([s6, "start", scan, "--timeout", "30"])
        log = os.path.join(scan, ".s6-scandir", "svscan.log")
        port = self.gw.ports["postern-greylist"][0]

        def wait_for(what, cond, timeout=20):
            deadline = time.monotonic() + timeout
            while not cond():
                if time.monotonic() > deadline:
                    with open(log, errors="replace") as f:
                        raise AssertionError("%s: not in %ss; s6 log:\n%s"
                                             % (what, timeout, f.read()[-4000:]))
                time.sleep(0.2)

        def log_has(text):
            with open(log, errors="replace") as f:
                return text in f.read()

        wait_for("the first download", lambda: self.read_wl() == b"192.0.2.10\n")
        wait_for("192.0.2.10 whitelisted", lambda: policy_action(port, "192.0.2.10") == "DUNNO")
        self.assertTrue(policy_action(port, "192.0.2.20").startswith("DEFER_IF_PERMIT"))
        # a bad download (HTML), then an empty one: the old list stays, in the file and in
        # postern-greylist
        self.http.body = b"<html>\n<body>Service Unavailable</body>\n</html>\n"
        wait_for("the HTML refused", lambda: log_has("postern-greylist does not load it"))
        self.http.body = b""
        wait_for("the empty list refused", lambda: log_has("no entries (empty or only"))
        self.assertEqual(self.read_wl(), b"192.0.2.10\n")
        self.assertEqual(policy_action(port, "192.0.2.10"), "DUNNO")
        # a new list: replaced and reread without a restart
        self.http.body = b"192.0.2.10\n192.0.2.20\n"
        wait_for("192.0.2.20 whitelisted", lambda: policy_action(port, "192.0.2.20") == "DUNNO")
        self.assertTrue(log_has("postgrey-whitelist-update: postern-greylist reloads"))


# ---------------------------------------------------------------------------------------------
# a16bitsysop/postfix-redis


class A16bitsysopTests(GatewayTest):
    """a16bitsysop/postfix-redis: REDIS names the Redis server; the seed's keys (PSA:, REV:,
    HLO:, VDOM:, VBOX:, VALI:, RECIP:) are postern-tables socketmap maps where the seed's
    Postfix used redis: tables. A real redis-server, entries made with redis-cli as the seed
    shows them, a real Postfix (postscreen on the listener, as in the seed); changes take
    effect on the next lookup."""

    def setUp(self):
        super().setUp()
        b = self.gw.base
        self.gw.ports = {"postern-tables": (b + 2, b + 3)}
        self.redis = None

    def tearDown(self):
        if self.redis:
            self.redis.stop()
        super().tearDown()

    def redis_cli(self, *args):
        return run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.redis.port)] + list(args))

    def test_seed_redis_keys_take_effect(self):
        import redis_server
        if "postern-tables" not in self.gw.bins:
            self.skipTest("postern-tables not built")
        if not shutil.which("redis-cli"):
            self.skipTest("redis-cli not installed")
        self.redis = redis_server.RedisServer(self.gw.base + 6)
        self.redis.start()
        # the seed's docker run example: REDIS and HOSTNAME
        self.gw.generate({"REDIS": "127.0.0.1:%d" % self.redis.port,
                          "HOSTNAME": "mail.example.com"})
        self.assertEqual(self.gw.services(), ["postfix", "postern-tables"])
        with open(os.path.join(self.gw.rundir, "tables", "tables.conf")) as f:
            conf = f.read()
        self.assertIn("redis-url = redis://127.0.0.1:%d/0\n" % self.redis.port, conf)
        sm = "socketmap:inet:127.0.0.1:%d:" % self.gw.ports["postern-tables"][0]
        self.assertEqual(self.gw.main_cf("virtual_mailbox_domains"), sm + "vdom")
        self.assertEqual(self.gw.main_cf("virtual_alias_maps"), sm + "vali")
        self.assertEqual(self.gw.main_cf("postscreen_access_list"),
                         "permit_mynetworks, %spsa" % sm)
        self.assertEqual(self.gw.main_cf("smtpd_recipient_restrictions"),
                         "check_client_access {0}rev, check_helo_access {0}hlo, "
                         "check_recipient_access {0}recip, permit".format(sm))
        for args in (("set", "VDOM:example.org", "example.org"),
                     ("set", "VALI:user1@example.org", "user1@example.org"),
                     ("set", "VALI:sales@example.org", "user1@example.org user2@example.org"),
                     ("set", "HLO:mail.spammer.bulk", "reject")):
            self.redis_cli(*args)
        self.gw.start()
        internet = {"ADDR": "203.0.113.9", "NAME": "mx.example.net"}
        m = self.assertRelayed("a@example.net", "sales@example.org", xclient=internet)
        with open(m.path, "rb") as f:
            raw = f.read()
        self.assertIn(b"user2@example.org", raw)          # VALI expanded the alias
        e = self.assertRefused("a@example.net", "user2@example.org", xclient=internet)
        self.assertEqual(e.code, 550, str(e))
        self.assertIn("User unknown in virtual mailbox table", e.msg)
        # a key set now is used for the next mail (no reload)
        self.redis_cli("set", "VALI:user2@example.org", "user2@example.org")
        self.assertRelayed("a@example.net", "user2@example.org", xclient=internet)
        # HLO:mail.spammer.bulk reject, for the name and (forms=access) names below it
        for helo in ("mail.spammer.bulk", "mx1.mail.spammer.bulk"):
            e = self.assertRefused("a@example.net", "user1@example.org", xclient=internet,
                                   helo=helo)
            self.assertIn("Helo command rejected", e.msg)
        # REV:<ip>, RECIP:<address>
        self.redis_cli("set", "REV:203.0.113.9", "reject")
        self.redis_cli("set", "RECIP:user1@example.org", "reject")
        e = self.assertRefused("a@example.net", "user1@example.org",
                               xclient={"ADDR": "198.51.100.3", "NAME": "mx.example.net"})
        self.assertIn("Recipient address rejected", e.msg)
        e = self.assertRefused("a@example.net", "sales@example.org", xclient=internet)
        self.assertIn("Client host rejected", e.msg)
        self.redis_cli("del", "REV:203.0.113.9")
        self.assertRelayed("a@example.net", "sales@example.org", xclient=internet)
        # Redis down: a temporary failure, never a 5xx
        self.redis.stop()
        self.redis = None
        e = self.assertRefused("a@example.net", "sales@example.org", code_class=4,
                               xclient=internet)

    def test_dovecot_lmtp_delivers_virtual_mailboxes(self):
        """DOVECOT: the virtual mailbox domains go to Dovecot over LMTP (virtual_transport =
        lmtp:inet:DOVECOT, as in the seed); an LMTP sink (lmtp_sink.py, +7) stands in for it."""
        import lmtp_sink
        import redis_server
        if "postern-tables" not in self.gw.bins:
            self.skipTest("postern-tables not built")
        if not shutil.which("redis-cli"):
            self.skipTest("redis-cli not installed")
        self.redis = redis_server.RedisServer(self.gw.base + 6)
        self.redis.start()
        lmtp = lmtp_sink.LmtpSink(self.gw.base + 7).start()
        self.addCleanup(lmtp.stop)
        dovecot = "127.0.0.1:%d" % lmtp.port
        self.gw.generate({"REDIS": "127.0.0.1:%d" % self.redis.port,
                          "HOSTNAME": "mail.example.com", "DOVECOT": dovecot})
        self.assertEqual(self.gw.main_cf("virtual_transport"), "lmtp:inet:" + dovecot)
        for args in (("set", "VDOM:example.org", "example.org"),
                     ("set", "VBOX:user1@example.org", "example.org/user1/"),
                     ("set", "VALI:sales@example.org", "user1@example.org"),
                     ("set", "VBOX:gone@example.org", "example.org/gone/")):
            self.redis_cli(*args)
        lmtp.reject.add("gone@example.org")
        self.gw.start()
        internet = {"ADDR": "203.0.113.9", "NAME": "mx.example.net"}

        def over_lmtp(rcpt, timeout=30):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                with lmtp.lock:
                    for mail_from, rcpts, data in lmtp.messages:
                        if rcpt in rcpts:
                            return mail_from, data
                time.sleep(0.1)
            raise AssertionError("%s not delivered over LMTP in %ss" % (rcpt, timeout))

        self.gw.send("a@example.net", "user1@example.org", xclient=internet)
        mail_from, data = over_lmtp("user1@example.org")
        self.assertEqual(mail_from, "a@example.net")
        self.assertIn(b"Subject: seed test", data)
        # VALI alias to a mailbox: delivered over LMTP as the mailbox
        lmtp.messages.clear()
        self.gw.send("b@example.net", "sales@example.org", xclient=internet)
        self.assertEqual(over_lmtp("user1@example.org")[0], "b@example.net")
        # no VBOX/VALI entry: refused by Postfix, never reaches Dovecot
        e = self.assertRefused("a@example.net", "nobody@example.org", xclient=internet)
        self.assertIn("User unknown in virtual mailbox table", e.msg)
        # other domains still go to the relay host (the smtp-sink), not to Dovecot
        m = self.assertRelayed("app@example.com", "friend@example.net")
        with open(m.path, "rb") as f:
            self.assertIn(b"X-Rcpt-Args: <friend@example.net>", f.read())
        # Dovecot refuses a recipient: Postfix bounces it (to a@example.net, over the relay
        # host), it is not delivered
        self.gw.send("a@example.net", "gone@example.org", xclient=internet)
        deadline = time.monotonic() + 30
        log = ""
        while "status=bounced" not in log and time.monotonic() < deadline:
            time.sleep(0.2)
            log = self.gw.log("pf/log/postfix.log")
        self.assertRegex(log, r"to=<gone@example.org>, relay=127.0.0.1\[127.0.0.1\]:%d.*"
                              r"status=bounced" % lmtp.port)
        p = self.gw.generate({"REDIS": "127.0.0.1:%d" % self.redis.port,
                              "DOVECOT": "dovecot:lmtp"}, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("DOVECOT='dovecot:lmtp': want the Dovecot LMTP server", p.stdout)

    def test_postscreen_access_list(self):
        """PSA:<ip> reject: postscreen (enforce) refuses the client; deleted, mail passes.
        mynetworks leaves out 127.0.0.1 here (permit_mynetworks comes first in the list)."""
        import redis_server
        if "postern-tables" not in self.gw.bins:
            self.skipTest("postern-tables not built")
        if not shutil.which("redis-cli"):
            self.skipTest("redis-cli not installed")
        self.redis = redis_server.RedisServer(self.gw.base + 6)
        self.redis.start()
        self.gw.generate({"REDIS": "127.0.0.1:%d" % self.redis.port,
                          "HOSTNAME": "mail.example.com", "POSTFIX_MYNETWORKS": "192.0.2.0/24",
                          # postscreen's pregreet wait (6 s) for each client it has not seen
                          "POSTFIX_POSTSCREEN_GREET_WAIT": "1s"})
        for args in (("set", "VDOM:example.org", "example.org"),
                     ("set", "VALI:user1@example.org", "user1@example.org"),
                     ("set", "PSA:127.0.0.0/8", "permit"),
                     ("set", "PSA:127.0.0.1", "reject")):     # more specific: wins
            self.redis_cli(*args)
        self.gw.start()
        e = self.assertRefused("a@example.net", "user1@example.org")
        self.assertEqual(e.code, 550, str(e))
        self.assertIn("5.3.2", e.msg)
        self.redis_cli("del", "PSA:127.0.0.1")
        self.assertRelayed("a@example.net", "user1@example.org")

    def test_refusals(self):
        if "postern-tables" not in self.gw.bins:
            self.skipTest("postern-tables not built")
        for env, needle in (({"REDIS": "redis host"}, "REDIS='redis host': want a host name"),
                            ({"REDIS": "redis:99999"}, "REDIS='redis:99999'"),
                            ({"REDIS": "redis", "ENABLE_TABLES": "false"},
                             "the Redis tables need postern-tables")):
            p = self.gw.generate(env, check=False)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(needle, p.stdout)
        self.gw.generate({"REDIS": "redis://:pw@redis.example:6380/2"})
        with open(os.path.join(self.gw.rundir, "tables", "tables.conf")) as f:
            self.assertIn("redis-url = redis://:pw@redis.example:6380/2\n", f.read())


# ---------------------------------------------------------------------------------------------
# turgon37/smtp-relay


class Turgon37Tests(GatewayTest):
    """turgon37/smtp-relay: RELAY_* variables and RELAY_MODE."""

    def test_unauthenticated_relay_filtered_by_subnet_and_domain(self):
        self.gw.generate({"RELAY_POSTMASTER": "postmaster@example.net",
                          "RELAY_MYHOSTNAME": "smtp-relay.example.net",
                          "RELAY_MYDOMAIN": "example.net",
                          "RELAY_MYNETWORKS": "127.0.0.0/8 10.0.0.0/24",
                          "RELAY_HOST": "[10.1.0.1]:25"})
        self.assertEqual(self.gw.main_cf("relay_domains"), "example.net")
        self.gw.start()
        self.assertRelayed("app@example.net", "someone@example.net")
        # STRICT (the default mode): only the relay domain as recipient
        self.assertRefused("app@example.net", "someone@example.org")
        # and only from RELAY_MYNETWORKS (or SASL)
        self.assertRefused("app@example.net", "someone@example.net",
                           xclient={"ADDR": "203.0.113.9", "NAME": "[UNAVAILABLE]"})

    def test_authenticated_proxy_mode_and_mounted_credentials(self):
        self.gw.write("/etc/postfix/sasl_passwd", "[10.1.0.1]:25 sasl-user-login:xxxxxxxxxxxx\n",
                      0o600)
        self.gw.generate({"RELAY_POSTMASTER": "postmaster@example.net",
                          "RELAY_MYHOSTNAME": "smtp-relay.example.net",
                          "RELAY_MYDOMAIN": "example.net",
                          "RELAY_MYNETWORKS": "127.0.0.0/8 10.0.0.0/24",
                          "RELAY_HOST": "[10.1.0.1]:25",
                          "RELAY_MODE": "ALLOW_SASLAUTH_NODOMAIN",
                          "RELAY_USE_TLS": "no",
                          "POSTCONF_compatibility_level": "2"})
        self.assertEqual(self.gw.main_cf("compatibility_level"), "2")
        maps = self.gw.main_cf("smtp_sasl_password_maps")
        with open(maps[len("texthash:"):]) as f:
            self.assertIn("sasl-user-login:xxxxxxxxxxxx", f.read())
        self.gw.start()
        # network-authenticated clients: relay domains only in this mode
        self.assertRelayed("app@example.net", "someone@example.net")
        self.assertRefused("app@example.net", "someone@example.org")

    def test_sasl_users_from_mounted_credentials_list(self):
        # -v list:/etc/postfix/client_sasl_passwd ("USERNAME PASSWORD" lines), RELAY_MODE
        # ALLOW_SASLAUTH_NODOMAIN: an authenticated client may send anywhere
        self.gw.write("/etc/postfix/client_sasl_passwd",
                      "user1 password1\n# a comment\nuser2 secret2\n", 0o600)
        self.gw.generate({"RELAY_MYDOMAIN": "example.net",
                          "RELAY_MYNETWORKS": "127.0.0.0/8",
                          "RELAY_HOST": "[10.1.0.1]:25",
                          "RELAY_MODE": "ALLOW_SASLAUTH_NODOMAIN"})
        self.assertIn("SASL user user1@example.net", self.gw.output)
        self.gw.start()
        outside = {"ADDR": "203.0.113.9", "NAME": "[UNAVAILABLE]"}
        self.assertRefused("app@example.net", "someone@example.org", xclient=outside)
        s = smtplib.SMTP("127.0.0.1", self.gw.smtpd_port, local_hostname="c.example",
                         timeout=30)
        try:
            s.ehlo()
            s.docmd("XCLIENT", "ADDR=203.0.113.9 NAME=[UNAVAILABLE]")
            s.ehlo_resp = None
            s.ehlo()
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                s.login("user1", "wrong")
            s.login("user1", "password1")
            s.sendmail("app@example.net", ["someone@example.org"],
                       b"Subject: sasl\r\n\r\nhi\r\n")
        finally:
            s.quit()


# ---------------------------------------------------------------------------------------------
# ServerContainers/mail-gateway


class ServercontainersTests(GatewayTest):
    """servercontainers/mail-gateway: MAIL_FQDN, AUTO_TRUST_NETWORKS, DKIM_DOMAINS with keys
    generated at start, client-certificate fingerprints, queue lifetimes, RAW_CONFIG."""

    def test_dkim_domains_generates_keys_and_signs(self):
        if "postern-dkim" not in self.gw.bins:
            self.skipTest("postern-dkim not built")
        os.makedirs(self.gw.path("/etc/postfix/additional/opendkim"))
        env = {"MAIL_FQDN": "my.mailserver.example.com", "AUTO_TRUST_NETWORKS": "yes",
               "DKIM_DOMAINS": "example.com myotherdomain.example",
               "POSTFIX_QUEUE_LIFETIME_BOUNCE": "1d", "POSTFIX_QUEUE_LIFETIME_MAX": "3d",
               "POSTFIX_RAW_CONFIG_MYNETWORKS_STYLE": "subnet"}
        self.gw.generate(env)
        # the DNS record is printed for the log
        self.assertRegex(self.gw.output, r"mail\._domainkey\.example\.com\.?\s+IN\s+TXT")
        self.assertEqual(self.gw.main_cf("myhostname"), "my.mailserver.example.com")
        self.assertEqual(self.gw.main_cf("bounce_queue_lifetime"), "1d")
        self.assertEqual(self.gw.main_cf("maximal_queue_lifetime"), "3d")
        self.assertEqual(self.gw.main_cf("mynetworks_style"), "subnet")
        self.assertTrue(self.gw.main_cf("mynetworks").startswith("127.0.0.0/8"))
        keydir = self.gw.path("/etc/postfix/additional/opendkim/keys")
        key = os.path.join(keydir, "example.com", "mail.private")
        with open(key, "rb") as f:
            first = f.read()
        # a second start keeps the key
        self.gw.generate(env)
        with open(key, "rb") as f:
            self.assertEqual(f.read(), first)
        self.assertNotIn("publish this DNS record", self.gw.output)
        self.gw.start()
        m = self.assertRelayed("app@myotherdomain.example", "someone@example.net")
        txt = zone_txt(os.path.join(keydir, "myotherdomain.example", "mail.txt"))
        self.assertEqual(dkim_verify(m.data, {"mail._domainkey.myotherdomain.example": txt}),
                         [("myotherdomain.example", "mail", True)])

    def test_client_certificate_fingerprints(self):
        self_signed(self.gw, "/etc/postfix/tls")
        os.rename(self.gw.path("/etc/postfix/tls/fullchain.pem"),
                  self.gw.path("/etc/postfix/tls/bundle.crt"))
        os.rename(self.gw.path("/etc/postfix/tls/privkey.pem"),
                  self.gw.path("/etc/postfix/tls/cert.key"))
        fp = "AA:BB:CC:DD:EE:FF:12:34:56:67:2E:FB:3F:34:99:90:AB:CD:EF:4C"
        self.gw.generate({"MAIL_FQDN": "my.mailserver.example.com",
                          "MYNETWORKS": "127.0.0.0/8",
                          "POSTFIX_SSL_IN_CERT_FINGERPRINTS":
                              fp + " trusted.mailserver.example.tld"})
        self.assertEqual(self.gw.main_cf("smtpd_tls_security_level"), "may")
        self.assertEqual(self.gw.main_cf("smtpd_tls_ask_ccert"), "yes")
        self.assertEqual(self.gw.main_cf("smtpd_tls_fingerprint_digest"), "sha1")
        self.assertIn("permit_tls_clientcerts", self.gw.main_cf("smtpd_relay_restrictions"))
        self.gw.start()
        s = smtplib.SMTP("127.0.0.1", self.gw.smtpd_port, timeout=30)
        try:
            s.ehlo("client.example.com")
            self.assertTrue(s.has_extn("starttls"))
        finally:
            s.quit()


# ---------------------------------------------------------------------------------------------
# Refusals and precedence (generator only, no Postfix started)


class SafetyTests(GatewayTest):
    """Never an open relay; contradictory or missing settings stop the start with a message
    that names the variable; precedence of the passthrough variables; _FILE secrets."""

    def refused(self, env, *needles):
        p = self.gw.generate(env, check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        for n in needles:
            self.assertIn(n, p.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.gw.etc, "main.cf")),
                         "a refused configuration must not be written")

    def test_no_relay_rule_is_refused(self):
        # a16bitsysop's example has no relay rule at all
        self.refused({}, "no rule says which mail this gateway may relay")

    def test_open_relay_needs_acknowledgement(self):
        self.refused({"MYNETWORKS": "0.0.0.0/0"}, "MYNETWORKS contains 0.0.0.0/0",
                     "POSTERN_ACKNOWLEDGE_OPEN_RELAY")
        self.refused({"ADDITIONAL_MYNETWORKS": "0.0.0.0/0", "AUTO_TRUST_NETWORKS": "1"},
                     "ADDITIONAL_MYNETWORKS contains 0.0.0.0/0")
        self.gw.generate({"MYNETWORKS": "0.0.0.0/0", "POSTERN_ACKNOWLEDGE_OPEN_RELAY": "yes"})
        self.assertEqual(self.gw.main_cf("mynetworks"), "0.0.0.0/0")

    def test_dkim_without_keys_is_refused(self):
        self.refused({"ALLOWED_SENDER_DOMAINS": "example.com", "ENABLE_DKIM": "true"},
                     "DKIM is enabled for signing but has no key")
        # verify-only needs no key
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com", "ENABLE_OPENDKIM": "yes",
                          "OPENDKIM_MODE": "v"})
        with open(os.path.join(self.gw.rundir, "dkim", "dkim.conf")) as f:
            self.assertIn("mode = verify", f.read())

    def test_bad_values_name_their_variable(self):
        self.refused({"RELAY_MYDOMAIN": "example.net", "RELAY_MODE": "OPEN"},
                     "RELAY_MODE='OPEN': want one of STRICT")
        self.refused({"ALLOWED_SENDER_DOMAINS": "example.com", "ENABLE_SPF": "maybe"},
                     "ENABLE_SPF='maybe': want true or false")
        self.gw.bins.pop("postern-greylist", None)    # not on PATH: as in an image without it
        self.refused({"ALLOWED_SENDER_DOMAINS": "example.com", "ENABLE_POSTGREY": "true"},
                     "ENABLE_POSTGREY=true: postern-greylist is not installed in this image")
        self.refused({"ALLOWED_SENDER_DOMAINS": "example.com", "MESSAGE_SIZE_LIMIT": "10M"},
                     "MESSAGE_SIZE_LIMIT='10M'")
        self.refused({"ALLOWED_SENDER_DOMAINS": "example.com", "RELAYHOST": "relay.example",
                      "RELAYHOST_USERNAME": "u"}, "RELAYHOST_USERNAME is set without")

    def test_file_secrets(self):
        self.refused({"ALLOWED_SENDER_DOMAINS": "example.com", "RELAYHOST": "r.example",
                      "RELAYHOST_USERNAME": "u", "RELAYHOST_PASSWORD_FILE": "/nonexistent"},
                     "RELAYHOST_PASSWORD_FILE: cannot read /nonexistent")
        secret = self.gw.write("/run/secrets/pw", "s3cret\n", 0o600)
        self.refused({"ALLOWED_SENDER_DOMAINS": "example.com", "RELAYHOST": "r.example",
                      "RELAYHOST_USERNAME": "u", "RELAYHOST_PASSWORD": "x",
                      "RELAYHOST_PASSWORD_FILE": secret}, "are both set")

    def test_precedence_named_then_postfix_then_raw(self):
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com",
                          "MESSAGE_SIZE_LIMIT": "1000",
                          "POSTFIX_MESSAGE_SIZE_LIMIT": "2000",
                          "HOSTNAME": "named.example", "POSTFIX_MYHOSTNAME": "postfix.example",
                          "POSTCONF_smtpd_banner": "$myhostname hello",
                          "POSTFIX_RAW_CONFIG_SMTPD_BANNER": "$myhostname raw"})
        self.assertEqual(self.gw.main_cf("message_size_limit"), "2000")
        self.assertEqual(self.gw.main_cf("myhostname"), "postfix.example")
        self.assertEqual(self.gw.main_cf("smtpd_banner"), "$myhostname raw")

    def test_milters_and_policy_services_are_wired(self):
        # Postern's milters first, then POSTFIX_SMTPD_MILTERS (mikenye); policy services after
        # the relay check; INBOUND_DEBUGGING (boky)
        self.gw.write("/etc/opendkim/keys/example.com.private", "unused", 0o600)
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com", "ENABLE_SPF": "yes",
                          "POSTFIX_SMTPD_MILTERS": "inet:127.0.0.1:9999",
                          "INBOUND_DEBUGGING": "1"})
        dkim, spf = self.gw.ports["postern-dkim"][0], self.gw.ports["postern-spf"][0]
        self.assertEqual(self.gw.main_cf("smtpd_milters"),
                         "inet:127.0.0.1:%d, inet:127.0.0.1:9999" % dkim)
        self.assertEqual(self.gw.main_cf("milter_default_action"), "tempfail")
        self.assertIn("check_policy_service inet:127.0.0.1:%d" % spf,
                      self.gw.main_cf("postern_allowed_sender"))
        self.assertEqual(self.gw.main_cf("debug_peer_list"), "$mynetworks")
        self.assertEqual(self.gw.services(), ["postfix", "postern-dkim", "postern-spf"])
        with open(os.path.join(self.gw.rundir, "health")) as f:
            self.assertEqual(f.read().split("\n")[0], "smtp 127.0.0.1:%d" % self.gw.smtpd_port)

    def test_daemon_variables_reach_only_their_daemon(self):
        self.gw.write("/etc/opendkim/keys/example.com.private", "unused", 0o600)
        self.gw.generate({"ALLOWED_SENDER_DOMAINS": "example.com",
                          "POSTERN_DKIM_LOG_LEVEL": "debug", "POSTERN_SPF_LOG_LEVEL": "debug",
                          "POSTFIX_LDAP_BIND_PW": "not-for-daemons"})
        envdir = os.path.join(self.gw.rundir, "dkim", "env")
        self.assertIn("POSTERN_DKIM_LOG_LEVEL", os.listdir(envdir))
        self.assertNotIn("POSTERN_SPF_LOG_LEVEL", os.listdir(envdir))
        self.assertFalse(os.path.exists(os.path.join(self.gw.rundir, "spf")))
        with open(os.path.join(self.gw.rundir, "dkim", "dkim.conf")) as f:
            conf = f.read()
        self.assertIn("key-table = ", conf)
        self.assertNotIn("not-for-daemons", conf)


if __name__ == "__main__":
    unittest.main()
