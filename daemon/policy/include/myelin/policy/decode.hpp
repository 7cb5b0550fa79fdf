// SPDX-License-Identifier: Apache-2.0
// daemon/policy (myelin_policy): the network policy model, its decoder from YAML/JSON and its compiler to map entries.
// Kubernetes objects from YAML (manifests) into the policy model. Errors name
// the file, the line and the field, and an unsupported field is an error
// that names it: a policy is never silently weakened.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "myelin/policy/model.hpp"
#include "myelin/policy/refusal.hpp"
#include "myelin/result.hpp"

namespace YAML {
class Node;
}

namespace myelin::policy {

// A kind policy does not decode: the object store's decoders (daemon/objects)
// have Service, EndpointSlice, Node and the TracingPolicies; others are ignored.
struct Other {
  std::string kind, ns, name;
};
using Object = std::variant<Namespace, Pod, NetworkPolicy, Other>;

// Every document of a (multi-document) YAML text. `file` is only for messages.
// All of it or nothing: one bad document refuses the text, naming that
// document. TracingPolicy kinds pass as Other (the tracing decoder's).
Decoded<std::vector<Object>> decode_manifest(const std::string& text, const std::string& file);
// One document of such a text (not null), for decoders of more kinds
// (daemon/objects) that dispatch by kind.
Decoded<Object> decode_document(const YAML::Node& doc, const std::string& file);
// Fills a refusal's kind, namespace and name from the document, as far as it has them.
void describe(const YAML::Node& doc, Refusal& r);
// The same, the refusal as one message (file:line: field: why).
Result<std::vector<Object>> decode_yaml(const std::string& text, const std::string& file);

// One label selector (matchLabels, matchExpressions), for other decoders
// (TracingPolicy's podSelector); the refusal names file:line: field.
Decoded<Selector> decode_label_selector(const YAML::Node& n, const std::string& file, const std::string& field);

}  // namespace myelin::policy
