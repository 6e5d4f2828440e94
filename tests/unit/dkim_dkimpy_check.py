#!/usr/bin/python3
"""dkim_dkimpy_check.py — verify every DKIM-Signature of messages with dkimpy (an independent
implementation). Used by dkim_dkimpy_test.cpp.

usage: dkim_dkimpy_check.py DIR
  DIR/dns.txt   lines "NAME<TAB>TXT" (NAME like sel._domainkey.example.com.)
  DIR/*.eml     messages; each DKIM-Signature field in one must verify.
Prints one line per signature; exit 0 when all pass, 1 otherwise, 77 when dkimpy is missing.
"""
import os
import sys

try:
    import dkim
except ImportError:
    print("dkimpy not installed (python3-dkim)")
    sys.exit(77)


def load_dns(path):
    records = {}
    with open(path, "rb") as f:
        for line in f:
            name, txt = line.rstrip(b"\n").split(b"\t", 1)
            records[name] = txt
    return records


def main(directory):
    records = load_dns(os.path.join(directory, "dns.txt"))

    def dnsfunc(name, timeout=5):
        return records.get(name)

    failures = 0
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".eml"):
            continue
        with open(os.path.join(directory, entry), "rb") as f:
            message = f.read()
        count = message.lower().count(b"\ndkim-signature:") + message.lower().startswith(b"dkim-signature:")
        if count == 0:
            print("%s: no DKIM-Signature" % entry)
            failures += 1
            continue
        for index in range(count):
            verifier = dkim.DKIM(message, minkey=1024)
            ok = verifier.verify(idx=index, dnsfunc=dnsfunc)
            print("%s: signature %d: %s" % (entry, index, "pass" if ok else "FAIL"))
            if not ok:
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
