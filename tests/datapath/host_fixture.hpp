// SPDX-License-Identifier: Apache-2.0
// The datapath fixture with host.bpf.c loaded over the pod maps, as the agent
// loads it, and the two pods of two_pods(): the tests of from_netdev and
// to_netdev (NodePort, masquerade) start from here.
#pragma once

#include <memory>

#include "fixture.hpp"
#include "myelin/datapath/host_datapath.hpp"

namespace myelin::test {

class HostDatapathTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto h = datapath::HostDatapath::load(*dp_, {});
    ASSERT_TRUE(h) << h.error().message;
    host_ = std::move(*h);
    two_pods();
  }
  void TearDown() override {
    host_.reset();
    DatapathTest::TearDown();
  }

  std::unique_ptr<datapath::HostDatapath> host_;
};

}  // namespace myelin::test
