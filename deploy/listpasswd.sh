#!/bin/sh
# /opt/listpasswd.sh — turgon37/smtp-relay's helper: list the SASL users in /data/sasldb2.
exec sasldblistusers2 -f "${POSTERN_SASLDB:-/data/sasldb2}"
