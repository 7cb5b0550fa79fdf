// SPDX-License-Identifier: Apache-2.0
// The kinds the object store keeps, in one table (kind, apiVersion, the API
// resource it is listed and watched from), and the one decoder of a
// source's text: each document goes to the decoder of its kind. Errors name
// file:line: field, as policy's decoders do.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "myelin/objects/model.hpp"
#include "myelin/policy/decode.hpp"
#include "tracing_policy.hpp"

namespace myelin::objects {

enum class Kind : uint8_t {
  namespace_,
  pod,
  network_policy,
  cilium_network_policy,
  cilium_clusterwide_network_policy,
  service,
  endpoint_slice,
  node,
  tracing_policy,
  tracing_policy_namespaced,
};

struct KindInfo {
  Kind kind;
  const char* name;         // "Pod"
  const char* api_version;  // "v1"
  const char* resource;     // "pods": the API resource, and the k8s:<resource>/... source names
  const char* path;         // "/api/v1/pods": listed and watched (cluster-wide) from here
  bool tracing;             // decoded by the TracingPolicy decoder
};
// Every kind, in the order KubeSource starts its reflectors.
const std::vector<KindInfo>& kinds();
const KindInfo& info(Kind k);
const KindInfo* find_kind(std::string_view name);  // null: a kind the store does not keep

using Object = std::variant<policy::Namespace, policy::Pod, policy::NetworkPolicy, Service, EndpointSlice, Node,
                            tracing::TracingPolicy>;
Kind kind_of(const Object& o);
std::string ns_of(const Object& o);  // "" for cluster-scoped kinds
std::string name_of(const Object& o);

// What one source's text is: its objects, and apart from them its
// TracingPolicies, which their own decoder refuses on its own (a bad
// TracingPolicy does not refuse the file's other objects, nor the reverse).
// Each is all or nothing: one bad document refuses its part of the text,
// naming that document. Kinds the store does not keep are passed over.
struct Decoded {
  policy::Decoded<std::vector<Object>> objects;
  policy::Decoded<std::vector<tracing::TracingPolicy>> tracing;
};
Decoded decode(const std::string& text, const std::string& source);

// The decoders of one document of the kinds defined here (doc.kind says
// which), for the tests and fuzzers; `file` is only for messages.
policy::Decoded<Object> decode_service_kind(const YAML::Node& doc, const std::string& file);

}  // namespace myelin::objects
