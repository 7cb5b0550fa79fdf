// SPDX-License-Identifier: Apache-2.0
// Client: single requests to the API server, for the objects Myelin writes
// (MyelinIdentity: create, merge patch, delete with preconditions) and the
// single objects it reads (this node's Node). Lists and watches are the
// Reflector's. Every failure is an Error whose code is the HTTP status (0:
// no answer at all), so callers tell 404 NotFound and 409 AlreadyExists /
// Conflict from a server that is down, and whose message names the request
// and carries the server's Status message.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "myelin/kube/config.hpp"
#include "myelin/result.hpp"

namespace myelin::kube {

class Client {
 public:
  explicit Client(ClusterConfig cluster, std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : cluster_(std::move(cluster)), timeout_(timeout) {}

  // The object at `path` (e.g. /api/v1/nodes/n1); 404 when there is none.
  Result<nlohmann::json> get(const std::string& path) const;
  // POST to a collection: the object as stored (uid, resourceVersion,
  // creationTimestamp set by the server); 409 AlreadyExists when the name is taken.
  Result<nlohmann::json> create(const std::string& collection, const nlohmann::json& object) const;
  // A JSON merge patch (RFC 7386). With metadata.resourceVersion in the
  // patch it applies only to that version (409 Conflict otherwise).
  Result<nlohmann::json> merge_patch(const std::string& path, const nlohmann::json& patch) const;
  // DELETE; with a precondition (uid, resourceVersion) given, only that
  // version is deleted: 409 Conflict when the object changed since.
  Status remove(const std::string& path, const std::string& uid = "", const std::string& resource_version = "") const;

  const ClusterConfig& cluster() const { return cluster_; }

 private:
  Result<nlohmann::json> request(const std::string& method, const std::string& path, const std::string& body,
                                 const std::string& content_type) const;
  ClusterConfig cluster_;
  std::chrono::milliseconds timeout_;
};

// HTTP status codes the callers tell apart (Error::code).
inline constexpr int kNotFound = 404;
inline constexpr int kConflict = 409;  // AlreadyExists on create, Conflict on a precondition

}  // namespace myelin::kube
