"""test_av_postfix.py — postern-av (libclamav in-process) through a real Postfix.

Each class gets its own environment (private Postfix + smtp-sink + postern-av
on the port block from POSTERN_IT_PORT_BASE). Signature databases are made
here: the EICAR test string as .ndb (body) and .hdb (MD5) signatures plus
synthetic body signatures; never freshclam, no network. `clamscan -d DB` on
the same messages is the reference for verdicts.

POSTERN_IT_AV_BIN: the postern-av binary (set by tests/integration/av.cmake);
the tests skip when it is unset.
"""

import base64
import hashlib
import io
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
import unittest
import urllib.request
import zipfile

import harness

CLAMSCAN = "/usr/bin/clamscan"
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"
         b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
# A string only the reload tests turn into a signature.
LATE_STRING = b"postern-av late signature test string 7f3a"
METRICS_OFF = harness.AUX_OFF


def av_binary():
    return harness.daemon_binary("POSTERN_IT_AV_BIN")


# --------------------------------------------------------------------------
# Databases and messages


def write_atomic(path, data):
    """Write `path` through a temp file outside the directory and a rename,
    as freshclam does, so a watcher never reads half a file."""
    tmp = os.path.join(os.path.dirname(os.path.dirname(path)),
                       ".%s.tmp" % os.path.basename(path))
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def synthetic_ndb(count, prefix="Postern.Synthetic"):
    return "".join("%s-%d:0:*:%s\n" % (
        prefix, i, (b"synthetic body signature %d for postern" % i).hex())
        for i in range(count)).encode()


def make_db(path, synthetic=1000, late=False):
    """A database directory: EICAR .ndb + .hdb, `synthetic` extra body
    signatures, and with `late` a signature for LATE_STRING."""
    os.makedirs(path, exist_ok=True)
    write_atomic(os.path.join(path, "eicar.ndb"),
                 b"Postern.Test.EICAR-NDB:0:*:%s\n" % EICAR.hex().encode())
    write_atomic(os.path.join(path, "eicar.hdb"),
                 b"%s:%d:Postern.Test.EICAR-HDB\n"
                 % (hashlib.md5(EICAR).hexdigest().encode(), len(EICAR)))
    if synthetic:
        write_atomic(os.path.join(path, "synthetic.ndb"),
                     synthetic_ndb(synthetic))
    if late:
        write_atomic(os.path.join(path, "late.ndb"),
                     b"Postern.Test.Late:0:*:%s\n" % LATE_STRING.hex().encode())


def headers(subject, extra=""):
    return ("From: Alice <alice@example.com>\r\nTo: Bob <bob@example.net>\r\n"
            "Subject: %s\r\nMessage-ID: <%d.av@example.com>\r\n"
            "MIME-Version: 1.0\r\n%s" % (subject, random.randrange(1 << 40), extra))


def b64_lines(data):
    text = base64.b64encode(data).decode()
    return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def with_attachment(subject, filename, data, ctype="application/octet-stream",
                    extra=""):
    return (headers(subject, extra) +
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
            "--outer\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--outer\r\nContent-Type: %s; name=\"%s\"\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n"
            "%s\r\n--outer--\r\n" % (ctype, filename, filename, b64_lines(data)))


def zipped(name, data):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def nested_rfc822(subject, inner):
    return (headers(subject) +
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n"
            "--outer\r\nContent-Type: text/plain\r\n\r\nForwarded message.\r\n"
            "--outer\r\nContent-Type: message/rfc822\r\n"
            "Content-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n"
            "%s\r\n--outer--\r\n" % inner)


def plain(subject, body="Hello, nothing to see here.\r\n", extra=""):
    return headers(subject, extra) + "Content-Type: text/plain\r\n\r\n" + body


def sample_messages():
    """(name, message, infected?) covering the shapes of the issue."""
    inner = with_attachment("inner", "eicar.com", EICAR)
    return [
        ("clean", plain("clean"), False),
        ("clean-attachment", with_attachment("pdf", "a.bin", os.urandom(3000)),
         False),
        ("clean-zip", with_attachment("zip", "a.zip", zipped("a.txt", b"hello"),
                                      "application/zip"), False),
        ("eicar-base64", with_attachment("b64", "eicar.com", EICAR), True),
        ("eicar-zip", with_attachment("zip", "eicar.zip",
                                      zipped("eicar.com", EICAR),
                                      "application/zip"), True),
        ("eicar-nested-rfc822", nested_rfc822("fwd", inner), True),
        ("eicar-nested-zip-rfc822", nested_rfc822(
            "fwd2", with_attachment("inner2", "e.zip", zipped("e.com", EICAR),
                                    "application/zip")), True),
        ("eicar-inline", plain("inline", "before\r\n%s\r\nafter\r\n"
                               % EICAR.decode()), True),
    ]


