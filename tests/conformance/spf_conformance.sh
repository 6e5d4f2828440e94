#!/bin/sh
# spf_conformance.sh RIG_DIR DAEMON SUITE MIN_PASSED — runs the shared RFC 7208 / RFC 4408 SPF
# rig (../shared/conformance/spf, its README) against postern-spf through a unix policy socket
# and fails unless at least MIN_PASSED cases pass. Exit 77 (ctest: skipped) when the rig or its
# Python modules are absent, saying so loudly.
set -u
rig=$1 daemon=$2 suite=$3 min=$4
if [ ! -x "$rig/run" ]; then
  echo "SKIPPED: SPF conformance rig not found at $rig (expected ../shared beside the repo)" >&2
  exit 77
fi
if ! /usr/bin/python3 -c 'import yaml, dnslib' 2>/dev/null; then
  echo "SKIPPED: python3-yaml and python3-dnslib are needed by the rig (deploy/install-deps)" >&2
  exit 77
fi
out=$("$rig/run" --suite "$suite" \
  --command "$daemon"' --socket unix:$SPF_RIG_TMP/spf.sock --log-level warning --dns-timeout 2' \
  --policy-socket 'unix:$SPF_RIG_TMP/spf.sock' 2>&1)
status=$?
printf '%s\n' "$out" | grep -v '^PASS'
last=$(printf '%s\n' "$out" | tail -n 1)
passed=$(printf '%s\n' "$last" | sed -n 's/^\([0-9][0-9]*\) passed, [0-9][0-9]* failed$/\1/p')
if [ -z "$passed" ]; then
  echo "rig error (exit $status): no summary line" >&2
  exit 1
fi
if [ "$passed" -lt "$min" ]; then
  echo "$suite: $passed passed, want at least $min" >&2
  exit 1
fi
echo "$suite: $passed passed (threshold $min)"
