#!/usr/bin/python3
"""spf_suite_export.py SUITE.yml — the openspf/pyspf SPF test suite (YAML) as lines that
spf_differential_test.cpp reads without a YAML or JSON parser. Byte strings are hex.

  S <scenario-index> <hex description>
  R <hex name> <TYPE> <hex data>       one record: TXT (strings joined, RFC 7208 §3.3), A, AAAA,
                                   PTR, CNAME, MX ("<preference> <exchange>")
  N <hex name>                     a listed name (NODATA for types it lacks)
  T <hex name> <TYPE,TYPE|->           TIMEOUT: types other than those listed time out
  C <name> <hex host> <hex mailfrom> <hex helo> <result,result>

The suite's conventions (as ../shared/conformance/spf/README.md describes them): SPF (type
99) records are also TXT records unless the name lists TXT itself; "TXT: NONE" means no TXT
record; "\\xNN" escapes are the raw byte NN (latin-1), other non-latin-1 text is UTF-8.
Names are lower-cased without a trailing dot. Exit status 2 when the file cannot be read.
"""
import sys

import yaml


def raw(text):
    text = '' if text is None else str(text)
    try:
        return text.encode('latin-1')
    except UnicodeEncodeError:
        return text.encode('utf-8')


def hexed(text):
    return raw(text).hex() or '-'


def export_zone(zonedata, out):
    for rawname, entries in (zonedata or {}).items():
        name = str(rawname).lower().rstrip('.')
        entries = entries or []
        hexname = hexed(name)  # names may hold spaces (macro-mania-in-domain)
        out.append('N %s' % hexname)
        lists_txt = any(isinstance(e, dict) and any(str(k).upper() == 'TXT' for k in e)
                        for e in entries)
        answered, timeout = set(), False
        for entry in entries:
            if isinstance(entry, str):
                if entry.strip().upper() != 'TIMEOUT':
                    raise ValueError('unknown marker %r at %s' % (entry, name))
                timeout = True
                continue
            for rtype, value in entry.items():
                rtype = str(rtype).upper()
                if isinstance(value, str) and value == 'NONE':
                    continue
                if not timeout:
                    answered.add(rtype)
                if rtype in ('TXT', 'SPF'):
                    strings = value if isinstance(value, list) else [value]
                    data = b''.join(raw(s) for s in strings).hex() or '-'
                    out.append('R %s TXT %s' % (hexname, data))
                    if rtype == 'SPF' and lists_txt:
                        out.pop()  # the name's own TXT entries win
                elif rtype == 'MX':
                    out.append('R %s MX %s' % (hexname, hexed('%d %s' % (int(value[0]), value[1]))))
                elif rtype in ('A', 'AAAA', 'PTR', 'CNAME'):
                    out.append('R %s %s %s' % (hexname, rtype, hexed(value)))
                else:
                    raise ValueError('unsupported type %s at %s' % (rtype, name))
        if timeout:
            out.append('T %s %s' % (hexname, ','.join(sorted(answered)) or '-'))


def main(argv):
    if len(argv) != 2:
        sys.stderr.write('usage: spf_suite_export.py SUITE.yml\n')
        return 2
    try:
        with open(argv[1], 'rb') as f:
            scenarios = list(yaml.safe_load_all(f))
    except (OSError, yaml.YAMLError) as e:
        sys.stderr.write('spf_suite_export.py: %s\n' % e)
        return 2
    out = []
    for index, scenario in enumerate(scenarios):
        if not scenario:
            continue
        out.append('S %d %s' % (index, hexed(scenario.get('description', ''))))
        export_zone(scenario.get('zonedata'), out)
        for name, case in (scenario.get('tests') or {}).items():
            results = case['result']
            results = results if isinstance(results, list) else [results]
            out.append('C %s %s %s %s %s' % (name, hexed(case.get('host')),
                                             hexed(case.get('mailfrom')),
                                             hexed(case.get('helo')), ','.join(results)))
    sys.stdout.write('\n'.join(out) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