def clamscan(db, tmp, name, message):
    """clamscan's verdict on `message`: None (clean) or the signature."""
    path = os.path.join(tmp, name + ".eml")
    with open(path, "wb") as f:
        f.write(message.encode() if isinstance(message, str) else message)
    p = subprocess.run([CLAMSCAN, "--no-summary", "-d", db, path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=120)
    if p.returncode == 0:
        return None
    m = re.search(r": (\S+) FOUND", p.stdout)
    if p.returncode != 1 or not m:
        raise RuntimeError("clamscan failed (%d): %s" % (p.returncode, p.stdout))
    return m.group(1)


# --------------------------------------------------------------------------
# The milter under test


class AvSpec:
    def __init__(self, database, args=()):
        self.database = database
        self.args = list(args)


class PosternAv:
    """harness.Env adapter for postern-av. ready_fd=False: readiness is not
    awaited (the no-engine tests), the harness polls the port instead."""

    name = "postern-av"
    can_dual_sign = False
    logs_to_stderr = True

    def __init__(self, binary, ready_fd=True, metrics_port=None):
        self.binary = binary
        self.has_ready_fd = ready_fd
        self.metrics_port = metrics_port

    def command(self, spec, port, workdir, ready_fd):
        tmp = os.path.join(workdir, "tmp")
        os.makedirs(tmp, exist_ok=True)
        cmd = [self.binary, "--socket", "inet:%d@127.0.0.1" % port,
               "--database", spec.database, "--tmp-dir", tmp,
               "--reload-settle", "200", "--log", "stderr"]
        if ready_fd is not None:
            cmd += ["--ready-fd", str(ready_fd)]
        if self.metrics_port:
            cmd += ["--metrics-listen", "127.0.0.1:%d" % self.metrics_port]
        return cmd + spec.args


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:PORT/PATH."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class AvTestCase(harness.ClassEnv, unittest.TestCase):
    log_name = "postern-av"
    milter_args = ()
    synthetic = 1000
    ready_fd = True

    @classmethod
    def setUpClass(cls):
        binary = av_binary()
        base = harness.port_base()
        cls.metrics_port = base + METRICS_OFF
        cls.env = harness.Env(cls.__name__, adapter=PosternAv(
            binary, cls.ready_fd, cls.metrics_port))
        with cls.env.starting():
            cls.db = os.path.join(cls.env.tmp, "db")
            cls.prepare_db()
            cls.env.start_postfix()
            cls.env.start_milter(AvSpec(cls.db, cls.milter_args))

    @classmethod
    def prepare_db(cls):
        make_db(cls.db, cls.synthetic)

    def assertRejected(self, message, code=550, text=None):
        with self.assertRaises(harness.SmtpError) as cm:
            self.env.submit(message)
        self.assertEqual(cm.exception.stage, "end of DATA", cm.exception)
        self.assertEqual(cm.exception.code, code, cm.exception)
        if text is not None:
            self.assertIn(text, cm.exception.msg)
        return cm.exception

    def metric(self, name):
        status, body = http_get(self.metrics_port, "/metrics")
        self.assertEqual(status, 200)
        m = re.search(r"^%s (\S+)$" % re.escape(name), body, re.M)
        return float(m.group(1)) if m else None


# --------------------------------------------------------------------------
# Verdicts


class AvVerdictTests(AvTestCase):
    """Clean mail passes with headers; EICAR as a base64 attachment, in a
    zip, in a nested message/rfc822 is rejected 550 5.7.1 with the
    signature; every verdict equals clamscan's with the same database."""

    milter_args = ("--spool-threshold", "8192", "--max-size", "400000")

    def test_clean_passes_with_headers(self):
        d = self.env.send_and_wait(plain("clean one",
                                         extra="X-Virus-Status: Clean (forged)\r\n"))
        self.assertEqual(d.headers("X-Virus-Status"), ["Clean"])
        scanned = d.headers("X-Virus-Scanned")
        self.assertEqual(len(scanned), 1)
        self.assertRegex(scanned[0], r"^ClamAV \d+\.\d+")
        self.assertLogged("av-scan", "result=clean")

    def test_infected_shapes_rejected(self):
        for name, message, infected in sample_messages():
            if not infected:
                continue
            with self.subTest(name):
                e = self.assertRejected(message, 550, "Virus found: Postern.Test.EICAR")
                self.assertIn("5.7.1", e.msg)

    def test_verdicts_equal_clamscan(self):
        tmp = os.path.join(self.env.tmp, "clamscan")
        os.makedirs(tmp, exist_ok=True)
        for name, message, infected in sample_messages():
            with self.subTest(name):
                want = clamscan(self.db, tmp, name, message)
                self.assertEqual(want is not None, infected,
                                 "clamscan on %s: %r" % (name, want))
                try:
                    qid = self.env.submit(message)
                    got = None
                except harness.SmtpError as e:
                    self.assertEqual(e.code, 550, e)
                    m = re.search(r"Virus found: (\S+)", e.msg)
                    self.assertIsNotNone(m, e.msg)
                    got = m.group(1)
                    qid = None
                self.assertEqual(got, want, name)
                if qid:
                    self.env.wait_delivered(qid)

    def test_spooled_message_scanned(self):
        # far over --spool-threshold (8 KiB): scanned from the temp file
        filler = "".join("line %06d of a long clean body\r\n" % i
                         for i in range(3000))
        before = self.metric("postern_av_spooled_total") or 0
        d = self.env.send_and_wait(plain("big clean", filler))
        self.assertEqual(d.headers("X-Virus-Status"), ["Clean"])
        big_infected = with_attachment("big", "eicar.com", EICAR,
                                       extra="X-Filler: %s\r\n" % ("x" * 900))
        big_infected = big_infected.replace(
            "See the attachment.\r\n", "See the attachment.\r\n" + filler)
        self.assertRejected(big_infected, 550, "Virus found")
        self.assertGreaterEqual(self.metric("postern_av_spooled_total"), before + 2)
        self.assertEqual(os.listdir(os.path.join(self.env.milter_dir, "tmp")), [],
                         "spool files left behind")

    def test_oversized_skipped_with_header(self):
        filler = "x" * 998 + "\r\n"
        message = with_attachment("huge", "eicar.com", EICAR)
        message = message.replace("See the attachment.\r\n",
                                  "See the attachment.\r\n" + filler * 450)
        d = self.env.send_and_wait(message)
        self.assertEqual(d.headers("X-Virus-Scanned"), ["skipped (size)"])
        self.assertEqual(d.headers("X-Virus-Status"), [])
        self.assertLogged("av-scan", "result=skipped")

    def test_metrics_and_health(self):
        status, body = http_get(self.metrics_port, "/healthz")
        self.assertEqual((status, body.strip()), (200, "ok"))
        self.assertEqual(self.metric("postern_av_engine_signatures"),
                         self.synthetic + 2)


class AvActionTests(AvTestCase):
    """--on-virus quarantine: the infected message goes to Postfix's hold
    queue with X-Virus-Status; --outbound-hosts: no headers for those
    clients."""

    milter_args = ("--on-virus", "quarantine", "--outbound-hosts", "198.51.100.0/24")
    synthetic = 10

    def test_quarantine_to_hold_queue(self):
        qid = self.env.submit(with_attachment("hold me", "eicar.com", EICAR))
        hold = os.path.join(self.env.pfdir, "queue", "hold")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and qid not in os.listdir(hold):
            time.sleep(0.1)
        self.assertIn(qid, os.listdir(hold))
        self.assertLogged("av-scan", "action=quarantine")
        self.assertRegex(self.env.postfix_log(),
                         r"%s: milter-hold: END-OF-MESSAGE .*milter triggers HOLD action" % qid)

    def test_outbound_clean_without_headers(self):
        d = self.env.send_and_wait(plain("outbound"),
                                   xclient={"ADDR": "198.51.100.7"})
        self.assertEqual(d.headers("X-Virus-Scanned"), [])
        self.assertEqual(d.headers("X-Virus-Status"), [])


# --------------------------------------------------------------------------
# No engine, reload


class AvNoEngineTests(AvTestCase):
    """Started on an empty database directory: listens, is not ready
    (/healthz 503), tempfails every message with a log line; once a
    database appears it loads it, becomes ready and scans."""

    ready_fd = False

    @classmethod
    def prepare_db(cls):
        os.makedirs(cls.db)

    def test_tempfail_until_database_then_scan(self):
        status, body = http_get(self.metrics_port, "/healthz")
        self.assertEqual(status, 503, body)
        self.assertIn("engine: no engine loaded", body)
        self.assertLogged("engine-load-failed", "every message is tempfailed")
        for subject in ("no engine 1", "no engine 2"):
            e = self.assertRejected(plain(subject), 451)
            self.assertIn("4.3.0", e.msg)
        self.assertLogged("av-scan", "result=no-engine")
        ok, out = self.env.queue_empty()
        self.assertTrue(ok, out)
        make_db(self.db, 5)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if http_get(self.metrics_port, "/healthz")[0] == 200:
                break
            time.sleep(0.1)
        self.assertEqual(http_get(self.metrics_port, "/healthz")[0], 200)
        self.env.send_and_wait(plain("engine now"))
        self.assertRejected(with_attachment("e", "eicar.com", EICAR), 550)


class AvReloadTests(AvTestCase):
    """Database changes while messages flow: every message is answered
    (delivered), none lost or tempfailed; a new signature takes effect; a
    broken database keeps the old engine; SIGHUP and SIGUSR2 reload (and
    do not stop the milter)."""

    synthetic = 2000

    def flow(self, stop, results):
        """Submit messages one after another until `stop` is set."""
        i = 0
        while not stop.is_set() or i < 10:
            try:
                results.append(("ok", self.env.submit(plain("flow %d" % i))))
            except Exception as e:  # noqa: BLE001 - recorded for the assertion
                results.append(("error", str(e)))
            i += 1

    def test_reload_while_flowing_loses_nothing(self):
        late = plain("late", "the text %s inside\r\n" % LATE_STRING.decode())
        self.env.send_and_wait(late)  # not a signature yet
        results, stop = [], threading.Event()
        sender = threading.Thread(target=self.flow, args=(stop, results))
        sender.start()
        try:
            for n in (3000, 4000):
                write_atomic(os.path.join(self.db, "synthetic.ndb"), synthetic_ndb(n))
                time.sleep(0.6)
            make_db(self.db, 4000, late=True)
            time.sleep(0.6)
            os.kill(self.env.milter_proc.pid, signal.SIGHUP)
            self.assertLogged("engine-loaded", "reason=request")
            time.sleep(0.3)
        finally:
            stop.set()
            sender.join(120)
        errors = [r for r in results if r[0] != "ok"]
        self.assertEqual(errors, [])
        for _, qid in results:
            self.env.wait_delivered(qid)
        # messages were scanned before, between and after the reloads
        log = self.env.milter_stderr().splitlines()
        loads = [i for i, line in enumerate(log) if line.startswith("engine-loaded")
                 and "replaced=yes" in line]
        scans = [i for i, line in enumerate(log) if line.startswith("av-scan")]
        self.assertGreaterEqual(len(loads), 3, "\n".join(log))
        self.assertTrue(any(i < loads[0] for i in scans), "no scan before the reloads")
        self.assertTrue(any(loads[0] < i < loads[-1] for i in scans),
                        "no scan between the reloads")
        self.assertTrue(any(i > loads[-1] for i in scans), "no scan after the reloads")
        self.assertRejected(late, 550, "Virus found: Postern.Test.Late")

        # a broken file: the load fails, the old engine keeps scanning
        write_atomic(os.path.join(self.db, "broken.ndb"), b"Broken:0:*:zz\n")
        self.assertLogged("engine-load-failed", "old engine kept", timeout=10)
        self.assertRejected(with_attachment("still", "eicar.com", EICAR), 550)
        self.env.send_and_wait(plain("still clean"))
        os.unlink(os.path.join(self.db, "broken.ndb"))
        requests = self.env.milter_stderr().count("reason=request")
        os.kill(self.env.milter_proc.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while self.env.milter_stderr().count("reason=request") == requests:
            self.assertLess(time.monotonic(), deadline, "no reload after SIGUSR2")
            time.sleep(0.05)
        self.assertIsNone(self.env.milter_proc.poll(), "the milter stopped")
        self.assertRejected(with_attachment("after usr2", "eicar.com", EICAR), 550)


class AvCheckConfigTests(unittest.TestCase):
    """--check-config loads the database: OK with the signature count, exit 1
    with libclamav's reason for an empty one, 78 for a bad option."""

    def setUp(self):
        self.binary = av_binary()
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="postern-av-check-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def check(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTERN_")}
        p = subprocess.run([self.binary, "--check-config", "--tmp-dir", self.tmp] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60, env=env)
        return p.returncode, p.stdout

    def test_check_config(self):
        db = os.path.join(self.tmp, "db")
        make_db(db, 10)
        rc, out = self.check("--database", db)
        self.assertEqual(rc, 0, out)
        self.assertIn("configuration OK, 12 signatures in %s" % db, out)
        empty = os.path.join(self.tmp, "empty")
        os.makedirs(empty)
        rc, out = self.check("--database", empty)
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot load database %s" % empty, out)
        rc, out = self.check("--database", db, "--on-virus", "bounce")
        self.assertEqual(rc, 78, out)
        self.assertIn("option --on-virus: 'bounce'", out)


