"""lmtp_sink.py — a small LMTP server (RFC 2033) on a loopback port for tests: what Postfix's
lmtp client delivers to Dovecot (a16bitsysop's DOVECOT) is kept in memory instead.

LmtpSink(port).start() listens on 127.0.0.1:port in a thread; .messages is a list of
(mail_from, [recipients], data bytes) with one entry per DATA; recipients in .reject get
550 5.1.1 at RCPT; .stop() closes it. LHLO, MAIL, RCPT, DATA (one reply per accepted
recipient, RFC 2033 section 4.2), RSET, NOOP, QUIT; anything else 500.
"""

import re
import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        sink = self.server.sink
        self.reply("220 lmtp-sink LMTP ready")
        mail_from, rcpts = None, []
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "LHLO":
                self.reply("250-lmtp-sink")
                self.reply("250-8BITMIME")
                self.reply("250 ENHANCEDSTATUSCODES")
            elif verb == "MAIL":
                m = re.match(r"(?i)^MAIL FROM:\s*<([^>]*)>", line)
                if not m:
                    self.reply("501 5.5.4 syntax: MAIL FROM:<address>")
                    continue
                mail_from, rcpts = m.group(1), []
                self.reply("250 2.1.0 OK")
            elif verb == "RCPT":
                m = re.match(r"(?i)^RCPT TO:\s*<([^>]*)>", line)
                if mail_from is None or not m:
                    self.reply("503 5.5.1 MAIL first" if mail_from is None else
                               "501 5.5.4 syntax: RCPT TO:<address>")
                    continue
                if m.group(1).lower() in sink.reject:
                    self.reply("550 5.1.1 <%s> User doesn't exist" % m.group(1))
                    continue
                rcpts.append(m.group(1))
                self.reply("250 2.1.5 OK")
            elif verb == "DATA":
                if not rcpts:
                    self.reply("503 5.5.1 no valid recipients")
                    continue
                self.reply("354 go ahead")
                data = []
                while True:
                    raw = self.rfile.readline(1 << 20)
                    if not raw:
                        return
                    if raw in (b".\r\n", b".\n"):
                        break
                    data.append(raw[1:] if raw.startswith(b"..") else raw)
                with sink.lock:
                    sink.messages.append((mail_from, list(rcpts), b"".join(data)))
                for r in rcpts:         # RFC 2033 4.2: one reply per accepted recipient
                    self.reply("250 2.0.0 <%s> Saved" % r)
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.reply("250 2.0.0 OK")
            elif verb == "NOOP":
                self.reply("250 2.0.0 OK")
            elif verb == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("500 5.5.2 unknown command")


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class LmtpSink:
    """An LMTP server on 127.0.0.1:port (see the module text)."""

    def __init__(self, port):
        self.port = port
        self.messages = []
        self.reject = set()
        self.lock = threading.Lock()
        self.server = None
        self.thread = None

    def start(self):
        self.server = _Server(("127.0.0.1", self.port), _Handler)
        self.server.sink = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
