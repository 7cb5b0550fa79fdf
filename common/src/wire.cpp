// SPDX-License-Identifier: Apache-2.0
#include "myelin/wire.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <thread>

namespace myelin::wire {
namespace {

Status write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("write to socket");
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return {};
}

// Returns bytes read; 0 only on EOF before the first byte.
Result<size_t> read_all(int fd, char* p, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, p + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read from socket");
    }
    if (r == 0) {
      if (got == 0) return size_t{0};
      return Error{"connection closed mid-message", EPIPE};
    }
    got += static_cast<size_t>(r);
  }
  return got;
}

sockaddr_un make_addr(const std::string& path, bool& ok) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  ok = path.size() < sizeof(a.sun_path);
  if (ok) std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// Why connect() said EACCES, in the words the agent uses when it refuses a
// peer: the group comes from the socket file, which the caller may stat.
std::string access_denied(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0)
    return "permission denied: the agent's API (" + path + ") is in a directory uid " + std::to_string(::getuid()) +
           " cannot enter; it accepts root and the agent's API group (myelind --api-socket-group)";
  SocketAccess a;
  if (st.st_gid != 0) {
    a.group = st.st_gid;
    group* g = ::getgrgid(st.st_gid);
    a.group_name = g ? g->gr_name : std::to_string(st.st_gid);
  }
  return permission_denied_message(path, a, ::getuid());
}

}  // namespace

Status send(int fd, const google::protobuf::MessageLite& msg) {
  std::string body;
  if (!msg.SerializeToString(&body)) return Error{"cannot serialize " + msg.GetTypeName()};
  if (body.size() > kMaxFrame) return Error{"message too large to send"};
  uint32_t len = htonl(static_cast<uint32_t>(body.size()));
  std::string frame(reinterpret_cast<const char*>(&len), 4);
  frame += body;
  return write_all(fd, frame.data(), frame.size());
}

Status recv(int fd, google::protobuf::MessageLite& msg) {
  uint32_t len_be = 0;
  auto r = read_all(fd, reinterpret_cast<char*>(&len_be), 4);
  if (!r) return r.error();
  if (*r == 0) return Error{"closed", 0};
  uint32_t len = ntohl(len_be);
  if (len > kMaxFrame) return Error{"peer sent a frame of " + std::to_string(len) + " bytes (limit 16 MiB)"};
  std::string body(len, '\0');
  if (len > 0) {
    auto b = read_all(fd, body.data(), len);
    if (!b) return b.error();
    if (*b == 0) return Error{"connection closed mid-message", EPIPE};
  }
  if (!msg.ParseFromString(body)) return Error{"cannot parse " + msg.GetTypeName() + " from peer"};
  return {};
}

Result<UniqueFd> connect_unix(const std::string& path, std::chrono::milliseconds wait) {
  bool ok = false;
  sockaddr_un a = make_addr(path, ok);
  if (!ok) return Error{"socket path too long: " + path};
  auto deadline = std::chrono::steady_clock::now() + wait;
  auto backoff = std::chrono::milliseconds(5);
  for (;;) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return Error::from_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) return fd;
    int err = errno;
    if (err == EACCES) return Error{access_denied(path), EACCES};
    if ((err != ECONNREFUSED && err != ENOENT && err != EAGAIN) || std::chrono::steady_clock::now() >= deadline)
      return Error::from_errno("connect to agent at " + path + " (is myelind running?)", err);
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
  }
}

Result<UniqueFd> listen_unix(const std::string& path, const SocketAccess& access) {
  bool ok = false;
  const std::string tmp = path + ".new." + std::to_string(::getpid());
  sockaddr_un a = make_addr(tmp, ok);
  if (!ok) return Error{"socket path too long: " + path};
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket");
  // bind() creates the file with the socket's own mode less the umask: set
  // to 0660 first, the file is never more open than that, whatever the umask.
  if (::fchmod(fd.get(), 0660) != 0) return Error::from_errno("fchmod socket");
  ::unlink(tmp.c_str());  // left by an earlier start that died with this pid
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) return Error::from_errno("bind " + tmp);
  auto fail = [&](const std::string& what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::from_errno(what, err);
  };
  // Group and exact mode (a restrictive umask took bits away) on the file
  // bind made, through a descriptor of it: a link swapped in is never followed.
  UniqueFd file(::open(tmp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st{};
  if (!file || ::fstat(file.get(), &st) != 0) return fail("open " + tmp);
  if (!S_ISSOCK(st.st_mode)) {
    errno = EEXIST;
    return fail(tmp + " is not the socket just bound");
  }
  if (access.group && ::fchownat(file.get(), "", static_cast<uid_t>(-1), *access.group, AT_EMPTY_PATH) != 0)
    return fail("chown " + tmp + " to group " + access.group_name);
  if (::chmod(("/proc/self/fd/" + std::to_string(file.get())).c_str(), 0660) != 0) return fail("chmod " + tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename " + tmp + " to " + path);
  if (::listen(fd.get(), 128) < 0) return Error::from_errno("listen " + path);
  return fd;
}

}  // namespace myelin::wire
