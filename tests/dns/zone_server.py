#!/usr/bin/python3
"""zone_server.py — a small authoritative DNS server for Postern's tests (UDP and TCP, loopback).

Serves the records of one JSON zone file so unit and integration tests (the resolver in
common/dns_unbound.cpp, SPF, DKIM verification) can run against real DNS without the network.
Needs Debian's python3-dnslib; run it with /usr/bin/python3.

Usage:
    /usr/bin/python3 tests/dns/zone_server.py --zone ZONE.json [--host 127.0.0.1] [--port N]
                                              [--ttl SECONDS] [--verbose]

    --port 0 (the default) picks a free port in 20000..32767, free for both UDP and TCP.
    Once both sockets are bound it prints "READY <port>" on stdout (flushed) and serves until
    SIGTERM or SIGINT. SIGHUP re-reads the zone file (a bad file keeps the old zone and says
    why on stderr). --verbose logs "query <name> <type> <udp|tcp>" per question to stderr.
    --ttl (default 300) is the TTL of every record and of negative answers (SOA minimum).

Zone format: a JSON object from owner name to an object of record types.

    {
      "example.com":          {"A": ["192.0.2.1"], "AAAA": ["2001:db8::1"],
                               "MX": [[10, "mx1.example.com"], [20, "mx2.example.com"]],
                               "TXT": ["v=spf1 -all", ["first string ", "second string"]]},
      "alias.example.com":    {"CNAME": "example.com"},
      "1.2.0.192.in-addr.arpa": {"PTR": ["host.example.com"]},
      "slow.example.com":     {"TIMEOUT": true},
      "broken.example.com":   {"RCODE": "SERVFAIL"},
      "late.example.com":     {"TXT": ["v=spf1 -all"], "DELAY": 0.5},
      "fresh.example.com":    {"TXT": ["v=spf1 -all"], "TTL": 0}
    }

    - Owner names and targets: case-insensitive, trailing dot optional.
    - A, AAAA, PTR: lists of strings. MX: list of [preference, exchange]. CNAME: one string.
    - TXT: a list with one entry per resource record. A string is one record, split into
      255-byte character-strings when longer; a list of strings is one record made of exactly
      those character-strings (each at most 255 bytes once UTF-8 encoded). Clients join the
      strings of a record (RFC 7208 §3.3), so both forms test different things. An empty list
      is a record with no character-strings at all (rdlength 0; RFC 1035 wants at least one,
      yet such records exist).
    - "TIMEOUT": true — no answer at all for that name (any type, UDP and TCP).
    - "RCODE": "SERVFAIL" | "REFUSED" | "NXDOMAIN" | ... — that rcode, empty sections.
    - "DELAY": seconds — every answer for that name (any type, UDP and TCP) is sent that much
      later; other names are answered meanwhile (a slow authoritative server).
    - "TTL": seconds — the TTL of that name's records and negative answers, instead of --ttl
      (0: resolvers do not cache them, so every lookup reaches this server).
    - A name with a CNAME: for any other type the answer holds the CNAME and, when the target
      is in this zone, the target's records (chains followed, at most 8 hops), as an
      authoritative server does; for type CNAME just the CNAME.
    - A name not in the zone gives NXDOMAIN, unless a zone name lies below it (an empty
      non-terminal): then NOERROR with no records (NODATA). A name in the zone without the
      asked type: NODATA. Negative answers carry an SOA (owner: the query name's last label).
    - No wildcards, no delegations, no DNSSEC.

UDP answers larger than the client's EDNS payload size (512 octets without EDNS) are sent
truncated (TC=1, no records), so resolvers retry over TCP as in real life.
"""

import argparse
import json
import random
import signal
import socket
import struct
import sys
import threading
import time

from dnslib import CNAME, EDNS0, MX, PTR, QTYPE, RCODE, RR, SOA, TXT, A, AAAA, DNSRecord

PORT_RANGE = (20000, 32767)
MAX_CNAME_HOPS = 8
MAX_TXT_STRING = 255


