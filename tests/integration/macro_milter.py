"""macro_milter.py — a minimal milter (protocol version 6, stdlib only) that
accepts everything and records, per connection, the connect callback's
arguments and every macro Postfix sends. Used to check what Postfix hands a
milter when the client uses XCLIENT (tests/integration/test_postfix_xclient.py).

Run: /usr/bin/python3 macro_milter.py PORT OUTFILE
Writes one JSON object per line to OUTFILE at connection close:
  {"connect": {"hostname":..., "family":..., "port":..., "address":...},
   "macros": {"C": {...}, "M": {...}, ...}, "commands": "CHMRTLNBE..."}
Prints "ready" on stdout once listening.
"""

import json
import socket
import struct
import sys
import threading

SMFI_VERSION = 6


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def send_packet(sock, cmd, data=b""):
    sock.sendall(struct.pack(">I", len(data) + 1) + cmd + data)


def handle(conn, outfile, lock):
    rec = {"connect": None, "macros": {}, "commands": ""}
    try:
        while True:
            (length,) = struct.unpack(">I", recv_exact(conn, 4))
            if length == 0 or length > 1 << 24:
                break
            packet = recv_exact(conn, length)
            cmd, data = packet[:1], packet[1:]
            c = cmd.decode("latin-1")
            if c != "D":
                rec["commands"] += c
            if c == "O":
                # version, actions, protocol: ask for every callback
                # (protocol flags 0) and no modifications.
                send_packet(conn, b"O", struct.pack(">III", SMFI_VERSION, 0, 0))
            elif c == "D":
                for_cmd = data[:1].decode("latin-1")
                parts = data[1:].split(b"\0")
                m = rec["macros"].setdefault(for_cmd, {})
                for i in range(0, len(parts) - 1, 2):
                    m[parts[i].decode("latin-1")] = parts[i + 1].decode("latin-1")
            elif c == "C":
                host, _, rest = data.partition(b"\0")
                family = rest[:1].decode("latin-1")
                info = {"hostname": host.decode("latin-1"), "family": family}
                if family in ("4", "6"):
                    info["port"] = struct.unpack(">H", rest[1:3])[0]
                    info["address"] = rest[3:].rstrip(b"\0").decode("latin-1")
                rec["connect"] = info
                send_packet(conn, b"c")
            elif c in ("H", "M", "R", "T", "L", "N", "B", "U"):
                send_packet(conn, b"c")
            elif c == "E":
                send_packet(conn, b"c")
            elif c == "A":
                pass                # abort: no reply
            elif c == "K":
                pass                # quit, new connection follows
            elif c == "Q":
                break
            else:
                send_packet(conn, b"c")
    except (EOFError, OSError):
        pass
    finally:
        conn.close()
        with lock, open(outfile, "a") as f:
            f.write(json.dumps(rec) + "\n")


def main():
    port, outfile = int(sys.argv[1]), sys.argv[2]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    print("ready", flush=True)
    lock = threading.Lock()
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, outfile, lock),
                         daemon=True).start()


if __name__ == "__main__":
    main()
