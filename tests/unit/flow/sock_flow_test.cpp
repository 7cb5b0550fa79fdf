// SPDX-License-Identifier: Apache-2.0
// Socket translations (abi/lb.h) as Hubble's trace-sock flows: the JSON
// `hubble observe -o json` prints for Cilium's socket LB, field by field.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "myelin/flows/flow_decoder.hpp"
#include "myelin/flows/service_flows.hpp"

namespace myelin::flows {
namespace {

myelin_sock_xlate_event sock_event(uint8_t point, uint8_t proto) {
  myelin_sock_xlate_event e{};
  e.ts_ns = 1000;
  e.type = MYELIN_EVENT_TRACE_SOCK;
  e.xlate_point = point;
  e.proto = proto;
  e.family = MYELIN_FAMILY_IPV4;
  e.rev_nat_index = 3;
  e.cookie = 0x1234567890ull;
  e.cgroup_id = 4242;
  e.netns_cookie = 77;
  const bool rev = point == MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV;
  // Forward: frontend -> backend. Reverse (recvmsg): backend -> frontend.
  e.orig_addr.w[0] = inet_addr(rev ? "10.244.1.7" : "10.96.0.10");
  e.orig_port = htons(rev ? 8080 : 80);
  e.xlate_addr.w[0] = inet_addr(rev ? "10.96.0.10" : "10.244.1.7");
  e.xlate_port = htons(rev ? 80 : 8080);
  e.pid = 99;
  return e;
}

// A refusal as sock_lb.bpf.c reports it: a connect()/sendmsg() to a
// frontend without backends, nothing translated (before = after).
myelin_sock_xlate_event refusal(uint8_t proto) {
  myelin_sock_xlate_event e = sock_event(MYELIN_SOCK_XLATE_POINT_PRE_DIRECTION_FWD, proto);
  e.drop_reason = MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND;
  e.xlate_addr = e.orig_addr;
  e.xlate_port = e.orig_port;
  return e;
}

// rev_nat_index 3 is shop/web's ClusterIP frontend.
std::shared_ptr<const services::FrontendIndex> web_index() {
  services::FrontendIndex idx;
  idx[3] = services::FrontendRef{"shop", "web", services::FrontendKind::cluster_ip, net::Ipv4{0x0a60000a}, 80, 6};
  return std::make_shared<const services::FrontendIndex>(std::move(idx));
}

FlowDecoder decoder(bool with_index) {
  FlowDecoder d("node-1",
                FlowDecoder::fixed(std::make_shared<StaticView>(std::map<uint32_t, EndpointView>{
                    {11, {11, 256, "shop", "frontend", {"k8s:app=frontend"}, {}}}})),
                [](uint32_t) { return std::string(); });
  if (with_index) d.set_frontends(web_index);
  return d;
}

nlohmann::json to_json(const flow::Flow& f) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(f, &out, o).ok());
  return nlohmann::json::parse(out);
}

nlohmann::json decode_json(const myelin_sock_xlate_event& ev, uint32_t ep, bool with_index = false) {
  return to_json(decoder(with_index).decode(ev, ep));
}

TEST(SockFlow, ForwardTranslationHasHubblesShape) {
  auto j = decode_json(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD, 6), 11);
  EXPECT_EQ(j["Type"], "SOCK");
  EXPECT_EQ(j["verdict"], "TRANSLATED");
  EXPECT_EQ(j["sock_xlate_point"], "SOCK_XLATE_POINT_POST_DIRECTION_FWD");
  EXPECT_EQ(j["socket_cookie"], "78187493520");  // uint64 is a string in proto JSON
  EXPECT_EQ(j["cgroup_id"], "4242");
  EXPECT_EQ(j["event_type"]["type"], 7);
  EXPECT_EQ(j["event_type"]["sub_type"], 2);
  EXPECT_EQ(j["IP"]["destination"], "10.244.1.7");
  EXPECT_FALSE(j["IP"].contains("source"));  // the pod's address is not known at connect()
  EXPECT_EQ(j["IP"]["ipVersion"], "IPv4");
  EXPECT_EQ(j["l4"]["TCP"]["destination_port"], 8080);
  EXPECT_FALSE(j["l4"]["TCP"].contains("source_port"));
  EXPECT_EQ(j["source"]["pod_name"], "frontend");
  EXPECT_EQ(j["source"]["namespace"], "shop");
  EXPECT_EQ(j["node_name"], "node-1");
  EXPECT_EQ(j["Summary"], "TCP");
  EXPECT_EQ(j["uuid"].get<std::string>().size(), 36u);
  EXPECT_TRUE(j["time"].is_string());
}

