// SPDX-License-Identifier: Apache-2.0
// The local API's framing over a Unix stream socket: a 4-byte big-endian
// length, then one serialized protobuf message (at most kMaxFrame bytes).
#pragma once

#include <google/protobuf/message_lite.h>

#include <chrono>
#include <string>

#include "myelin/fd.hpp"
#include "myelin/result.hpp"
#include "myelin/socket_access.hpp"

namespace myelin::wire {

inline constexpr size_t kMaxFrame = 16u << 20;

Status send(int fd, const google::protobuf::MessageLite& msg);
// Reads one frame. An orderly close before any byte gives an Error with code 0
// and message "closed".
Status recv(int fd, google::protobuf::MessageLite& msg);

// Connects to a Unix socket, retrying ECONNREFUSED/ENOENT until `wait` passes.
// A socket the caller may not open is an Error with code EACCES that says who
// may (the socket's group, from the file) and who the caller is.
Result<UniqueFd> connect_unix(const std::string& path,
                              std::chrono::milliseconds wait = std::chrono::milliseconds(0));
// Binds and listens. The socket file is root-owned (the caller's uid), mode
// 0660, group access.group (else the caller's gid), and has them from the
// moment it appears at `path`: it is made under a temporary name and renamed
// over `path` (which also replaces a stale socket from a killed agent).
Result<UniqueFd> listen_unix(const std::string& path, const SocketAccess& access = {});

}  // namespace myelin::wire
