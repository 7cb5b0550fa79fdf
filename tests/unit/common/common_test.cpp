// SPDX-License-Identifier: Apache-2.0
// Shared utilities: flags, addresses, the socket framing, atomic files.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>

#include "myelin.pb.h"
#include "myelin/atomic_file.hpp"
#include "myelin/bounded_read.hpp"
#include "myelin/flags.hpp"
#include "myelin/net.hpp"
#include "myelin/socket_access.hpp"
#include "myelin/wire.hpp"

namespace myelin {
namespace {

TEST(Flags, ValuesBoolsRepeatsAndErrors) {
  Flags f("usage");
  f.add("name", "n", "dflt").add("tag", "t", "", true).add_bool("verbose", "v");
  ASSERT_TRUE(f.parse({"--name=x", "--tag", "a", "--tag", "b", "--verbose", "pos"}));
  EXPECT_EQ(f.get("name"), "x");
  EXPECT_EQ(f.get_all("tag"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(f.get_bool("verbose"));
  EXPECT_EQ(f.positional(), std::vector<std::string>{"pos"});
  Flags g("usage");
  g.add("name", "n", "dflt").add("count", "c", "3");
  ASSERT_TRUE(g.parse({}));
  EXPECT_EQ(g.get("name"), "dflt");
  EXPECT_EQ(*g.get_int("count"), 3);
  Flags h("usage");
  h.add("count", "c");
  EXPECT_FALSE(h.parse({"--nope"}));
  Flags k("usage");
  k.add("count", "c");
  EXPECT_FALSE(k.parse({"--count"})) << "missing value";
  ASSERT_TRUE(k.parse({"--count", "x1"}));
  EXPECT_FALSE(k.get_int("count"));
  EXPECT_NE(k.help().find("--count"), std::string::npos);
}

TEST(Net, ParseFormatContain) {
  EXPECT_EQ(net::parse_ipv4("10.1.2.3")->str(), "10.1.2.3");
  EXPECT_FALSE(net::parse_ipv4("10.1.2"));
  auto c = net::parse_cidr4("10.244.1.0/24");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(*net::parse_ipv4("10.244.1.77")));
  EXPECT_FALSE(c->contains(*net::parse_ipv4("10.244.2.1")));
  EXPECT_EQ(c->size(), 256u);
  auto bad = net::parse_cidr4("10.244.1.5/24");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("10.244.1.0/24"), std::string::npos) << "suggests the network address";
  EXPECT_FALSE(net::parse_cidr4("10.0.0.0/33"));
  uint8_t m[6] = {0x02, 0xab, 0, 1, 2, 3};
  EXPECT_EQ(net::mac_str(m), "02:ab:00:01:02:03");
  EXPECT_EQ((*net::parse_mac("02:ab:00:01:02:03"))[1], 0xab);
  EXPECT_FALSE(net::parse_mac("02:ab:00"));
  auto a = net::to_addr(*net::parse_ipv4("192.168.1.9"));
  EXPECT_EQ(net::addr_str(a, MYELIN_FAMILY_IPV4), "192.168.1.9");
  EXPECT_EQ(a.w[1] | a.w[2] | a.w[3], 0u);
}

TEST(Wire, FramesRoundTripAndCloseIsDistinct) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  api::Request req;
  req.mutable_ipam_allocate()->set_owner(std::string(100000, 'x'));  // larger than one socket buffer write
  std::thread t([&] { EXPECT_TRUE(wire::send(a.get(), req)); });
  api::Request got;
  ASSERT_TRUE(wire::recv(b.get(), got));
  t.join();
  EXPECT_EQ(got.ipam_allocate().owner().size(), 100000u);
  a.reset();
  auto closed = wire::recv(b.get(), got);
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().message, "closed");
}

TEST(Wire, OversizedFrameIsRefused) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  uint32_t huge = htonl(64u << 20);
  ASSERT_EQ(::write(a.get(), &huge, 4), 4);
  api::Request got;
  auto r = wire::recv(b.get(), got);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("limit"), std::string::npos);
}

TEST(Wire, ConnectToMissingSocketSaysSo) {
  auto r = wire::connect_unix("/tmp/myelin-no-such-socket-" + std::to_string(getpid()));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is myelind running?"), std::string::npos);
}

