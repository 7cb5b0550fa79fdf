// SPDX-License-Identifier: Apache-2.0
// The Services benchmark's workload: TCP connect + request + response + close
// (netperf's TCP_CRR), one connection at a time, so every sample pays for what
// a Service costs a new connection: the first packet's translation (kube-proxy's
// nat chains, Myelin's frontend lookup) and conntrack's new entry.
//   tcp_crr server PORT                      (accepts on every address)
//   tcp_crr client IP PORT SECONDS           -> "N P50_US P99_US" on stdout
// The client exits 1 at the first connection that fails (a Service that does
// not answer is an error, never a fast sample).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { kMsg = 64, kMaxSamples = 4 << 20 };

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int full_io(int fd, char* buf, int n, int rd) {
  int done = 0;
  while (done < n) {
    ssize_t r = rd ? read(fd, buf + done, (size_t)(n - done)) : write(fd, buf + done, (size_t)(n - done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    done += (int)r;
  }
  return 0;
}

static int server(int port) {
  int one = 1, ls = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr*)&a, sizeof a) != 0 || listen(ls, 1024) != 0) {
    perror("tcp_crr server: bind/listen");
    return 1;
  }
  char buf[kMsg];
  for (;;) {
    int c = accept(ls, NULL, NULL);
    if (c < 0) continue;
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // The client closes first (the server waits for its FIN): TIME_WAIT stays
    // on the client, whose connect() then never picks a port whose last
    // connection the server (or conntrack between) still holds in TIME_WAIT;
    // with a server closing first, a run of 100,000 connections reused such
    // 4-tuples within a minute and measured that instead.
    if (full_io(c, buf, kMsg, 1) == 0 && full_io(c, buf, kMsg, 0) == 0) {
      while (read(c, buf, sizeof buf) > 0) {
      }
    }
    close(c);
  }
}

static int cmp(const void* x, const void* y) {
  float a = *(const float*)x, b = *(const float*)y;
  return (a > b) - (a < b);
}

static int client(const char* ip, int port, double seconds) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    fprintf(stderr, "tcp_crr: bad address %s\n", ip);
    return 2;
  }
  float* lat = malloc(sizeof(float) * kMaxSamples);
  char buf[kMsg];
  memset(buf, 'x', sizeof buf);
  struct timeval to = {.tv_sec = 2};  // bounds connect() and read(): a blackholed Service fails, never hangs
  int one = 1;
  long n = 0;
  const double end = now_us() + seconds * 1e6;
  while (n < kMaxSamples) {
    double t0 = now_us();
    if (t0 >= end) break;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &to, sizeof to);
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &to, sizeof to);
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s, (struct sockaddr*)&a, sizeof a) != 0 || full_io(s, buf, kMsg, 0) != 0 || full_io(s, buf, kMsg, 1) != 0) {
      // connect() past SO_SNDTIMEO says EINPROGRESS, a read past SO_RCVTIMEO EAGAIN: both are a 2 s timeout.
      const char* why = (errno == EINPROGRESS || errno == EAGAIN) ? "timed out after 2 s" : strerror(errno);
      fprintf(stderr, "tcp_crr: connection %ld to %s:%d failed: %s\n", n + 1, ip, port, why);
      return 1;
    }
    close(s);
    lat[n++] = (float)(now_us() - t0);
  }
  if (n == 0) return 1;
  qsort(lat, (size_t)n, sizeof(float), cmp);
  printf("%ld %.1f %.1f\n", n, lat[n / 2], lat[(long)((double)n * 0.99)]);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "server") == 0) return server(atoi(argv[2]));
  if (argc == 5 && strcmp(argv[1], "client") == 0) return client(argv[2], atoi(argv[3]), atof(argv[4]));
  fprintf(stderr, "usage: tcp_crr server PORT | tcp_crr client IP PORT SECONDS\n");
  return 2;
}
