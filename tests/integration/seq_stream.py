#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Numbered streams for the no-lost-packet tests: every datagram or record
carries a sequence number, so the receiver counts exactly what was lost.

  seq_stream.py udp-recv PORT IDLE      until IDLE s without a datagram (after the first):
                                        "received N max M missing RANGES" (RANGES: a-b,c or -)
  seq_stream.py udp-send HOST PORT SECS INTERVAL   "sent N"
  seq_stream.py tcp-recv PORT           one connection until EOF: "received N gaps G" (exit 1 on a reset)
  seq_stream.py tcp-send HOST PORT SECS INTERVAL   one connection: "sent N" (exit 1 if it breaks)
"""
import socket
import struct
import sys
import time


def udp_recv(port, idle):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # A receive buffer of seconds of the stream: a receiver starved of CPU on
    # a loaded machine loses nothing here, so a loss is the datapath's.
    try:
        s.setsockopt(socket.SOL_SOCKET, 33, 4 << 20)  # SO_RCVBUFFORCE (root)
    except OSError:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("0.0.0.0", port))
    seen, top = set(), -1
    s.settimeout(None)
    while True:
        try:
            data = s.recv(64)
        except socket.timeout:
            break
        (n,) = struct.unpack("!Q", data[:8])
        seen.add(n)
        top = max(top, n)
        s.settimeout(idle)
    missing, start = [], None
    for n in range(top + 2):
        if n <= top and n not in seen:
            start = n if start is None else start
        elif start is not None:
            missing.append(f"{start}" if start == n - 1 else f"{start}-{n - 1}")
            start = None
    print(f"received {len(seen)} max {top} missing {','.join(missing[:20]) or '-'}", flush=True)


def udp_send(host, port, secs, interval):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    end, n, errors = time.monotonic() + secs, 0, 0
    while time.monotonic() < end:
        try:
            s.sendto(struct.pack("!Q", n) + b"x" * 56, (host, port))
            n += 1
        except OSError:
            errors += 1  # counted: a send the kernel refused is a lost packet too
        time.sleep(interval)
    print(f"sent {n} errors {errors}", flush=True)


def tcp_recv(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    c, _ = ls.accept()
    buf, count, gaps, want = b"", 0, 0, 0
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            buf += d
            while len(buf) >= 8:
                (n,) = struct.unpack("!Q", buf[:8])
                buf = buf[8:]
                if n != want:
                    gaps += 1
                want = n + 1
                count += 1
    except OSError as e:
        print(f"received {count} gaps {gaps} error {e}", flush=True)
        sys.exit(1)
    print(f"received {count} gaps {gaps}", flush=True)


def tcp_send(host, port, secs, interval):
    c = socket.create_connection((host, port), timeout=5)
    end, n = time.monotonic() + secs, 0
    try:
        while time.monotonic() < end:
            c.sendall(struct.pack("!Q", n))
            n += 1
            time.sleep(interval)
        c.shutdown(socket.SHUT_WR)
        c.settimeout(10)
        c.recv(1)  # the peer's close: everything was read
    except OSError as e:
        print(f"sent {n} error {e}", flush=True)
        sys.exit(1)
    print(f"sent {n}", flush=True)


def main(argv):
    mode = argv[1]
    if mode == "udp-recv":
        udp_recv(int(argv[2]), float(argv[3]))
    elif mode == "udp-send":
        udp_send(argv[2], int(argv[3]), float(argv[4]), float(argv[5]))
    elif mode == "tcp-recv":
        tcp_recv(int(argv[2]))
    elif mode == "tcp-send":
        tcp_send(argv[2], int(argv[3]), float(argv[4]), float(argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
