"""test_dkim_dnssec.py — postern-dkim --dns-trust-anchor through a real Postfix.

A trust anchor (a DS record) for example.org while the zone server signs nothing: libunbound
must find a DNSKEY for example.org and finds none, so the key lookup under example.org is DNSSEC
bogus → dkim=temperror (the message is delivered: --temperror accept), while a domain the anchor
does not cover (other.example) still verifies as pass. Without the option (every other test
class) the same unsigned answers are simply insecure.
"""

import os
import unittest

from test_dkim_dmarc import DmarcEnvTestCase
from test_dkim_verify import dkimpy_sign, message


class DnssecTests(DmarcEnvTestCase):
    """--dns-trust-anchor: DNSSEC validation of key lookups."""

    milter_args = ("--dmarc", "no")

    @classmethod
    def make_zone(cls):
        cls.anchored = cls.env.keys.add("example.org", "sec1", "rsa", 2048)
        cls.unanchored = cls.env.keys.add("other.example", "sec2", "rsa", 2048)
        return {k.name: {"TXT": [k.txt]} for k in (cls.anchored, cls.unanchored)}

    @classmethod
    def make_milter_args(cls):
        anchor = os.path.join(cls.env.tmp, "anchor.ds")
        with open(anchor, "w") as f:
            f.write("example.org. 3600 IN DS 12345 13 2 "
                    "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n")
        return ["--dns-trust-anchor", anchor] + list(cls.milter_args)

    def deliver_signed(self, key, subject):
        data = dkimpy_sign(message(subject, from_addr="ann@" + key.domain), key)
        q = self.env.submit(data, xclient={"ADDR": "203.0.113.9"},
                            mail_from="ann@" + key.domain)
        return q, self.delivered_ar(q)

    def test_unsigned_answer_under_the_anchor_is_bogus(self):
        q, ar = self.deliver_signed(self.anchored, "bogus")
        self.assertRegex(ar, r"dkim=temperror reason=\"key lookup failed: DNSSEC bogus[^\"]*\" "
                             r"header\.d=example\.org")
        self.assertLogged("dkim-verify", "queue_id=" + q, "selector=sec1", "result=temperror")

    def test_domain_outside_the_anchor_still_passes(self):
        _, ar = self.deliver_signed(self.unanchored, "insecure")
        self.assertIn("dkim=pass header.d=other.example", ar)


if __name__ == "__main__":
    unittest.main()
