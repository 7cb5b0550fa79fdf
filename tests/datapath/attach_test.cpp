// SPDX-License-Identifier: Apache-2.0
// tc attach, atomic replace and detach on a veth inside a network namespace
// the test creates (never the root namespace), and removes on exit.
#include <fcntl.h>
#include <sched.h>

#include <thread>

#include "fixture.hpp"
#include "myelin/netlink.hpp"

namespace myelin::test {
namespace {

class Attach : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped()) return;
    ns_ = "myelin-attach-" + std::to_string(getpid());
    ASSERT_EQ(std::system(("ip netns add " + ns_).c_str()), 0);
    ASSERT_EQ(std::system(("ip -n " + ns_ + " link add va type veth peer name vb").c_str()), 0);
  }
  void TearDown() override {
    if (!ns_.empty()) (void)std::system(("ip netns del " + ns_ + " 2>/dev/null").c_str());
    DatapathTest::TearDown();
  }
  std::string ns_;
};

TEST_F(Attach, AttachReplaceDetachInsideATestNamespace) {
  // netlink calls act on the calling thread's namespace: do all of it on one thread inside.
  std::thread([&] {
    auto guard = netlink::NetnsGuard::enter("/var/run/netns/" + ns_);
    ASSERT_TRUE(guard) << guard.error().message;
    auto link = netlink::link_get("va");
    ASSERT_TRUE(link) << link.error().message;
    EXPECT_FALSE(dp_->attached(link->index));
    ASSERT_TRUE(dp_->attach(link->index));
    EXPECT_TRUE(dp_->attached(link->index));
    auto again = dp_->attach(link->index);  // an agent restart: replace in place
    EXPECT_TRUE(again) << again.error().message;
    EXPECT_TRUE(dp_->attached(link->index));
    EXPECT_TRUE(dp_->detach(link->index));
    EXPECT_FALSE(dp_->attached(link->index));
    EXPECT_TRUE(dp_->detach(link->index)) << "detaching twice is fine";
    EXPECT_FALSE(dp_->attach(999999)) << "a missing device is an error that says so";
  }).join();
}

TEST_F(Attach, PinnedMapsAreAdoptedByTheNextLoad) {
  myelin_ep_key k{};
  k.addr.w[0] = ip4("10.1.2.3");
  k.family = MYELIN_FAMILY_IPV4;
  myelin_ep_info v{};
  v.ep_id = 77;
  ASSERT_TRUE(dp_->endpoint_upsert(k, v));
  EXPECT_FALSE(dp_->adopted());
  dp_.reset();  // the agent goes away; the pins stay
  auto next = datapath::Datapath::load({pin_dir_, true});
  ASSERT_TRUE(next) << next.error().message;
  EXPECT_TRUE((*next)->adopted());
  auto eps = (*next)->endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].second.ep_id, 77u);
  dp_ = std::move(*next);
}

}  // namespace
}  // namespace myelin::test
