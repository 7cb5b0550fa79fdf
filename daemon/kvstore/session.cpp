// SPDX-License-Identifier: Apache-2.0
// kvstore::Session: one lease, kept alive by a thread every TTL/3; a new
// lease (and on_new_lease) when etcd says the old one is gone.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "myelin/kvstore/etcd.hpp"

namespace myelin::kvstore {

namespace {

class EtcdSession final : public Session {
 public:
  EtcdSession(Etcd& etcd, std::chrono::seconds ttl, std::function<void(int64_t)> cb)
      : etcd_(etcd), ttl_(ttl), on_new_lease_(std::move(cb)) {}
  ~EtcdSession() override {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  int64_t lease() const override { return lease_.load(); }
  bool alive() const override { return alive_.load(); }

  void first_grant() {
    if (auto g = etcd_.grant(ttl_); g) {
      lease_.store(*g);
      alive_.store(true);
    }
  }
  void start() { thread_ = std::thread([this] { run(); }); }

 private:
  // Sleeps until `d` passed or the session is destroyed; false: destroyed.
  bool sleep(std::chrono::milliseconds d) {
    std::unique_lock lk(mu_);
    return !cv_.wait_for(lk, d, [this] { return stop_; });
  }

  void run() {
    using std::chrono::milliseconds;
    const milliseconds period = std::max(milliseconds(200), std::chrono::duration_cast<milliseconds>(ttl_) / 3);
    // While the store does not answer, try again sooner than a period, so a
    // lease that is still alive on the server is renewed as soon as it can be.
    const milliseconds retry = std::min(period, milliseconds(500));
    bool announced = false;
    for (;;) {
      if (lease_.load() == 0) {
        auto g = etcd_.grant(ttl_);
        if (!g) {
          if (!sleep(retry)) return;
          continue;
        }
        lease_.store(*g);
        alive_.store(true);
        announced = false;
      }
      if (!announced) {
        if (on_new_lease_) on_new_lease_(lease_.load());
        announced = true;
      }
      if (!sleep(alive_.load() ? period : retry)) return;
      auto k = etcd_.keepalive(lease_.load());
      if (!k) {
        alive_.store(false);  // unreachable: the lease may still live; keep trying it
      } else if (*k == 0) {
        alive_.store(false);  // gone (expired while we were cut off): grant another
        lease_.store(0);
      } else {
        alive_.store(true);
      }
    }
  }

  Etcd& etcd_;
  std::chrono::seconds ttl_;
  std::function<void(int64_t)> on_new_lease_;
  std::atomic<int64_t> lease_{0};
  std::atomic<bool> alive_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<Session>> Session::open(Etcd& etcd, std::chrono::seconds ttl, std::function<void(int64_t lease)> on_new_lease) {
  if (ttl.count() < 1) return Error{"etcd session: the lease TTL must be at least 1 s"};
  auto s = std::make_unique<EtcdSession>(etcd, ttl, std::move(on_new_lease));
  s->first_grant();  // usually lease() is valid on return; if not, the thread keeps trying
  s->start();
  return std::unique_ptr<Session>(std::move(s));
}

}  // namespace myelin::kvstore
