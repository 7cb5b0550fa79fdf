// SPDX-License-Identifier: Apache-2.0
// svc_probe MODE ADDR PORT [-n COUNT] [-t TIMEOUT_MS] [-g GAP_MS] [-r] [-x]:
// the client side of the Services tests (the upstream e2e tests' exec pod).
// Every attempt prints one line: serve_hostname's answer followed by
// "peer=ADDR:PORT" (what getpeername, or recvfrom's source, says the
// socket talks to: the Service's address, whichever path translated it), or
// "ERR <errno name>" (ERR ETIMEDOUT when nothing came within the timeout), so
// a test tells a refusal from a drop from a wrong answer. Modes:
//   tcp         COUNT connections, each reads the first line
//   udp         COUNT connected UDP sockets, one datagram each
//   udp-sendto  COUNT datagrams on one unconnected socket (sendto/recvfrom)
//   tcp-hold    one connection, a line every GAP_MS, COUNT times
//   udp-stream  one connected UDP socket, a datagram every GAP_MS, COUNT
//               times (0: until killed); with -r, a socket that fails
//               (ECONNABORTED when the agent destroyed it, ECONNREFUSED) is
//               replaced by a new one, as a resolver does ("RECONNECT" line)
// -x stops tcp, udp and udp-sendto at the first failed attempt (a test's
// bounded wait then costs one timeout, not COUNT). Exit status 0 when every
// attempt got an answer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Opts {
  std::string mode;
  sockaddr_in dst{};
  int count = 1, timeout_ms = 1000, gap_ms = 0;
  bool reconnect = false;
  bool stop = false;  // -x: stop at the first failed attempt
};

std::string addr_str(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

std::string err(int e) {
  const char* n = strerrorname_np(e);
  return std::string("ERR ") + (n ? n : std::to_string(e).c_str());
}

std::string peer_of(int fd) {
  sockaddr_in p{};
  socklen_t len = sizeof p;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&p), &len) != 0) return "peer=" + err(errno).substr(4);
  return "peer=" + addr_str(p);
}

// Waits for fd to be readable; 0, or an errno (ETIMEDOUT, or the socket's error).
int wait_in(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r = poll(&p, 1, timeout_ms);
  if (r == 0) return ETIMEDOUT;
  if (r < 0) return errno;
  return 0;
}

// Reads one line (without its newline); "" with e set on failure.
std::string read_line(int fd, int timeout_ms, int& e) {
  std::string s;
  char c;
  for (;;) {
    if ((e = wait_in(fd, timeout_ms)) != 0) return "";
    ssize_t n = read(fd, &c, 1);
    if (n < 0) return e = errno, "";
    if (n == 0) return e = ECONNRESET, "";
    if (c == '\n') return s;
    s += c;
  }
}

std::string strip(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A connected socket, or -errno.
int connect_to(const Opts& o, int type) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK, 0);
  if (fd < 0) return -errno;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&o.dst), sizeof o.dst) != 0) {
    int e = errno;
    if (e != EINPROGRESS) return close(fd), -e;
    pollfd p{fd, POLLOUT, 0};
    int r = poll(&p, 1, o.timeout_ms);
    if (r == 0) return close(fd), -ETIMEDOUT;
    socklen_t len = sizeof e;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len);
    if (e != 0) return close(fd), -e;
  }
  return fd;
}

// One datagram on a connected socket: the answer line, or "" with e set.
std::string udp_ask(int fd, const Opts& o, int& e) {
  if (send(fd, "hostname\n", 9, 0) < 0) return e = errno, "";
  if ((e = wait_in(fd, o.timeout_ms)) != 0) return "";
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
  if (n < 0) return e = errno, "";
  return strip(std::string(buf, static_cast<size_t>(n)));
}

void gap(const Opts& o, int i) {
  if (o.gap_ms > 0 && i + 1 < o.count) usleep(static_cast<useconds_t>(o.gap_ms) * 1000);
}

int run_tcp(const Opts& o) {
  int bad = 0;
  for (int i = 0; i < o.count; ++i, gap(o, i - 1)) {
    int fd = connect_to(o, SOCK_STREAM), e = 0;
    if (fd < 0) { std::printf("%s\n", err(-fd).c_str()); ++bad; if (o.stop) break; continue; }
    std::string line = read_line(fd, o.timeout_ms, e);
    if (e) { std::printf("%s\n", err(e).c_str()); ++bad; if (o.stop) { close(fd); break; } }
    else std::printf("%s %s\n", line.c_str(), peer_of(fd).c_str());
    close(fd);
    std::fflush(stdout);
  }
  return bad ? 1 : 0;
}

