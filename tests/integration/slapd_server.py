"""slapd_server.py — a real Debian slapd for tests: a temporary slapd.conf and MDB database
in a temp dir, listening on loopback ports, with a small schema that includes an
Active-Directory-style proxyAddresses (case-insensitive equality and substring matching) and
the AD object classes the recipient filters name (person via inetOrgPerson, group,
publicFolder). Optional TLS (a throw-away CA and server certificate made with openssl) for
ldaps:// and StartTLS.

    with SlapdServer(tmpdir, port, tls_port=None) as ldap:
        ldap.load_ldif(text)        # ldapadd as the root DN (server running)
        ldap.uri, ldap.ldaps_uri, ldap.ca_file, ldap.root_dn, ldap.root_password, ldap.suffix
        ldap.stop(); ldap.start()   # same data after a restart
        ldap.pause(); ldap.resume() # SIGSTOP/SIGCONT: a server that accepts but never answers

Used by tests/integration/test_ldap_client.py and the postern-rcpt / postern-tables tests.
Python 3 stdlib; run with /usr/bin/python3. Needs slapd and ldap-utils (deploy/install-deps).
"""

import os
import shutil
import signal
import subprocess
import tempfile

import harness

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
LDAPADD = "/usr/bin/ldapadd"
MODULE_PATH = "/usr/lib/ldap"
SCHEMA_DIR = "/etc/ldap/schema"

# Private-arc OIDs (1.3.6.1.4.1.99999 is not assigned to anyone real; tests only).
AD_SCHEMA = """
attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'proxyAddresses'
    DESC 'Active Directory style addresses: SMTP:primary, smtp:secondary'
    EQUALITY caseIgnoreMatch
    SUBSTR caseIgnoreSubstringsMatch
    SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1123} )
objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'mailRecipient' SUP top AUXILIARY
    MAY ( proxyAddresses $ mail ) )
objectclass ( 1.3.6.1.4.1.99999.2.2 NAME 'group' SUP top STRUCTURAL
    MUST cn MAY ( member $ proxyAddresses $ mail $ description ) )
objectclass ( 1.3.6.1.4.1.99999.2.3 NAME 'publicFolder' SUP top STRUCTURAL
    MUST cn MAY ( proxyAddresses $ mail $ description ) )
"""

SUFFIX = "dc=example,dc=org"
ROOT_DN = "cn=admin," + SUFFIX
ROOT_PASSWORD = "test-root-secret"

# Base entries: the suffix, two organizational units, a read-only bind account.
BASE_LDIF = """dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,{suffix}
objectClass: organizationalUnit
ou: people

dn: ou=groups,{suffix}
objectClass: organizationalUnit
ou: groups

dn: cn=reader,{suffix}
objectClass: person
objectClass: simpleSecurityObject
cn: reader
sn: reader
userPassword: {reader_password}
"""
READER_DN = "cn=reader," + SUFFIX
READER_PASSWORD = "reader-secret"


def _run(cmd, stdin=None):
    return harness.run(cmd, input=stdin).stdout


