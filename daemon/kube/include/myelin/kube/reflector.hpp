// SPDX-License-Identifier: Apache-2.0
// daemon/kube (myelin_kube): the Kubernetes API client: kubeconfig, HTTPS, list/watch reflectors.
// Reflector: keeps one resource (pods, networkpolicies, ...) in sync with the
// API server the way client-go's reflector does. List (paged), then watch
// from the list's resourceVersion with allowWatchBookmarks; bookmarks move
// the resourceVersion on; a watch that ends is reopened from where it was; a
// 410 Gone (the version was compacted) means list again, and objects that
// vanished meanwhile are reported deleted. Connection failures back off
// exponentially with jitter. Every callback runs on the reflector's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "myelin/kube/config.hpp"
#include "myelin/kube/list_watch.hpp"

namespace myelin::kube {

struct ReflectorOptions {
  int page_size = 500;
  int watch_timeout_s = 300;                          // the server ends a watch after this; it is reopened
  std::chrono::milliseconds backoff_min{200}, backoff_max{30000};
  std::chrono::milliseconds request_timeout{10000};
  size_t max_list_bytes = 256u << 20;
};

class Reflector {
 public:
  struct Handler {
    std::function<void(const nlohmann::json& obj)> upsert;  // listed, ADDED, MODIFIED
    std::function<void(const nlohmann::json& obj)> remove;  // DELETED, or gone at a re-list
    std::function<void()> synced;                           // after a list, and after each batch of watch events
    std::function<void(const std::string& action)> event;   // for metrics: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, list
    std::function<void(const std::string& message)> error;  // a failure that will be retried
  };
  struct Stats {
    uint64_t lists = 0, watches = 0, relists_gone = 0, reconnects = 0, events = 0, bookmarks = 0;
  };

  Reflector(ClusterConfig cluster, Resource resource, Handler handler, ReflectorOptions options = {});
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  void stop();
  std::string resource_version() const;
  bool has_synced() const { return synced_once_; }
  Stats stats() const;
  const Resource& resource() const { return resource_; }

 private:
  enum class WatchEnd { reopen, relist, failed };
  void run();
  Status list();
  WatchEnd watch();
  Result<std::unique_ptr<HttpStream>> get(const std::string& target);
  void wait_backoff();
  void track(HttpStream* s);

  ClusterConfig cluster_;
  Resource resource_;
  Handler handler_;
  ReflectorOptions opt_;

  mutable std::mutex mu_;  // rv_, stats_, current_
  std::condition_variable cv_;
  std::string rv_;
  Stats stats_;
  HttpStream* current_ = nullptr;  // the open request, so stop() can abort it
  std::map<std::string, nlohmann::json> known_;  // key -> metadata of what the handler was told exists
  std::chrono::milliseconds backoff_{0};
  std::atomic<bool> running_{false}, synced_once_{false};
  std::thread thread_;
};

}  // namespace myelin::kube
