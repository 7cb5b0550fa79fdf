// SPDX-License-Identifier: Apache-2.0
#include "myelin/kube/client.hpp"

#include "myelin/kube/http.hpp"

namespace myelin::kube {
namespace {

// "AlreadyExists: myelinidentities \"300\" already exists", from a Status body.
std::string status_text(const nlohmann::json& body, const std::string& raw) {
  if (body.is_object() && body.value("kind", "") == "Status") {
    std::string reason = body.contains("reason") && body["reason"].is_string() ? body["reason"].get<std::string>() : "";
    std::string msg = body.contains("message") && body["message"].is_string() ? body["message"].get<std::string>() : "";
    return reason.empty() ? msg : reason + ": " + msg;
  }
  return raw.substr(0, 200);
}

}  // namespace

Result<nlohmann::json> Client::request(const std::string& method, const std::string& path, const std::string& body,
                                       const std::string& content_type) const {
  HttpStream::Headers headers;
  auto bearer = cluster_.bearer();
  if (!bearer) return bearer.error();
  if (!bearer->empty()) headers.emplace_back("Authorization", *bearer);
  if (!content_type.empty()) headers.emplace_back("Content-Type", content_type);
  const std::string what = method + " " + path;
  auto s = HttpStream::open(cluster_.server, cluster_.tls, path, headers, timeout_, method, body);
  if (!s) return Error{what + ": " + s.error().message};
  auto text = (*s)->read_all(16u << 20, timeout_);
  if (!text) return Error{what + ": " + text.error().message};
  const int st = (*s)->response().status;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (st < 200 || st > 299) {
    std::string m = what + ": HTTP " + std::to_string(st) + " " + status_text(j, *text);
    if (st == 401 || st == 403) m += " (check the credentials and RBAC of " + cluster_.origin + ")";
    return Error{m, st};
  }
  if (j.is_discarded() || !j.is_object()) return Error{what + ": the answer is not a JSON object", st};
  return j;
}

Result<nlohmann::json> Client::get(const std::string& path) const { return request("GET", path, "", ""); }

Result<nlohmann::json> Client::create(const std::string& collection, const nlohmann::json& object) const {
  return request("POST", collection, object.dump(), "application/json");
}

Result<nlohmann::json> Client::merge_patch(const std::string& path, const nlohmann::json& patch) const {
  return request("PATCH", path, patch.dump(), "application/merge-patch+json");
}

Status Client::remove(const std::string& path, const std::string& uid, const std::string& resource_version) const {
  nlohmann::json opts = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!uid.empty()) opts["preconditions"]["uid"] = uid;
  if (!resource_version.empty()) opts["preconditions"]["resourceVersion"] = resource_version;
  auto r = request("DELETE", path, opts.dump(), "application/json");
  if (!r) return r.error();
  return {};
}

}  // namespace myelin::kube
