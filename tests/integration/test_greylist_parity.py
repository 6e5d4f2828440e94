"""test_greylist_parity.py — decision parity of postern-greylist with Debian's postgrey 1.37.

One generated request trace (make_trace: seeded, POSTERN_IT_GREYLIST_SEED overrides the seed)
is replayed, request by request, through the real postgrey (postgrey_peer.Postgrey) and
postern-greylist (POSTERN_IT_GREYLIST_BIN, LMDB store in the temp dir), both started with the
same options (delay, max-age, retry window, auto-whitelist threshold, Debian's
/etc/postgrey/whitelist_clients and whitelist_recipients) and both on the same frozen clock
(postgrey_peer.FakeClock: libfaketime, moved by the test before each request). Each reply is
reduced to a decision (postgrey_peer.decision): ("DEFER", seconds left), ("PREPEND", seconds
delayed) or ("DUNNO", None). The reply texts themselves differ by design and are not
compared: postgrey's X-Greylist header names postgrey, and it writes "4.2.0" before a text
without a status code whenever Postfix sends etrn_domain (its Exchange workaround), where
postern-greylist's default text carries 4.7.1.

The trace (labels "scenario/case/step"):
  basic/*      first attempt, early retries, the last second before the delay, the first
               second after it (X-Greylist), later messages; several recipients of one
               message (one header per message instance)
  net/*        retries from the same /24 (/64) and from another one; an IPv4-mapped client
  norm/*       sender spellings that must (or must not) be one triplet: +extension, case
               (sender and recipient), BATV prvs= in both orders, odd tags, digit runs
               (postgrey's \\b\\d+\\b), the null sender, SRS0/SRS1
  window/*     a first retry after the retry window starts again; exactly at its end passes
  wl/*         Debian's whitelist entries: names (suffix, exact, case, near misses), regexes,
               addresses, partial and CIDR networks, IPv6; recipients postmaster@ / abuse@;
               a name only in reverse_client_name
  awl/*        auto-whitelisting after N passes at least an hour apart; N passes within an
               hour count once; another host of the /24 is not whitelisted; expiry
  expire/*     a passed triplet unseen for max-age: checked after postgrey's nightly sweep,
               one second before max-age, and (expected difference) before the sweep
  skip/*       SASL-authenticated and loopback clients (postern-greylist's skips)
  mix/*        random requests over a small pool of clients, senders (in equivalent
               spellings) and recipients over three days
  tick/*       02:00 UTC each day, a whitelisted request: postgrey runs its expiry sweep only
               at the first request of the night (hours 2-6 local, at most once per 23 h), so
               the trace has no other requests between 01:00 and 07:00 and one at 02:00

Every difference is listed. EXPECTED_DIFFERENCES holds the deliberate ones, with the reason;
a difference not listed there fails the test, and so does a listed one that did not occur.
"""

import os
import random
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import postgrey_peer  # noqa: E402
from postgrey_peer import (DEBIAN_WHITELIST_CLIENTS, DEBIAN_WHITELIST_RECIPIENTS,  # noqa: E402
                           FakeClock, PolicyClient, Postgrey, PosternGreylist, decision, utc)

HOUR, DAY = 3600, 86400
T0 = utc("2026-03-02 00:00:00")  # a Monday; postgrey starts here
SEED = int(os.environ.get("POSTERN_IT_GREYLIST_SEED", "5"))

