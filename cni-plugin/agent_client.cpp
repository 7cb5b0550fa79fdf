// SPDX-License-Identifier: Apache-2.0
#include "agent_client.hpp"

#include <unistd.h>

#include "myelin/wire.hpp"

namespace myelin::cni {

std::variant<api::Response, CniError> agent_call(const std::string& socket, const api::Request& req) {
  // A short wait covers an agent that is restarting right now.
  auto fd = wire::connect_unix(socket, std::chrono::milliseconds(2000));
  if (!fd && fd.error().code == EACCES) return CniError{kAgentError, fd.error().message, "the plugin runs as uid " + std::to_string(::getuid())};
  if (!fd) return CniError{kTryAgainLater, "the Myelin agent is not reachable", fd.error().message};
  // A refusing agent answers and closes without reading: a failed send may
  // still have the agent's reason waiting.
  auto sent = wire::send(fd->get(), req);
  api::Response resp;
  auto got = wire::recv(fd->get(), resp);
  if (!sent && !(got && resp.has_error()))
    return CniError{kTryAgainLater, "cannot send to the Myelin agent", sent.error().message};
  if (!got) return CniError{kTryAgainLater, "no answer from the Myelin agent", got.error().message};
  if (resp.has_error() && resp.error().code() != api::OK) {
    int code = resp.error().code() == api::EXHAUSTED   ? kNoFreeAddress
               : resp.error().code() == api::NOT_READY ? kTryAgainLater
                                                       : kAgentError;
    return CniError{code, resp.error().message(), "agent error " + api::ErrorCode_Name(resp.error().code())};
  }
  return resp;
}

}  // namespace myelin::cni
