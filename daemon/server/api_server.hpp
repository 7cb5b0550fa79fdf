// SPDX-License-Identifier: Apache-2.0
// ApiServer: the agent's local API on a Unix socket. It owns the listening
// socket and one thread per client connection; what a request means is the
// Dispatcher's business, so the server stays a thin transport. Only root and
// the members of the API group may talk to it: the socket file says so, and
// every peer's credentials are checked again on accept.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "myelin.pb.h"
#include "myelin/fd.hpp"
#include "myelin/result.hpp"
#include "myelin/socket_access.hpp"

namespace myelin::server {

// Answers one request. `reply` may be called several times (a stream); the
// server closes the stream with end_of_stream after handle() returns.
// `cancelled` turns true when the client went away or the server stops.
class Dispatcher {
 public:
  virtual ~Dispatcher() = default;
  using Reply = std::function<bool(const api::Response&)>;  // false once the client is gone
  virtual void handle(const api::Request& req, const Reply& reply, const std::atomic<bool>& cancelled) = 0;
};

class ApiServer {
 public:
  ApiServer(std::string socket_path, Dispatcher& dispatcher, SocketAccess access = {}, size_t max_clients = 128);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  Status start();  // binds and starts accepting
  void stop();     // stops accepting, cancels clients, waits for their threads
  // Connections being served; 0 once every one has been answered and its
  // request freed (the fuzzer waits on it between inputs).
  size_t clients() const;

 private:
  void accept_loop();
  void serve(UniqueFd client);
  bool admit(int client);  // false: refused (and told why)
  void serve_one(UniqueFd client);

  std::string path_;
  Dispatcher& dispatcher_;
  SocketAccess access_;
  size_t max_clients_;
  std::chrono::steady_clock::time_point last_refusal_log_{};
  uint64_t refusals_unlogged_ = 0;
  UniqueFd listen_fd_;
  UniqueFd wake_fd_;  // eventfd: wakes the accept loop on stop()
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mu_;
  std::condition_variable idle_;
  size_t active_ = 0;
};

}  // namespace myelin::server
