"""harness.py — integration-test harness: a private Postfix, an smtp-sink and
a DKIM-signing milter, all on loopback high ports in a temp dir.

Python 3 stdlib plus dkimpy (python3-dkim; run with /usr/bin/python3).

Environment (set by tests/integration/CMakeLists.txt; defaults for manual runs):
  POSTERN_IT_PORT_BASE   first of a block of PORT_BLOCK ports for this process
                         (default 24000). Each ctest test gets its own block so
                         `ctest -j` is safe.
  POSTERN_IT_DKIM_BIN       path of the postern-dkim binary; when unset, or when
                         POSTERN_IT_MILTER=opendkim, OpenDKIM is the milter
                         under test (used to validate this harness).
  POSTERN_IT_FAULT_MILTER_BIN  path of tests/integration/fault_milter (used by
                         test_milter_faults.py; those tests skip when unset).
  POSTERN_IT_SPF_BIN     path of postern-spf (test_spf_*.py; they skip when
                         unset). Run as a PolicyDaemon with DNS from a
                         ZoneServer (tests/dns/zone_server.py).
  POSTERN_IT_MILTER      "postern" (default when POSTERN_IT_DKIM_BIN is set) or
                         "opendkim".
  POSTERN_IT_KEEP        "1": keep the temp dir (its path is printed).
  POSTERN_IT_VERBOSE     "1": print the Postfix log and milter stderr even
                         on success.

Layout of one environment (Env): TMP/pf (Postfix instance, see
deploy/postfix-instance), TMP/pf/sink (delivered messages), TMP/keys (0700,
private keys), TMP/milter (milter config and stderr log), TMP/verify (OpenDKIM
verifier config); policy tests: TMP/dns (zone.json, queries.log), TMP/<daemon>
(stderr.log), TMP/procs/*.pid (reaped after a killed run). Port offsets in a
block: SMTPD_OFF 0, SINK_OFF 1, MILTER_OFF 2, AUX_OFF 3, POLICY_OFF 4, DNS_OFF 5.
"""

import base64
import contextlib
import email.parser
import email.policy
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
POSTFIX_INSTANCE = os.path.join(REPO, "deploy", "postfix-instance")
OPENDKIM = "/usr/sbin/opendkim"
OPENDKIM_GENKEY = "/usr/sbin/opendkim-genkey"
OPENSSL = "openssl"

PORT_BLOCK = 10
# offsets within a port block
SMTPD_OFF, SINK_OFF, MILTER_OFF, AUX_OFF = 0, 1, 2, 3
POLICY_OFF, DNS_OFF = 4, 5
ZONE_SERVER = os.path.join(REPO, "tests", "dns", "zone_server.py")

DELIVERY_TIMEOUT = 30.0
# How long stop_milter() waits for the milter to exit before SIGKILL (it returns as soon as the
# milter exits). The postern milters and fault_milter stop at once on SIGTERM
# (Daemon::serve_milter: 0.03-0.3 s; test_milter_stop.py holds them to 2.5 s, also under ASan);
# OpenDKIM (libmilter alone, up to ~5 s) is killed past it, which its tests allow.
MILTER_STOP_WAIT = 3.0


def port_base():
    base = int(os.environ.get("POSTERN_IT_PORT_BASE", "24000"))
    if not 12000 <= base <= 32768 - PORT_BLOCK:
        raise ValueError("POSTERN_IT_PORT_BASE %d outside 12000..32758" % base)
    return base


def port_count():
    """How many ports from port_base() this test may use: POSTERN_IT_PORT_COUNT (ctest sets it
    from postern_integration_test's PORTS), else PORT_BLOCK."""
    return int(os.environ.get("POSTERN_IT_PORT_COUNT", str(PORT_BLOCK)))


