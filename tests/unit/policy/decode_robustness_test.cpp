// SPDX-License-Identifier: Apache-2.0
// What fuzzing found in the YAML decoders' input handling: yaml-cpp 0.7's
// LoadAll loops forever on a document that starts with a stray token (here an
// error with the file and line, and ordinary streams load as LoadAll loads
// them), and numbers too long for the integer they are read into.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "myelin/policy/decode.hpp"
#include "myelin/policy/yaml_documents.hpp"

namespace myelin::policy {
namespace {

// load_yaml_documents as a Result, for the assertions below.
Result<std::vector<YAML::Node>> load(const std::string& text, const std::string& file) {
  auto docs = load_yaml_documents(text, file);
  if (auto* r = std::get_if<Refusal>(&docs)) return Error{r->message()};
  return std::get<std::vector<YAML::Node>>(std::move(docs));
}

TEST(YamlDocuments, StrayTokenIsAnErrorNotALoop) {
  // Each of these never returned from YAML::LoadAll (found by tests/fuzz).
  for (const char* text : {",", "]", "}", "kind: Namespace\n---\n, x\n", "apiVersion: v1\n--- }\n"}) {
    auto docs = load(text, "f.yaml");
    ASSERT_FALSE(docs) << text;
    EXPECT_EQ(docs.error().message.rfind("f.yaml:", 0), 0u) << docs.error().message;
    EXPECT_NE(docs.error().message.find("invalid YAML"), std::string::npos) << docs.error().message;
  }
  auto decoded = decode_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n,\n", "m.yaml");
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().message, "m.yaml:5: invalid YAML: unexpected token at column 1");
}

TEST(YamlDocuments, StreamsLoadAsLoadAllLoadsThem) {
  for (const char* text : {"", "a: 1\n", "---\n---\na: 1\n...\n---\nb: [1, 2]\n", "# only a comment\n", "--- x\n--- y\n"}) {
    auto docs = load(text, "f.yaml");
    ASSERT_TRUE(docs) << docs.error().message;
    auto want = YAML::LoadAll(text);
    ASSERT_EQ(docs->size(), want.size()) << text;
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(YAML::Dump((*docs)[i]), YAML::Dump(want[i])) << text;
  }
  auto bad = load("a: [1, 2\n", "f.yaml");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("f.yaml:", 0), 0u);
}

// Found by tests/fuzz: std::stoi threw std::out_of_range out of the decoder,
// past every catch, and a manifest with this line ended the agent.
TEST(DecodeNumbers, OverlongPrefixLengthIsAnError) {
  auto r = decode_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a}
spec:
  podSelector: {}
  egress:
  - to:
    - ipBlock: {cidr: 192.168.77.0/55555555555555555555555524}
)", "p.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.rfind("p.yaml:8: spec.egress[0].to[0].ipBlock.cidr:", 0), 0u) << r.error().message;
}

// Raw bytes that are not UTF-8 went into values and then into refusals,
// which the API sends as proto3 strings: the CLI could not decode the status.
TEST(YamlDocuments, TextThatIsNotUtf8IsAnError) {
  auto r = decode_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: \"a\xff\"}\n", "u.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "u.yaml:3: invalid YAML: not UTF-8 at column 20");
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80"})  // overlong, surrogate, > U+10FFFF, cut, lone
    EXPECT_FALSE(load(std::string("a: ") + bad + "\n", "u.yaml")) << bad;
  EXPECT_TRUE(load("a: \"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n", "u.yaml"));  // é € 😀
  // A NUL byte came out of yaml-cpp as a lone 0xa0 (found by tests/fuzz).
  auto nul = load(std::string("a: 1\nb: x\0y\n", 12), "u.yaml");
  ASSERT_FALSE(nul);
  EXPECT_EQ(nul.error().message, "u.yaml:2: invalid YAML: a NUL character at column 5");
  // Other control characters pass through intact (and JSON from the API server may hold them).
  auto ctl = load("a: \"x\x01\x7f\xc2\x80y\"\n", "u.yaml");
  ASSERT_TRUE(ctl) << ctl.error().message;
  EXPECT_EQ((*ctl)[0]["a"].as<std::string>(), "x\x01\x7f\xc2\x80y");
  auto fine = load("\xef\xbb\xbf" "a:\tb\r\nc: \xc2\xa0\xc2\x85\n", "u.yaml");  // BOM, tab, CRLF, NBSP, NEL
  EXPECT_TRUE(fine) << fine.error().message;
  // yaml-cpp's own message quotes one byte of a character (found by tests/fuzz): U+FFFD for it.
  auto esc = load("a: \"\\\xc3\xa9\"\n", "u.yaml");
  ASSERT_FALSE(esc);
  EXPECT_EQ(esc.error().message, "u.yaml:1: invalid YAML: unknown escape character: \xef\xbf\xbd");
}

// Found by tests/fuzz (entries hold lo <= hi): a CiliumNetworkPolicy port
// range ending below its start compiled to an entry that matches nothing.
TEST(DecodeNumbers, CiliumEndPortBelowPortIsAnError) {
  auto r = decode_yaml(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: r, namespace: x}
spec:
  endpointSelector: {}
  ingress:
  - toPorts:
    - ports: [{port: "100", endPort: 50, protocol: TCP}]
)", "c.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "c.yaml:8: spec.ingress[0].toPorts[0].ports[0].endPort: must not be below port");
  EXPECT_TRUE(decode_yaml(R"(apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: r, namespace: x}
spec:
  endpointSelector: {}
  ingress:
  - toPorts:
    - ports: [{port: "100", endPort: 100, protocol: TCP}]
)", "c.yaml"));
}

}  // namespace
}  // namespace myelin::policy
