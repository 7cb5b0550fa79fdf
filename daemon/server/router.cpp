// SPDX-License-Identifier: Apache-2.0
#include "router.hpp"

namespace myelin::server {

api::Response error_response(api::ErrorCode code, const std::string& message) {
  api::Response r;
  r.mutable_error()->set_code(code);
  r.mutable_error()->set_message(message);
  return r;
}

namespace {
std::string kind_name(api::Request::KindCase kind) {
  const auto* field = api::Request::descriptor()->FindFieldByNumber(static_cast<int>(kind));
  return field ? field->name() : "request kind " + std::to_string(static_cast<int>(kind));
}
}  // namespace

Router& Router::add(api::Request::KindCase kind, Unary handler, bool before_ready) {
  return add_stream(
      kind, [h = std::move(handler)](const api::Request& req, const Reply& reply, const std::atomic<bool>&) { reply(h(req)); },
      before_ready);
}

Router& Router::add_stream(api::Request::KindCase kind, Stream handler, bool before_ready) {
  if (kind == api::Request::KIND_NOT_SET)
    conflicts_.push_back("a route for an empty request kind");
  else if (!routes_.emplace(kind, Route{std::move(handler), before_ready}).second)
    conflicts_.push_back("two routes for " + kind_name(kind));
  return *this;
}

Status Router::check() const {
  if (conflicts_.empty()) return {};
  std::string all;
  for (const auto& c : conflicts_) all += (all.empty() ? "" : "; ") + c;
  return Error{"API routes: " + all};
}

std::vector<api::Request::KindCase> Router::kinds() const {
  std::vector<api::Request::KindCase> out;
  for (const auto& [k, r] : routes_) out.push_back(k);
  return out;
}

void Router::handle(const api::Request& req, const Reply& reply, const std::atomic<bool>& cancelled) {
  auto it = routes_.find(req.kind_case());
  if (!ready_ && (it == routes_.end() || !it->second.before_ready)) {
    reply(error_response(api::NOT_READY, "agent is starting: datapath not ready yet"));
    return;
  }
  if (it == routes_.end()) {
    reply(error_response(api::INVALID_ARGUMENT, "empty or unknown request (client newer than the agent?)"));
    return;
  }
  it->second.handler(req, reply, cancelled);
}

}  // namespace myelin::server
