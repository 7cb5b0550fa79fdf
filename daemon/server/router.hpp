// SPDX-License-Identifier: Apache-2.0
// daemon/server (myelin_server): the local API (Unix socket, peer check, framing) and the Router that hands each request to its component.
// Router: the Dispatcher of the local API as a table from request kind to
// the handler a component registered. Requests other than those marked
// `before_ready` wait for the agent to be ready; a kind no component
// registered is answered with a clear error, as is a kind registered twice
// (at start-up, by check()).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "api_server.hpp"

namespace myelin::server {

api::Response error_response(api::ErrorCode code, const std::string& message);

class Router : public Dispatcher {
 public:
  using Stream = std::function<void(const api::Request&, const Reply&, const std::atomic<bool>& cancelled)>;
  using Unary = std::function<api::Response(const api::Request&)>;

  // One answer per request.
  Router& add(api::Request::KindCase kind, Unary handler, bool before_ready = false);
  // Any number of answers (observe, events --follow) until cancelled.
  Router& add_stream(api::Request::KindCase kind, Stream handler, bool before_ready = false);

  // Whether registration went right: every kind at most once, none KIND_NOT_SET.
  Status check() const;
  std::vector<api::Request::KindCase> kinds() const;

  void set_ready(bool ready) { ready_ = ready; }
  bool ready() const { return ready_; }
  void handle(const api::Request& req, const Reply& reply, const std::atomic<bool>& cancelled) override;

 private:
  struct Route {
    Stream handler;
    bool before_ready = false;
  };
  std::map<api::Request::KindCase, Route> routes_;
  std::vector<std::string> conflicts_;
  std::atomic<bool> ready_{false};
};

}  // namespace myelin::server
