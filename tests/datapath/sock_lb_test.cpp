// SPDX-License-Identifier: Apache-2.0
// Socket-level load balancing with real sockets: the pod datapath's maps
// under a per-test pin root, sock_lb attached to a cgroup of this test's own
// (never the machine's root), and each scenario run by a child process that
// joins that cgroup and a network namespace of its own (loopback only), so
// the backends are sockets in that namespace. Every negative check has its
// positive control in the same test.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "myelin/abi/net.h"
#include "myelin/datapath/datapath.hpp"
#include "myelin/datapath/sock_lb.hpp"
#include "myelin/pseudo_fs.hpp"

namespace myelin::test {
namespace {

uint32_t ip(const char* s) {
  in_addr a{};
  inet_pton(AF_INET, s, &a);
  return a.s_addr;
}

sockaddr_in sa(const char* addr, uint16_t port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_addr.s_addr = ip(addr);
  s.sin_port = htons(port);
  return s;
}

std::string str(const sockaddr_in& s) {
  char b[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &s.sin_addr, b, sizeof b);
  return std::string(b) + ":" + std::to_string(ntohs(s.sin_port));
}

// A child's scenario reports its first failed check as a line: "" is success.
using Report = std::function<void(const std::string&)>;

// Runs `body` in a child process: it joins `cgroup` first (unless empty) and
// a fresh network namespace with lo up. `between` runs in the parent when
// the child calls pause() (the child waits until it returns). The child's
// report (or "exit <status>") is returned; "" means every check passed.
class Child {
 public:
  using Body = std::function<std::string(const std::function<void()>& pause)>;
  static std::string run(const std::string& cgroup, const Body& body, const std::function<void()>& between = {}) {
    int to_parent[2], to_child[2];
    if (pipe(to_parent) != 0 || pipe(to_child) != 0) return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
      close(to_parent[0]);
      close(to_child[1]);
      std::string r = enter(cgroup);
      if (r.empty())
        r = body([&] {
          char c = 'p';
          (void)!write(to_parent[1], &c, 1);
          (void)!read(to_child[0], &c, 1);
        });
      std::string msg = "r" + r;
      (void)!write(to_parent[1], msg.data(), msg.size());
      _exit(0);
    }
    close(to_parent[1]);
    close(to_child[0]);
    std::string out;
    char buf[512];
    ssize_t n;
    while ((n = read(to_parent[0], buf, sizeof buf)) > 0) {
      for (ssize_t i = 0; i < n; ++i) {
        if (out.empty() && buf[i] == 'p') {
          if (between) between();
          char c = 'g';
          (void)!write(to_child[1], &c, 1);
          continue;
        }
        out.push_back(buf[i]);
      }
    }
    close(to_parent[0]);
    close(to_child[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (out.empty() || out[0] != 'r') return "child ended without a report, status " + std::to_string(status);
    return out.substr(1);
  }

 private:
  static std::string enter(const std::string& cgroup) {
    if (!cgroup.empty()) {
      std::ofstream procs(cgroup + "/cgroup.procs");
      procs << getpid() << std::flush;
      if (!procs) return "join " + cgroup;
    }
    if (unshare(CLONE_NEWNET) != 0) return std::string("unshare: ") + strerror(errno);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
    int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    close(s);
    return rc == 0 ? "" : std::string("lo up: ") + strerror(errno);
  }
};

#define CHECK_OR_REPORT(cond, what)                                                     \
  do {                                                                                  \
    if (!(cond)) return std::string(what) + " (line " + std::to_string(__LINE__) + ", errno " + strerror(errno) + ")"; \
  } while (0)

int listener(int type, const char* addr, uint16_t port) {
  int s = socket(AF_INET, type, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto a = sa(addr, port);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return -1;
  if (type == SOCK_STREAM && listen(s, 64) != 0) return -1;
  return s;
}

int timed(int s) {
  timeval tv{2, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return s;
}

// connect() of a new socket: 0 or errno.
int connect_to(int type, const char* addr, uint16_t port, int* out = nullptr) {
  int s = timed(socket(AF_INET, type, 0));
  auto a = sa(addr, port);
  int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  if (out && rc == 0)
    *out = s;
  else
    close(s);
  return rc;
}

sockaddr_in peer_of(int s) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getpeername(s, reinterpret_cast<sockaddr*>(&a), &len);
  return a;
}

sockaddr_in local_of(int s) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  return a;
}

class SockLbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: loads BPF programs and makes a cgroup (run the suite with sudo)";
    static int seq = 0;
    const std::string tag = std::to_string(getpid()) + "-" + std::to_string(seq++);
    pin_dir_ = "/sys/fs/bpf/myelin-test-socklb-" + tag;
    ASSERT_TRUE(pseudofs::Mounts::ensure()) << "mount bpffs (see the log above)";
    ASSERT_TRUE(datapath::make_pin_dir(pin_dir_));
    auto dp = datapath::Datapath::load({pin_dir_});
    ASSERT_TRUE(dp) << dp.error().message;
    dp_ = std::move(*dp);
    auto mount = datapath::cgroup2_mount();
    if (!mount) GTEST_SKIP() << mount.error().message;
    cgroup_ = *mount + "/mln-test-socklb-" + tag;
    ASSERT_EQ(mkdir(cgroup_.c_str(), 0755), 0) << cgroup_ << ": " << strerror(errno);
    struct stat st{};
    ASSERT_EQ(stat(cgroup_.c_str(), &st), 0);
    cgroup_id_ = st.st_ino;
    auto lb = datapath::SockLb::start({cgroup_, [this](const char* m) { return dp_->map_fd(m); },
                                       [this](const myelin_sock_xlate_event& e) { events_.push_back(e); }});
    ASSERT_TRUE(lb) << lb.error().message;
    lb_ = std::move(*lb);
    myelin_lb_config cfg{};
    cfg.flags = MYELIN_LB_CFG_F_ENABLED;
    uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(fd(MYELIN_MAP_LB_CONFIG), &zero, &cfg, BPF_ANY), 0);
  }
  void TearDown() override {
    lb_.reset();  // links go: nothing stays attached to the cgroup
    dp_.reset();
    if (!cgroup_.empty()) rmdir(cgroup_.c_str());
    if (!pin_dir_.empty()) (void)datapath::Datapath::unpin_all(pin_dir_);
  }

