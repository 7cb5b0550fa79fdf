// SPDX-License-Identifier: Apache-2.0
// A Hubble FlowFilter in JSON, as myelind --flow-log-allow/--flow-log-deny
// take it: parsed, compiled as a whitelist and as a blacklist, and evaluated
// on a few flows of every protocol. Invariants: the two compile alike, and a
// blacklist of one filter drops exactly the flows its whitelist keeps.
#include <google/protobuf/util/json_util.h>

#include <cstdint>

#include "fuzz_check.hpp"
#include "myelin/flows/flow_filter.hpp"

using namespace myelin;

namespace {

std::vector<flow::Flow> sample_flows() {
  std::vector<flow::Flow> out;
  for (int proto = 0; proto < 5; ++proto) {
    flow::Flow f;
    f.mutable_ip()->set_source("10.244.1.17");
    f.mutable_ip()->set_destination(proto == 4 ? "not an address" : "192.168.3.9");
    f.mutable_ip()->set_ipversion(flow::IPv4);
    auto* l4 = f.mutable_l4();
    if (proto == 0) {
      l4->mutable_tcp()->set_source_port(51234);
      l4->mutable_tcp()->set_destination_port(8080);
      l4->mutable_tcp()->mutable_flags()->set_syn(true);
    } else if (proto == 1) {
      l4->mutable_udp()->set_source_port(53);
      l4->mutable_udp()->set_destination_port(5353);
    } else if (proto == 2) {
      l4->mutable_icmpv4()->set_type(8);
    } else if (proto == 3) {
      l4->mutable_sctp()->set_destination_port(9);
    }
    f.set_verdict(proto % 2 ? flow::DROPPED : flow::FORWARDED);
    f.set_drop_reason_desc(proto % 2 ? flow::POLICY_DENIED : flow::DROP_REASON_UNKNOWN);
    f.mutable_source()->set_namespace_("shop");
    f.mutable_source()->set_pod_name("frontend-7d9c8");
    f.mutable_source()->add_labels("k8s:app=frontend");
    f.mutable_source()->set_identity(60123);
    f.mutable_destination()->set_namespace_(proto == 2 ? "" : "data");
    f.mutable_destination()->set_pod_name("db-0");
    f.mutable_destination()->add_labels("reserved:world");
    f.set_traffic_direction(proto % 2 ? flow::INGRESS : flow::EGRESS);
    f.mutable_event_type()->set_type(proto % 2 ? 1 : 4);
    if (proto != 3) f.mutable_is_reply()->set_value(proto == 1);
    f.set_node_name("node-1");
    f.set_uuid("3e9e4b5a-61b3-4e61-9a3c-0d1f0d6b2a10");
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  google::protobuf::RepeatedPtrField<flow::FlowFilter> one, none;
  if (!google::protobuf::util::JsonStringToMessage(json, one.Add()).ok()) return 0;
  auto allow = flows::FilterSet::compile(one, none);
  auto deny = flows::FilterSet::compile(none, one);
  FUZZ_CHECK(allow.ok() == deny.ok(), json);
  if (!allow) return 0;
  static const auto flows = sample_flows();
  for (const auto& f : flows) FUZZ_CHECK(allow->matches(f) != deny->matches(f), json);
  return 0;
}
