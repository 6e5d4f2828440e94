"""test_dkim_tables.py — postern-dkim key selection through a real Postfix:
OpenDKIM KeyTable/SigningTable files (keys made by opendkim-genkey, tables
written as OpenDKIM users write them) and --sign-subdomains. Signatures are
checked by dkimpy and OpenDKIM (see harness.py). postern-dkim only: with
POSTERN_IT_MILTER=opendkim these classes skip.
"""

import os
import signal
import subprocess
import unittest

import harness
from test_dkim_sign import DOMAIN, EnvTestCase, message


def require_postern(env):
    if env.adapter.name != "postern-dkim":
        raise unittest.SkipTest("postern-dkim only")


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class KeyTableTests(EnvTestCase):
    """--key-table FILE --signing-table refile:FILE, two domains with keys
    from opendkim-genkey, a third domain without a key."""

    @classmethod
    def make_keys(cls):
        require_postern(cls.env)
        cls.com = cls.env.keys.add_genkey("example.com", "s1")
        cls.org = cls.env.keys.add_genkey("example.org", "mail")
        cls.key_table = os.path.join(cls.env.milter_dir, "KeyTable")
        cls.signing_table = os.path.join(cls.env.milter_dir, "SigningTable")
        write_file(cls.key_table, "".join(
            "%s %s:%s:%s\n" % (k.name, k.domain, k.selector, k.path)
            for k in (cls.com, cls.org)))
        write_file(cls.signing_table, "".join(
            "*@%s %s\n" % (k.domain, k.name) for k in (cls.com, cls.org)))

    @classmethod
    def signing_keys(cls):
        return [cls.com]

    @classmethod
    def milter_spec(cls):
        return harness.MilterSpec([], [], extra_args=[
            "--key-table", cls.key_table,
            "--signing-table", "refile:" + cls.signing_table])

    def test_first_domain_signed_with_its_key(self):
        q = self.env.submit(message("table com"))
        self.assertSigned(self.env.wait_delivered(q), [self.com])
        self.assertLogged("dkim-sign", "queue_id=" + q, "sdid=example.com",
                          "selector=s1")

    def test_second_domain_signed_with_its_key(self):
        q = self.env.submit(message("table org", from_addr="bob@example.org"),
                            mail_from="bob@example.org")
        self.assertSigned(self.env.wait_delivered(q), [self.org])
        self.assertLogged("dkim-sign", "queue_id=" + q, "sdid=example.org",
                          "selector=mail")

    def test_domain_not_in_table_not_signed(self):
        q = self.env.submit(message("table net",
                                    from_addr="carol@example.net"),
                            mail_from="carol@example.net")
        self.assertUnsigned(self.env.wait_delivered(q))
        self.assertLogged("dkim-skip", "queue_id=" + q,
                          "no key for domain example.net")

    def test_key_table_naming_missing_key_file_refused(self):
        missing = os.path.join(self.env.keys.keydir, "example.com",
                               "gone.private")
        key_table = os.path.join(self.env.milter_dir, "KeyTable.missing")
        write_file(key_table, "%s example.com:s1:%s\n%s %s:%s:%s\n" % (
            self.com.name, missing,
            self.org.name, self.org.domain, self.org.selector, self.org.path))
        cmd = [self.env.adapter.binary, "--key-table", key_table,
               "--signing-table", "refile:" + self.signing_table,
               "--log", "stderr", "--check-config"]
        p = subprocess.run(cmd, text=True, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30,
                           env=harness.milter_env())
        self.assertNotEqual(p.returncode, 0, "missing key accepted:\n"
                            + p.stdout)
        self.assertIn(missing, p.stdout)
        self.assertIn(key_table, p.stdout)   # which KeyTable (and line)


class SubdomainTests(EnvTestCase):
    """Only an example.com key: sub.example.com is signed (d=example.com)
    only with --sign-subdomains; a look-alike domain never is."""

    @classmethod
    def make_keys(cls):
        require_postern(cls.env)
        cls.rsa = cls.env.keys.add(DOMAIN, "s1", "rsa", 2048)

    @classmethod
    def signing_keys(cls):
        return [cls.rsa]

    def send_sub(self, subject, domain="sub.example.com"):
        addr = "user@" + domain
        q = self.env.submit(message(subject, from_addr=addr), mail_from=addr)
        return q, self.env.wait_delivered(q)

    def test_sign_subdomains(self):
        q, d = self.send_sub("sub default")
        self.assertUnsigned(d)
        self.assertLogged("dkim-skip", "queue_id=" + q,
                          "no key for domain sub.example.com")

        # SIGKILL: no SMTP session is open, and SIGTERM costs ~5 s
        # (libmilter's listener notices it only between 5 s select()s).
        self.env.stop_milter(signal.SIGKILL)
        self.env.start_milter(harness.MilterSpec(
            [self.rsa], [DOMAIN], sign_subdomains=True))
        q, d = self.send_sub("sub with flag")
        self.assertSigned(d, [self.rsa])     # d=example.com s=s1
        self.assertLogged("dkim-sign", "queue_id=" + q, "sdid=example.com")
        q, d = self.send_sub("look-alike", domain="notexample.com")
        self.assertUnsigned(d)
        self.assertLogged("dkim-skip", "queue_id=" + q,
                          "no key for domain notexample.com")


if __name__ == "__main__":
    unittest.main()
