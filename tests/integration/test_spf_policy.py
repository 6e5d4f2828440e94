"""test_spf_policy.py — postern-spf's check budget, result cache and client_name skip list,
behind a real Postfix (check_policy_service) with DNS from tests/dns/zone_server.py.

The set-up is test_spf_postfix.SpfEnv: a private Postfix asks postern-spf at RCPT, XCLIENT
presents the client address (ADDR=) and Postfix's verified client name (NAME= → the policy
attribute client_name), messages are relayed to smtp-sink.

SpfCheckBudgetTests (--check-timeout 1): a sender whose SPF record is a chain of includes, each
answered 0.3 s late by the DNS server (zone_server "DELAY"), would take over 3 s to evaluate
and pass; with a 1 s budget the check stops querying once the budget is spent, the result is
temperror and Postfix answers 450 4.7.24 (the configured --temperror-action defer) well before
the chain's end; the names past the budget are never asked.

SpfResultCacheTests: with DNS TTL 0 (zone_server "TTL": libunbound keeps nothing), a second
message with the same client, sender and HELO is answered from postern-spf's result cache: no
DNS query, the same Received-SPF result, postern_spf_cache_lookups_total{result="hit"} up by
one on /metrics. Another client address is another cache key: DNS is asked again (so the
saving really is the result cache and not the resolver's).

SpfSkipHostnamesTests (--skip-hostnames "backup-mx.example .forwarders.example"): a client
whose client_name is listed, or below a listed .domain, gets DUNNO without a check (a sender
whose SPF fails is accepted, no Received-SPF, an spf-skip log line, no DNS query); another
name, a look-alike name and "unknown" (XCLIENT NAME=[UNAVAILABLE]) are checked and rejected.

Needs root and POSTERN_IT_SPF_BIN (set by tests/integration/CMakeLists.txt).
"""

import re
import time
import unittest
import urllib.request

import harness
from test_spf_postfix import SpfCase, received_spf

METRICS_OFF = 6  # a port of this test's block of 10 that harness.py leaves free

CHAIN = 10  # names in the slow include chain
DELAY = 0.3  # seconds per slow answer: below libunbound's first retransmit (376 ms)


def chain_zone():
    zone = {"chain.example": {"TXT": ["v=spf1 include:s1.chain.example -all"]}}
    for i in range(1, CHAIN + 1):
        last = i == CHAIN
        record = ("v=spf1 ip4:192.0.2.0/24 -all" if last
                  else "v=spf1 include:s%d.chain.example -all" % (i + 1))
        zone["s%d.chain.example" % i] = {"TXT": [record], "DELAY": DELAY}
    zone["quick.example"] = {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"]}
    return zone


class SpfCheckBudgetTests(SpfCase):
    NAME = "spf-budget"
    SPF_ARGS = ("--check-timeout", "1", "--temperror-action", "defer")
    ZONE = chain_zone()

    def test_slow_dns_chain_stops_at_budget_with_temperror(self):
        before = self.s.env.sink_files()
        t0 = time.monotonic()
        replies, qid = self.s.transaction("192.0.2.80", "slow@chain.example")
        took = time.monotonic() - t0
        self.assertIsNone(qid)
        ((code, text),) = replies
        self.assertEqual(code, 450, "got %d %s, want 450 4.7.24 (temperror)" % (code, text))
        self.assertTrue(text.startswith("4.7.24 "), text)
        # the whole chain takes CHAIN * DELAY = 3 s; the budget ends it after ~1 s + one answer
        self.assertLess(took, CHAIN * DELAY - 0.5,
                        "RCPT answered after %.2f s: the budget did not cut the chain" % took)
        (check,) = self.spf_checks(sender="slow@chain.example")
        self.assertEqual((check["result"], check["action"]), ("temperror", "DEFER_IF_PERMIT"))
        self.assertIn("exceeded 1 s", self.s.spf.log())
        asked = {q[0] for q in self.s.dns.queries(rtype="TXT")}
        self.assertIn("s1.chain.example", asked)
        late = sorted(n for n in asked if re.fullmatch(r"s(\d+)\.chain\.example", n)
                      and int(n.split(".")[0][1:]) > 5)
        self.assertEqual(late, [], "queries after the budget was spent: %s" % late)
        self.assert_nothing_delivered(before)

    def test_fast_record_unaffected(self):
        msg = self.accepted("192.0.2.81", "fast@quick.example")
        (hdr,) = received_spf(msg)
        self.assertTrue(hdr.startswith("pass "), hdr)


class SpfResultCacheTests(SpfCase):
    NAME = "spf-cache"
    ZONE = {
        "cached.example": {"TXT": ["v=spf1 ip4:192.0.2.0/24 -all"], "TTL": 0},
        "client.example": {"TXT": ["v=spf1 ?all"], "TTL": 0},
    }

    @classmethod
    def setUpClass(cls):
        cls.metrics_port = harness.port_base() + METRICS_OFF
        cls.SPF_ARGS = ("--cache-ttl", "300", "--metrics-listen",
                        "127.0.0.1:%d" % cls.metrics_port)
        super().setUpClass()

    def metric(self, series):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.metrics_port,
                                    timeout=10) as r:
            text = r.read().decode()
        m = re.search(r"^%s (\S+)$" % re.escape(series), text, re.M)
        self.assertIsNotNone(m, "no %s in /metrics:\n%s" % (series, text))
        return float(m.group(1))

    def txt_queries(self):
        return len(self.s.dns.queries("cached.example", "TXT"))

    def test_repeat_answered_from_cache_without_dns(self):
        hit = 'postern_spf_cache_lookups_total{result="hit"}'
        miss = 'postern_spf_cache_lookups_total{result="miss"}'
        hits0, misses0 = self.metric(hit), self.metric(miss)
        first = received_spf(self.accepted("192.0.2.90", "u@cached.example", tag="1"))
        after_first = self.txt_queries()
        self.assertGreaterEqual(after_first, 1, "the first check never asked DNS")
        self.assertEqual(self.metric(miss), misses0 + 1)

        again = received_spf(self.accepted("192.0.2.90", "u@cached.example", tag="2"))
        self.assertEqual(self.txt_queries(), after_first,
                         "the repeat check asked DNS: not answered from the result cache")
        self.assertEqual(len(again), 1)
        self.assertEqual(again[0].split(" ", 1)[0], first[0].split(" ", 1)[0])
        self.assertTrue(again[0].startswith("pass "), again)
        self.assertEqual(self.metric(hit), hits0 + 1)
        self.assertGreaterEqual(self.metric("postern_spf_cache_entries"), 1)

        # another client is another key, and TTL 0 keeps libunbound from answering it
        self.accepted("192.0.2.91", "u@cached.example", tag="3")
        self.assertGreater(self.txt_queries(), after_first,
                           "DNS not asked for a new client: the zone's TTL 0 is not honoured, "
                           "so the test above proves nothing")