# label → (postgrey verb, postern-greylist verb, why). Labels do not depend on the seed.
EXPECTED_DIFFERENCES = {
    "norm/srs0/retry": (
        "DEFER", "PREPEND",
        "SRS: postern-greylist reduces SRS0=HASH=TT=domain=local@forwarder to local@domain, so a "
        "retry through the forwarder with a new hash and timestamp is the same triplet; "
        "postgrey keeps the SRS address, a new triplet each day (issue 5: 'SRS forms reduced "
        "to the original address')"),
    "norm/srs1/retry": (
        "DEFER", "PREPEND",
        "SRS1 (forwarded twice) reduced to the original address, as for SRS0"),
    "norm/srs-then-plain/retry": (
        "DEFER", "PREPEND",
        "the original sender after its SRS0 form: one triplet for postern-greylist, two for "
        "postgrey"),
    "net/v4-mapped/retry": (
        "DEFER", "PREPEND",
        "an IPv4-mapped client (::ffff:a.b.c.d) counts as the IPv4 address in postern-greylist; "
        "postgrey takes it as IPv6 and greylists its /64 (::/64, shared by every mapped client)"),
    "expire/before-sweep/check": (
        "DUNNO", "DEFER",
        "postgrey deletes a triplet unseen for max-age only in its nightly maintenance (first "
        "request between 02:00 and 06:59 local time, at most once per 23 h; until then the "
        "triplet still passes); postern-greylist's records expire at last seen + max-age"),
    "skip/sasl/first": (
        "DEFER", "DUNNO",
        "postern-greylist skips SASL-authenticated clients (--skip-sasl, default on); postgrey "
        "has no such option and relies on permit_sasl_authenticated before it"),
    "skip/sasl/retry": (
        "PREPEND", "DUNNO", "as skip/sasl/first: postgrey's retry passes the delay"),
    "skip/loopback/first": (
        "DEFER", "DUNNO",
        "postern-greylist never greylists --skip-networks (default 127.0.0.0/8 ::1); postgrey "
        "has no such option"),
}


# --------------------------------------------------------------------------
# the trace


def request(client, sender, recipient, instance, client_name="unknown", reverse_name=None,
            sasl_username=""):
    """The attributes Postfix 3.7 sends for RCPT TO (smtpd_access_policy)."""
    domain = sender.rpartition("@")[2] or "localhost"
    return {
        "protocol_state": "RCPT", "protocol_name": "ESMTP", "client_address": client,
        "client_name": client_name,
        "reverse_client_name": reverse_name if reverse_name is not None else client_name,
        "client_port": "40000", "helo_name": "mail." + domain, "sender": sender,
        "recipient": recipient, "recipient_count": "0", "queue_id": "", "instance": instance,
        "size": "0", "etrn_domain": "", "stress": "", "sasl_method": "plain" if sasl_username
        else "", "sasl_username": sasl_username, "sasl_sender": "", "ccert_subject": "",
        "ccert_issuer": "", "ccert_fingerprint": "", "encryption_protocol": "",
        "encryption_cipher": "", "encryption_keysize": "0", "server_address": "127.0.0.1",
        "server_port": "25",
    }


class Trace:
    """Events (t, label, attrs), placed so that no request falls between 00:00 and 07:00 UTC
    except the daily 02:00 tick."""

    def __init__(self, rng, settings):
        self.rng, self.s = rng, settings
        self.events = []
        self.serial = 0
        self.nets = set()

    # unique names --------------------------------------------------------
    def instance(self):
        self.serial += 1
        return "%X.%04X" % (0x1000 + self.serial, self.rng.randrange(0x10000))

    def net4(self):
        """A fresh /24 in 11.0.0.0/8 (listed in no whitelist), as "11.a.b"."""
        while True:
            n = "11.%d.%d" % (self.rng.randrange(256), self.rng.randrange(256))
            if n not in self.nets:
                self.nets.add(n)
                return n

    def client(self):
        return "%s.%d" % (self.net4(), self.rng.randrange(1, 255))

    def net6(self):
        while True:
            n = "2001:db8:%x:%x" % (self.rng.randrange(1, 0x10000), self.rng.randrange(0x10000))
            if n not in self.nets:
                self.nets.add(n)
                return n

    def local(self, prefix="u"):
        return prefix + "".join(self.rng.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(6))

    def domain(self):
        return "%s.example" % self.local("d")

    def rcpt(self):
        return "%s@%s" % (self.local("r"), self.domain())

    # placement -----------------------------------------------------------
    @staticmethod
    def allowed(t):
        return (t - T0) % DAY >= 7 * HOUR

    def place(self, offsets, first_day=0, last_day=2):
        """A start time such that start + every offset is an allowed time."""
        for _ in range(1000):
            start = (T0 + self.rng.randrange(first_day, last_day + 1) * DAY + 7 * HOUR
                     + self.rng.randrange(15 * HOUR))
            if all(self.allowed(start + o) for o in offsets):
                return start
        raise RuntimeError("cannot place offsets %s" % offsets)

    def add(self, t, label, attrs):
        assert self.allowed(t) or label.startswith("tick/"), (label, t)
        self.events.append((t, len(self.events), label, attrs))

    def sequence(self, label, steps, **place):
        """steps: [(offset seconds, step name, attrs)], placed as one scenario."""
        start = self.place([o for o, _, _ in steps], **place)
        for o, name, attrs in steps:
            self.add(start + o, "%s/%s" % (label, name), attrs)
        return start

    def sorted(self):
        return [(t, label, attrs) for t, _, label, attrs in sorted(self.events)]