  int fd(const char* map) { return dp_->map_fd(map); }

  void backend(uint32_t id, const char* addr, uint16_t port, uint8_t proto) {
    myelin_lb_backend b{};
    b.addr.w[0] = ip(addr);
    b.port = htons(port);
    b.proto = proto;
    b.flags = MYELIN_LB_BE_F_ACTIVE;
    b.family = MYELIN_FAMILY_IPV4;
    ASSERT_EQ(bpf_map_update_elem(fd(MYELIN_MAP_LB_BACKEND), &id, &b, BPF_ANY), 0);
  }
  static myelin_lb_svc_key key(const char* addr, uint16_t port, uint8_t proto, uint16_t slot) {
    myelin_lb_svc_key k{};
    k.addr.w[0] = ip(addr);
    k.dport = htons(port);
    k.proto = proto;
    k.slot = slot;
    k.family = MYELIN_FAMILY_IPV4;
    return k;
  }
  // A frontend and its backends (slots 1..n), slots before slot 0 as the writer does.
  void frontend(const char* addr, uint16_t port, uint8_t proto, uint16_t rev, const std::vector<uint32_t>& backends,
                uint32_t flags = MYELIN_LB_F_CLUSTER_IP) {
    for (size_t i = 0; i < backends.size(); ++i) {
      auto k = key(addr, port, proto, static_cast<uint16_t>(i + 1));
      myelin_lb_svc_val v{};
      v.backend_id = backends[i];
      v.rev_nat_index = rev;
      ASSERT_EQ(bpf_map_update_elem(fd(MYELIN_MAP_LB_SVC), &k, &v, BPF_ANY), 0);
    }
    auto k = key(addr, port, proto, 0);
    myelin_lb_svc_val v{};
    v.count = static_cast<uint16_t>(backends.size());
    v.rev_nat_index = rev;
    v.flags = flags;
    v.affinity_timeout = 10800;
    ASSERT_EQ(bpf_map_update_elem(fd(MYELIN_MAP_LB_SVC), &k, &v, BPF_ANY), 0);
  }
  // Starts socket LB again on the same cgroup and maps, with other options.
  void restart(datapath::SockLb::Options o) {
    lb_.reset();
    o.cgroup_root = cgroup_;
    o.map_fd = [this](const char* m) { return dp_->map_fd(m); };
    o.on_event = [this](const myelin_sock_xlate_event& e) { events_.push_back(e); };
    auto lb = datapath::SockLb::start(o);
    ASSERT_TRUE(lb) << lb.error().message;
    lb_ = std::move(*lb);
  }
  void remove_backend(uint32_t id) { ASSERT_EQ(bpf_map_delete_elem(fd(MYELIN_MAP_LB_BACKEND), &id), 0); }
  void drain() {
    for (int i = 0; i < 20 && lb_->poll(50) > 0; ++i) {
    }
  }