class SpfSkipHostnamesTests(SpfCase):
    NAME = "spf-skip-names"
    SPF_ARGS = ("--skip-hostnames", "backup-mx.example .forwarders.example")
    ZONE = {"strict.example": {"TXT": ["v=spf1 ip4:192.0.2.10 -all"]}}

    def assert_skipped(self, client_name, client_ip):
        sender = "x-%s@strict.example" % client_ip.replace(".", "-")
        msg = self.accepted(client_ip, sender, client_name=client_name)
        self.assertEqual(received_spf(msg), [], "a skipped client got a Received-SPF header")
        self.assertEqual(self.spf_checks(sender=sender), [])
        skips = self.s.spf.events("spf-skip", client=client_ip)
        self.assertEqual(len(skips), 1, self.s.spf.log()[-3000:])
        self.assertEqual(skips[0].get("client_name"), client_name)
        self.assertEqual(skips[0].get("reason"), "skip-hostnames")

    def assert_checked_and_rejected(self, client_name, client_ip):
        sender = "y-%s@strict.example" % client_ip.replace(".", "-")
        replies, qid = self.s.transaction(client_ip, sender, client_name=client_name)
        self.assertIsNone(qid)
        ((code, text),) = replies
        self.assertEqual(code, 550, "client_name %s: got %d %s, want 550 5.7.23"
                         % (client_name, code, text))
        self.assertTrue(text.startswith("5.7.23 "), text)
        self.assertEqual(len(self.spf_checks(sender=sender)), 1)
        self.assertEqual(self.s.spf.events("spf-skip", client=client_ip), [])

    def test_listed_name_is_skipped(self):
        self.assert_skipped("backup-mx.example", "203.0.113.60")

    def test_name_below_listed_domain_is_skipped(self):
        self.assert_skipped("relay1.forwarders.example", "203.0.113.61")

    def test_other_names_are_checked(self):
        self.assert_checked_and_rejected("mail.other.example", "203.0.113.62")
        # a suffix match must end at a label boundary
        self.assert_checked_and_rejected("evilforwarders.example", "203.0.113.63")
        # the domain entry itself is not below it
        self.assert_checked_and_rejected("forwarders.example", "203.0.113.64")

    def test_unknown_client_name_is_checked(self):
        # XCLIENT NAME=[UNAVAILABLE]: Postfix's client_name is "unknown"
        self.assert_checked_and_rejected("[UNAVAILABLE]", "203.0.113.65")


if __name__ == "__main__":
    unittest.main()