int run_udp(const Opts& o) {
  int bad = 0;
  for (int i = 0; i < o.count; ++i, gap(o, i - 1)) {
    int fd = connect_to(o, SOCK_DGRAM), e = 0;
    if (fd < 0) { std::printf("%s\n", err(-fd).c_str()); ++bad; if (o.stop) break; continue; }
    std::string line = udp_ask(fd, o, e);
    if (e) { std::printf("%s\n", err(e).c_str()); ++bad; if (o.stop) { close(fd); break; } }
    else std::printf("%s %s\n", line.c_str(), peer_of(fd).c_str());
    close(fd);
    std::fflush(stdout);
  }
  return bad ? 1 : 0;
}

int run_udp_sendto(const Opts& o) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), bad = 0;
  for (int i = 0; i < o.count; ++i, gap(o, i - 1)) {
    if (sendto(fd, "hostname\n", 9, 0, reinterpret_cast<const sockaddr*>(&o.dst), sizeof o.dst) < 0) {
      std::printf("%s\n", err(errno).c_str()); ++bad; if (o.stop) break; continue;
    }
    int e = wait_in(fd, o.timeout_ms);
    char buf[512];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ssize_t n = e ? -1 : recvfrom(fd, buf, sizeof buf - 1, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) { std::printf("%s\n", err(e ? e : errno).c_str()); ++bad; if (o.stop) break; continue; }
    std::printf("%s peer=%s\n", strip(std::string(buf, static_cast<size_t>(n))).c_str(), addr_str(from).c_str());
    std::fflush(stdout);
  }
  close(fd);
  return bad ? 1 : 0;
}

int run_tcp_hold(const Opts& o) {
  int fd = connect_to(o, SOCK_STREAM), e = 0;
  if (fd < 0) return std::printf("0 %s\n", err(-fd).c_str()), 1;
  std::string first = read_line(fd, o.timeout_ms, e);
  if (e) return std::printf("0 %s\n", err(e).c_str()), 1;
  std::printf("0 %s %s\n", first.c_str(), peer_of(fd).c_str());
  std::fflush(stdout);
  for (int i = 1; i <= o.count; ++i) {
    if (o.gap_ms > 0) usleep(static_cast<useconds_t>(o.gap_ms) * 1000);
    std::string line;
    if (write(fd, "again\n", 6) != 6) e = errno;
    else line = read_line(fd, o.timeout_ms, e);
    if (e) return std::printf("%d %s\n", i, err(e).c_str()), 1;
    std::printf("%d %s\n", i, line.c_str());
    std::fflush(stdout);
  }
  close(fd);
  return 0;
}

int run_udp_stream(const Opts& o) {
  int fd = connect_to(o, SOCK_DGRAM), bad = 0;
  for (int i = 1; o.count == 0 || i <= o.count; ++i) {
    int e = 0;
    std::string line = fd < 0 ? (e = -fd, "") : udp_ask(fd, o, e);
    if (!e) std::printf("%d %s\n", i, line.c_str());
    else {
      std::printf("%d %s\n", i, err(e).c_str());
      ++bad;
      if (o.reconnect && e != ETIMEDOUT) {
        if (fd >= 0) close(fd);
        fd = connect_to(o, SOCK_DGRAM);
        std::printf("%d RECONNECT\n", i);
      }
    }
    std::fflush(stdout);
    if (o.gap_ms > 0) usleep(static_cast<useconds_t>(o.gap_ms) * 1000);
  }
  if (fd >= 0) close(fd);
  return bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Opts o;
  if (argc < 4) {
    std::fprintf(stderr, "usage: svc_probe tcp|udp|udp-sendto|tcp-hold|udp-stream ADDR PORT [-n COUNT] [-t TIMEOUT_MS] [-g GAP_MS] [-r] [-x]\n");
    return 2;
  }
  o.mode = argv[1];
  o.dst.sin_family = AF_INET;
  o.dst.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[3])));
  if (inet_pton(AF_INET, argv[2], &o.dst.sin_addr) != 1) return std::fprintf(stderr, "bad address %s\n", argv[2]), 2;
  for (int i = 4; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-r") { o.reconnect = true; continue; }
    if (a == "-x") { o.stop = true; continue; }
    if (i + 1 >= argc) return std::fprintf(stderr, "%s needs a value\n", a.c_str()), 2;
    int v = std::atoi(argv[++i]);
    if (a == "-n") o.count = v;
    else if (a == "-t") o.timeout_ms = v;
    else if (a == "-g") o.gap_ms = v;
    else return std::fprintf(stderr, "unknown option %s\n", a.c_str()), 2;
  }
  if (o.mode == "tcp") return run_tcp(o);
  if (o.mode == "udp") return run_udp(o);
  if (o.mode == "udp-sendto") return run_udp_sendto(o);
  if (o.mode == "tcp-hold") return run_tcp_hold(o);
  if (o.mode == "udp-stream") return run_udp_stream(o);
  return std::fprintf(stderr, "unknown mode %s\n", o.mode.c_str()), 2;
}