def run(cmd, check=True, **kw):
    """Run a command, capture output as text; raise with output on failure."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s"
                           % (p.returncode, " ".join(cmd), p.stdout))
    return p


def wait_port(port, timeout, proc=None):
    """True once 127.0.0.1:`port` accepts a connection; False after `timeout` s, or as soon
    as `proc` (a Popen, when given) has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def read_log(path):
    """The text of the log file at `path` (undecodable bytes replaced); "" when it cannot be
    read (not written yet)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def wait_log_line(read, needles, timeout=5.0, interval=0.1):
    """The first line of read() (a function returning log text) that contains every string
    in `needles`, polling every `interval` s; None when none did after `timeout` s (read
    once more at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in read().splitlines():
            if all(n in line for n in needles):
                return line
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def daemon_binary(variable):
    """The path of a program under test from the environment variable `variable` (set by
    tests/integration/<daemon>.cmake): unittest.SkipTest when unset, RuntimeError when the
    file is not executable."""
    binary = os.environ.get(variable, "")
    if not binary:
        raise unittest.SkipTest("%s not set" % variable)
    if not os.access(binary, os.X_OK):
        raise RuntimeError("%s is not executable" % binary)
    return binary


def policy_restrictions(spec, after=""):
    """The smtpd_recipient_restrictions setting (a --set for Env.start_postfix) that asks the
    policy service at `spec` (e.g. PolicyDaemon.postfix_spec) first, then `after` (a
    restriction list ending in ", " or ""), then permit_mynetworks and
    reject_unauth_destination (Postfix SMTPD_POLICY_README)."""
    return ("smtpd_recipient_restrictions = check_policy_service %s, %s"
            "permit_mynetworks, reject_unauth_destination" % (spec, after))


# --------------------------------------------------------------------------
# Keys


class Key:
    """A DKIM key pair generated with openssl: private PEM on disk (0600),
    TXT record value computed here (RFC 6376 §3.6.1; Ed25519 per RFC 8463:
    p= is the raw 32-byte public key)."""

    def __init__(self, keydir, domain, selector, algorithm="rsa", bits=2048):
        self.domain, self.selector, self.algorithm = domain, selector, algorithm
        self.path = os.path.join(keydir, "%s.%s.private" % (selector, domain))
        if algorithm == "rsa":
            cmd = [OPENSSL, "genpkey", "-algorithm", "RSA",
                   "-pkeyopt", "rsa_keygen_bits:%d" % bits]
        elif algorithm == "ed25519":
            cmd = [OPENSSL, "genpkey", "-algorithm", "ed25519"]
        else:
            raise ValueError(algorithm)
        old = os.umask(0o077)
        try:
            run(cmd + ["-out", self.path])
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        der = subprocess.run([OPENSSL, "pkey", "-in", self.path, "-pubout",
                              "-outform", "DER"], check=True,
                             stdout=subprocess.PIPE).stdout
        if algorithm == "rsa":
            p = base64.b64encode(der).decode()
            self.txt = "v=DKIM1; k=rsa; p=" + p
        else:
            p = base64.b64encode(der[-32:]).decode()
            self.txt = "v=DKIM1; k=ed25519; p=" + p

    @property
    def name(self):
        return "%s._domainkey.%s" % (self.selector, self.domain)


class GenkeyKey(Key):
    """An RSA key made by OpenDKIM's own opendkim-genkey, the way OpenDKIM
    users make theirs: KEYDIR/DOMAIN/SELECTOR.private (dir 0700, key 0600)
    and the TXT record taken from the SELECTOR.txt zone-file snippet it
    writes (quoted strings joined)."""

    def __init__(self, keydir, domain, selector, bits=2048):
        self.domain, self.selector, self.algorithm = domain, selector, "rsa"
        d = os.path.join(keydir, domain)
        os.makedirs(d, mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        run([OPENDKIM_GENKEY, "-b", str(bits), "-d", domain, "-s", selector,
             "-D", d])
        self.path = os.path.join(d, selector + ".private")
        os.chmod(self.path, 0o600)
        with open(os.path.join(d, selector + ".txt")) as f:
            zone = f.read()
        # everything between the parentheses, quoted strings concatenated
        inner = zone[zone.index("(") + 1:zone.rindex(")")]
        self.txt = "".join(re.findall(r'"([^"]*)"', inner))


class KeyRing:
    """All keys of an environment; answers DNS-like TXT lookups."""

    def __init__(self, keydir):
        self.keydir = keydir
        os.makedirs(keydir, mode=0o700, exist_ok=True)
        os.chmod(keydir, 0o700)
        self.keys = []

    def add(self, domain, selector, algorithm="rsa", bits=2048):
        k = Key(self.keydir, domain, selector, algorithm, bits)
        self.keys.append(k)
        return k

    def add_genkey(self, domain, selector, bits=2048):
        """A key made with opendkim-genkey (see GenkeyKey)."""
        k = GenkeyKey(self.keydir, domain, selector, bits)
        self.keys.append(k)
        return k

    def txt(self, name):
        name = name.rstrip(".").lower()
        for k in self.keys:
            if k.name.lower() == name:
                return k.txt
        return None

    def dnsfunc(self, name, timeout=5):
        """dkimpy dnsfunc: bytes name -> TXT bytes or None."""
        if isinstance(name, bytes):
            name = name.decode()
        t = self.txt(name)
        return t.encode() if t is not None else None

    def write_test_public_keys(self, path):
        """OpenDKIM TestPublicKeys file: one 'name TXT' per line."""
        with open(path, "w") as f:
            for k in self.keys:
                f.write("%s %s\n" % (k.name, k.txt))


# --------------------------------------------------------------------------
# Milters under test


class MilterSpec:
    """What the milter under test should do; turned into a command line by
    an adapter (PosternDkim or OpenDkimMilter)."""

    def __init__(self, keys, domains, internal_hosts="127.0.0.0/8, ::1/128",
                 sign_subdomains=False, canonicalization="relaxed/relaxed",
                 extra_args=()):
        self.keys = list(keys)          # Key objects, signing order
        self.domains = list(domains)
        self.internal_hosts = internal_hosts
        self.sign_subdomains = sign_subdomains
        self.canonicalization = canonicalization
        self.extra_args = list(extra_args)


class PosternDkim:
    name = "postern-dkim"
    can_dual_sign = True
    has_ready_fd = True
    logs_to_stderr = True

    def __init__(self, binary):
        self.binary = binary

    def command(self, spec, port, workdir, ready_fd):
        cmd = [self.binary, "--socket", "inet:%d@127.0.0.1" % port]
        for d in spec.domains:
            cmd += ["--domain", d]
        for k in spec.keys:
            cmd += ["--selector", k.selector, "--key-file", k.path]
        if spec.internal_hosts is not None:
            cmd += ["--internal-hosts", spec.internal_hosts]
        if spec.sign_subdomains:
            cmd += ["--sign-subdomains"]
        if spec.canonicalization:
            cmd += ["--canonicalization", spec.canonicalization]
        if ready_fd is not None:
            cmd += ["--ready-fd", str(ready_fd)]
        cmd += ["--log", "stderr"] + spec.extra_args
        return cmd


class OpenDkimMilter:
    """OpenDKIM as a stand-in signer (validates the harness without
    postern-dkim). No readiness fd: the harness polls the port. OpenDKIM logs
    only to syslog, which does not exist here, so no log assertions."""

    name = "opendkim"
    can_dual_sign = False
    has_ready_fd = False
    logs_to_stderr = False

    def command(self, spec, port, workdir, ready_fd):
        keytable = os.path.join(workdir, "keytable")
        signtable = os.path.join(workdir, "signingtable")
        conf = os.path.join(workdir, "opendkim.conf")
        with open(keytable, "w") as kt, open(signtable, "w") as st:
            for i, k in enumerate(spec.keys):
                kt.write("key%d %s:%s:%s\n" % (i, k.domain, k.selector, k.path))
            for d in spec.domains:
                for i, k in enumerate(spec.keys):
                    if k.domain == d or spec.sign_subdomains:
                        st.write("*@%s key%d\n" % (d, i))
                        if spec.sign_subdomains:
                            st.write("*@*.%s key%d\n" % (d, i))
        hosts = (spec.internal_hosts or "").replace(" ", "")
        lines = [
            "Syslog no",
            "Mode s",
            "Socket inet:%d@127.0.0.1" % port,
            "KeyTable file:%s" % keytable,
            "SigningTable refile:%s" % signtable,
            "InternalHosts csl:%s" % (hosts or "255.255.255.255/32"),
            "Canonicalization %s" % spec.canonicalization,
            "MultipleSignatures yes",
            "RequireSafeKeys false",
            "UMask 007",
        ]
        # OpenDKIM 2.11 has one global SignatureAlgorithm and refuses a key
        # of another type, so it cannot dual-sign RSA + Ed25519 from one
        # instance (postern-dkim detects the algorithm per key).
        algs = {k.algorithm for k in spec.keys}
        if algs == {"ed25519"}:
            lines.append("SignatureAlgorithm ed25519-sha256")

        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(conf, 0o600)
        return [OPENDKIM, "-f", "-x", conf]


class FaultMilterSpec:
    """fault_milter settings: the stage whose callback throws (connect, mail,
    header, eoh, body, eom) and whether header fields get replies (False:
    SMFIP_NR_HDR, as postern-dkim negotiates)."""

    def __init__(self, stage, step_replies=False):
        self.stage = stage
        self.step_replies = step_replies


class FaultMilter:
    """tests/integration/fault_milter (POSTERN_IT_FAULT_MILTER_BIN): a milter
    on common/milter.hpp whose session throws at one stage. Stopped with
    SIGTERM, which Daemon::serve_milter answers at once (exit status 0)."""

    name = "fault_milter"
    can_dual_sign = False
    has_ready_fd = True
    logs_to_stderr = True
    stop_signal = signal.SIGTERM

    def __init__(self, binary):
        self.binary = binary

    def command(self, spec, port, workdir, ready_fd):
        cmd = [self.binary, "--socket", "inet:%d@127.0.0.1" % port,
               "--stage", spec.stage,
               "--step-replies", "yes" if spec.step_replies else "no"]
        if ready_fd is not None:
            cmd += ["--ready-fd", str(ready_fd)]
        return cmd


def fault_milter_adapter():
    return FaultMilter(daemon_binary("POSTERN_IT_FAULT_MILTER_BIN"))


def milter_env():
    """Environment for the milter: the daemon reads POSTERN_DKIM_<OPTION>
    variables as options, so pass none of ours."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("POSTERN_")}


def milter_adapter():
    which = os.environ.get("POSTERN_IT_MILTER", "")
    binary = os.environ.get("POSTERN_IT_DKIM_BIN", "")
    if which == "opendkim" or (not binary and which != "postern"):
        return OpenDkimMilter()
    if not binary:
        for cand in ("/work/build/milters/dkim/postern-dkim",
                     os.path.join(REPO, "build", "milters", "dkim",
                                  "postern-dkim")):
            if os.access(cand, os.X_OK):
                binary = cand
                break
    if not binary or not os.access(binary, os.X_OK):
        raise RuntimeError("POSTERN_IT_DKIM_BIN not set or not executable")
    return PosternDkim(binary)


# --------------------------------------------------------------------------
# Delivered messages


class Delivered:
    """One message as written by smtp-sink: its envelope (X-* lines), and
    the message bytes with smtp-sink's own Received: header removed, in
    CRLF form."""

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        self.envelope = {}
        i = 0
        while i < len(lines) and lines[i].startswith(b"X-"):
            k, _, v = lines[i].partition(b":")
            self.envelope[k.decode()] = v.strip().decode("latin-1")
            i += 1
        # smtp-sink's own Received: header with its continuation lines
        if i < len(lines) and lines[i].lower().startswith(b"received:") \
                and b"(smtp-sink)" in b"\n".join(lines[i:i + 3]):
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
        body = b"\n".join(lines[i:])
        # smtp-sink writes LF; DKIM works on CRLF
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.data = body
        self.message = email.parser.BytesParser(
            policy=email.policy.compat32).parsebytes(body)

    def headers(self, name):
        return self.message.get_all(name) or []

    @property
    def dkim_signatures(self):
        return self.headers("DKIM-Signature")

    def signature_tags(self):
        """List of dicts of DKIM-Signature tags (whitespace removed)."""
        out = []
        for sig in self.dkim_signatures:
            tags = {}
            for part in re.sub(r"\s+", "", str(sig)).split(";"):
                if "=" in part:
                    k, _, v = part.partition("=")
                    tags[k] = v
            out.append(tags)
        return out


class SmtpError(Exception):
    def __init__(self, stage, code, msg):
        super().__init__("%s: %d %s" % (stage, code, msg))
        self.stage, self.code, self.msg = stage, code, msg


# --------------------------------------------------------------------------
# The environment

TMP_ROOT = tempfile.gettempdir()


def reap_stale(base):
    """Stop what a killed earlier run with the same port block left behind
    (ctest kills a test that times out with SIGKILL: no teardown ran)."""
    import glob
    for d in glob.glob(os.path.join(TMP_ROOT, "postern-*-%d-*" % base)):
        pf = os.path.join(d, "pf")
        if os.path.isdir(pf):
            run([POSTFIX_INSTANCE, "stop", pf], check=False)
            run([POSTFIX_INSTANCE, "sink-stop", pf], check=False)
        # milters run in TMP/milter (fault_milter names no path of d)
        kill_own_group(os.path.join(d, "milter", "pid"), d)
        for pidfile in glob.glob(os.path.join(d, "procs", "*.pid")):
            kill_own_group(pidfile, d)
        if os.environ.get("POSTERN_IT_KEEP") != "1":
            shutil.rmtree(d, ignore_errors=True)


def kill_own_group(pidfile, tmp):
    """SIGKILL the process group of the pid in `pidfile` if that process
    still runs in (cwd) or names (cmdline) the temp dir `tmp`: a leftover of
    a killed run, not a reused pid."""
    try:
        with open(pidfile) as f:
            pid = int(f.read())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            mine = tmp.encode() in f.read()
        mine = mine or os.readlink("/proc/%d/cwd" % pid).startswith(tmp)
        if mine:
            os.killpg(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass



class MarksEnvFailed:
    """unittest.TestCase mixin: a test that fails or errors marks its class's Env as failed,
    so the Env prints Postfix's and the daemons' logs when the class closes it. The Env is
    `type(self).env` unless the class overrides failed_env()."""

    def failed_env(self):
        return type(self).env

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            env = self.failed_env()
            if env is not None:
                env.failed = True
        return out


class ClassEnv(MarksEnvFailed):
    """unittest.TestCase mixin for a class that shares one Env, `cls.env`, set up in its
    setUpClass (see Env.starting): tearDownClass closes it; assertLogged waits for a line of
    the milter's stderr."""

    env = None
    log_name = "milter"  # for assertLogged's failure message

    @classmethod
    def tearDownClass(cls):
        if cls.env is not None:
            cls.env.close()

    def assertLogged(self, *needles, timeout=5.0):
        """Some line of the milter's stderr contains all `needles` within `timeout` s;
        returns it."""
        line = wait_log_line(self.env.milter_stderr, needles, timeout)
        if line is None:
            self.fail("no %s log line with %r in:\n%s"
                      % (self.log_name, needles, self.env.milter_stderr()[-4000:]))
        return line


class Env:
    """Temp dir + smtp-sink + private Postfix (+ milter, started separately
    with start_milter). Use as a context manager or call close()."""

    def __init__(self, name="it", relay_domains="example.net example.org",
                 adapter=None):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (private Postfix instance)")
        for prog in (POSTFIX_INSTANCE, "/usr/sbin/smtp-sink",
                     "/usr/lib/postfix/sbin/master"):
            if not os.access(prog, os.X_OK):
                raise unittest.SkipTest("missing %s" % prog)
        self.base = port_base()
        self.smtpd_port = self.base + SMTPD_OFF
        self.sink_port = self.base + SINK_OFF
        self.milter_port = self.base + MILTER_OFF
        self.aux_port = self.base + AUX_OFF
        reap_stale(self.base)
        self.tmp = tempfile.mkdtemp(prefix="postern-%s-%d-" % (name, self.base),
                                    dir=TMP_ROOT)
        os.chmod(self.tmp, 0o755)
        self.pfdir = os.path.join(self.tmp, "pf")
        self.keys = KeyRing(os.path.join(self.tmp, "keys"))
        self.milter_dir = os.path.join(self.tmp, "milter")
        os.makedirs(self.milter_dir, mode=0o700)
        self.milter_log = os.path.join(self.milter_dir, "stderr.log")
        self.milter = None
        self.milter_proc = None
        self.adapter = adapter if adapter is not None else milter_adapter()
        self.relay_domains = relay_domains
        self._postfix_started = False
        self._seen_sink_files = set()
        self.failed = False
        self._services = []

    # -- lifecycle ---------------------------------------------------------

    def pfi(self, *args, check=True):
        return run([POSTFIX_INSTANCE] + list(args), check=check)

    def start_postfix(self, extra_sets=(), milter=True):
        """milter=False: no smtpd_milters (policy-service tests)."""
        for p in (self.smtpd_port, self.sink_port):
            if not port_free(p):
                raise RuntimeError("port %d on 127.0.0.1 is in use" % p)
        sets = ["relay_domains=%s" % self.relay_domains]
        sets += list(extra_sets)
        args = ["init", self.pfdir, "--port", str(self.smtpd_port),
                "--relay", "127.0.0.1:%d" % self.sink_port]
        if milter:
            args += ["--milter", "inet:127.0.0.1:%d" % self.milter_port]
        for s in sets:
            args += ["--set", s]
        self.pfi(*args)
        self.pfi("sink", self.pfdir, str(self.sink_port))
        self._postfix_started = True
        self.pfi("start", self.pfdir)

    def start_milter(self, spec=None, timeout=15.0):
        """Start the milter under test; returns once it is ready."""
        if spec is not None:
            self.milter = spec
        assert self.milter is not None
        if not port_free(self.milter_port):
            raise RuntimeError("milter port %d is in use" % self.milter_port)
        rfd = wfd = None
        if self.adapter.has_ready_fd:
            rfd, wfd = os.pipe()
        cmd = self.adapter.command(self.milter, self.milter_port,
                                   self.milter_dir, wfd)
        log = open(self.milter_log, "ab")
        log.write(("--- start: %s\n" % " ".join(cmd)).encode())
        log.flush()
        env = milter_env()
        self.milter_proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
            pass_fds=(wfd,) if wfd is not None else (),
            cwd=self.milter_dir, start_new_session=True)
        log.close()
        with open(os.path.join(self.milter_dir, "pid"), "w") as f:
            f.write("%d\n" % self.milter_proc.pid)
        try:
            if wfd is not None:
                os.close(wfd)
                wfd = None
                if not wait_ready_fd(rfd, self.milter_proc, timeout):
                    rc = self.milter_proc.poll()
                    raise RuntimeError(
                        "milter exited with %s before ready" % rc
                        if rc is not None else
                        "milter not ready within %ss" % timeout)
            elif not wait_port(self.milter_port, timeout):
                raise RuntimeError("milter port %d not listening"
                                   % self.milter_port)
        except Exception:
            self.stop_milter()
            raise
        finally:
            if rfd is not None:
                os.close(rfd)

    def stop_milter(self, sig=None, wait=True):
        """Stop the milter: the adapter's stop signal (SIGTERM unless it says
        otherwise) or `sig`, SIGKILL after MILTER_STOP_WAIT s. wait=False only signals and
        returns a function that finishes the stop (close() overlaps the wait
        with stopping Postfix)."""
        p, self.milter_proc = self.milter_proc, None
        if p is None:
            return lambda: None
        if sig is None:
            sig = getattr(self.adapter, "stop_signal", signal.SIGTERM)
        if p.poll() is None:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass

        def finish():
            wait_group(p, MILTER_STOP_WAIT)
        if wait:
            finish()
        return finish

    def restart_milter(self):
        self.stop_milter()
        self.start_milter()

    def own(self, service, show_log=False):
        """Let close() stop `service` (an object with stop()); with show_log, its log() (and
        log_path) is printed when the environment failed. Services are stopped in the
        reverse order of own(), before the milter and Postfix. Returns `service`."""
        self._services.append((service, show_log))
        return service

    def start_zone_server(self, zone):
        """A ZoneServer serving `zone` on the block's DNS port, started and owned."""
        dns = self.own(ZoneServer(self.tmp, self.base + DNS_OFF, zone))
        dns.start()
        return dns

    def start_policy_daemon(self, name, binary, args=()):
        """A PolicyDaemon `name` on the block's policy port, started and owned."""
        daemon = self.own(PolicyDaemon(self.tmp, name, binary, self.base + POLICY_OFF, args),
                          show_log=True)
        daemon.start()
        return daemon

    @contextlib.contextmanager
    def starting(self):
        """with env.starting(): the set-up of a test class. An exception marks the Env as
        failed and closes it (stopping what was started, printing the logs), then
        propagates."""
        try:
            yield self
        except BaseException:
            self.failed = True
            self.close()
            raise

    def close(self):
        for service, _ in reversed(self._services):
            service.stop()
        if self.failed:
            for service, show_log in self._services:
                if show_log:
                    sys.stderr.write("\n===== %s stderr (%s) =====\n%s"
                                     % (service.name, service.log_path, service.log()[-20000:]))
        self._services = []
        # Overlap libmilter's SIGTERM latency with stopping Postfix and the
        # sink (each takes ~1-2 s) instead of paying them in turn.
        finish_milter = self.stop_milter(wait=False)
        if self._postfix_started:
            stops = [subprocess.Popen([POSTFIX_INSTANCE, what, self.pfdir],
                                      stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
                     for what in ("stop", "sink-stop")]
            for p in stops:
                p.wait(60)
        finish_milter()
        if self.failed or os.environ.get("POSTERN_IT_VERBOSE") == "1":
            self.dump_logs()
        if os.environ.get("POSTERN_IT_KEEP") == "1":
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.failed = True
        self.close()

    def dump_logs(self):
        for title, path in (("Postfix log", self.postfix_log_path),
                            ("milter stderr", self.milter_log)):
            sys.stderr.write("\n===== %s (%s) =====\n" % (title, path))
            try:
                with open(path, errors="replace") as f:
                    sys.stderr.write(f.read()[-20000:])
            except OSError as e:
                sys.stderr.write("(unreadable: %s)\n" % e)
        sys.stderr.flush()

    # -- logs --------------------------------------------------------------

    @property
    def postfix_log_path(self):
        return os.path.join(self.pfdir, "log", "postfix.log")

    def postfix_log(self):
        return read_log(self.postfix_log_path)

    def milter_stderr(self):
        return read_log(self.milter_log)

    # -- sending -----------------------------------------------------------

    def connect(self, xclient=None, helo="client.example"):
        """SMTP connection to the instance. xclient: dict of XCLIENT
        attributes (e.g. {"ADDR": "203.0.113.9"}); Postfix answers XCLIENT
        with a new greeting, so EHLO is sent again."""
        s = smtplib.SMTP("127.0.0.1", self.smtpd_port, local_hostname=helo,
                         timeout=60)
        s.ehlo()
        if xclient:
            attrs = " ".join("%s=%s" % kv for kv in xclient.items())
            code, msg = s.docmd("XCLIENT", attrs)
            if code != 220:
                s.close()
                raise SmtpError("XCLIENT", code, msg.decode(errors="replace"))
            s.ehlo_resp = None
            s.ehlo()
        return s

    def submit(self, message, mail_from="alice@example.com",
               rcpt_to=("bob@example.net",), xclient=None, raw=False):
        """Send one message; return the Postfix queue id. message is bytes
        or str. raw=True sends the bytes after DATA exactly as given (bare
        LF stays bare LF; the caller must dot-stuff), followed by CRLF.CRLF.
        Raises SmtpError for any non-2xx/3xx reply."""
        if isinstance(message, str):
            message = message.encode("utf-8")
        s = self.connect(xclient=xclient)
        try:
            opts = ["BODY=8BITMIME"] if any(b > 127 for b in message) else []
            code, msg = s.mail(mail_from, opts)
            if code != 250:
                raise SmtpError("MAIL", code, msg.decode(errors="replace"))
            for r in rcpt_to:
                code, msg = s.rcpt(r)
                if code not in (250, 251):
                    raise SmtpError("RCPT", code, msg.decode(errors="replace"))
            if raw:
                code, msg = s.docmd("DATA")
                if code != 354:
                    raise SmtpError("DATA", code, msg.decode(errors="replace"))
                if not message.endswith(b"\n"):
                    message += b"\r\n"
                s.send(message + b".\r\n")
                code, msg = s.getreply()
            else:
                code, msg = s.data(message)
            text = msg.decode(errors="replace")
            if code != 250:
                raise SmtpError("end of DATA", code, text)
            m = re.search(r"queued as ([0-9A-Za-z]+)", text)
            if not m:
                raise RuntimeError("no queue id in reply: %r" % text)
            return m.group(1)
        finally:
            try:
                s.quit()
            except Exception:
                s.close()

    # -- delivery ----------------------------------------------------------

    def wait_delivered(self, queue_id, timeout=DELIVERY_TIMEOUT):
        """Wait until Postfix reports queue_id sent to the sink and return
        the Delivered message."""
        deadline = time.monotonic() + timeout
        pat = re.compile(r"\b%s: to=<[^>]*>.*status=(\w+)" % re.escape(queue_id))
        status = None
        while time.monotonic() < deadline:
            for m in pat.finditer(self.postfix_log()):
                status = m.group(1)
            if status == "sent":
                break
            if status in ("bounced", "expired"):
                raise AssertionError("%s was %s" % (queue_id, status))
            time.sleep(0.05)
        else:
            raise AssertionError("%s not delivered within %ss (last status %s)"
                                 % (queue_id, timeout, status))
        return self.find_delivered(queue_id)

    def find_delivered(self, queue_id):
        sinkdir = os.path.join(self.pfdir, "sink")
        needle = re.compile(rb"\(Postfix\) with E?SMTPS?A? id %s\b"
                            % re.escape(queue_id.encode()))
        for name in sorted(os.listdir(sinkdir)):
            path = os.path.join(sinkdir, name)
            if path in self._seen_sink_files:
                continue
            with open(path, "rb") as f:
                head = f.read(65536)
            if needle.search(head):
                self._seen_sink_files.add(path)
                return Delivered(path)
        raise AssertionError("no sink file for queue id %s" % queue_id)

    def send_and_wait(self, message, **kw):
        return self.wait_delivered(self.submit(message, **kw))

    def transaction(self, mail_from, rcpts, data, xclient=None, helo="client.example",
                    accept=(250, 251), rcpt_command=False):
        """One SMTP transaction that may stop at RCPT: MAIL FROM (raises SmtpError unless
        250), RCPT TO for each of `rcpts`, then, when some RCPT reply code is in `accept`,
        DATA with `data` (raises SmtpError unless 250); otherwise RSET. rcpt_command=True
        sends each address verbatim as "RCPT TO:<address>" (smtplib's rcpt() would quote
        it). Returns ([(RCPT code, text)], Postfix queue id or None)."""
        s = self.connect(xclient=xclient, helo=helo)
        try:
            code, msg = s.mail(mail_from)
            if code != 250:
                raise SmtpError("MAIL", code, msg.decode(errors="replace"))
            replies = []
            for r in rcpts:
                if rcpt_command:
                    code, msg = s.docmd("RCPT TO:<%s>" % r)
                else:
                    code, msg = s.rcpt(r)
                replies.append((code, msg.decode(errors="replace")))
            if not any(c in accept for c, _ in replies):
                s.rset()
                return replies, None
            code, msg = s.data(data)
            text = msg.decode(errors="replace")
            if code != 250:
                raise SmtpError("end of DATA", code, text)
            return replies, re.search(r"queued as ([0-9A-Za-z]+)", text).group(1)
        finally:
            try:
                s.quit()
            except Exception:
                s.close()

    def held_file(self, queue_id, timeout=10.0):
        """The path of `queue_id` in Postfix's hold queue once it is there (a milter's
        quarantine, HOLD); AssertionError after `timeout` s."""
        path = os.path.join(self.pfdir, "queue", "hold", queue_id)
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise AssertionError("%s not in the hold queue:\n%s"
                                     % (queue_id, self.queue_empty()[1]))
            time.sleep(0.1)
        return path

    def queue_empty(self):
        p = self.pfi("queue", self.pfdir, check=False)
        return p.returncode == 0, p.stdout

    def sink_files(self):
        return sorted(os.listdir(os.path.join(self.pfdir, "sink")))


# --------------------------------------------------------------------------
# Verifiers


def dkimpy_verify_all(data, keyring):
    """Verify every DKIM-Signature with dkimpy; return a list of
    (domain, selector, ok) in header order."""
    import dkim
    d = dkim.DKIM(data)
    results = []
    nsigs = len([1 for (name, _) in d.headers
                 if name.lower() == b"dkim-signature"])
    for idx in range(nsigs):
        d = dkim.DKIM(data)
        ok = d.verify(idx=idx, dnsfunc=keyring.dnsfunc)
        results.append((d.domain.decode() if d.domain else None,
                        d.selector.decode() if d.selector else None, ok))
    return results


class OpenDkimVerifier:
    """OpenDKIM's own verifier in test mode (`opendkim -t FILE`) with the
    public keys given by TestPublicKeys instead of DNS. Config and keys
    live in a private 0700 directory (OpenDKIM refuses unsafe paths)."""

    def __init__(self, workdir, keyring):
        self.dir = workdir
        os.makedirs(workdir, mode=0o700, exist_ok=True)
        os.chmod(workdir, 0o700)
        self.keyring = keyring
        self.keys = os.path.join(workdir, "testkeys")
        self.conf = os.path.join(workdir, "verify.conf")
        with open(self.conf, "w") as f:
            f.write("Syslog no\nMode v\nTestPublicKeys %s\n"
                    "AlwaysAddARHeader yes\n" % self.keys)

    def verify(self, data):
        """Return ({(sdid, selector): result}, output) from the
        Authentication-Results header OpenDKIM computes (result is "pass",
        "fail", "neutral", ...)."""
        self.keyring.write_test_public_keys(self.keys)
        msg = os.path.join(self.dir, "msg.eml")
        with open(msg, "wb") as f:
            f.write(data)
        p = subprocess.run([OPENDKIM, "-x", self.conf, "-vv", "-t", msg],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        results = {}
        for m in re.finditer(r"dkim=(\w+)[^;']*?header\.d=(\S+)[^;']*?"
                             r"header\.s=([^\s;']+)", p.stdout):
            results[(m.group(2), m.group(3))] = m.group(1)
        if p.returncode != 0:
            results[("", "")] = "exit %d" % p.returncode
        return results, p.stdout


# --------------------------------------------------------------------------
# Policy services: a DNS server for them and the policy daemon under test


class NoMilter:
    """Env adapter for tests without a milter (start_postfix(milter=False))."""
    name = "none"


def wait_ready_fd(rfd, proc, timeout):
    """True once a newline arrives on the pipe `rfd`; False if the writer
    closes it, `proc` exits or `timeout` seconds pass."""
    import select
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        r, _, _ = select.select([rfd], [], [], 0.1)
        if r:
            chunk = os.read(rfd, 64)
            if not chunk:
                return False
            buf += chunk
            if b"\n" in buf:
                return True
        if proc.poll() is not None:
            return False
    return False


def write_pidfile(tmp, name, pid):
    """TMP/procs/NAME.pid, read by reap_stale after a killed run."""
    d = os.path.join(tmp, "procs")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".pid"), "w") as f:
        f.write("%d\n" % pid)


def stop_group(proc, sig=signal.SIGTERM, timeout=5.0):
    """Signal the process group of `proc` (started with
    start_new_session=True), wait, SIGKILL after `timeout` seconds."""
    if proc is None:
        return
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
    wait_group(proc, timeout)


def wait_group(proc, timeout):
    """Wait up to `timeout` seconds for `proc` (started with start_new_session=True) to exit;
    then SIGKILL its process group and reap it."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


class ZoneServer:
    """tests/dns/zone_server.py on 127.0.0.1:`port` serving `zone` (a dict
    in its JSON zone format) from TMP/dns/zone.json, with its query log
    (--verbose) in TMP/dns/queries.log. stop() and start() again reuse the
    port, so a resolver forwarding there sees the server go and come back."""

    def __init__(self, tmp, port, zone):
        self.tmp = tmp
        self.dir = os.path.join(tmp, "dns")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.zone_path = os.path.join(self.dir, "zone.json")
        self.log_path = os.path.join(self.dir, "queries.log")
        self.proc = None
        self.write_zone(zone)

    def write_zone(self, zone):
        import json
        with open(self.zone_path + ".new", "w") as f:
            json.dump(zone, f, indent=1)
        os.replace(self.zone_path + ".new", self.zone_path)

    def start(self, timeout=10.0):
        if self.proc is not None:
            return
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", ZONE_SERVER, "--zone", self.zone_path,
             "--port", str(self.port), "--verbose"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
            cwd=self.dir, start_new_session=True)
        log.close()
        write_pidfile(self.tmp, "zone_server", self.proc.pid)
        import select
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().decode().strip() if r else ""
        if line != "READY %d" % self.port:
            self.stop()
            raise RuntimeError("zone_server did not start (got %r); see %s"
                               % (line, self.log_path))

    def stop(self):
        p, self.proc = self.proc, None
        stop_group(p)
        if p is not None and p.stdout:
            p.stdout.close()

    def queries(self, name=None, rtype=None):
        """(name, type, proto) for each query logged, optionally only those
        for `name` (case-insensitive) and `rtype`."""
        out = []
        try:
            with open(self.log_path, errors="replace") as f:
                for line in f:
                    m = re.match(r"zone_server: query (\S+) (\S+) (udp|tcp)$",
                                 line.strip())
                    if not m:
                        continue
                    q = (m.group(1), m.group(2), m.group(3))
                    if name is not None and q[0] != name.rstrip(".").lower():
                        continue
                    if rtype is not None and q[1] != rtype:
                        continue
                    out.append(q)
        except OSError:
            pass
        return out


def spf_binary():
    """Path of postern-spf (POSTERN_IT_SPF_BIN, set by CMake); skip when
    unset."""
    return daemon_binary("POSTERN_IT_SPF_BIN")


class PolicyDaemon:
    """A policy service under test (postern-spf) listening on
    inet:PORT@127.0.0.1, started with --ready-fd and --log stderr; its
    stderr goes to TMP/NAME/stderr.log. `args` are its other options."""

    def __init__(self, tmp, name, binary, port, args=()):
        self.tmp, self.name, self.binary = tmp, name, binary
        self.port = port
        self.args = list(args)
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None

    @property
    def postfix_spec(self):
        """The check_policy_service argument for Postfix."""
        return "inet:127.0.0.1:%d" % self.port

    def start(self, timeout=15.0):
        if not port_free(self.port):
            raise RuntimeError("policy port %d is in use" % self.port)
        rfd, wfd = os.pipe()
        cmd = [self.binary, "--socket", "inet:%d@127.0.0.1" % self.port,
               "--ready-fd", str(wfd), "--log", "stderr"] + self.args
        log = open(self.log_path, "ab")
        log.write(("--- start: %s\n" % " ".join(cmd)).encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=milter_env(), pass_fds=(wfd,), cwd=self.dir,
                start_new_session=True)
        finally:
            log.close()
            os.close(wfd)
        write_pidfile(self.tmp, self.name, self.proc.pid)
        try:
            if not wait_ready_fd(rfd, self.proc, timeout):
                rc = self.proc.poll()
                raise RuntimeError("%s exited with %s before ready" % (self.name, rc)
                                   if rc is not None else
                                   "%s not ready within %ss" % (self.name, timeout))
        except Exception:
            self.stop(signal.SIGKILL)
            raise
        finally:
            os.close(rfd)

    def stop(self, sig=signal.SIGTERM):
        p, self.proc = self.proc, None
        stop_group(p, sig)

    def log(self):
        return read_log(self.log_path)

    def events(self, event, **fields):
        """Log lines of `event` whose key=value fields include `fields`
        (values compared unquoted), as dicts."""
        out = []
        for line in self.log().splitlines():
            words = line.split(" ", 1)
            if line.startswith("---") or not words or event not in line.split():
                continue
            kv = dict((k, v.strip('"')) for k, v in re.findall(
                r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)', line))
            if all(kv.get(k) == v for k, v in fields.items()):
                out.append(kv)
        return out
