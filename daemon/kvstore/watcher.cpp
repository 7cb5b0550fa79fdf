// SPDX-License-Identifier: Apache-2.0
// kvstore::Watcher: list a prefix, then watch it from the list's revision
// on one gRPC Watch stream; after a broken stream, watch again from the
// last revision seen (no event lost or repeated); after a compaction of
// that revision, list again.
#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "etcd_client.hpp"

namespace myelin::kvstore {

namespace {

class EtcdWatcher final : public Watcher {
 public:
  EtcdWatcher(EtcdClient& etcd, std::string prefix, Callbacks cb) : etcd_(etcd), prefix_(std::move(prefix)), cb_(std::move(cb)) {
    thread_ = std::thread([this] { run(); });
  }
  ~EtcdWatcher() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
      if (ctx_) ctx_->TryCancel();
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  bool sleep(std::chrono::milliseconds d) {
    std::unique_lock lk(mu_);
    return !cv_.wait_for(lk, d, [this] { return stop_; });
  }
  void connected(bool up) {
    if (connected_ == up) return;
    connected_ = up;
    if (cb_.connection) cb_.connection(up);
  }
  void backoff() {
    connected(false);
    sleep(delay_);
    delay_ = std::min(delay_ * 2, std::chrono::milliseconds(2000));
  }

  void run() {
    bool need_list = true;
    int64_t rev = 0;
    while (!stopped()) {
      if (need_list) {
        auto l = etcd_.list(prefix_);
        if (!l) {
          backoff();
          continue;
        }
        rev = l->second;
        if (cb_.relist) cb_.relist(std::move(l->first), rev);
        need_list = false;
      } else {
        // Reconnecting: find a member that answers before opening the stream there.
        if (!etcd_.get(prefix_)) {
          backoff();
          continue;
        }
      }
      watch(rev, need_list);
      if (!need_list && !stopped()) backoff();
    }
  }

  // One stream until it breaks; rev follows what was delivered.
  void watch(int64_t& rev, bool& need_list) {
    auto ctx = etcd_.context(false);
    {
      std::lock_guard lk(mu_);
      if (stop_) return;
      ctx_ = ctx.get();
    }
    const auto& ep = etcd_.current();
    auto stream = ep.watch->Watch(ctx.get());
    etcdserverpb::WatchRequest req;
    auto* c = req.mutable_create_request();
    c->set_key(prefix_);
    c->set_range_end(prefix_end(prefix_));
    c->set_start_revision(rev + 1);
    c->set_progress_notify(true);
    etcdserverpb::WatchResponse resp;
    if (stream->Write(req)) {
      while (stream->Read(&resp)) {
        if (resp.compact_revision() > 0) {  // rev + 1 is gone: only a new list is consistent
          need_list = true;
          break;
        }
        if (resp.canceled()) break;
        if (resp.created()) {
          connected(true);
          delay_ = std::chrono::milliseconds(100);
          continue;
        }
        for (const auto& e : resp.events()) {
          WatchEvent ev;
          ev.type = e.type() == mvccpb::Event::DELETE ? WatchEvent::Type::del : WatchEvent::Type::put;
          const auto& kv = e.kv();
          ev.kv = KeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
          rev = std::max(rev, kv.mod_revision());
          if (cb_.event) cb_.event(ev);
        }
        // A progress notification: every event up to this revision was sent.
        if (resp.events_size() == 0) rev = std::max(rev, resp.header().revision());
      }
    }
    ctx->TryCancel();
    stream->Finish();
    std::lock_guard lk(mu_);
    ctx_ = nullptr;
  }

  bool stopped() {
    std::lock_guard lk(mu_);
    return stop_;
  }

  EtcdClient& etcd_;
  std::string prefix_;
  Callbacks cb_;
  std::optional<bool> connected_;
  std::chrono::milliseconds delay_{100};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  grpc::ClientContext* ctx_ = nullptr;
  std::thread thread_;
};

// For an Etcd that is not ours (there is none today): report "down" once
// and deliver nothing, rather than crash.
class NoWatcher final : public Watcher {
 public:
  explicit NoWatcher(const Callbacks& cb) {
    if (cb.connection) cb.connection(false);
  }
};

}  // namespace

std::unique_ptr<Watcher> Watcher::start(Etcd& etcd, std::string prefix, Callbacks cb) {
  if (auto* client = dynamic_cast<EtcdClient*>(&etcd)) return std::make_unique<EtcdWatcher>(*client, std::move(prefix), std::move(cb));
  return std::make_unique<NoWatcher>(cb);
}

}  // namespace myelin::kvstore
