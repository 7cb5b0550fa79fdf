// SPDX-License-Identifier: Apache-2.0
// The local API's framing over a Unix stream socket: a 4-byte big-endian
// length, then one serialized protobuf message (at most kMaxFrame bytes).
#pragma once

#include <google/protobuf/message_lite.h>

#include <chrono>
#include <string>

#include "myelin/fd.hpp"
#include "myelin/result.hpp"

namespace myelin::wire {

inline constexpr size_t kMaxFrame = 16u << 20;

Status send(int fd, const google::protobuf::MessageLite& msg);
// Reads one frame. An orderly close before any byte gives an Error with code 0
// and message "closed".
Status recv(int fd, google::protobuf::MessageLite& msg);

// Connects to a Unix socket, retrying ECONNREFUSED/ENOENT until `wait` passes.
Result<UniqueFd> connect_unix(const std::string& path,
                              std::chrono::milliseconds wait = std::chrono::milliseconds(0));
// Binds and listens; removes a stale socket file first. Mode 0660.
Result<UniqueFd> listen_unix(const std::string& path);

}  // namespace myelin::wire