  std::string pin_dir_, cgroup_;
  uint64_t cgroup_id_ = 0;
  std::unique_ptr<datapath::Datapath> dp_;
  std::unique_ptr<datapath::SockLb> lb_;
  std::vector<myelin_sock_xlate_event> events_;
};

TEST_F(SockLbTest, TcpConnectLandsOnTheBackendAndPeerIsTheFrontend) {
  backend(1, "127.0.0.2", 8080, IPPROTO_TCP);
  frontend("10.96.0.10", 80, IPPROTO_TCP, 7, {1});
  auto r = Child::run(cgroup_, [](auto&&) -> std::string {
    int srv = listener(SOCK_STREAM, "127.0.0.2", 8080);
    CHECK_OR_REPORT(srv >= 0, "listen on the backend");
    int c = -1;
    CHECK_OR_REPORT(connect_to(SOCK_STREAM, "10.96.0.10", 80, &c) == 0, "connect to the frontend");
    int a = accept(timed(srv), nullptr, nullptr);
    CHECK_OR_REPORT(a >= 0, "the backend accepts the connection");
    CHECK_OR_REPORT(str(peer_of(c)) == "10.96.0.10:80", "getpeername shows the frontend, not " + str(peer_of(c)));
    CHECK_OR_REPORT(str(local_of(a)) == "127.0.0.2:8080", "the backend's side is the backend: " + str(local_of(a)));
    CHECK_OR_REPORT(write(c, "hi", 2) == 2, "send");
    char b[4] = {};
    CHECK_OR_REPORT(read(a, b, sizeof b) == 2 && std::string(b) == "hi", "the backend reads what the client sent");
    return "";
  });
  EXPECT_EQ(r, "");
  drain();
  ASSERT_FALSE(events_.empty()) << "no socket translation event";
  const auto& e = events_.front();
  EXPECT_EQ(e.type, MYELIN_EVENT_TRACE_SOCK);
  EXPECT_EQ(e.xlate_point, MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD);
  EXPECT_EQ(e.proto, IPPROTO_TCP);
  EXPECT_EQ(e.rev_nat_index, 7);
  EXPECT_EQ(e.orig_addr.w[0], ip("10.96.0.10"));
  EXPECT_EQ(e.orig_port, htons(80));
  EXPECT_EQ(e.xlate_addr.w[0], ip("127.0.0.2"));
  EXPECT_EQ(e.xlate_port, htons(8080));
  EXPECT_NE(e.cookie, 0u);
  EXPECT_NE(e.netns_cookie, 0u);
  EXPECT_EQ(e.cgroup_id, cgroup_id_);

  // Control: a process outside the cgroup is not translated (its netns has
  // no route to the ClusterIP: the per-packet path would serve it on a pod).
  auto outside = Child::run("", [](auto&&) -> std::string {
    int rc = connect_to(SOCK_STREAM, "10.96.0.10", 80);
    CHECK_OR_REPORT(rc == ENETUNREACH, std::string("outside the cgroup: untranslated, got ") + strerror(rc));
    return "";
  });
  EXPECT_EQ(outside, "");
}

