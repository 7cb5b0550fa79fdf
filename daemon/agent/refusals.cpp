// SPDX-License-Identifier: Apache-2.0
#include "refusals.hpp"

#include <set>

#include "policy_manager.hpp"
#include "tracing/tracing_manager.hpp"

namespace myelin::agent {

std::vector<policy::Refusal> refused_policies(const PolicyManager& policies, const tracing::TracingManager* tracing) {
  std::vector<policy::Refusal> out;
  std::set<std::pair<std::string, bool>> seen;  // (message, kernel)
  auto add = [&](const policy::Refusal& r) {
    if (seen.insert({r.message(), r.cause == policy::Refusal::Cause::kernel}).second) out.push_back(r);
  };
  for (const auto& s : policies.sources())
    if (!s.ok) add(s.refusal);
  if (tracing)
    for (const auto& p : tracing->list())
      if (p.refusal) add(*p.refusal);
  return out;
}

std::map<std::pair<std::string, std::string>, uint64_t> count_refused(const std::vector<policy::Refusal>& refused) {
  std::map<std::pair<std::string, std::string>, uint64_t> n;
  for (const char* kind : {"NetworkPolicy", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "unknown"}) n[{kind, "decode"}] = 0;
  for (const char* kind : {"TracingPolicy", "TracingPolicyNamespaced"}) n[{kind, "decode"}] = 0, n[{kind, "kernel"}] = 0;
  for (const auto& r : refused) ++n[{r.kind.empty() ? "unknown" : r.kind, r.cause_name()}];
  return n;
}

void to_proto(const policy::Refusal& r, api::PolicyError* out) {
  out->set_source(r.source);
  out->set_line(static_cast<uint32_t>(r.line > 0 ? r.line : 0));
  out->set_field(r.field);
  out->set_reason(r.reason);
  out->set_kind(r.kind);
  out->set_namespace_(r.ns);
  out->set_name(r.name);
  out->set_cause(r.cause_name());
  out->set_last_good_in_force(r.last_good_in_force);
  out->set_message(r.message());
}

}  // namespace myelin::agent