def canonical(name):
    """Lower case, no trailing dot: the key used for every name in the zone."""
    return str(name).rstrip(".").lower()


def txt_strings(entry):
    """One TXT record's character-strings (bytes) from its zone entry."""
    if isinstance(entry, str):
        data = entry.encode()
        chunks = [data[i:i + MAX_TXT_STRING] for i in range(0, len(data), MAX_TXT_STRING)]
        return chunks or [b""]
    if isinstance(entry, list) and all(isinstance(s, str) for s in entry):
        strings = [s.encode() for s in entry]
        if any(len(s) > MAX_TXT_STRING for s in strings):
            raise ValueError("TXT character-string over 255 bytes: %r" % entry)
        return strings
    raise ValueError("TXT entry must be a string or a list of strings: %r" % (entry,))


def build_rdata(rtype, value):
    """dnslib rdata objects for one type's zone value."""
    if rtype == "A":
        return [A(v) for v in value]
    if rtype == "AAAA":
        return [AAAA(v) for v in value]
    if rtype == "PTR":
        return [PTR(v) for v in value]
    if rtype == "MX":
        return [MX(exchange, preference) for preference, exchange in value]
    if rtype == "TXT":
        return [TXT(txt_strings(v)) for v in value]
    if rtype == "CNAME":
        return [CNAME(value[0] if isinstance(value, list) else value)]
    raise ValueError("unsupported record type %r" % rtype)


class Zone:
    """Records by canonical owner name, plus the TIMEOUT / RCODE behaviour per name."""

    def __init__(self, data):
        if not isinstance(data, dict):
            raise ValueError("zone must be a JSON object of owner names")
        self.records = {}  # name -> {type: [rdata]}
        self.timeout = set()
        self.rcode = {}
        self.delay = {}  # name -> seconds
        self.ttl = {}  # name -> seconds, overriding --ttl
        for owner, types in data.items():
            self._add(canonical(owner), types)
        self.parents = {n.split(".", i)[-1] for n in self.records for i in range(1, n.count(".") + 1)}

    def _add(self, name, types):
        entry = self.records.setdefault(name, {})
        for rtype, value in types.items():
            if rtype == "TIMEOUT":
                if value:
                    self.timeout.add(name)
            elif rtype == "RCODE":
                self.rcode[name] = getattr(RCODE, value.upper())
            elif rtype == "DELAY":
                self.delay[name] = float(value)
            elif rtype == "TTL":
                self.ttl[name] = int(value)
            else:
                entry[rtype.upper()] = build_rdata(rtype.upper(), value)

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f))

    def exists(self, name):
        return name in self.records or name in self.parents