// The socket file never has more than 0660 and always has exactly 0660,
// whatever the umask of the process that creates it.
TEST(Wire, ListenSocketIs0660UnderAnyUmask) {
  for (mode_t um : {0000, 0077, 0027}) {
    std::string path = "/tmp/myelin-listen-" + std::to_string(getpid()) + ".sock";
    mode_t saved = ::umask(um);
    auto fd = wire::listen_unix(path);
    ::umask(saved);
    ASSERT_TRUE(fd) << fd.error().message;
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0660u) << "umask " << std::oct << um;
    EXPECT_FALSE(std::filesystem::exists(path + ".new." + std::to_string(getpid()))) << "temporary name renamed away";
    auto c = wire::connect_unix(path);
    EXPECT_TRUE(c) << "the renamed socket accepts connections";
    ::unlink(path.c_str());
  }
}

TEST(SocketAccess, RootAndTheGroupOnly) {
  SocketAccess root_only;
  SocketAccess group{4242, "ops"};
  struct Case {
    const char* what;
    PeerCredentials peer;
    bool root_only, with_group;
  } cases[] = {
      {"root", {1, 0, 0, {}}, true, true},
      {"root with another primary group", {1, 0, 100, {}}, true, true},
      {"user, no groups", {1, 1000, 1000, {}}, false, false},
      {"user, primary group is the API group", {1, 1000, 4242, {}}, false, true},
      {"user, supplementary API group", {1, 1000, 1000, {27, 4242}}, false, true},
      {"user, other groups", {1, 1000, 1000, {27, 4243}}, false, false},
      {"gid 0 is not uid 0", {1, 1000, 0, {0}}, false, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(peer_allowed(c.peer, root_only), c.root_only) << c.what;
    EXPECT_EQ(peer_allowed(c.peer, group), c.with_group) << c.what;
  }
  EXPECT_EQ(permission_denied_message("/run/m.sock", group, 1000),
            "permission denied: the agent's API (/run/m.sock) accepts root and group ops; you are uid 1000");
  EXPECT_EQ(permission_denied_message("/run/m.sock", root_only, 7),
            "permission denied: the agent's API (/run/m.sock) accepts root only; you are uid 7");
}

TEST(SocketAccess, GroupByNameOrNumber) {
  auto root = resolve_socket_group("0");
  ASSERT_TRUE(root);
  EXPECT_EQ(*root->group, 0u);
  EXPECT_EQ(root->group_name, "root");
  auto named = resolve_socket_group("root");
  ASSERT_TRUE(named);
  EXPECT_EQ(*named->group, 0u);
  auto unnamed = resolve_socket_group("987654");
  ASSERT_TRUE(unnamed) << "a gid needs no group entry";
  EXPECT_EQ(unnamed->group_name, "987654");
  auto missing = resolve_socket_group("no-such-group-myelin");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("no group named"), std::string::npos);
}

TEST(SocketAccess, PeerCredentialsOfASocketPair) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  auto p = peer_credentials(a.get());
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->uid, ::getuid());
  EXPECT_EQ(p->gid, ::getgid());
  EXPECT_EQ(p->pid, ::getpid());
}

TEST(AtomicFile, ReplacesWholeAndReadsBack) {
  std::string path = "/tmp/myelin-atomic-" + std::to_string(getpid());
  EXPECT_FALSE(*read_file(path)) << "absent file reads as nullopt";
  ASSERT_TRUE(write_file_atomic(path, "one"));
  ASSERT_TRUE(write_file_atomic(path, "two"));
  EXPECT_EQ(**read_file(path), "two");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(getpid()))) << "no temp file left";
  EXPECT_FALSE(write_file_atomic("/nonexistent-dir/x", "y"));
  std::filesystem::remove(path);
}


