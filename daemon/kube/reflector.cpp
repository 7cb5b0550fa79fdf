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

std::string Reflector::key_of(const nlohmann::json& obj) const {
  const auto& m = obj.value("metadata", nlohmann::json::object());
  return m.value("namespace", "") + "/" + m.value("name", "");
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
    auto j = nlohmann::json::parse(*body, nullptr, false);
    if (!j.is_object() || !j.contains("items") || !j["items"].is_array())
      return Error{"list " + resource_.name + ": the response is not a " + resource_.kind + "List"};
    const auto& meta = j.value("metadata", nlohmann::json::object());
    rv = meta.value("resourceVersion", "");
    cont = meta.value("continue", "");
    for (auto& item : j["items"]) {
      if (!item.is_object()) continue;
      item["kind"] = resource_.kind;  // list items carry neither
      item["apiVersion"] = resource_.api_version;
      items.push_back(std::move(item));
    }
    if (cont.empty()) break;
  }
  if (!running_) return Error{"stopped"};
  {
    // Counted before its objects are delivered: whoever sees them sees the list counted.
    std::lock_guard lk(mu_);
    ++stats_.lists;
  }

  for (const auto& item : items) {
    auto key = key_of(item);
    seen.insert(key);
    known_[key] = {{"kind", resource_.kind}, {"apiVersion", resource_.api_version}, {"metadata", item["metadata"]}};
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
  std::string buf;
  for (;;) {
    auto more = stream.read_some(buf, idle);
    if (!more) {
      if (!running_) return WatchEnd::reopen;
      if (handler_.error) handler_.error("watch " + resource_.name + " from " + rv + ": " + more.error().message);
      std::lock_guard lk(mu_);
      ++stats_.reconnects;
      return WatchEnd::failed;
    }
    bool changed = false;
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      auto ev = nlohmann::json::parse(line, nullptr, false);
      if (!ev.is_object() || !ev.contains("type") || !ev.contains("object")) {
        if (handler_.error) handler_.error("watch " + resource_.name + ": an event that is not JSON: " + line.substr(0, 120));
        return WatchEnd::failed;
      }
      const std::string type = ev["type"].get<std::string>();
      auto& obj = ev["object"];
      if (handler_.event) handler_.event(type);
      if (type == "ERROR") {
        int code = obj.value("code", 0);
        if (code == 410) return WatchEnd::relist;  // "too old resource version": compacted away
        if (handler_.error) handler_.error("watch " + resource_.name + ": " + obj.value("message", std::string("error event")));
        return WatchEnd::failed;
      }
      const std::string new_rv = obj.value("metadata", nlohmann::json::object()).value("resourceVersion", "");
      if (type == "BOOKMARK") {
        std::lock_guard lk(mu_);
        if (!new_rv.empty()) rv_ = new_rv;
        ++stats_.bookmarks;
        continue;
      }
      if (!obj.contains("kind")) obj["kind"] = resource_.kind;
      if (!obj.contains("apiVersion")) obj["apiVersion"] = resource_.api_version;
      const auto key = key_of(obj);
      if (type == "ADDED" || type == "MODIFIED") {
        known_[key] = {{"kind", resource_.kind}, {"apiVersion", resource_.api_version}, {"metadata", obj["metadata"]}};
        handler_.upsert(obj);
      } else if (type == "DELETED") {
        known_.erase(key);
        handler_.remove(obj);
      } else {
        if (handler_.error) handler_.error("watch " + resource_.name + ": unknown event type " + type);
        continue;
      }
      changed = true;
      std::lock_guard lk(mu_);
      if (!new_rv.empty()) rv_ = new_rv;
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
