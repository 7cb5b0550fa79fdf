// SPDX-License-Identifier: Apache-2.0
// A refused manifest by parts: the source, line, field and reason, and the
// kind and name of the document at fault (unknown when the YAML does not
// parse), as the CLI, status and metrics show them.
#include <gtest/gtest.h>

#include "myelin/policy/decode.hpp"

namespace myelin::policy {
namespace {

Refusal refused(const std::string& text) {
  auto d = decode_manifest(text, "/m/np.yaml");
  EXPECT_TRUE(std::holds_alternative<Refusal>(d)) << text;
  return std::holds_alternative<Refusal>(d) ? std::get<Refusal>(d) : Refusal{};
}

const char* kGood = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: shop}\nspec: {podSelector: {}}\n";

TEST(Refusal, SyntaxErrorKindUnknown) {
  auto r = refused("apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n");
  EXPECT_EQ(r.source, "/m/np.yaml");
  EXPECT_GT(r.line, 0);
  EXPECT_EQ(r.field, "");
  EXPECT_EQ(r.reason.rfind("invalid YAML: ", 0), 0u) << r.reason;
  EXPECT_EQ(r.kind, "") << "nothing parsed: the kind is unknown";
  EXPECT_EQ(r.cause, Refusal::Cause::decode);
  EXPECT_FALSE(r.last_good_in_force) << "the decoder does not know; the consumer says";
}

TEST(Refusal, TheDocumentAtFaultInAMultiDocumentFile) {
  auto r = refused(std::string(kGood) + "---\n" +
                   "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: b, namespace: shop}\nspec:\n  podSelector: {}\n"
                   "  ingress:\n  - frm: []\n");
  EXPECT_EQ(r.line, 12);
  EXPECT_EQ(r.field, "spec.ingress[0].frm");
  EXPECT_EQ(r.reason.rfind("is not supported by Myelin", 0), 0u) << r.reason;
  EXPECT_EQ(r.kind, "NetworkPolicy");
  EXPECT_EQ(r.ns, "shop");
  EXPECT_EQ(r.name, "b");
  EXPECT_EQ(r.message().rfind("/m/np.yaml:12: spec.ingress[0].frm: is not supported by Myelin", 0), 0u) << r.message();
  auto same = decode_yaml(std::string(kGood) + "---\nkind: NetworkPolicy\n", "/m/np.yaml");
  ASSERT_FALSE(same);
  EXPECT_EQ(same.error().message, "/m/np.yaml:6: apiVersion: is required") << "decode_yaml says the same in one line";
}

TEST(Refusal, TracingPoliciesAreTheTracingDecoders) {
  // A TracingPolicy the tracing decoder refuses (no name) is not refused here:
  // the network objects of the same file still apply.
  auto d = decode_manifest(std::string(kGood) + "---\napiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {}\nspec: {}\n", "/m/np.yaml");
  ASSERT_TRUE(std::holds_alternative<std::vector<Object>>(d)) << std::get<Refusal>(d).message();
  ASSERT_EQ(std::get<0>(d).size(), 2u);
  EXPECT_TRUE(std::holds_alternative<NetworkPolicy>(std::get<0>(d)[0]));
  EXPECT_EQ(std::get<Other>(std::get<0>(d)[1]).kind, "TracingPolicy");
  // A document without kind could be anything: refused, kind unknown.
  auto r = refused("apiVersion: v1\nmetadata: {name: a}\n");
  EXPECT_EQ(r.message(), "/m/np.yaml:1: kind: is required");
  EXPECT_EQ(r.kind, "");
  EXPECT_EQ(r.name, "a");
}

}  // namespace
}  // namespace myelin::policy