TEST_F(SockLbTest, NoBackendsIsConnectionRefusedForTcpAndUdp) {
  frontend("10.96.0.20", 80, IPPROTO_TCP, 8, {});
  frontend("10.96.0.20", 53, IPPROTO_UDP, 9, {});
  backend(1, "127.0.0.2", 8080, IPPROTO_TCP);
  frontend("10.96.0.21", 80, IPPROTO_TCP, 10, {1});  // the control: the same with a backend
  auto r = Child::run(cgroup_, [](auto&&) -> std::string {
    int srv = listener(SOCK_STREAM, "127.0.0.2", 8080);
    CHECK_OR_REPORT(srv >= 0, "listen");
    CHECK_OR_REPORT(connect_to(SOCK_STREAM, "10.96.0.21", 80) == 0, "control: a frontend with a backend connects");
    int rc = connect_to(SOCK_STREAM, "10.96.0.20", 80);
    CHECK_OR_REPORT(rc == ECONNREFUSED, std::string("TCP connect without backends: ") + strerror(rc));
    rc = connect_to(SOCK_DGRAM, "10.96.0.20", 53);
    CHECK_OR_REPORT(rc == ECONNREFUSED, std::string("UDP connect without backends: ") + strerror(rc));
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    auto fe = sa("10.96.0.20", 53);
    errno = 0;
    ssize_t n = sendto(u, "q", 1, 0, reinterpret_cast<sockaddr*>(&fe), sizeof fe);
    CHECK_OR_REPORT(n < 0 && errno == ECONNREFUSED, "UDP sendto without backends is refused");
    return "";
  });
  EXPECT_EQ(r, "");
  // Each refusal is an event (a SERVICE_BACKEND_NOT_FOUND drop flow): the
  // frontend asked for, untranslated; the control's connect a translation.
  drain();
  std::vector<myelin_sock_xlate_event> refused, translated;
  for (const auto& e : events_) (e.drop_reason ? refused : translated).push_back(e);
  ASSERT_EQ(refused.size(), 3u) << "TCP connect, UDP connect, UDP sendto";
  const struct {
    uint8_t proto;
    uint16_t rev, port;
  } want[] = {{IPPROTO_TCP, 8, 80}, {IPPROTO_UDP, 9, 53}, {IPPROTO_UDP, 9, 53}};
  for (size_t i = 0; i < 3; ++i) {
    const auto& e = refused[i];
    SCOPED_TRACE("refusal " + std::to_string(i));
    EXPECT_EQ(e.type, MYELIN_EVENT_TRACE_SOCK);
    EXPECT_EQ(e.drop_reason, MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND);
    EXPECT_EQ(e.xlate_point, MYELIN_SOCK_XLATE_POINT_PRE_DIRECTION_FWD);
    EXPECT_EQ(e.proto, want[i].proto);
    EXPECT_EQ(e.rev_nat_index, want[i].rev);
    EXPECT_EQ(e.orig_addr.w[0], ip("10.96.0.20"));
    EXPECT_EQ(e.orig_port, htons(want[i].port));
    EXPECT_EQ(e.xlate_addr.w[0], e.orig_addr.w[0]);
    EXPECT_EQ(e.xlate_port, e.orig_port);
    EXPECT_NE(e.cookie, 0u);
    EXPECT_EQ(e.cgroup_id, cgroup_id_);
  }
  ASSERT_EQ(translated.size(), 1u) << "the control's connect";
  EXPECT_EQ(translated[0].rev_nat_index, 10);
  EXPECT_EQ(translated[0].xlate_point, MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD);
  EXPECT_EQ(translated[0].xlate_addr.w[0], ip("127.0.0.2"));
}