TEST(SockFlow, ReverseTranslationSwapsTheSides) {
  auto j = decode_json(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV, 17), 11);
  EXPECT_EQ(j["verdict"], "TRANSLATED");
  EXPECT_EQ(j["sock_xlate_point"], "SOCK_XLATE_POINT_POST_DIRECTION_REV");
  EXPECT_EQ(j["event_type"]["sub_type"], 4);
  EXPECT_EQ(j["IP"]["source"], "10.96.0.10");  // the reply as the process sees it: from the frontend
  EXPECT_FALSE(j["IP"].contains("destination"));
  EXPECT_EQ(j["l4"]["UDP"]["source_port"], 80);
  EXPECT_EQ(j["destination"]["pod_name"], "frontend");
  EXPECT_FALSE(j.contains("source"));
  EXPECT_EQ(j["Summary"], "UDP");
}

TEST(SockFlow, AProcessOfNoPodHasNoEndpoint) {
  auto j = decode_json(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD, 6), 0);
  EXPECT_FALSE(j.contains("source"));
  // Control: the same event of a pod's process names it.
  EXPECT_TRUE(decode_json(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD, 6), 11).contains("source"));
}

// A connect()/sendmsg() refused for want of backends: the drop flow the
// per-packet path's refusal also makes, to the frontend it asked for.
TEST(SockFlow, ARefusalIsADroppedFlowWithItsReason) {
  for (uint8_t proto : {6, 17}) {
    auto j = decode_json(refusal(proto), 11, true);
    EXPECT_EQ(j["Type"], "SOCK");
    EXPECT_EQ(j["verdict"], "DROPPED");
    EXPECT_EQ(j["drop_reason"], MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND);
    EXPECT_EQ(j["drop_reason_desc"], "SERVICE_BACKEND_NOT_FOUND");
    EXPECT_EQ(j["sock_xlate_point"], "SOCK_XLATE_POINT_PRE_DIRECTION_FWD");
    EXPECT_EQ(j["event_type"]["type"], 7);
    EXPECT_EQ(j["event_type"]["sub_type"], 1);
    EXPECT_EQ(j["IP"]["destination"], "10.96.0.10");  // the frontend: nothing was translated
    EXPECT_EQ(j["l4"][proto == 6 ? "TCP" : "UDP"]["destination_port"], 80);
    EXPECT_EQ(j["source"]["pod_name"], "frontend");
    EXPECT_EQ(j["destination_service"]["name"], "web");
    EXPECT_EQ(j["destination_service"]["namespace"], "shop");
    EXPECT_FALSE(j.contains("source_service"));
  }
  // Control: the same event without a drop reason is no drop.
  auto ev = refusal(6);
  ev.drop_reason = 0;
  auto j = decode_json(ev, 11, true);
  EXPECT_EQ(j["verdict"], "TRACED");
  EXPECT_FALSE(j.contains("drop_reason_desc"));
}

// The frontend unknown to the FrontendIndex (not published yet, or gone):
// still the drop flow, naming no Service it cannot vouch for.
TEST(SockFlow, ARefusalOfAnUnknownFrontendNamesNoService) {
  auto ev = refusal(6);
  ev.rev_nat_index = 99;
  auto j = decode_json(ev, 11, true);
  EXPECT_EQ(j["drop_reason_desc"], "SERVICE_BACKEND_NOT_FOUND");
  EXPECT_FALSE(j.contains("destination_service"));
  // Without any index at all, the same.
  j = decode_json(refusal(6), 11, false);
  EXPECT_EQ(j["verdict"], "DROPPED");
  EXPECT_FALSE(j.contains("destination_service"));
}

// Translations name their Service too: the destination going out, the
// source coming back (recvmsg).
TEST(SockFlow, TranslationsNameTheirService) {
  auto j = decode_json(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD, 6), 11, true);
  EXPECT_EQ(j["destination_service"]["name"], "web");
  EXPECT_FALSE(j.contains("source_service"));
  j = decode_json(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV, 17), 11, true);
  EXPECT_EQ(j["source_service"]["name"], "web");
  EXPECT_FALSE(j.contains("destination_service"));
}

// What the metrics count of the socket path: a refusal is a no-backend drop
// (known frontend or not), a forward translation to a known Service a
// translation, a reverse one nothing.
TEST(SockFlow, CountsAsTheServicesMetricsExpect) {
  FlowDecoder d = decoder(true);
  for (uint8_t proto : {6, 17}) {
    auto c = service_flow_count(d.decode(refusal(proto), 11));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->outcome, ServiceFlowCount::Outcome::no_backend);
    EXPECT_STREQ(c->path, "socket");
    EXPECT_STREQ(c->protocol, proto == 6 ? "TCP" : "UDP");
  }
  auto unknown = refusal(6);
  unknown.rev_nat_index = 99;
  EXPECT_TRUE(service_flow_count(d.decode(unknown, 0)));
  auto c = service_flow_count(d.decode(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_FWD, 6), 11));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->outcome, ServiceFlowCount::Outcome::translated);
  EXPECT_STREQ(c->path, "socket");
  EXPECT_FALSE(service_flow_count(d.decode(sock_event(MYELIN_SOCK_XLATE_POINT_POST_DIRECTION_REV, 17), 11)));
}

}  // namespace
}  // namespace myelin::flows
