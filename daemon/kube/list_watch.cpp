// SPDX-License-Identifier: Apache-2.0
#include "myelin/kube/list_watch.hpp"

namespace myelin::kube {
namespace {

using nlohmann::json;

// Deeper than any Kubernetes object: nlohmann parses iteratively, but dumps
// and copies recursively, and the kube source dumps every object (a watch
// event nested 30,000 deep overflowed the reflector thread's stack).
constexpr int kMaxDepth = 256;

// `text` parsed, discarded when it is not JSON or nests deeper than kMaxDepth.
json parse_bounded(const std::string& text, bool& too_deep) {
  too_deep = false;
  return json::parse(text, [&](int depth, json::parse_event_t, json&) {
    if (depth > kMaxDepth) too_deep = true;
    return !too_deep;
  }, false);
}

// metadata, if present: an object whose name, namespace and resourceVersion are strings.
Status check_metadata(const json& obj) {
  auto m = obj.find("metadata");
  if (m == obj.end()) return {};
  if (!m->is_object()) return Error{"metadata is not an object"};
  for (const char* key : {"name", "namespace", "resourceVersion"})
    if (auto v = m->find(key); v != m->end() && !v->is_string()) return Error{std::string("metadata.") + key + " is not a string"};
  return {};
}

std::string meta_string(const json& obj, const char* key) {
  auto m = obj.find("metadata");
  if (m == obj.end()) return "";
  auto v = m->find(key);
  return v == m->end() ? "" : v->get<std::string>();
}

}  // namespace

std::string object_key(const json& obj) { return meta_string(obj, "namespace") + "/" + meta_string(obj, "name"); }

Result<ListPage> decode_list_page(const std::string& body, const Resource& r) {
  bool too_deep;
  auto j = parse_bounded(body, too_deep);
  if (too_deep) return Error{"the response nests deeper than " + std::to_string(kMaxDepth) + " levels"};
  const std::string not_list = "the response is not a " + r.kind + "List";
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) return Error{not_list};
  ListPage page;
  if (auto m = j.find("metadata"); m != j.end()) {
    if (!m->is_object()) return Error{not_list + " (metadata is not an object)"};
    for (auto [key, out] : {std::pair{"resourceVersion", &page.resource_version}, std::pair{"continue", &page.cont}})
      if (auto v = m->find(key); v != m->end()) {
        if (!v->is_string()) return Error{not_list + " (metadata." + key + " is not a string)"};
        *out = v->get<std::string>();
      }
  }
  auto& items = j["items"];
  for (size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    if (!item.is_object()) continue;
    if (auto s = check_metadata(item); !s) return Error{"items[" + std::to_string(i) + "]: " + s.error().message};
    item["kind"] = r.kind;
    item["apiVersion"] = r.api_version;
    page.items.push_back(std::move(item));
  }
  return page;
}

Result<std::optional<WatchEvent>> WatchDecoder::next() {
  for (;;) {
    const size_t nl = buf_.find('\n');
    if (nl == std::string::npos) return std::optional<WatchEvent>{};
    std::string line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
    bool too_deep;
    auto ev = parse_bounded(line, too_deep);
    if (too_deep) return Error{"an event nested deeper than " + std::to_string(kMaxDepth) + " levels: " + line.substr(0, 120)};
    if (!ev.is_object() || !ev.contains("type") || !ev.contains("object"))
      return Error{"an event that is not JSON: " + line.substr(0, 120)};
    if (!ev["type"].is_string() || !ev["object"].is_object())
      return Error{"an event without a string type and an object: " + line.substr(0, 120)};
    WatchEvent out;
    out.type = ev["type"].get<std::string>();
    out.object = std::move(ev["object"]);
    if (out.type == "ERROR") {  // a Status
      if (auto c = out.object.find("code"); c != out.object.end() && c->is_number_integer()) {
        const auto code = c->get<int64_t>();  // an unsigned one above INT64_MAX reads as negative: no HTTP code either way
        out.code = code >= 0 && code < 1000 ? static_cast<int>(code) : 0;
      }
      auto m = out.object.find("message");
      out.message = m != out.object.end() && m->is_string() ? m->get<std::string>() : "error event";
      return std::optional{std::move(out)};
    }
    if (auto s = check_metadata(out.object); !s) return Error{"a " + out.type + " event: " + s.error().message};
    out.resource_version = meta_string(out.object, "resourceVersion");
    if (!out.object.contains("kind")) out.object["kind"] = resource_.kind;
    if (!out.object.contains("apiVersion")) out.object["apiVersion"] = resource_.api_version;
    return std::optional{std::move(out)};
  }
}

}  // namespace myelin::kube