TEST_F(SockLbTest, UdpRepliesAreReverseTranslated) {
  backend(1, "127.0.0.2", 5353, IPPROTO_UDP);
  frontend("10.96.0.30", 53, IPPROTO_UDP, 11, {1});
  auto r = Child::run(cgroup_, [](auto&&) -> std::string {
    int srv = timed(listener(SOCK_DGRAM, "127.0.0.2", 5353));
    int other = timed(listener(SOCK_DGRAM, "127.0.0.3", 5353));
    CHECK_OR_REPORT(srv >= 0 && other >= 0, "bind the backend");
    int c = timed(socket(AF_INET, SOCK_DGRAM, 0));
    auto fe = sa("10.96.0.30", 53);
    CHECK_OR_REPORT(sendto(c, "q", 1, 0, reinterpret_cast<sockaddr*>(&fe), sizeof fe) == 1, "sendto the frontend");
    char b[8];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    CHECK_OR_REPORT(recvfrom(srv, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &len) == 1, "the backend receives");
    CHECK_OR_REPORT(sendto(srv, "a", 1, 0, reinterpret_cast<sockaddr*>(&from), len) == 1, "the backend replies");
    len = sizeof from;
    CHECK_OR_REPORT(recvfrom(c, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &len) == 1, "the reply arrives");
    CHECK_OR_REPORT(str(from) == "10.96.0.30:53", "the reply comes from the frontend, not " + str(from));
    // Control: a datagram from an address the client never sent to keeps its source.
    auto me = local_of(c);
    CHECK_OR_REPORT(sendto(other, "x", 1, 0, reinterpret_cast<sockaddr*>(&me), sizeof me) == 1, "another sender");
    len = sizeof from;
    CHECK_OR_REPORT(recvfrom(c, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &len) == 1, "its datagram arrives");
    CHECK_OR_REPORT(str(from) == "127.0.0.3:5353", "an untranslated sender shows as itself, not " + str(from));
    // Connected UDP: getpeername and the reply's source are the frontend too.
    int cc = -1;
    CHECK_OR_REPORT(connect_to(SOCK_DGRAM, "10.96.0.30", 53, &cc) == 0, "connect UDP");
    CHECK_OR_REPORT(str(peer_of(cc)) == "10.96.0.30:53", "connected UDP peer: " + str(peer_of(cc)));
    CHECK_OR_REPORT(send(cc, "q", 1, 0) == 1, "send connected");
    len = sizeof from;
    CHECK_OR_REPORT(recvfrom(srv, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &len) == 1, "backend receives");
    CHECK_OR_REPORT(sendto(srv, "a", 1, 0, reinterpret_cast<sockaddr*>(&from), len) == 1, "backend replies");
    len = sizeof from;
    CHECK_OR_REPORT(recvfrom(cc, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &len) == 1, "reply on the connected socket");
    CHECK_OR_REPORT(str(from) == "10.96.0.30:53", "connected reply from " + str(from));
    return "";
  });
  EXPECT_EQ(r, "");
  drain();
  int fwd = 0, rev = 0;
  for (const auto& e : events_) {
    fwd += e.xlate_point == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD;
    rev += e.xlate_point == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV;
  }
  EXPECT_GE(fwd, 2);
  EXPECT_GE(rev, 2);
}

TEST_F(SockLbTest, ConnectedUdpSocketOfARemovedBackendIsDestroyed) {
  backend(1, "127.0.0.2", 5353, IPPROTO_UDP);
  backend(2, "127.0.0.3", 5353, IPPROTO_UDP);
  frontend("10.96.0.40", 53, IPPROTO_UDP, 12, {1});
  frontend("10.96.0.41", 53, IPPROTO_UDP, 13, {2});
  datapath::SockLb::DestroyResult destroyed{};
  std::string between_error;
  auto r = Child::run(
      cgroup_,
      [](const std::function<void()>& pause) -> std::string {
        int a = timed(listener(SOCK_DGRAM, "127.0.0.2", 5353)), b = timed(listener(SOCK_DGRAM, "127.0.0.3", 5353));
        CHECK_OR_REPORT(a >= 0 && b >= 0, "bind the backends");
        int gone = -1, kept = -1;
        CHECK_OR_REPORT(connect_to(SOCK_DGRAM, "10.96.0.40", 53, &gone) == 0, "connect to the first frontend");
        CHECK_OR_REPORT(connect_to(SOCK_DGRAM, "10.96.0.41", 53, &kept) == 0, "connect to the second");
        CHECK_OR_REPORT(str(peer_of(gone)) == "10.96.0.40:53", "peer before");
        pause();  // the parent removes backend 1 and runs the iterator
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(gone, SOL_SOCKET, SO_ERROR, &err, &len);
        CHECK_OR_REPORT(err == ECONNABORTED, std::string("the removed backend's socket: ") + strerror(err));
        sockaddr_in p{};
        socklen_t plen = sizeof p;
        CHECK_OR_REPORT(getpeername(gone, reinterpret_cast<sockaddr*>(&p), &plen) != 0 && errno == ENOTCONN,
                        "the destroyed socket is no longer connected");
        // Control: the other backend's socket still works.
        len = sizeof err;
        getsockopt(kept, SOL_SOCKET, SO_ERROR, &err, &len);
        CHECK_OR_REPORT(err == 0, std::string("the kept socket has an error: ") + strerror(err));
        CHECK_OR_REPORT(send(kept, "q", 1, 0) == 1, "send on the kept socket");
        char buf[4];
        CHECK_OR_REPORT(recv(b, buf, sizeof buf, 0) == 1, "its backend receives");
        return "";
      },
      [&] {
        remove_backend(1);
        auto d = lb_->destroy_stale_udp();
        if (!d)
          between_error = d.error().message;
        else
          destroyed = *d;
      });
  EXPECT_EQ(r, "");
  EXPECT_EQ(between_error, "");
  EXPECT_EQ(destroyed.destroyed, 1u);
  EXPECT_GE(destroyed.netns, 1u);
}

