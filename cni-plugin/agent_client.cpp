// SPDX-License-Identifier: Apache-2.0
#include "agent_client.hpp"

#include "myelin/wire.hpp"

namespace myelin::cni {

std::variant<api::Response, CniError> agent_call(const std::string& socket, const api::Request& req) {
  // A short wait covers an agent that is restarting right now.
  auto fd = wire::connect_unix(socket, std::chrono::milliseconds(2000));
  if (!fd) return CniError{kTryAgainLater, "the Myelin agent is not reachable", fd.error().message};
  if (auto s = wire::send(fd->get(), req); !s)
    return CniError{kTryAgainLater, "cannot send to the Myelin agent", s.error().message};
  api::Response resp;
  if (auto s = wire::recv(fd->get(), resp); !s)
    return CniError{kTryAgainLater, "no answer from the Myelin agent", s.error().message};
  if (resp.has_error() && resp.error().code() != api::OK) {
    int code = resp.error().code() == api::EXHAUSTED   ? kNoFreeAddress
               : resp.error().code() == api::NOT_READY ? kTryAgainLater
                                                       : kAgentError;
    return CniError{code, resp.error().message(), "agent error " + api::ErrorCode_Name(resp.error().code())};
  }
  return resp;
}

}  // namespace myelin::cni