class Server:
    def __init__(self, zone_path, host, port, ttl, verbose):
        self.zone_path = zone_path
        self.zone = Zone.load(zone_path)
        self.ttl = ttl
        self.verbose = verbose
        self.udp, self.tcp = bind_pair(host, port)
        self.port = self.udp.getsockname()[1]

    def reload(self):
        try:
            self.zone = Zone.load(self.zone_path)
            log("zone reloaded from %s" % self.zone_path)
        except (OSError, ValueError) as e:
            log("zone reload failed, keeping the old zone: %s" % e)

    # --- answering ---

    def answer(self, request, proto):
        """(reply packet bytes or None for no answer at all, seconds to wait before sending)."""
        try:
            query = DNSRecord.parse(request)
        except Exception as e:  # dnslib raises several types for garbage
            log("unparsable query over %s: %s" % (proto, e))
            return None, 0
        zone = self.zone
        qname = canonical(query.q.qname)
        if self.verbose:
            log("query %s %s %s" % (qname, QTYPE.get(query.q.qtype), proto))
        if qname in zone.timeout:
            return None, 0
        reply = query.reply()  # aa=1, ra=1, question copied
        if query.ar and any(rr.rtype == QTYPE.OPT for rr in query.ar):
            reply.add_ar(EDNS0(udp_len=1232))
        if qname in zone.rcode:
            reply.header.rcode = zone.rcode[qname]
        else:
            self.fill(reply, zone, qname, query.q.qtype)
        packed = reply.pack()
        if proto == "udp" and len(packed) > udp_limit(query):
            packed = reply.truncate().pack()
        return packed, zone.delay.get(qname, 0)

    def fill(self, reply, zone, qname, qtype):
        name = qname
        for _ in range(MAX_CNAME_HOPS + 1):
            records = zone.records.get(name, {})
            if qtype != QTYPE.CNAME and "CNAME" in records:
                target = records["CNAME"][0]
                reply.add_answer(RR(name, QTYPE.CNAME, rdata=target,
                                    ttl=zone.ttl.get(name, self.ttl)))
                name = canonical(target.label)
                if name in zone.records:
                    continue
                if not zone.exists(name):
                    return  # target outside the zone: the resolver follows it
                break
            for rdata in records.get(QTYPE.get(qtype), []):
                reply.add_answer(RR(name, qtype, rdata=rdata, ttl=zone.ttl.get(name, self.ttl)))
            break
        if not reply.rr:
            if not zone.exists(name):
                reply.header.rcode = RCODE.NXDOMAIN
            self.add_soa(reply, name, zone.ttl.get(name, self.ttl))

    def add_soa(self, reply, name, ttl):
        apex = name.rsplit(".", 1)[-1] + "."
        soa = SOA("ns." + apex, "hostmaster." + apex, (1, 3600, 600, 86400, ttl))
        reply.add_auth(RR(apex, QTYPE.SOA, rdata=soa, ttl=ttl))

    # --- transport ---

    def serve_udp(self):
        while True:
            request, peer = self.udp.recvfrom(65535)
            packed, delay = self.answer(request, "udp")
            if packed is None:
                continue
            if delay > 0:
                timer = threading.Timer(delay, self.udp.sendto, (packed, peer))
                timer.daemon = True
                timer.start()
            else:
                self.udp.sendto(packed, peer)

    def serve_tcp(self):
        while True:
            conn, _ = self.tcp.accept()
            threading.Thread(target=self.serve_connection, args=(conn,), daemon=True).start()

    def serve_connection(self, conn):
        with conn:
            while True:
                header = recv_exact(conn, 2)
                if header is None:
                    return
                request = recv_exact(conn, struct.unpack("!H", header)[0])
                if request is None:
                    return
                packed, delay = self.answer(request, "tcp")
                if delay > 0:
                    time.sleep(delay)
                if packed is not None:
                    conn.sendall(struct.pack("!H", len(packed)) + packed)


def udp_limit(query):
    """Largest UDP reply the client takes: its EDNS payload size, else 512 (RFC 6891)."""
    for rr in query.ar:
        if rr.rtype == QTYPE.OPT:
            return max(512, rr.rclass)
    return 512


def recv_exact(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def bind_pair(host, port):
    """UDP and TCP sockets bound to the same port (`port`, or a free one in PORT_RANGE)."""
    candidates = [port] if port else random.sample(range(*PORT_RANGE), 200)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in candidates:
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((host, candidate))
            tcp.bind((host, candidate))
            tcp.listen(64)
            return udp, tcp
        except OSError:
            udp.close()
            tcp.close()
            if port:
                raise
    raise OSError("no free port in %d..%d" % PORT_RANGE)


def log(message):
    print("zone_server: " + message, file=sys.stderr, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--zone", required=True, help="JSON zone file (format: see top of file)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port in 20000..32767")
    parser.add_argument("--ttl", type=int, default=300)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    server = Server(args.zone, args.host, args.port, args.ttl, args.verbose)
    signal.signal(signal.SIGHUP, lambda *_: server.reload())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=server.serve_udp, daemon=True).start()
    threading.Thread(target=server.serve_tcp, daemon=True).start()
    print("READY %d" % server.port, flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
