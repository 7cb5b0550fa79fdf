// SPDX-License-Identifier: Apache-2.0
// What a reflector reads, decoded apart from any connection: one page of a
// list, and the events of a watch stream (one JSON object per line, as the
// bytes arrive). A body of the wrong shape (a broken proxy, a hostile
// server) is an Error, never an exception out of the reflector's thread.
// Decoded objects are JSON objects whose metadata, if present, is an object
// with string name, namespace and resourceVersion.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "myelin/result.hpp"

namespace myelin::kube {

struct Resource {
  std::string name;         // "pods": for logs and metrics
  std::string path;         // "/api/v1/pods"
  std::string kind;         // "Pod": list items carry no kind, so it is set on them
  std::string api_version;  // "v1"
};

struct ListPage {
  std::vector<nlohmann::json> items;   // kind and apiVersion set (list items carry neither)
  std::string resource_version, cont;  // metadata.resourceVersion and metadata.continue
};
Result<ListPage> decode_list_page(const std::string& body, const Resource& r);

struct WatchEvent {
  std::string type;              // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR, or one the caller does not know
  nlohmann::json object;         // kind and apiVersion set where missing (not for ERROR: a Status)
  std::string resource_version;  // the object's metadata.resourceVersion, "" if none
  int code = 0;                  // ERROR: the Status's code and message
  std::string message;
};

class WatchDecoder {
 public:
  explicit WatchDecoder(Resource r) : resource_(std::move(r)) {}
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // The next complete event, nullopt until a line is complete; a line that
  // is not a watch event is an Error (the caller drops the watch).
  Result<std::optional<WatchEvent>> next();

 private:
  Resource resource_;
  std::string buf_;
};

// "namespace/name" of a decoded object.
std::string object_key(const nlohmann::json& obj);

}  // namespace myelin::kube
