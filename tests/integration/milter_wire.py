"""milter_wire.py — the MTA side of one milter connection (Sendmail milter protocol v6,
as Postfix speaks it), for tests that talk to a milter without a Postfix: packets, option
negotiation, the usual SMTP-stage commands, quit."""

import socket
import struct

SMFIP_NR_HDR = 0x80
SMFIP_NOUNKNOWN = 0x100
SMFIP_NODATA = 0x200
SMFIP_SKIP = 0x400
SMFIP_NR_CONN = 0x1000
SMFIP_NR_MAIL = 0x4000
SMFIP_NR_BODY = 0x80000
SMFIP_HDR_LEADSPC = 0x100000
NO_REPLY_STEPS = 0x000FF080  # every SMFIP_NR_* bit (NR_HDR, NR_CONN .. NR_BODY)
ALL_ACTIONS = 0x1FF


def connect_data(hostname, port, address):
    """SMFIC_CONNECT's data: host name, family '4', port, address."""
    return hostname.encode() + b"\0" + b"4" + struct.pack("!H", port) + address.encode() + b"\0"


class MilterWire:
    """One connection to a milter on 127.0.0.1:port (10 s timeout)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, cmd, data=b""):
        self.sock.sendall(struct.pack("!I", len(data) + 1) + cmd + data)

    def recv(self):
        """One reply packet: (command byte, data). ConnectionError when the milter closed."""
        while len(self.buf) < 4 or len(self.buf) < 4 + struct.unpack("!I", self.buf[:4])[0]:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("milter closed the connection")
            self.buf += chunk
        n = struct.unpack("!I", self.buf[:4])[0]
        packet, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return packet[:1], packet[1:]

    def negotiate(self, steps=SMFIP_HDR_LEADSPC, actions=ALL_ACTIONS):
        """Offers version 6, `actions` and protocol `steps`; the steps the filter asked for."""
        self.send(b"O", struct.pack("!III", 6, actions, steps))
        cmd, data = self.recv()
        if cmd != b"O":
            raise AssertionError("negotiation reply %r %r" % (cmd, data))
        _version, _actions, asked = struct.unpack("!III", data[:12])
        return asked

    def close(self):
        try:
            self.send(b"Q")
        except OSError:
            pass
        self.sock.close()
