#!/bin/sh
# /opt/saslpasswd.sh — turgon37/smtp-relay's helper: add, change (or with -d delete) a SASL
# user of the relay in /data/sasldb2, e.g.
#   docker exec -it CONTAINER /opt/saslpasswd.sh -u example.net -c username
# (saslpasswd2 asks for the password twice). Takes effect at once: smtpd reads the database
# per login.
set -e
db=${POSTERN_SASLDB:-/data/sasldb2}
saslpasswd2 -f "$db" "$@"
chgrp postfix "$db"
chmod 0640 "$db"