# --------------------------------------------------------------------------
# Supervision


class AvSupervisionTests(harness.MarksEnvFailed, unittest.TestCase):
    """postern-av under s6-supervise (notification-fd 3): SIGKILLed, it is
    restarted; meanwhile Postfix answers 4xx only (milter_default_action =
    tempfail), and every accepted message is delivered."""

    env = None

    @classmethod
    def setUpClass(cls):
        binary = av_binary()
        if not shutil.which("s6-supervise"):
            raise unittest.SkipTest("s6-supervise not installed")
        cls.env = harness.Env(cls.__name__, adapter=harness.NoMilter())
        cls.supervise = None
        try:
            cls.db = os.path.join(cls.env.tmp, "db")
            make_db(cls.db, 100)
            cls.service = os.path.join(cls.env.tmp, "service")
            os.makedirs(cls.service)
            tmp = os.path.join(cls.env.tmp, "avtmp")
            os.makedirs(tmp)
            log = os.path.join(cls.env.tmp, "av.log")
            with open(os.path.join(cls.service, "run"), "w") as f:
                f.write("#!/bin/sh\nexec 2>>%s\nexec %s --socket inet:%d@127.0.0.1 "
                        "--database %s --tmp-dir %s --ready-fd 3 --log stderr\n"
                        % (log, binary, cls.env.milter_port, cls.db, tmp))
            os.chmod(os.path.join(cls.service, "run"), 0o755)
            with open(os.path.join(cls.service, "notification-fd"), "w") as f:
                f.write("3\n")
            cls.env.milter_log = log
            cls.env.start_postfix(milter=False, extra_sets=[
                "smtpd_milters=inet:127.0.0.1:%d" % cls.env.milter_port,
                "milter_default_action=tempfail"])
            cls.supervise = subprocess.Popen(
                ["s6-supervise", cls.service], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=cls.env.tmp, start_new_session=True)
            harness.write_pidfile(cls.env.tmp, "s6-supervise", cls.supervise.pid)
            cls.wait_up()
        except Exception:
            cls.env.failed = True
            cls.stop_supervise()
            cls.env.close()
            raise

    @classmethod
    def svstat(cls):
        p = harness.run(["s6-svstat", "-o", "up,ready,pid", cls.service], check=False)
        return p.stdout.split()

    @classmethod
    def wait_up(cls, old_pid=None, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = cls.svstat()
            if len(st) == 3 and st[0] == "true" and st[1] == "true" and st[2] != str(old_pid):
                return int(st[2])
            time.sleep(0.05)
        raise AssertionError("postern-av not up and ready under s6: %r" % cls.svstat())

    @classmethod
    def stop_supervise(cls):
        if cls.supervise is None:
            return
        subprocess.run(["s6-svc", "-xd", cls.service], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cls.supervise.wait(10)
        except subprocess.TimeoutExpired:
            harness.stop_group(cls.supervise, signal.SIGKILL)
        # the milter itself (its own process group is s6-supervise's)
        st = cls.svstat() if os.path.isdir(os.path.join(cls.service, "supervise")) else []
        if len(st) == 3 and st[2] not in ("-1", "0"):
            try:
                os.kill(int(st[2]), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        cls.supervise = None

    @classmethod
    def tearDownClass(cls):
        if cls.env is not None:
            cls.stop_supervise()
            cls.env.close()

    def test_killed_restarted_only_4xx_meanwhile(self):
        self.env.send_and_wait(plain("before kill"))
        pid = self.wait_up()
        os.kill(pid, signal.SIGKILL)
        codes, accepted = [], []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                accepted.append(self.env.submit(plain("during restart")))
                codes.append(250)
            except harness.SmtpError as e:
                codes.append(e.code)
            st = self.svstat()
            if len(accepted) >= 3 and st[2] != str(pid):
                break
        self.assertTrue(all(c == 250 or 400 <= c < 500 for c in codes), codes)
        self.assertIn(451, codes, "no tempfail seen while the milter was down")
        new_pid = self.wait_up(old_pid=pid)
        self.assertNotEqual(new_pid, pid)
        for qid in accepted:
            self.env.wait_delivered(qid)
        with self.assertRaises(harness.SmtpError) as cm:
            self.env.submit(with_attachment("after", "eicar.com", EICAR))
        self.assertEqual(cm.exception.code, 550)


if __name__ == "__main__":
    unittest.main()
