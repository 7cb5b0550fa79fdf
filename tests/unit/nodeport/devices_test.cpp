// SPDX-License-Identifier: Apache-2.0
#include "nodeport/devices.hpp"

#include <gtest/gtest.h>

namespace myelin::nodeport {
namespace {

constexpr const char* kHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

TEST(DefaultRouteDevices, TheDevicesOfDefaultRoutesOnly) {
  std::string t = std::string(kHeader) +
                  "mln-wan\t00000000\t017100CB\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"   // default via 203.0.113.1
                  "mln-wan\t007100CB\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"   // 203.0.113.0/24
                  "lxc1\t0100D60A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n"      // a pod's host route
                  "eth1\t00000000\t010A0A0A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"   // a second default route
                  "mln-wan\t00000000\t027100CB\t0003\t0\t0\t200\t00000000\t0\t0\t0\n";  // again: once
  EXPECT_EQ(default_route_devices(t), (std::vector<std::string>{"mln-wan", "eth1"}));
}

TEST(DefaultRouteDevices, NoneInABareNamespace) {
  EXPECT_TRUE(default_route_devices(kHeader).empty());
  EXPECT_TRUE(default_route_devices("").empty());
  // A route that is down is no way out.
  EXPECT_TRUE(default_route_devices(std::string(kHeader) + "eth0\t00000000\t01000000\t0002\t0\t0\t0\t00000000\t0\t0\t0\n").empty());
  // 0.0.0.0/1 is not a default route.
  EXPECT_TRUE(default_route_devices(std::string(kHeader) + "eth0\t00000000\t01000000\t0003\t0\t0\t0\t00000080\t0\t0\t0\n").empty());
}

TEST(PortRange, Parses) {
  auto r = parse_port_range("30000-32767");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min, 30000);
  EXPECT_EQ(r->max, 32767);
  EXPECT_EQ(r->str(), "30000-32767");
  auto one = parse_port_range("80-80");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->min, 80);
  EXPECT_EQ(one->max, 80);
}

TEST(PortRange, RefusesWhatIsNotARange) {
  for (const char* bad : {"", "30000", "-1", "0-100", "100-99", "1-65536", "a-b", "30000-", "-30000", "30000-32767-1", " 1-2", "99999-1"}) {
    auto r = parse_port_range(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("--node-port-range"), std::string::npos);
    }
  }
}

TEST(ResolveDevices, UnknownDeviceIsAnError) {
  auto d = resolve_devices("mln-no-such-device0");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("no device mln-no-such-device0"), std::string::npos);
}

TEST(ResolveDevices, LoopbackIsRefused) {
  auto d = resolve_devices("lo");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().message.find("loopback"), std::string::npos);
}

}  // namespace
}  // namespace myelin::nodeport