// One backend behind two frontends: dropped by one, still held by the other
// (so it stays in the backends map). The first frontend's socket goes, the
// second's stays; a terminating backend's socket (no new connections, its
// established ones continue) stays too.
TEST_F(SockLbTest, ConnectedUdpSocketOfABackendItsFrontendDroppedIsDestroyed) {
  backend(1, "127.0.0.2", 5353, IPPROTO_UDP);
  backend(2, "127.0.0.3", 5353, IPPROTO_UDP);
  backend(3, "127.0.0.4", 5353, IPPROTO_UDP);
  frontend("10.96.0.60", 53, IPPROTO_UDP, 16, {1});
  frontend("10.96.0.61", 53, IPPROTO_UDP, 17, {1});
  frontend("10.96.0.62", 53, IPPROTO_UDP, 18, {3});
  datapath::SockLb::DestroyResult destroyed{};
  std::string between_error;
  auto r = Child::run(
      cgroup_,
      [](const std::function<void()>& pause) -> std::string {
        int a = timed(listener(SOCK_DGRAM, "127.0.0.2", 5353)), c = timed(listener(SOCK_DGRAM, "127.0.0.4", 5353));
        CHECK_OR_REPORT(a >= 0 && c >= 0, "bind the backends");
        int dropped = -1, held = -1, terminating = -1;
        CHECK_OR_REPORT(connect_to(SOCK_DGRAM, "10.96.0.60", 53, &dropped) == 0, "connect to the first frontend");
        CHECK_OR_REPORT(connect_to(SOCK_DGRAM, "10.96.0.61", 53, &held) == 0, "connect to the second");
        CHECK_OR_REPORT(connect_to(SOCK_DGRAM, "10.96.0.62", 53, &terminating) == 0, "connect to the third");
        pause();
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(dropped, SOL_SOCKET, SO_ERROR, &err, &len);
        CHECK_OR_REPORT(err == ECONNABORTED, std::string("the dropped backend's socket: ") + strerror(err));
        for (int s : {held, terminating}) {
          err = 0;
          len = sizeof err;
          getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
          CHECK_OR_REPORT(err == 0, std::string("a socket whose backend still serves it: ") + strerror(err));
          CHECK_OR_REPORT(send(s, "q", 1, 0) == 1, "it still sends");
        }
        char buf[4];
        CHECK_OR_REPORT(recv(a, buf, sizeof buf, 0) == 1, "the held backend receives");
        CHECK_OR_REPORT(recv(c, buf, sizeof buf, 0) == 1, "the terminating backend receives");
        return "";
      },
      [&] {
        // The first frontend now lists backend 2 only; backend 3 terminates (no slot, not active).
        frontend("10.96.0.60", 53, IPPROTO_UDP, 16, {2});
        frontend("10.96.0.62", 53, IPPROTO_UDP, 18, {});
        myelin_lb_backend b{};
        uint32_t id = 3;
        bpf_map_lookup_elem(fd(MYELIN_MAP_LB_BACKEND), &id, &b);
        b.flags = MYELIN_LB_BE_F_TERMINATING;
        bpf_map_update_elem(fd(MYELIN_MAP_LB_BACKEND), &id, &b, BPF_ANY);
        auto d = lb_->destroy_stale_udp();
        if (!d)
          between_error = d.error().message;
        else
          destroyed = *d;
      });
  EXPECT_EQ(r, "");
  EXPECT_EQ(between_error, "");
  EXPECT_EQ(destroyed.destroyed, 1u);
}

