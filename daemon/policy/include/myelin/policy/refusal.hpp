// SPDX-License-Identifier: Apache-2.0
// Refusal: why a policy (a manifest file, or an object from the Kubernetes
// API) is not in force, by parts, so the CLI, `status` and the metrics show
// the source, line, field and reason as fields, not only as a log line.
// Decoders refuse (the text is wrong); the tracing manager also refuses
// what decoded but this kernel cannot load (cause kernel).
#pragma once

#include <string>
#include <variant>

namespace myelin::policy {

struct Refusal {
  enum class Cause { decode, kernel };
  std::string source;     // the file, or k8s:<resource>/[<namespace>/]<name>
  int line = 0;           // 1-based; 0 when there is no line (the file could not be read)
  std::string field;      // e.g. spec.ingress[0].from; empty when not about one field (YAML syntax)
  std::string reason;
  std::string kind;       // of the document refused; empty when unknown (the YAML does not parse)
  std::string ns, name;   // of that document, when known
  Cause cause = Cause::decode;
  bool last_good_in_force = false;  // an earlier version of the source stays in force

  // One line: source:line: field: reason (the form of the agent's log).
  std::string message() const {
    return source + (line > 0 ? ":" + std::to_string(line) : "") + ": " + (field.empty() ? "" : field + ": ") + reason;
  }
  const char* cause_name() const { return cause == Cause::kernel ? "kernel" : "decode"; }
};

// What a decoder returns: the objects, or why the whole text is refused.
template <typename T>
using Decoded = std::variant<T, Refusal>;

inline bool is_tracing_kind(const std::string& kind) { return kind == "TracingPolicy" || kind == "TracingPolicyNamespaced"; }

}  // namespace myelin::policy