// A manifest directory is outside input: each kind of hostile entry is
// refused with its reason, at once, without reading it whole.
TEST(BoundedRead, OnlyRegularFilesWithinTheLimit) {
  namespace fs = std::filesystem;
  const fs::path dir = "/tmp/myelin-bounded-" + std::to_string(getpid());
  fs::create_directories(dir);
  struct Cleanup {
    fs::path p;
    ~Cleanup() { fs::remove_all(p); }
  } cleanup{dir};
  auto path = [&](const char* n) { return (dir / n).string(); };
  ASSERT_TRUE(write_file_atomic(path("ok.yaml"), "kind: Namespace\n"));
  ASSERT_TRUE(write_file_atomic(path("big.yaml"), std::string(5000, 'x')));
  ASSERT_EQ(mkfifo(path("fifo.yaml").c_str(), 0600), 0);
  fs::create_directory(dir / "dir.yaml");
  fs::create_symlink("loop2.yaml", dir / "loop1.yaml");
  fs::create_symlink("loop1.yaml", dir / "loop2.yaml");
  fs::create_symlink("/dev/zero", dir / "zero.yaml");
  fs::create_symlink("ok.yaml", dir / "link.yaml");
  struct Case {
    const char* name;
    const char* error;  // "" = read
  } cases[] = {
      {"ok.yaml", ""},
      {"link.yaml", ""},
      {"big.yaml", "is 5000 bytes, over the limit of 4 KiB"},
      {"fifo.yaml", "is a FIFO, not a regular file"},
      {"dir.yaml", "is a directory, not a regular file"},
      {"loop1.yaml", "a symlink loop"},
      {"zero.yaml", "is a character device, not a regular file"},
  };
  for (const auto& c : cases) {
    auto started = std::chrono::steady_clock::now();
    auto r = read_regular_file(path(c.name), 4096);
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2)) << c.name << " did not block";
    if (!*c.error) {
      ASSERT_TRUE(r) << c.name << ": " << r.error().message;
      ASSERT_TRUE(*r);
      EXPECT_EQ(**r, "kind: Namespace\n");
    } else {
      ASSERT_FALSE(r) << c.name << " was read";
      EXPECT_NE(r.error().message.find(c.error), std::string::npos) << c.name << ": " << r.error().message;
    }
  }
  auto gone = read_regular_file(path("missing.yaml"), 4096);
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone) << "a missing file reads as removed";
  auto empty_ok = read_regular_file(path("ok.yaml"), 16);
  ASSERT_TRUE(empty_ok) << "exactly at the limit is fine";
  fs::remove_all(dir);
}

// A file rewritten in place, or replaced by a rename, between two chunks of
// a read: the reader notices and reads it again, so it returns the new
// version whole, never 64 KiB of the old one followed by the new one.
TEST(BoundedRead, AFileChangedWhileReadIsReadAgainNeverMixed) {
  const std::string path = "/tmp/myelin-changing-" + std::to_string(getpid()) + ".yaml";
  struct Cleanup {
    std::string p;
    ~Cleanup() { std::filesystem::remove(p); }
  } cleanup{path};
  const std::string a(1 << 20, 'a'), b(1 << 20, 'b');
  for (const char* how : {"rewritten in place", "renamed over", "truncated"}) {
    ASSERT_TRUE(write_file_atomic(path, a));
    int calls = 0;
    auto r = read_regular_file(path, 4 << 20, [&] {
      if (++calls != 1) return;  // once, after the first chunk
      if (std::string(how) == "renamed over") {
        ASSERT_TRUE(write_file_atomic(path, b));
      } else {
        FILE* f = fopen(path.c_str(), "r+");
        ASSERT_TRUE(f);
        if (std::string(how) == "truncated") {
          ASSERT_EQ(ftruncate(fileno(f), 1000), 0);
        } else {
          fwrite(b.data(), 1, b.size(), f);
        }
        fclose(f);
      }
    });
    ASSERT_TRUE(r) << how << ": " << r.error().message;
    ASSERT_TRUE(*r);
    const std::string& t = **r;
    EXPECT_EQ(t.find_first_not_of(t[0]), std::string::npos) << how << ": a mix of two versions";
    EXPECT_GT(calls, std::string(how) == "truncated" ? 1 : 16) << how << ": read again";
    if (std::string(how) == "truncated") EXPECT_EQ(t.size(), 1000u);
    else EXPECT_EQ(t, b) << how;
  }
  // A file that changes on every pass is refused, and says so.
  ASSERT_TRUE(write_file_atomic(path, a));
  int n = 0;
  auto r = read_regular_file(path, 4 << 20, [&] {
    if (++n % 16 == 1) {
      ASSERT_TRUE(write_file_atomic(path, n % 2 ? b : a));
    }
  });
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("kept changing while it was read"), std::string::npos) << r.error().message;
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace myelin
