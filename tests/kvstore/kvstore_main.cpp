// SPDX-License-Identifier: Apache-2.0
// main() of the kvstore tests: the process moves into a network namespace
// of its own before any test (and any gRPC thread) starts; every etcd the
// tests start listens there only.
#include <gtest/gtest.h>

#include "kvstore_test.hpp"

namespace myelin::testing {
std::string g_netns_error;
}

namespace {
class PrivateNetns : public ::testing::Environment {
 public:
  void SetUp() override {
    if (!myelin::testing::enter_private_netns(&myelin::testing::g_netns_error) && myelin::testing::g_netns_error.empty())
      myelin::testing::g_netns_error = "no private network namespace";
  }
};
}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new PrivateNetns);
  return RUN_ALL_TESTS();
}
