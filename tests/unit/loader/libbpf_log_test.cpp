// SPDX-License-Identifier: Apache-2.0
// What an error says of libbpf's messages: the last few, one line each; a
// verifier log cut to its last lines, where the reason is.
#include <gtest/gtest.h>

#include "myelin/bpf/libbpf_log.hpp"

namespace myelin::bpf {
namespace {

TEST(LibbpfMessages, NothingSaidAddsNothing) {
  LibbpfMessages said;
  EXPECT_EQ(said.summary(), "");
  EXPECT_EQ(said.error("load BPF object lxc", -EINVAL).message, "load BPF object lxc: Invalid argument");
}

TEST(LibbpfMessages, AVerifierLogIsCutToItsReason) {
  LibbpfMessages said;
  said.add("libbpf: prog 'from_container': BPF program load failed: Permission denied");
  said.add("libbpf: prog 'from_container': -- BEGIN PROG LOAD LOG --\n0: R1=ctx() R10=fp0\n; int from_container(\n"
           "1: (b7) r0 = 0\nR2 invalid mem access 'scalar'\nprocessed 42 insns (limit 1000000)\n-- END PROG LOAD LOG --");
  said.add("libbpf: failed to load object 'lxc'");
  auto e = said.error("load BPF object lxc", EACCES);
  EXPECT_EQ(e.code, EACCES);
  EXPECT_NE(e.message.find("load BPF object lxc: Permission denied (libbpf: "), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("R2 invalid mem access 'scalar' | processed 42 insns"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("failed to load object 'lxc'"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("R10=fp0"), std::string::npos) << "not the whole log: " << e.message;
}

TEST(LibbpfMessages, OnlyTheLastThreeAndNestedCapturesReachTheOuterOne) {
  LibbpfMessages outer;
  {
    LibbpfMessages inner;
    for (int i = 0; i < 5; ++i) inner.add("libbpf: message " + std::to_string(i));
    EXPECT_EQ(inner.summary(), "message 2; message 3; message 4");
  }
  EXPECT_EQ(outer.summary(), "message 2; message 3; message 4") << "what the inner one kept reaches the outer one";
}

}  // namespace
}  // namespace myelin::bpf
