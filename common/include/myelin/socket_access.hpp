// SPDX-License-Identifier: Apache-2.0
// Who may use the agent's API socket: root, and the members of one optional
// group. Two layers enforce it: the socket file (root-owned, mode 0660, group
// the API group) and the agent's check of every peer's credentials
// (SO_PEERCRED, SO_PEERGROUPS), so a loosened file mode still refuses. The
// refusal text is shared by the agent and the clients, so a user sees the
// same sentence whichever layer stopped them.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "myelin/result.hpp"

namespace myelin {

struct SocketAccess {
  std::optional<gid_t> group;  // none: root only
  std::string group_name;      // as given or resolved ("myelin", or the number when it has no name)
};

// "myelin" or "1234" -> the group; an unknown name is an error.
Result<SocketAccess> resolve_socket_group(const std::string& name_or_gid);

// The peer of an accepted connection: uid, primary gid and supplementary groups.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};
Result<PeerCredentials> peer_credentials(int fd);

bool peer_allowed(const PeerCredentials& peer, const SocketAccess& access);

// "the agent's API (/run/myelin.sock) accepts root and group myelin; you are uid 1000"
std::string permission_denied_message(const std::string& path, const SocketAccess& access, uid_t uid);

}  // namespace myelin
