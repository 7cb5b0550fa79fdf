#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Raw IPv4 packets for the default-deny end-to-end test.

Every ICMP type the datapath distinguishes and stray TCP segments (no SYN,
no connection), sent with IP_HDRINCL, each one tagged by its IP id (id base
+ its index in CASES), and a receiver that records which of them arrived,
read from an AF_PACKET socket on the pod's interface before the pod's stack
can drop anything.

  raw_packets.py cases [--only errors|others]      the case names, one a line
  raw_packets.py send --dst IP --id-base N [--only ...]
                      [--quote SRC:SPORT-DST:DPORT]  what the ICMP errors quote (a UDP datagram)
  raw_packets.py udp --dst IP --sport P --dport P   one real datagram (opens a flow)
  raw_packets.py receive --src IP --id-base N --out FILE --ready FILE [--timeout S]
"""
import argparse
import select
import signal
import socket
import struct
import sys
import time

ICMP_ERRORS = {3, 4, 5, 11, 12}
# (name, protocol, ICMP type/code or TCP flags)
CASES = [("icmp:%d:%d" % tc, 1, tc) for tc in [
    (0, 0), (3, 0), (3, 1), (3, 3), (3, 4), (3, 13), (4, 0), (5, 1), (8, 0), (9, 0), (10, 0),
    (11, 0), (11, 1), (12, 0), (13, 0), (14, 0), (15, 0), (16, 0), (17, 0), (18, 0), (42, 0)]]
TCP_FLAGS = {"FIN": 0x01, "SYN": 0x02, "RST": 0x04, "PSH": 0x08, "ACK": 0x10, "URG": 0x20}
CASES += [("tcp:" + f, 6, f) for f in [
    "ACK", "RST", "FIN", "ACK|FIN", "ACK|PSH", "ACK|RST", "URG", "none", "FIN|SYN", "RST|SYN", "FIN|PSH|URG"]]


def is_error(case):
    return case[1] == 1 and case[2][0] in ICMP_ERRORS


def selected(only):
    return [(i, c) for i, c in enumerate(CASES)
            if only == "all" or (only == "errors") == is_error(c)]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff


def ip_header(src, dst, proto, ident, payload_len):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, ident, 0, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))


def udp_datagram(src, sport, dst, dport, data=b"quoted"):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(data), 0)
    return ip_header(src, dst, 17, 0x5151, len(udp) + len(data)) + udp + data


def icmp(type_, code, rest, body):
    hdr = struct.pack("!BBH", type_, code, 0) + rest
    csum = checksum(hdr + body)
    return struct.pack("!BBH", type_, code, csum) + rest + body


def tcp(src, dst, sport, dport, flags, data):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 0x1000, 0x2000, 5 << 4, flags, 8192, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(hdr) + len(data))
    csum = checksum(pseudo + hdr + data)
    return hdr[:16] + struct.pack("!H", csum) + hdr[18:] + data


def tag(ident):
    """The last bytes of every packet sent: with the IP id, what makes it ours."""
    return b"MLNtag" + struct.pack("!H", ident)


def build(index, case, src, dst, quote, ident):
    name, proto, arg = case
    if proto == 1:
        type_, code = arg
        if type_ in ICMP_ERRORS:
            # The quoted datagram: its IP header and first 8 bytes (RFC 792).
            rest = struct.pack("!HH", 0, 1400) if (type_, code) == (3, 4) else b"\0\0\0\0"
            if type_ == 5:
                rest = socket.inet_aton(dst)  # the "better gateway"
            body = quote[:28]
        else:
            rest = struct.pack("!HH", 0x4d00 + index, 1)  # identifier, sequence
            body = b"\0" * 12 if type_ in (13, 14) else b"\0" * 4 if type_ in (17, 18) else b"myelin"
        l4 = icmp(type_, code, rest, body + tag(ident))
    else:
        flags = 0 if arg == "none" else sum(TCP_FLAGS[f] for f in arg.split("|"))
        l4 = tcp(src, dst, 41000 + index, 80, flags, (b"data" * 4 if flags & TCP_FLAGS["PSH"] else b"") + tag(ident))
    return l4


def local_address(dst):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((dst, 9))
    addr = s.getsockname()[0]
    s.close()
    return addr


def cmd_send(a):
    src = local_address(a.dst)
    qs, qd = a.quote.split("-")
    qsrc, qsport = qs.split(":")
    qdst, qdport = qd.split(":")
    quote = udp_datagram(qsrc, int(qsport), qdst, int(qdport))
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    for index, case in selected(a.only):
        ident = a.id_base + index
        l4 = build(index, case, src, a.dst, quote, ident)
        pkt = ip_header(src, a.dst, case[1], ident, len(l4)) + l4
        sock.sendto(pkt, (a.dst, 0))
        print(case[0])
        time.sleep(0.002)  # keep them in order through the veth queue


def cmd_udp(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", a.sport))
    s.sendto(b"open", (a.dst, a.dport))


def cmd_receive(a):
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    sock.bind((a.ifname, 0))
    want_src = socket.inet_aton(a.src)
    out = open(a.out, "a", buffering=1)
    with open(a.ready, "w") as r:
        r.write("ready\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.2)
        if not ready:
            continue
        frame, addr = sock.recvfrom(65535)
        if addr[2] == socket.PACKET_OUTGOING or len(frame) < 34:
            continue
        ip = frame[14:]
        if ip[0] >> 4 != 4 or ip[12:16] != want_src:
            continue
        ident = struct.unpack("!H", ip[4:6])[0]
        index = ident - a.id_base
        if 0 <= index < len(CASES) and ip[:struct.unpack("!H", ip[2:4])[0]].endswith(tag(ident)):
            out.write(CASES[index][0] + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cases")
    c.add_argument("--only", choices=["all", "errors", "others"], default="all")
    s = sub.add_parser("send")
    s.add_argument("--dst", required=True)
    s.add_argument("--id-base", type=int, required=True)
    s.add_argument("--only", choices=["all", "errors", "others"], default="all")
    s.add_argument("--quote", default="192.0.2.1:5000-192.0.2.2:6000")
    u = sub.add_parser("udp")
    u.add_argument("--dst", required=True)
    u.add_argument("--sport", type=int, required=True)
    u.add_argument("--dport", type=int, required=True)
    r = sub.add_parser("receive")
    r.add_argument("--src", required=True)
    r.add_argument("--id-base", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--ready", required=True)
    r.add_argument("--ifname", default="eth0")
    r.add_argument("--timeout", type=float, default=120)
    a = p.parse_args()
    if a.cmd == "cases":
        for _, case in selected(a.only):
            print(case[0])
    else:
        {"send": cmd_send, "udp": cmd_udp, "receive": cmd_receive}[a.cmd](a)


if __name__ == "__main__":
    main()
