// SPDX-License-Identifier: Apache-2.0
// How the CLI shows a refused policy: a row in state error in its list,
// with the reason below it (and whether the last good version stays in
// force), the count and each one in `status`, and the fields in -o json.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format.hpp"

namespace myelin::cli {
namespace {

api::PolicyError refusal(const std::string& kind, uint32_t line, const std::string& field, const std::string& reason, bool in_force,
                         const std::string& cause = "decode") {
  api::PolicyError r;
  r.set_source("/m/np.yaml");
  r.set_line(line);
  r.set_field(field);
  r.set_reason(reason);
  r.set_kind(kind);
  if (!kind.empty()) r.set_namespace_("shop"), r.set_name("web");
  r.set_cause(cause);
  r.set_last_good_in_force(in_force);
  r.set_message("/m/np.yaml:" + std::to_string(line) + ": " + (field.empty() ? "" : field + ": ") + reason);
  return r;
}

TEST(FormatRefusals, PolicyListShowsTheErrorRowBesideTheGoodVersion) {
  api::PolicyList l;
  auto* good = l.add_policies();
  good->set_kind("NetworkPolicy");
  good->set_namespace_("shop");
  good->set_name("web");
  good->set_state("enabled");
  good->set_ingress(true);
  good->set_source("/m/np.yaml:1");
  auto* bad = l.add_policies();
  bad->set_kind("NetworkPolicy");
  bad->set_namespace_("shop");
  bad->set_name("web");
  bad->set_state("error");
  bad->set_source("/m/np.yaml:9");
  *bad->mutable_refusal() = refusal("NetworkPolicy", 9, "spec.ingress[0].frm", "is not supported by Myelin", true);
  auto* unknown = l.add_policies();
  unknown->set_state("error");
  unknown->set_source("/m/np.yaml:3");
  *unknown->mutable_refusal() = refusal("", 3, "", "invalid YAML: end of map not found", false);
  const std::string t = policies_table(l);
  EXPECT_NE(t.find("KIND           NAMESPACE  NAME  STATE    ENFORCES  RULES (IN/OUT)  ENDPOINTS  SOURCE\n"), std::string::npos) << t;
  EXPECT_NE(t.find("NetworkPolicy  shop       web   enabled  ingress   0/0             -          /m/np.yaml:1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("NetworkPolicy  shop       web   error    -         -               -          /m/np.yaml:9\n"
                   "    error: spec.ingress[0].frm: is not supported by Myelin; the last good version of /m/np.yaml stays in force\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("(unknown)      -          -     error    -         -               -          /m/np.yaml:3\n"
                   "    error: kind unknown: invalid YAML: end of map not found; nothing of /m/np.yaml is in force\n"),
            std::string::npos)
      << t;
  // -o json: the refusal's parts are fields.
  auto j = nlohmann::json::parse(to_json(l));
  EXPECT_EQ(j["policies"][1]["state"], "error");
  EXPECT_EQ(j["policies"][1]["refusal"]["line"], 9);
  EXPECT_EQ(j["policies"][1]["refusal"]["field"], "spec.ingress[0].frm");
  EXPECT_EQ(j["policies"][1]["refusal"]["last_good_in_force"], true);
  EXPECT_FALSE(j["policies"][2]["refusal"].contains("kind")) << "unknown: absent, as proto3 JSON leaves empty strings";
}

TEST(FormatRefusals, TracingPolicyListSaysDecodeOrKernel) {
  api::TracingPolicyList l;
  auto* k = l.add_policies();
  k->set_kind("TracingPolicy");
  k->set_name("needs-fentry");
  k->set_state("error");
  k->set_source("/m/k.yaml:1");
  k->set_error("spec.kprobes: fentry unavailable");
  *k->mutable_refusal() = refusal("TracingPolicy", 6, "spec.kprobes", "fentry unavailable; nothing of the policy was loaded", false, "kernel");
  auto* d = l.add_policies();
  d->set_kind("TracingPolicy");
  d->set_name("bad");
  d->set_state("error");
  d->set_source("/m/np.yaml:15");
  *d->mutable_refusal() = refusal("TracingPolicy", 15, "spec.tracepoints[0].event", "is required", false);
  auto* w = l.add_policies();
  w->set_name("ok");
  w->set_state("enabled");
  w->set_hooks(1);
  w->set_source("/m/w.yaml:1");
  w->set_mode("scoped to all namespaces");
  w->add_warnings("/m/w.yaml:9: spec.tracepoints[0].message: 300 bytes, truncated to 256 (as Tetragon does)");
  const std::string t = tracing_policies_table(l);
  EXPECT_NE(t.find("needs-fentry  error    0      0       -        /m/k.yaml:1\n"
                   "    error: rejected by this kernel: spec.kprobes: fentry unavailable; nothing of the policy was loaded\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("bad           error    -      -       -        /m/np.yaml:15\n"
                   "    error: spec.tracepoints[0].event: is required; nothing of /m/np.yaml is in force\n"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("ok            enabled  1      0       -        /m/w.yaml:1\n    mode: scoped to all namespaces\n"
                   "    warning: /m/w.yaml:9: spec.tracepoints[0].message: 300 bytes, truncated to 256"),
            std::string::npos)
      << t;
}

TEST(FormatRefusals, StatusCountsAndListsThem) {
  api::StatusResponse s;
  s.set_policies_refused(2);
  *s.add_refused() = refusal("NetworkPolicy", 9, "spec.ingress[0].frm", "is not supported by Myelin", true);
  *s.add_refused() = refusal("", 3, "", "invalid YAML: end of map not found", false);
  const std::string t = status_table(s);
  EXPECT_NE(t.find("Refused policies:     2 (myelin policy list, myelin tracingpolicy list)\n"
                   "  /m/np.yaml:9 (NetworkPolicy shop/web): spec.ingress[0].frm: is not supported by Myelin; the last good version of "
                   "/m/np.yaml stays in force\n"
                   "  /m/np.yaml:3 (kind unknown): invalid YAML: end of map not found; nothing of /m/np.yaml is in force\n"),
            std::string::npos)
      << t;
  EXPECT_NE(status_table(api::StatusResponse{}).find("Refused policies:     0\n"), std::string::npos);
}

}  // namespace
}  // namespace myelin::cli