TEST_F(SockLbTest, AffinityByNetnsCookieKeepsTheBackend) {
  backend(1, "127.0.0.2", 8080, IPPROTO_TCP);
  backend(2, "127.0.0.3", 8080, IPPROTO_TCP);
  frontend("10.96.0.50", 80, IPPROTO_TCP, 14, {1, 2}, MYELIN_LB_F_CLUSTER_IP | MYELIN_LB_F_AFFINITY);
  frontend("10.96.0.51", 80, IPPROTO_TCP, 15, {1, 2});  // control: no affinity spreads
  auto r = Child::run(cgroup_, [](auto&&) -> std::string {
    int a = listener(SOCK_STREAM, "127.0.0.2", 8080), b = listener(SOCK_STREAM, "127.0.0.3", 8080);
    CHECK_OR_REPORT(a >= 0 && b >= 0, "listen");
    for (const char* fe : {"10.96.0.50", "10.96.0.51"})
      for (int i = 0; i < 30; ++i) CHECK_OR_REPORT(connect_to(SOCK_STREAM, fe, 80) == 0, std::string("connect to ") + fe);
    return "";
  });
  EXPECT_EQ(r, "");
  // Which backend each connection got: the translation events say.
  drain();
  std::map<uint16_t, std::multiset<uint32_t>> by_frontend;
  for (const auto& e : events_) by_frontend[e.rev_nat_index].insert(e.xlate_addr.w[0]);
  ASSERT_EQ(by_frontend[14].size(), 30u);
  ASSERT_EQ(by_frontend[15].size(), 30u);
  EXPECT_EQ(std::set<uint32_t>(by_frontend[14].begin(), by_frontend[14].end()).size(), 1u) << "affinity: one backend";
  // Random over two backends: all 30 on one has probability 2^-29.
  EXPECT_EQ(std::set<uint32_t>(by_frontend[15].begin(), by_frontend[15].end()).size(), 2u) << "no affinity: both";
  // The affinity entry is keyed by the client's netns cookie.
  myelin_lb_affinity_key k{};
  k.client = events_.front().netns_cookie;
  k.rev_nat_index = 14;
  k.netns = 1;
  myelin_lb_affinity_val v{};
  EXPECT_EQ(bpf_map_lookup_elem(fd(MYELIN_MAP_LB_AFFINITY), &k, &v), 0);
}