def make_trace(settings, seed=SEED):
    """The request trace for `settings` (delay, retry_window seconds, max_age seconds, awl)."""
    rng = random.Random(seed)
    tr = Trace(rng, settings)
    D, W, MAX, N = settings["delay"], settings["retry_window"], settings["max_age"], settings["awl"]
    r = rng.randrange

    # basic: one triplet through its life
    for k in range(3):
        c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
        early = r(1, D - 1)
        tr.sequence("basic/%d" % k, [
            (0, "first", request(c, s, rc, tr.instance())),
            (early, "early", request(c, s, rc, tr.instance())),
            (D - 1, "last-second", request(c, s, rc, tr.instance())),
            (D + k, "pass", request(c, s, rc, tr.instance())),
            (D + k + r(60, 4 * HOUR), "next-message", request(c, s, rc, tr.instance())),
        ])
    # several recipients of one message: one X-Greylist per message instance
    c, s = tr.client(), "%s@%s" % (tr.local(), tr.domain())
    r1, r2, r3 = tr.rcpt(), tr.rcpt(), tr.rcpt()
    m1, m2, late = tr.instance(), tr.instance(), D + r(1, HOUR)
    tr.sequence("basic/multi-rcpt", [
        (0, "first-r1", request(c, s, r1, m1)), (0, "first-r2", request(c, s, r2, m1)),
        (1, "first-r3", request(c, s, r3, m1)),
        (late, "retry-r1", request(c, s, r1, m2)), (late, "retry-r2", request(c, s, r2, m2)),
        (late + 1, "retry-r3", request(c, s, r3, tr.instance())),
    ])

    # client networks
    def retry_pair(label, first_client, retry_client, sender=None, rcpt=None, wait=None):
        s = sender or "%s@%s" % (tr.local(), tr.domain())
        rc = rcpt or tr.rcpt()
        tr.sequence(label, [(0, "first", request(first_client, s, rc, tr.instance())),
                            (wait or D + r(0, 2 * HOUR), "retry",
                             request(retry_client, s, rc, tr.instance()))])

    n = tr.net4()
    retry_pair("net/same24", n + ".10", n + ".200")
    a, b = tr.net4(), tr.net4()
    retry_pair("net/other24", a + ".10", b + ".10")
    n6 = tr.net6()
    retry_pair("net/same64", n6 + "::1", n6 + ":ffff:1:2:3")
    retry_pair("net/other64", tr.net6() + "::1", tr.net6() + "::1")
    n = tr.net4()
    retry_pair("net/v4-mapped", "::ffff:%s.9" % n, n + ".9")
    retry_pair("net/v6-compressed", n6 + "::25", n6.upper() + ":0:0:0:25")

    # sender and recipient normalization: (case, first sender, retry sender)
    d = tr.domain
    norm = [
        ("plus", "alice+a1@D", "alice+zz-top@D"),
        ("case-sender", "Alice.Smith@Example-%s.COM" % tr.local(""),
         None),  # retry: the same lower-cased
        ("batv", "prvs=0123abcdef=bob@D", "prvs=9876fedcba=bob@D"),
        ("batv-reversed", "prvs=bob=0123abcdef@D", "prvs=bob=abcdef0123@D"),
        ("batv-to-plain", "prvs=0123abcdef=erin@D", "erin@D"),
        ("batv-upper-tag", "prvs=ABCDEF0123=carol@D", "prvs=FEDCBA9876=carol@D"),
        ("batv-upper-prefix", "PRVS=0123abcdef=dave@D", "PRVS=9876fedcba=dave@D"),
        ("batv-short-tag", "prvs=abc=frank@D", "prvs=xyz=frank@D"),
        ("batv-four-parts", "prvs=0123abcdef=g=h@D", "prvs=9876fedcba=g=h@D"),
        ("batv-plus", "prvs=0123abcdef=bob+list@D", "bob+other@D"),
        ("digits-verp", "bounce-12345@D", "bounce-67890@D"),
        ("digits-dots", "123.456@D", "7.8@D"),
        ("digits-in-word", "user123@D", "user456@D"),
        ("digits-underscore", "msg_123@D", "msg_456@D"),
        ("digits-ext", "news-2026+abc@D", "news-2027@D"),
        ("digits-domain", "info@mx1.D", "info@mx2.D"),
        ("null-sender", "", ""),
        ("no-domain", "MAILER-DAEMON", "mailer-daemon"),
        ("srs0", "SRS0=HhJk=5Q=orig.example=alice@D", "SRS0=pQrS=5R=orig.example=alice@D"),
        ("srs1", "SRS1=AbCd=fwd1.example==HhJk=5Q=orig.example=alice@D",
         "SRS1=ZyXw=fwd1.example==pQrS=5R=orig.example=alice@D"),
        ("srs-then-plain", "SRS0=HhJk=5Q=orig-%s.example=bob@D" % tr.local(""),
         None),  # retry: bob@orig-....example
    ]
    for case, first, retry in norm:
        dom = d()
        first = first.replace("@D", "@" + dom).replace(".D", "." + dom)
        if retry is None:
            if case == "srs-then-plain":
                parts = first.split("@")[0].split("=")
                retry = "%s@%s" % (parts[4], parts[3])
            else:
                retry = first.lower()
        else:
            retry = retry.replace("@D", "@" + dom).replace(".D", "." + dom)
        c, rc = tr.client(), tr.rcpt()
        tr.sequence("norm/" + case, [
            (0, "first", request(c, first, rc, tr.instance())),
            (D + r(0, HOUR), "retry", request(c, retry, rc, tr.instance()))])
    c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    tr.sequence("norm/case-recipient", [
        (0, "first", request(c, s, rc[0].upper() + rc[1:].replace(".example", ".EXAMPLE"),
                             tr.instance())),
        (D + r(0, HOUR), "retry", request(c, s, rc, tr.instance()))])

    # retry window
    c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    tr.sequence("window/late", [
        (0, "first", request(c, s, rc, tr.instance())),
        (W + 1, "late-retry", request(c, s, rc, tr.instance())),
        (W + 1 + D - 1, "early-again", request(c, s, rc, tr.instance())),
        (W + 1 + D, "pass", request(c, s, rc, tr.instance()))])
    # postgrey restarts only when now - first > retry window (strict): a retry at exactly
    # first + window still passes
    c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    tr.sequence("window/boundary", [
        (0, "first", request(c, s, rc, tr.instance())),
        (W, "retry-at-end", request(c, s, rc, tr.instance()))])
    c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    tr.sequence("window/early-then-late", [
        (0, "first", request(c, s, rc, tr.instance())),
        (10, "early", request(c, s, rc, tr.instance())),
        (W + 5, "late-retry", request(c, s, rc, tr.instance())),
        (W + 5 + D, "pass", request(c, s, rc, tr.instance()))])
    c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    tr.sequence("window/passed-then-quiet", [
        (0, "first", request(c, s, rc, tr.instance())),
        (D, "pass", request(c, s, rc, tr.instance())),
        (D + W + 3 * HOUR, "later", request(c, s, rc, tr.instance()))])

    # whitelists (Debian's files)
    wl = [
        ("name-suffix", "198.51.100.10", "mx1.debian.org"),
        ("name-exact", "198.51.100.11", "google.com"),
        ("name-case", "198.51.100.12", "MAIL-WR1.GOOGLE.COM"),
        ("name-not-suffix", tr.client(), "notgoogle.com"),
        ("name-not-prefix", tr.client(), "google.com.%s" % tr.domain()),
        ("regex-telekom", "198.51.100.13", "mail12.telekom.de"),
        ("regex-telekom-miss", tr.client(), "mailx.telekom.de"),
        ("regex-orange", "198.51.100.14", "smtp21.orange.fr"),
        ("regex-126", "198.51.100.15", "m12-34.126.com"),
        ("regex-any-char", "198.51.100.16", "mta1xsiolxnet"),
        ("regex-lazy", "198.51.100.17", "relay.server.arvato-systems.de"),
        ("regex-group", "198.51.100.18", "postfix3-g7.free.fr"),
        ("ip-exact", "66.216.126.174", "unknown"),
        ("ip-partial24", "195.235.39.77", "unknown"),
        ("cidr27-in", "51.4.80.5", "unknown"),
        ("cidr27-out", "51.4.80.40", "unknown"),
        ("cidr20", "205.201.140.9", "unknown"),
        ("cidr18", "198.2.150.1", "unknown"),
        ("ip6-in", "2a01:4180:4051:800::25", "unknown"),
        ("ip6-out", "2a01:4180:4051:801::25", "unknown"),
    ]
    for case, client, name in wl:
        tr.sequence("wl/" + case, [(0, "first", request(
            client, "%s@%s" % (tr.local(), tr.domain()), tr.rcpt(), tr.instance(),
            client_name=name))])
    tr.sequence("wl/reverse-name-only", [(0, "first", request(
        tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt(), tr.instance(),
        client_name="unknown", reverse_name="mx1.debian.org"))])
    for case, local in (("postmaster", "postmaster"), ("postmaster-ext", "Postmaster+x"),
                        ("abuse", "abuse"), ("postmasters", "postmasters"),
                        ("xabuse", "xabuse")):
        tr.sequence("wl/rcpt-" + case, [(0, "first", request(
            tr.client(), "%s@%s" % (tr.local(), tr.domain()), "%s@%s" % (local, tr.domain()),
            tr.instance()))])

    # auto-whitelisting
    def passes(c, count, gap):
        steps, t = [], 0
        for i in range(count):
            s, rc = "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
            steps += [(t, "first-%d" % i, request(c, s, rc, tr.instance())),
                      (t + D, "pass-%d" % i, request(c, s, rc, tr.instance()))]
            t += gap()
        return steps, t

    net = tr.net4()
    c = net + ".33"
    steps, t = passes(c, N, lambda: HOUR + D + r(1, 600))
    s, rc = "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    steps += [(t, "whitelisted", request(c, s, rc, tr.instance())),
              (t + 60, "other-host", request(net + ".34", s, rc, tr.instance())),
              (t + 2 * HOUR, "again", request(c, tr.rcpt(), tr.rcpt(), tr.instance()))]
    start = tr.sequence("awl/client", steps, first_day=0, last_day=0)
    last_awl = start + t + 2 * HOUR
    # used again within max-age, then unseen past it: checked after the sweep
    t1 = last_awl + 3 * DAY
    tr.add(t1, "awl/client/days-later", request(c, "%s@%s" % (tr.local(), tr.domain()),
                                                 tr.rcpt(), tr.instance()))
    check = sweep_after(t1 + MAX) + 5 * HOUR + r(0, 10 * HOUR)
    tr.add(check, "awl/client/after-max-age", request(
        c, "%s@%s" % (tr.local(), tr.domain()), tr.rcpt(), tr.instance()))

    c = tr.client()
    steps, t = passes(c, N, lambda: r(60, 300))
    steps.append((t + D + 1, "not-whitelisted", request(
        c, "%s@%s" % (tr.local(), tr.domain()), tr.rcpt(), tr.instance())))
    tr.sequence("awl/within-an-hour", steps, first_day=0, last_day=1)

    # expiry of a passed triplet (max-age after last seen)
    for case in ("after-sweep", "before-sweep", "second-before"):
        c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
        start = tr.sequence("expire/" + case, [
            (0, "first", request(c, s, rc, tr.instance())),
            (D, "pass", request(c, s, rc, tr.instance()))], first_day=0, last_day=1)
        last = start + D
        if case == "after-sweep":
            t = sweep_after(last + MAX) + 5 * HOUR + r(0, 10 * HOUR)
        elif case == "before-sweep":
            t = last + MAX + HOUR  # same day, before 23:00 (last is before 22:00)
        else:
            t = last + MAX - 1
        tr.add(t, "expire/%s/check" % case, request(c, s, rc, tr.instance()))
    # kept alive: seen every few days, it outlives max-age counted from its first pass
    c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    start = tr.sequence("expire/kept-alive", [
        (0, "first", request(c, s, rc, tr.instance())),
        (D, "pass", request(c, s, rc, tr.instance()))], first_day=0, last_day=0)
    t, k = start + D, 0
    while t < start + MAX + 4 * DAY:
        t += max(1, MAX // DAY // 3) * DAY
        tr.add(t, "expire/kept-alive/visit-%d" % k, request(c, s, rc, tr.instance()))
        k += 1

    # postern-greylist's skips
    c, s, rc = tr.client(), "%s@%s" % (tr.local(), tr.domain()), tr.rcpt()
    tr.sequence("skip/sasl", [
        (0, "first", request(c, s, rc, tr.instance(), sasl_username="alice")),
        (D, "retry", request(c, s, rc, tr.instance(), sasl_username="alice"))])
    tr.sequence("skip/loopback", [(0, "first", request(
        "127.0.0.5", "%s@%s" % (tr.local(), tr.domain()), tr.rcpt(), tr.instance()))])

    # a random mix over a small pool: every rule that must agree, interleaved
    nets = [tr.net4() for _ in range(3)]
    clients = ["%s.%d" % (nets[i % 3], 10 + i) for i in range(6)]
    people = [(tr.local(), tr.domain()) for _ in range(4)]
    rcpts = [tr.rcpt() for _ in range(3)]

    def spelling(local, dom):
        k = r(6)
        if k == 1:
            return "%s+%d@%s" % (local, r(100), dom)
        if k == 2:
            return "%s@%s" % (local.upper(), dom.upper())
        if k == 3:
            return "prvs=%04d%s=%s@%s" % (r(10000), "abcdef", local, dom)
        if k == 4:
            return "%s-%d@%s" % (local, r(1, 10 ** 6), dom)  # digit run → '#'
        return "%s@%s" % (local, dom)

    mix_start = T0 + 7 * HOUR
    t, i = mix_start, 0
    while i < 120:
        t += r(1, 2 * D + 60)
        if not Trace.allowed(t):
            t = T0 + ((t - T0) // DAY) * DAY + 7 * HOUR + r(0, 60)
        if t > T0 + 3 * DAY:
            break
        local, dom = rng.choice(people)
        if rng.random() < 0.25:
            local = local + "-%d" % r(1, 99)  # the '#' rule makes these one sender too
        tr.add(t, "mix/%03d" % i, request(rng.choice(clients), spelling(local, dom),
                                           rng.choice(rcpts), tr.instance()))
        i += 1

    # the daily 02:00 tick (a whitelisted client) that triggers postgrey's sweep
    last_day = (max(e[0] for e in tr.events) - T0) // DAY
    for day in range(last_day + 1):
        tr.add(T0 + day * DAY + 2 * HOUR, "tick/day-%d" % day, request(
            "66.216.126.174", "tick@tick.example", "tick@rcpt.example", tr.instance()))
    return tr.sorted()


def sweep_after(t):
    """The first daily 02:00 UTC strictly after t."""
    day_start = T0 + ((t - T0) // DAY) * DAY
    s = day_start + 2 * HOUR
    return s if s > t else s + DAY


# --------------------------------------------------------------------------
# replay


def binary():
    return os.environ.get("POSTERN_IT_GREYLIST_BIN", "")


def port_base():
    return int(os.environ.get("POSTERN_IT_PORT_BASE", "24000"))


class ParityBase(unittest.TestCase):
    """Replays make_trace(SETTINGS) through postgrey and postern-greylist."""

    SETTINGS = None  # delay s, retry_window s, max_age s, awl; plus the option spellings

    def setUp(self):
        if self.SETTINGS is None:
            self.skipTest("base class: the trace runs in its subclasses")
        if os.geteuid() != 0:
            self.skipTest("needs root (postgrey drops to a user otherwise)")
        if not os.path.exists(postgrey_peer.POSTGREY):
            self.skipTest("postgrey not installed (deploy/install-deps)")
        if postgrey_peer.libfaketime() is None:
            self.skipTest("libfaketime not installed (deploy/install-deps)")
        if not binary():
            self.skipTest("POSTERN_IT_GREYLIST_BIN not set")
        for f in (DEBIAN_WHITELIST_CLIENTS, DEBIAN_WHITELIST_RECIPIENTS):
            if not os.path.exists(f):
                self.skipTest("%s missing (Debian's postgrey package)" % f)
        self.tmp = tempfile.mkdtemp(prefix="greylist-parity-")
        self.addCleanup(self.cleanup)
        self.clock = FakeClock(self.tmp, T0)
        s = self.SETTINGS
        base = port_base()
        self.postgrey = Postgrey(
            self.tmp, base + 3, clock=self.clock, delay=s["delay"], max_age_days=s["max_age_days"],
            retry_window=s["retry_window_option"], auto_whitelist_clients=s["awl"],
            whitelist_clients=[DEBIAN_WHITELIST_CLIENTS],
            whitelist_recipients=[DEBIAN_WHITELIST_RECIPIENTS])
        self.postern = PosternGreylist(self.tmp, binary(), base + 4, clock=self.clock, args=[
            "--store", "lmdb:" + os.path.join(self.tmp, "store"),
            "--delay", str(s["delay"]), "--max-age", str(s["max_age_days"]),
            "--retry-window", s["retry_window_option"],
            "--auto-whitelist-clients", str(s["awl"]),
            "--whitelist-clients", DEBIAN_WHITELIST_CLIENTS,
            "--whitelist-recipients", DEBIAN_WHITELIST_RECIPIENTS,
            "--hostname", "postern.test"])
        self.clients = []
        self.postgrey.start()
        self.postern.start()

    def cleanup(self):
        for c in self.clients:
            c.close()
        self.postern.stop()
        self.postgrey.stop()
        failed = getattr(self, "_failed", True)
        if failed or os.environ.get("POSTERN_IT_VERBOSE") == "1":
            for svc in (self.postgrey, self.postern):
                log = svc.log()
                sys.stderr.write("\n--- %s log (last 3000 chars)\n%s\n" % (svc.name, log[-3000:]))
        if os.environ.get("POSTERN_IT_KEEP") == "1":
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_same_decisions(self):
        s = self.SETTINGS
        trace = make_trace({"delay": s["delay"], "retry_window": s["retry_window"],
                            "max_age": s["max_age_days"] * DAY, "awl": s["awl"]})
        pg, gl = PolicyClient(self.postgrey.port), PolicyClient(self.postern.port)
        self.clients += [pg, gl]
        rows, unexpected, explained = [], [], set()
        for t, label, attrs in trace:
            self.clock.set(t)
            a, b = pg.query(attrs), gl.query(attrs)
            da, db = decision(a), decision(b)
            rows.append((t, label, attrs, da, db))
            if da == db:
                continue
            exp = EXPECTED_DIFFERENCES.get(label)
            if exp and (da[0], db[0]) == exp[:2]:
                explained.add(label)
                continue
            unexpected.append("%s  t=+%ds  client=%s name=%s sender=%r recipient=%r sasl=%r\n"
                              "    postgrey: %s\n    postern:  %s%s"
                              % (label, t - T0, attrs["client_address"], attrs["client_name"],
                                 attrs["sender"], attrs["recipient"], attrs["sasl_username"],
                                 a, b, "\n    (expected instead: %s → %s)" % exp[:2]
                                 if exp else ""))
        missing = sorted(set(EXPECTED_DIFFERENCES) - explained)
        verbose = os.environ.get("POSTERN_IT_VERBOSE") == "1"
        if verbose or unexpected or missing:
            for t, label, attrs, da, db in rows:
                sys.stderr.write("%9d %-36s %-22s %-16s %-16s\n"
                                 % (t - T0, label, attrs["client_address"], da, db))
        sys.stderr.write("%d requests, %d identical decisions, %d explained differences "
                         "(%s), %d unexpected\n"
                         % (len(rows), sum(1 for r in rows if r[3] == r[4]), len(explained),
                            ", ".join(sorted(explained)), len(unexpected)))
        # The trace must exercise what it claims: every outcome occurs on both sides.
        for side in (3, 4):
            verbs = {r[side][0] for r in rows}
            self.assertTrue({"DEFER", "PREPEND", "DUNNO"} <= verbs, verbs)
        self.assertEqual(unexpected, [], "%d unexpected differences:\n%s"
                         % (len(unexpected), "\n".join(unexpected)))
        self.assertEqual(missing, [], "expected differences that did not occur (stale "
                         "explanations): %s" % missing)
        self._failed = False


class GreylistParityTunedTests(ParityBase):
    """Non-default options on both sides: delay 120 s, max-age 7 days, retry window "12h"
    (the hours form), auto-whitelisting after 3 passes."""
    SETTINGS = {"delay": 120, "max_age_days": 7, "retry_window_option": "12h",
                "retry_window": 12 * HOUR, "awl": 3}


class GreylistParityTests(ParityBase):
    """postgrey's defaults, spelled out on both sides: delay 300 s, max-age 35 days, retry
    window 2 days, auto-whitelisting after 5 passes. (Registered in greylist.cmake as
    integration.greylist.GreylistParityTests.)"""
    SETTINGS = {"delay": 300, "max_age_days": 35, "retry_window_option": "2",
                "retry_window": 2 * DAY, "awl": 5}


if __name__ == "__main__":
    unittest.main()