class SlapdServer:
    """One slapd in `tmp` (a directory it may fill) on 127.0.0.1:`port` (ldap://) and, with
    `tls_port`, 127.0.0.1:`tls_port` (ldaps://; StartTLS is offered on both)."""

    def __init__(self, tmp, port, tls_port=None, ldif=""):
        self.dir = os.path.join(tmp, "slapd")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port
        self.tls_port = tls_port
        self.suffix = SUFFIX
        self.root_dn = ROOT_DN
        self.root_password = ROOT_PASSWORD
        self.reader_dn = READER_DN
        self.reader_password = READER_PASSWORD
        self.uri = "ldap://127.0.0.1:%d" % port
        self.ldaps_uri = "ldaps://127.0.0.1:%d" % tls_port if tls_port else None
        self.ca_file = None
        self.proc = None
        self.log_path = os.path.join(self.dir, "slapd.log")
        self._initial_ldif = BASE_LDIF.format(suffix=SUFFIX,
                                              reader_password=READER_PASSWORD) + "\n" + ldif
        self._configure()

    # -- set-up ------------------------------------------------------------------------------

    def _make_tls(self):
        d = os.path.join(self.dir, "tls")
        os.makedirs(d, exist_ok=True)
        ca_key, ca_crt = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
        key, csr, crt = (os.path.join(d, n) for n in ("server.key", "server.csr", "server.pem"))
        ext = os.path.join(d, "ext.cnf")
        with open(ext, "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        _run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "2", "-subj",
              "/CN=Postern test CA"])
        _run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=localhost"])
        _run(["openssl", "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
              "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext])
        self.ca_file = ca_crt
        return ca_crt, crt, key

    def _configure(self):
        schema = os.path.join(self.dir, "ad.schema")
        with open(schema, "w") as f:
            f.write(AD_SCHEMA)
        self.db_dir = os.path.join(self.dir, "db")
        os.makedirs(self.db_dir, exist_ok=True)
        lines = ["include %s/%s.schema" % (SCHEMA_DIR, s)
                 for s in ("core", "cosine", "inetorgperson")]
        lines += [
            "include " + schema,
            "pidfile " + os.path.join(self.dir, "slapd.pid"),
            "modulepath " + MODULE_PATH,
            "moduleload back_mdb",
        ]
        if self.tls_port:
            ca, crt, key = self._make_tls()
            lines += ["TLSCACertificateFile " + ca, "TLSCertificateFile " + crt,
                      "TLSCertificateKeyFile " + key]
        lines += [
            "access to attrs=userPassword by anonymous auth by * none",
            "access to * by * read",
            "database mdb",
            "maxsize 33554432",
            "suffix \"%s\"" % SUFFIX,
            "rootdn \"%s\"" % ROOT_DN,
            "rootpw " + ROOT_PASSWORD,
            "directory " + self.db_dir,
            "index objectClass eq",
            "index proxyAddresses eq,sub",
        ]
        self.conf = os.path.join(self.dir, "slapd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        path = os.path.join(self.dir, "initial.ldif")
        with open(path, "w") as f:
            f.write(self._initial_ldif)
        _run([SLAPADD, "-q", "-f", self.conf, "-l", path])

    # -- life cycle --------------------------------------------------------------------------

    def urls(self):
        urls = ["ldap://127.0.0.1:%d/" % self.port]
        if self.tls_port:
            urls.append("ldaps://127.0.0.1:%d/" % self.tls_port)
        return " ".join(urls)

    def start(self, timeout=10.0):
        """Starts slapd in the foreground (-d 0) and waits until every port accepts."""
        if self.proc:
            return
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([SLAPD, "-f", self.conf, "-h", self.urls(), "-d", "0"],
                                     stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()
        for port in filter(None, (self.port, self.tls_port)):
            if not harness.wait_port(port, timeout):
                self.stop()
                raise RuntimeError("slapd did not listen on port %d:\n%s"
                                   % (port, self.log()))

    def stop(self):
        """Stops slapd (SIGTERM, SIGKILL after 5 s); safe to call twice."""
        if not self.proc:
            return
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        except ProcessLookupError:
            pass

    def pause(self):
        """SIGSTOP: connections are accepted by the kernel but never answered."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def log(self):
        return harness.read_log(self.log_path)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- data --------------------------------------------------------------------------------

    def load_ldif(self, text):
        """Adds the entries of `text` (LDIF) as the root DN; the server must be running."""
        return _run([LDAPADD, "-x", "-H", self.uri, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
                    stdin=text)


def user_ldif(uid, primary, secondaries=(), suffix=SUFFIX):
    """An inetOrgPerson with proxyAddresses SMTP:primary and smtp:secondary..."""
    lines = ["dn: uid=%s,ou=people,%s" % (uid, suffix), "objectClass: inetOrgPerson",
             "objectClass: mailRecipient", "uid: " + uid, "cn: " + uid, "sn: " + uid,
             "mail: " + primary, "proxyAddresses: SMTP:" + primary]
    lines += ["proxyAddresses: smtp:" + a for a in secondaries]
    return "\n".join(lines) + "\n\n"


def group_ldif(cn, primary, secondaries=(), suffix=SUFFIX):
    """An AD-style group (objectClass group) with proxyAddresses."""
    lines = ["dn: cn=%s,ou=groups,%s" % (cn, suffix), "objectClass: group", "cn: " + cn,
             "proxyAddresses: SMTP:" + primary]
    lines += ["proxyAddresses: smtp:" + a for a in secondaries]
    return "\n".join(lines) + "\n\n"


def public_folder_ldif(cn, primary, suffix=SUFFIX):
    return ("dn: cn=%s,ou=groups,%s\nobjectClass: publicFolder\ncn: %s\n"
            "proxyAddresses: SMTP:%s\n\n" % (cn, suffix, cn, primary))


if __name__ == "__main__":  # manual check: start, show the URI, wait for Ctrl-C
    import sys
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 25990
    tmp = tempfile.mkdtemp(prefix="slapd-")
    try:
        with SlapdServer(tmp, port, ldif=user_ldif("alice", "alice@example.org")) as s:
            print(s.uri, s.root_dn, s.root_password, flush=True)
            signal.sigwait([signal.SIGINT, signal.SIGTERM])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