// A kernel without bpf_sock_destroy (before 6.5): socket LB still starts and
// serves; connected UDP sockets of a removed backend are not destroyed (and
// it says so). Forced here, where the kernel has the kfunc.
TEST_F(SockLbTest, WithoutSockDestroyTheRestWorksAndSocketsStay) {
  ASSERT_TRUE(datapath::kernel_has_sock_destroy()) << "this kernel (6.18) has the kfunc";
  EXPECT_TRUE(lb_->udp_destroy()) << "control: by default the iterator is loaded here";
  EXPECT_EQ(lb_->no_udp_destroy(), "");
  datapath::SockLb::Options o;
  o.udp_destroy = false;
  restart(o);
  EXPECT_FALSE(lb_->udp_destroy());
  EXPECT_NE(lb_->no_udp_destroy(), "");
  backend(1, "127.0.0.2", 5353, IPPROTO_UDP);
  backend(2, "127.0.0.2", 8080, IPPROTO_TCP);
  frontend("10.96.0.70", 53, IPPROTO_UDP, 20, {1});
  frontend("10.96.0.70", 80, IPPROTO_TCP, 21, {2});
  frontend("10.96.0.71", 80, IPPROTO_TCP, 22, {});
  datapath::SockLb::DestroyResult destroyed{};
  std::string between_error;
  auto r = Child::run(
      cgroup_,
      [](const std::function<void()>& pause) -> std::string {
        int u = timed(listener(SOCK_DGRAM, "127.0.0.2", 5353)), t = listener(SOCK_STREAM, "127.0.0.2", 8080);
        CHECK_OR_REPORT(u >= 0 && t >= 0, "bind the backends");
        CHECK_OR_REPORT(connect_to(SOCK_STREAM, "10.96.0.70", 80) == 0, "TCP through the frontend");
        CHECK_OR_REPORT(connect_to(SOCK_STREAM, "10.96.0.71", 80) == ECONNREFUSED, "no backends: refused");
        int c = -1;
        CHECK_OR_REPORT(connect_to(SOCK_DGRAM, "10.96.0.70", 53, &c) == 0, "connect UDP");
        CHECK_OR_REPORT(str(peer_of(c)) == "10.96.0.70:53", "connected UDP peer: " + str(peer_of(c)));
        pause();  // the parent removes the UDP backend and asks for destruction
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len);
        CHECK_OR_REPORT(err == 0, std::string("not destroyed without the kfunc, yet: ") + strerror(err));
        CHECK_OR_REPORT(str(peer_of(c)) == "10.96.0.70:53", "still connected: " + str(peer_of(c)));
        CHECK_OR_REPORT(send(c, "q", 1, 0) == 1, "and still sending to the old backend");
        char b[4];
        CHECK_OR_REPORT(recv(u, b, sizeof b, 0) == 1, "which receives it");
        return "";
      },
      [&] {
        remove_backend(1);
        auto d = lb_->destroy_stale_udp();
        if (!d)
          between_error = d.error().message;
        else
          destroyed = *d;
      });
  EXPECT_EQ(r, "");
  EXPECT_EQ(between_error, "") << "no error: the run is a no-op, reported as unsupported";
  EXPECT_TRUE(destroyed.unsupported);
  EXPECT_EQ(destroyed.destroyed, 0u);
  drain();
  int fwd = 0, refused = 0;
  for (const auto& e : events_) {
    fwd += e.xlate_point == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD;
    refused += e.drop_reason == MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND;
  }
  EXPECT_EQ(fwd, 2) << "the TCP connect and the UDP connect were translated";
  EXPECT_EQ(refused, 1);
}

// The probe says yes but the kernel refuses the iterator program: socket LB
// loads again without it instead of failing the agent's start.
TEST_F(SockLbTest, AnIteratorTheKernelRefusesFallsBackToLoadingWithoutIt) {
  datapath::SockLb::Options o;
  o.test_break_udp_destroy = true;
  restart(o);
  EXPECT_FALSE(lb_->udp_destroy());
  EXPECT_NE(lb_->no_udp_destroy().find("does not load"), std::string::npos) << lb_->no_udp_destroy();
  backend(1, "127.0.0.2", 8080, IPPROTO_TCP);
  frontend("10.96.0.80", 80, IPPROTO_TCP, 23, {1});
  frontend("10.96.0.81", 80, IPPROTO_TCP, 24, {});
  auto r = Child::run(cgroup_, [](auto&&) -> std::string {
    int srv = listener(SOCK_STREAM, "127.0.0.2", 8080);
    CHECK_OR_REPORT(srv >= 0, "listen");
    int c = -1;
    CHECK_OR_REPORT(connect_to(SOCK_STREAM, "10.96.0.80", 80, &c) == 0, "connect through the frontend");
    CHECK_OR_REPORT(str(peer_of(c)) == "10.96.0.80:80", "getpeername: " + str(peer_of(c)));
    CHECK_OR_REPORT(connect_to(SOCK_STREAM, "10.96.0.81", 80) == ECONNREFUSED, "no backends: refused");
    return "";
  });
  EXPECT_EQ(r, "");
  auto d = lb_->destroy_stale_udp();
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(d->unsupported);
  drain();
  EXPECT_EQ(events_.size(), 2u) << "a translation and a refusal";
}

}  // namespace
}  // namespace myelin::test
