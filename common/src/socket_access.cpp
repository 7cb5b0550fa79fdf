// SPDX-License-Identifier: Apache-2.0
#include "myelin/socket_access.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

namespace myelin {

Result<SocketAccess> resolve_socket_group(const std::string& v) {
  if (v.empty()) return Error{"empty group name"};
  std::vector<char> buf(16384);
  group g{};
  group* found = nullptr;
  if (v.find_first_not_of("0123456789") == std::string::npos && v.size() <= 9) {
    gid_t gid = static_cast<gid_t>(std::stoul(v));
    // A number needs no entry in the group database (a gid only a container
    // runtime knows); its name is shown where there is one.
    getgrgid_r(gid, &g, buf.data(), buf.size(), &found);
    return SocketAccess{gid, found ? std::string(found->gr_name) : v};
  }
  int err = getgrnam_r(v.c_str(), &g, buf.data(), buf.size(), &found);
  if (err) return Error::from_errno("look up group " + v, err);
  if (!found) return Error{"no group named '" + v + "' (give its name or its numeric gid)"};
  return SocketAccess{found->gr_gid, v};
}

Result<PeerCredentials> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return Error::from_errno("SO_PEERCRED");
  PeerCredentials p{cred.pid, cred.uid, cred.gid, {}};
  // The peer's supplementary groups as they were when it connected.
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 4; ++attempt) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      p.groups = std::move(groups);
      return p;
    }
    if (errno != ERANGE) return Error::from_errno("SO_PEERGROUPS");
    groups.resize(glen / sizeof(gid_t) + 1);
  }
  return Error{"SO_PEERGROUPS: the peer's group list keeps growing"};
}

bool peer_allowed(const PeerCredentials& peer, const SocketAccess& access) {
  if (peer.uid == 0) return true;
  if (!access.group) return false;
  return peer.gid == *access.group ||
         std::find(peer.groups.begin(), peer.groups.end(), *access.group) != peer.groups.end();
}

std::string permission_denied_message(const std::string& path, const SocketAccess& access, uid_t uid) {
  return "permission denied: the agent's API (" + path + ") accepts root" +
         (access.group ? " and group " + access.group_name : std::string(" only")) + "; you are uid " +
         std::to_string(uid);
}

}  // namespace myelin
