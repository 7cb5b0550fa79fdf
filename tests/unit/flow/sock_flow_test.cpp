// SPDX-License-Identifier: Apache-2.0
// Socket translations (abi/lb.h) as Hubble's trace-sock flows: the JSON
// `hubble observe -o json` prints for Cilium's socket LB, field by field.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "myelin/flows/flow_decoder.hpp"

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

nlohmann::json decode_json(const myelin_sock_xlate_event& ev, uint32_t ep) {
  FlowDecoder d("node-1",
                FlowDecoder::fixed(std::make_shared<StaticView>(std::map<uint32_t, EndpointView>{
                    {11, {11, 256, "shop", "frontend", {"k8s:app=frontend"}, {}}}})),
                [](uint32_t) { return std::string(); });
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(d.decode(ev, ep), &out, o).ok());
  return nlohmann::json::parse(out);
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

}  // namespace
}  // namespace myelin::flows
