// SPDX-License-Identifier: Apache-2.0
#include "api_server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "myelin/log.hpp"
#include "myelin/wire.hpp"

namespace myelin::server {

ApiServer::ApiServer(std::string socket_path, Dispatcher& dispatcher, SocketAccess access, size_t max_clients)
    : path_(std::move(socket_path)), dispatcher_(dispatcher), access_(std::move(access)), max_clients_(max_clients) {}

ApiServer::~ApiServer() { stop(); }

Status ApiServer::start() {
  auto fd = wire::listen_unix(path_, access_);
  if (!fd) return fd.error();
  listen_fd_ = std::move(*fd);
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) return Error::from_errno("eventfd");
  acceptor_ = std::thread([this] { accept_loop(); });
  return {};
}

void ApiServer::stop() {
  if (stopping_.exchange(true)) return;
  if (wake_fd_) {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_fd_.get(), &one, sizeof one);
    (void)ignored;
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::unique_lock lk(mu_);
  idle_.wait(lk, [this] { return active_ == 0; });
  listen_fd_.reset();
}

void ApiServer::accept_loop() {
  while (!stopping_) {
    pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {wake_fd_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log::error("api", "poll: " + std::string(strerror(errno)));
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    UniqueFd client(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) continue;
    if (!admit(client.get())) continue;
    {
      std::lock_guard lk(mu_);
      if (active_ >= max_clients_) {
        api::Response r;
        r.mutable_error()->set_code(api::NOT_READY);
        r.mutable_error()->set_message("agent is busy: too many API clients (" + std::to_string(max_clients_) + ")");
        r.set_end_of_stream(true);
        (void)wire::send(client.get(), r);
        continue;
      }
      ++active_;
    }
    std::thread([this, c = std::move(client)]() mutable { serve(std::move(c)); }).detach();
  }
}

// The second layer behind the socket file's mode: a peer that is neither
// root nor in the API group gets one error frame and the connection closes,
// before it holds a thread or a client slot. Its request is never read.
bool ApiServer::admit(int client) {
  auto peer = peer_credentials(client);
  if (peer && peer_allowed(*peer, access_)) return true;
  api::Response r;
  r.mutable_error()->set_code(api::PERMISSION_DENIED);
  r.mutable_error()->set_message(peer ? permission_denied_message(path_, access_, peer->uid)
                                      : "permission denied: cannot read the peer's credentials (" + peer.error().message + ")");
  r.set_end_of_stream(true);
  (void)wire::send(client, r);  // one small frame into an empty socket buffer: does not block
  // One log line a second at most: a process retrying in a loop must not flood the log.
  auto now = std::chrono::steady_clock::now();
  if (now - last_refusal_log_ >= std::chrono::seconds(1)) {
    log::warn("api", "refused a client: " + r.error().message() + (peer ? " (pid " + std::to_string(peer->pid) + ")" : "") +
                         (refusals_unlogged_ ? "; " + std::to_string(refusals_unlogged_) + " more refused since the last report" : ""));
    last_refusal_log_ = now;
    refusals_unlogged_ = 0;
  } else {
    ++refusals_unlogged_;
  }
  return false;
}

size_t ApiServer::clients() const {
  std::lock_guard lk(mu_);
  return active_;
}

void ApiServer::serve(UniqueFd client) {
  serve_one(std::move(client));  // everything of the connection is freed before it stops counting
  std::lock_guard lk(mu_);
  --active_;
  idle_.notify_all();
}

void ApiServer::serve_one(UniqueFd client) {
  std::atomic<bool> cancelled{false};
  // Watches for the client hanging up (or the server stopping) while a
  // long-running handler (observe --follow) is streaming.
  std::thread watcher;
  api::Request req;
  auto rs = wire::recv(client.get(), req);
  if (rs) {
    watcher = std::thread([&] {
      while (!cancelled) {
        pollfd p[2] = {{client.get(), POLLRDHUP, 0}, {wake_fd_.get(), POLLIN, 0}};
        int n = ::poll(p, 2, 200);
        if (n > 0 && ((p[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) || p[1].revents)) cancelled = true;
        if (stopping_) cancelled = true;
      }
    });
    bool alive = true;
    auto reply = [&](const api::Response& r) {
      if (!alive) return false;
      if (auto s = wire::send(client.get(), r); !s) alive = false;
      return alive;
    };
    dispatcher_.handle(req, reply, cancelled);
    api::Response end;
    end.set_end_of_stream(true);
    reply(end);
    cancelled = true;
    watcher.join();
  } else if (rs.error().message != "closed") {
    log::warn("api", "bad request: " + rs.error().message);
  }
}

}  // namespace myelin::server
