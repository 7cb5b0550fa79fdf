// SPDX-License-Identifier: Apache-2.0
#include "myelin/kube/reflector.hpp"

#include <random>
#include <set>

namespace myelin::kube {
namespace {

std::string url_escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// A Status object's message, e.g. "too old resource version: 5 (20)".
std::string status_message(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) return j["message"].get<std::string>();
  return body.substr(0, 200);
}

}  // namespace

Reflector::Reflector(ClusterConfig cluster, Resource resource, Handler handler, ReflectorOptions options)
    : cluster_(std::move(cluster)), resource_(std::move(resource)), handler_(std::move(handler)), opt_(options) {}

Reflector::~Reflector() { stop(); }

void Reflector::start() {
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void Reflector::stop() {
  {
    std::lock_guard lk(mu_);
    running_ = false;
    if (current_) current_->abort();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// The open request, so stop() can abort it; under the same lock as stop(),
// so a request opened while stopping is aborted too.
void Reflector::track(HttpStream* s) {
  std::lock_guard lk(mu_);
  current_ = s;
  if (s && !running_) s->abort();
}

std::string Reflector::resource_version() const {
  std::lock_guard lk(mu_);
  return rv_;
}

Reflector::Stats Reflector::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

Result<std::unique_ptr<HttpStream>> Reflector::get(const std::string& target) {
  HttpStream::Headers headers;
  auto bearer = cluster_.bearer();
  if (!bearer) return bearer.error();
  if (!bearer->empty()) headers.emplace_back("Authorization", *bearer);
  auto s = HttpStream::open(cluster_.server, cluster_.tls, target, headers, opt_.request_timeout);
  if (!s) return s.error();
  int st = (*s)->response().status;
  if (st == 401 || st == 403) {
    auto body = (*s)->read_all(64 * 1024, opt_.request_timeout);
    return Error{"GET " + target + ": " + std::to_string(st) + " " + (*s)->response().reason + " (" +
                     (body ? status_message(*body) : "") + "): check the credentials in " + cluster_.origin,
                 st};
  }
  return s;
}

void Reflector::wait_backoff() {
  // Exponential with jitter, as client-go: many agents restarting at once
  // must not hammer the API server in lockstep.
  backoff_ = backoff_.count() == 0 ? opt_.backoff_min : std::min(backoff_ * 2, opt_.backoff_max);
  static thread_local std::mt19937 rng{std::random_device{}()};
  auto wait = std::chrono::milliseconds(static_cast<long>(backoff_.count() * std::uniform_real_distribution<>(0.8, 1.2)(rng)));
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, wait, [this] { return !running_; });
}

Status Reflector::list() {
  std::string cont, rv;
  std::set<std::string> seen;
  std::vector<nlohmann::json> items;
  while (running_) {
    std::string target = resource_.path + "?limit=" + std::to_string(opt_.page_size);
    if (!cont.empty()) target += "&continue=" + url_escape(cont);
    auto s = get(target);
    if (!s) return s.error();
    track(s->get());
    auto body = (*s)->read_all(opt_.max_list_bytes, opt_.request_timeout);
    int st = (*s)->response().status;
    track(nullptr);
    if (!body) return Error{"list " + resource_.name + ": " + body.error().message};
    if (st == 410) {  // the continue token expired: start the list over
      cont.clear();
      items.clear();
      continue;
    }
    if (st == 404) return Error{"list " + resource_.name + ": 404, the API server does not serve " + resource_.path +
                                " (is the CRD installed?)", 404};
    if (st != 200) return Error{"list " + resource_.name + ": HTTP " + std::to_string(st) + ": " + status_message(*body), st};
    auto page = decode_list_page(*body, resource_);
    if (!page) return Error{"list " + resource_.name + ": " + page.error().message};
    rv = page->resource_version;
    cont = page->cont;
    for (auto& item : page->items) items.push_back(std::move(item));
    if (cont.empty()) break;
  }
  if (!running_) return Error{"stopped"};
  {
    // Counted before its objects are delivered: whoever sees them sees the list counted.
    std::lock_guard lk(mu_);
    ++stats_.lists;
  }

  for (const auto& item : items) {
    auto key = object_key(item);
    seen.insert(key);
    known_[key] = {{"kind", resource_.kind}, {"apiVersion", resource_.api_version}, {"metadata", item.value("metadata", nlohmann::json())}};
    handler_.upsert(item);
  }
  for (auto it = known_.begin(); it != known_.end();) {  // deleted while we were not watching
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    handler_.remove(it->second);
    if (handler_.event) handler_.event("DELETED");
    it = known_.erase(it);
  }
  {
    std::lock_guard lk(mu_);
    rv_ = rv;
  }
  if (handler_.event) handler_.event("list");
  synced_once_ = true;
  handler_.synced();
  return {};
}

Reflector::WatchEnd Reflector::watch() {
  const std::string rv = resource_version();
  std::string target = resource_.path + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + url_escape(rv) +
                       "&timeoutSeconds=" + std::to_string(opt_.watch_timeout_s);
  auto s = get(target);
  if (!s) {
    if (handler_.error) handler_.error("watch " + resource_.name + ": " + s.error().message);
    return WatchEnd::failed;
  }
  track(s->get());
  {
    std::lock_guard lk(mu_);
    ++stats_.watches;
  }
  struct Untrack {
    Reflector* r;
    ~Untrack() { r->track(nullptr); }
  } untrack{this};
  HttpStream& stream = **s;
  int st = stream.response().status;
  if (st == 410) return WatchEnd::relist;
  if (st != 200) {
    auto body = stream.read_all(64 * 1024, opt_.request_timeout);
    if (handler_.error)
      handler_.error("watch " + resource_.name + ": HTTP " + std::to_string(st) + ": " + (body ? status_message(*body) : ""));
    return WatchEnd::failed;
  }
  // A silent connection is dead once the server's own timeout has passed.
  const auto idle = std::chrono::seconds(opt_.watch_timeout_s + 30);
  WatchDecoder events(resource_);
  for (;;) {
    std::string bytes;
    auto more = stream.read_some(bytes, idle);
    if (!more) {
      if (!running_) return WatchEnd::reopen;
      if (handler_.error) handler_.error("watch " + resource_.name + " from " + rv + ": " + more.error().message);
      std::lock_guard lk(mu_);
      ++stats_.reconnects;
      return WatchEnd::failed;
    }
    events.feed(bytes);
    bool changed = false;
    for (;;) {
      auto next = events.next();
      if (!next) {
        if (handler_.error) handler_.error("watch " + resource_.name + ": " + next.error().message);
        return WatchEnd::failed;
      }
      if (!*next) break;
      WatchEvent& ev = **next;
      if (handler_.event) handler_.event(ev.type);
      if (ev.type == "ERROR") {
        if (ev.code == 410) return WatchEnd::relist;  // "too old resource version": compacted away
        if (handler_.error) handler_.error("watch " + resource_.name + ": " + ev.message);
        return WatchEnd::failed;
      }
      if (ev.type == "BOOKMARK") {
        std::lock_guard lk(mu_);
        if (!ev.resource_version.empty()) rv_ = ev.resource_version;
        ++stats_.bookmarks;
        continue;
      }
      auto& obj = ev.object;
      const auto key = object_key(obj);
      if (ev.type == "ADDED" || ev.type == "MODIFIED") {
        known_[key] = {{"kind", resource_.kind}, {"apiVersion", resource_.api_version}, {"metadata", obj.value("metadata", nlohmann::json())}};
        handler_.upsert(obj);
      } else if (ev.type == "DELETED") {
        known_.erase(key);
        handler_.remove(obj);
      } else {
        if (handler_.error) handler_.error("watch " + resource_.name + ": unknown event type " + ev.type);
        continue;
      }
      changed = true;
      std::lock_guard lk(mu_);
      if (!ev.resource_version.empty()) rv_ = ev.resource_version;
      ++stats_.events;
    }
    if (changed) {
      backoff_ = std::chrono::milliseconds(0);  // the connection works
      handler_.synced();
    }
    if (!*more) return WatchEnd::reopen;  // the server's timeoutSeconds: watch again from rv
  }
}

void Reflector::run() {
  bool need_list = true;
  while (running_) {
    if (need_list) {
      auto s = list();
      if (!running_) break;
      if (!s) {
        if (handler_.error) handler_.error(s.error().message);
        wait_backoff();
        continue;
      }
      backoff_ = std::chrono::milliseconds(0);
      need_list = false;
    }
    switch (watch()) {
      case WatchEnd::reopen:
        break;
      case WatchEnd::relist: {
        std::lock_guard lk(mu_);
        ++stats_.relists_gone;
        need_list = true;
        break;
      }
      case WatchEnd::failed:
        if (running_) wait_backoff();
        break;
    }
  }
}

}  // namespace myelin::kube
