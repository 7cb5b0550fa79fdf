// SPDX-License-Identifier: Apache-2.0
// Flows: Hubble filter semantics, the bounded store with its followers and
// loss records, and the decoding of datapath events into Hubble's JSON.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "myelin/flows/flow_decoder.hpp"
#include "myelin/flows/flow_filter.hpp"
#include "myelin/flows/flow_store.hpp"
#include "myelin/flows/service_flows.hpp"

namespace myelin::flows {
namespace {

using google::protobuf::util::TimeUtil;

flow::Flow tcp_flow(const std::string& src, const std::string& dst, uint32_t dport, flow::Verdict v = flow::FORWARDED) {
  flow::Flow f;
  f.mutable_ip()->set_source(src);
  f.mutable_ip()->set_destination(dst);
  f.mutable_ip()->set_ipversion(flow::IPv4);
  f.mutable_l4()->mutable_tcp()->set_source_port(40000);
  f.mutable_l4()->mutable_tcp()->set_destination_port(dport);
  f.mutable_l4()->mutable_tcp()->mutable_flags()->set_syn(true);
  f.set_verdict(v);
  f.mutable_source()->set_namespace_("shop");
  f.mutable_source()->set_pod_name("frontend-7d9");
  f.mutable_source()->add_labels("k8s:app=frontend");
  f.mutable_source()->add_labels("k8s:tier=web");
  f.mutable_destination()->set_namespace_("data");
  f.mutable_destination()->set_pod_name("db-0");
  f.mutable_destination()->set_identity(300);
  f.set_traffic_direction(flow::EGRESS);
  f.mutable_is_reply()->set_value(false);
  f.set_node_name("node-1");
  return f;
}

bool match(const flow::FlowFilter& ff, const flow::Flow& f) {
  auto c = FlowFilter::compile(ff);
  EXPECT_TRUE(c) << c.error().message;
  return c && c->matches(f);
}

// A prefix length too long for an int threw std::out_of_range out of
// compile: from a local API client, that ended the agent (the defect fuzzing
// found in the policy decoder's ipBlock, here in the same code).
TEST(FlowFilter, OverlongPrefixLengthIsAnError) {
  flow::FlowFilter ff;
  ff.add_source_ip("10.0.0.0/99999999999");
  auto c = FlowFilter::compile(ff);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("source_ip"), std::string::npos) << c.error().message;
}

TEST(FlowFilter, EachFieldKind) {
  auto f = tcp_flow("10.0.0.1", "10.0.1.5", 5432);
  flow::FlowFilter ff;
  ff.add_source_ip("10.0.0.1");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_destination_ip("10.0.1.0/24");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_destination_ip("10.0.2.0/24");
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_source_pod("shop/front");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_source_pod("shop/");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_source_pod("frontend");  // no namespace: "default"
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_source_label("app=frontend,tier");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_source_label("k8s:app=frontend");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_source_label("app=backend");
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_protocol("TCP");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_protocol("udp");
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_destination_port("5432");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_source_port("5432");
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_verdict(flow::DROPPED); ff.add_verdict(flow::FORWARDED);
  EXPECT_TRUE(match(ff, f)) << "values of one field OR";
  ff.Clear(); ff.add_tcp_flags()->set_syn(true);
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); auto* fl = ff.add_tcp_flags(); fl->set_syn(true); fl->set_ack(true);
  EXPECT_FALSE(match(ff, f)) << "all flags of one entry must be set";
  ff.Clear(); ff.add_traffic_direction(flow::INGRESS);
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_reply(false);
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_destination_identity(300);
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_node_name("node-*");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_source_ip("10.0.0.1"); ff.add_destination_port("80");
  EXPECT_FALSE(match(ff, f)) << "fields AND";
  auto d = tcp_flow("10.0.0.1", "10.0.1.5", 5432, flow::DROPPED);
  d.set_drop_reason_desc(flow::INVALID_SOURCE_IP);
  ff.Clear(); ff.add_drop_reason_desc(flow::INVALID_SOURCE_IP);
  EXPECT_TRUE(match(ff, d));
  EXPECT_FALSE(match(ff, f));
}

TEST(FlowFilter, BadValuesAreErrorsNamingTheField) {
  flow::FlowFilter ff;
  ff.add_source_ip("10.0.0.300");
  auto c = FlowFilter::compile(ff);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("source_ip"), std::string::npos);
  ff.Clear(); ff.add_destination_port("70000");
  EXPECT_FALSE(FlowFilter::compile(ff));
  ff.Clear(); ff.add_protocol("carrier-pigeon");
  EXPECT_FALSE(FlowFilter::compile(ff));
}

TEST(FilterSet, WhitelistOrBlacklistNone) {
  google::protobuf::RepeatedPtrField<flow::FlowFilter> white, black;
  white.Add()->add_destination_port("80");
  white.Add()->add_destination_port("5432");
  black.Add()->add_source_pod("shop/frontend");
  auto s = FilterSet::compile(white, black);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->matches(tcp_flow("10.0.0.1", "10.0.1.5", 5432))) << "blacklisted source";
  auto other = tcp_flow("10.0.0.1", "10.0.1.5", 5432);
  other.mutable_source()->set_pod_name("batch-1");
  EXPECT_TRUE(s->matches(other));
  EXPECT_FALSE(s->matches(tcp_flow("10.0.0.1", "10.0.1.5", 22)));
}

api::ObserveRequest last(uint64_t n) {
  api::ObserveRequest r;
  r.set_number(n);
  return r;
}

TEST(FlowStore, EvictsOldestAndAnswersNumberFirstAll) {
  FlowStore store(5);
  for (uint32_t p = 1; p <= 8; ++p) store.push(tcp_flow("10.0.0.1", "10.0.0.2", p));
  EXPECT_EQ(store.stored(), 5u);
  EXPECT_EQ(store.seen(), 8u);
  EXPECT_EQ(store.evicted(), 3u);
  auto r = *store.query(last(2), "n");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].flow().l4().tcp().destination_port(), 7u);
  EXPECT_EQ(r[1].flow().l4().tcp().destination_port(), 8u);
  auto first = last(2);
  first.set_first(true);
  r = *store.query(first, "n");
  EXPECT_EQ(r[0].flow().l4().tcp().destination_port(), 4u);
  api::ObserveRequest all;
  all.set_all(true);
  EXPECT_EQ(store.query(all, "n")->size(), 5u);
  auto filtered = all;
  filtered.add_whitelist()->add_destination_port("6");
  EXPECT_EQ(store.query(filtered, "n")->size(), 1u);
}

TEST(FlowStore, SinceUntil) {
  FlowStore store(10);
  for (int s = 100; s <= 104; ++s) {
    auto f = tcp_flow("10.0.0.1", "10.0.0.2", static_cast<uint32_t>(s));
    *f.mutable_time() = TimeUtil::SecondsToTimestamp(s);
    store.push(f);
  }
  api::ObserveRequest r;
  r.set_all(true);
  *r.mutable_since() = TimeUtil::SecondsToTimestamp(101);
  *r.mutable_until() = TimeUtil::SecondsToTimestamp(103);
  auto got = *store.query(r, "n");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.front().flow().l4().tcp().destination_port(), 101u);
  EXPECT_EQ(got.back().flow().l4().tcp().destination_port(), 103u);
}

TEST(FlowStore, FollowGetsOnlyNewerFlowsWithoutDuplicates) {
  FlowStore store(100);
  store.push(tcp_flow("10.0.0.1", "10.0.0.2", 1));
  FlowStore::Cursor c;
  api::ObserveRequest r;
  r.set_all(true);
  EXPECT_EQ(store.query(r, "n", &c)->size(), 1u);
  FilterSet none = *FilterSet::compile({}, {});
  EXPECT_TRUE(store.wait_next(c, none, std::chrono::milliseconds(1), "n").empty());
  store.push(tcp_flow("10.0.0.1", "10.0.0.2", 2));
  store.push(tcp_flow("10.0.0.1", "10.0.0.2", 3));
  auto next = store.wait_next(c, none, std::chrono::milliseconds(1000), "n");
  ASSERT_EQ(next.size(), 2u);
  EXPECT_EQ(next[0].flow().l4().tcp().destination_port(), 2u);
  EXPECT_EQ(next[0].node_name(), "node-1");
  EXPECT_TRUE(store.wait_next(c, none, std::chrono::milliseconds(1), "n").empty());
}

TEST(FlowStore, SlowFollowerIsToldExactlyWhatItMissed) {
  FlowStore store(3);
  auto c = store.tail_cursor();
  for (uint32_t p = 1; p <= 10; ++p) store.push(tcp_flow("10.0.0.1", "10.0.0.2", p));
  FilterSet none = *FilterSet::compile({}, {});
  auto got = store.wait_next(c, none, std::chrono::milliseconds(1), "n");
  ASSERT_EQ(got.size(), 4u);
  ASSERT_TRUE(got[0].has_lost_events());
  EXPECT_EQ(got[0].lost_events().source(), flow::HUBBLE_RING_BUFFER);
  EXPECT_EQ(got[0].lost_events().num_events_lost(), 7u);
  EXPECT_EQ(got[1].flow().l4().tcp().destination_port(), 8u);
}

TEST(FlowStore, DatapathLossesAppearInTheStreamAndShutdownWakesFollowers) {
  FlowStore store(10);
  auto c = store.tail_cursor();
  store.push_lost(flow::PERF_EVENT_RING_BUFFER, 42);
  FilterSet only80;
  google::protobuf::RepeatedPtrField<flow::FlowFilter> w;
  w.Add()->add_destination_port("80");
  only80 = *FilterSet::compile(w, {});
  auto got = store.wait_next(c, only80, std::chrono::milliseconds(1), "n");
  ASSERT_EQ(got.size(), 1u) << "losses pass every filter";
  EXPECT_EQ(got[0].lost_events().num_events_lost(), 42u);
  store.shutdown();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(store.wait_next(c, only80, std::chrono::seconds(5), "n").empty());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(4));
}

myelin_flow_event event(uint8_t proto, uint8_t type, uint8_t verdict) {
  myelin_flow_event e{};
  e.ts_ns = 1000;
  e.type = type;
  e.subtype = type == MYELIN_EVENT_TRACE ? uint8_t{MYELIN_TRACE_CT_NEW} : uint8_t{MYELIN_DROP_INVALID_SOURCE_IP};
  e.verdict = verdict;
  e.direction = MYELIN_DIR_EGRESS;
  e.obs_point = MYELIN_OBS_TO_ENDPOINT;
  e.trace_reason = type == MYELIN_EVENT_TRACE ? MYELIN_TRACE_REASON_NEW : 0;
  e.family = MYELIN_FAMILY_IPV4;
  e.proto = proto;
  e.ifindex = 7;
  e.src_ep = 11;
  e.dst_ep = 0;
  e.src_identity = 256;
  e.dst_identity = MYELIN_IDENTITY_WORLD;
  e.saddr.w[0] = inet_addr("10.0.0.1");
  e.daddr.w[0] = inet_addr("8.8.8.8");
  e.sport = htons(40000);
  e.dport = htons(53);
  e.tcp_flags = MYELIN_TCP_SYN;
  e.icmp_type = 8;
  if (verdict == MYELIN_VERDICT_DROPPED) e.drop_reason = MYELIN_DROP_INVALID_SOURCE_IP;
  return e;
}

nlohmann::json decode_json(const myelin_flow_event& ev) {
  FlowDecoder d("node-1",
                FlowDecoder::fixed(std::make_shared<StaticView>(std::map<uint32_t, EndpointView>{
                    {11, {11, 256, "shop", "frontend", {"k8s:app=frontend"}, {{"Deployment", "frontend"}}}}})),
                [](uint32_t) { return std::string("lxc123"); });
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(d.decode(ev), &out, o).ok());
  return nlohmann::json::parse(out);
}

TEST(FlowDecoder, TcpTraceHasHubblesShape) {
  auto j = decode_json(event(6, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED));
  EXPECT_EQ(j["verdict"], "FORWARDED");
  EXPECT_EQ(j["IP"]["source"], "10.0.0.1");
  EXPECT_EQ(j["IP"]["destination"], "8.8.8.8");
  EXPECT_EQ(j["IP"]["ipVersion"], "IPv4");
  EXPECT_EQ(j["l4"]["TCP"]["source_port"], 40000);
  EXPECT_EQ(j["l4"]["TCP"]["destination_port"], 53);
  EXPECT_EQ(j["l4"]["TCP"]["flags"]["SYN"], true);
  EXPECT_EQ(j["source"]["ID"], 11);
  EXPECT_EQ(j["source"]["identity"], 256);
  EXPECT_EQ(j["source"]["namespace"], "shop");
  EXPECT_EQ(j["source"]["pod_name"], "frontend");
  EXPECT_EQ(j["source"]["labels"][0], "k8s:app=frontend");
  EXPECT_EQ(j["source"]["workloads"][0]["kind"], "Deployment");
  EXPECT_EQ(j["source"]["workloads"][0]["name"], "frontend");
  EXPECT_EQ(j["destination"]["identity"], 2);
  EXPECT_EQ(j["Type"], "L3_L4");
  EXPECT_EQ(j["node_name"], "node-1");
  EXPECT_EQ(j["event_type"]["type"], 4);
  EXPECT_EQ(j["traffic_direction"], "EGRESS");
  EXPECT_EQ(j["trace_observation_point"], "TO_ENDPOINT");
  EXPECT_EQ(j["trace_reason"], "NEW");
  EXPECT_EQ(j["is_reply"], false);
  EXPECT_EQ(j["interface"]["index"], 7);
  EXPECT_EQ(j["interface"]["name"], "lxc123");
  EXPECT_EQ(j["Summary"], "TCP Flags: SYN");
  EXPECT_EQ(j["uuid"].get<std::string>().size(), 36u);
  EXPECT_TRUE(j["time"].is_string());
}

TEST(FlowDecoder, UdpIcmpAndDrop) {
  auto u = decode_json(event(17, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED));
  EXPECT_EQ(u["l4"]["UDP"]["destination_port"], 53);
  EXPECT_EQ(u["Summary"], "UDP");
  auto i = decode_json(event(1, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED));
  EXPECT_EQ(i["l4"]["ICMPv4"]["type"], 8);
  EXPECT_EQ(i["Summary"], "ICMPv4 EchoRequest");
  auto d = decode_json(event(6, MYELIN_EVENT_DROP, MYELIN_VERDICT_DROPPED));
  EXPECT_EQ(d["verdict"], "DROPPED");
  EXPECT_EQ(d["drop_reason"], 132);
  EXPECT_EQ(d["drop_reason_desc"], "INVALID_SOURCE_IP");
  EXPECT_EQ(d["event_type"]["type"], 1);
  EXPECT_EQ(d["is_reply"], false);
  EXPECT_FALSE(d.contains("trace_observation_point")) << "only trace events carry an observation point";
}

// ---- Services ----

// Upstream's numbers (cilium/cilium api/v1/flow/flow.proto), so a Hubble
// client decodes our binary flows and filters: Flow.source_service = 20,
// destination_service = 21, Service{name = 1, namespace = 2},
// FlowFilter.source_service = 16, destination_service = 17.
TEST(ServiceFields, CarryHubblesFieldNumbers) {
  const auto* flow_d = flow::Flow::descriptor();
  ASSERT_NE(flow_d->FindFieldByName("source_service"), nullptr);
  EXPECT_EQ(flow_d->FindFieldByName("source_service")->number(), 20);
  EXPECT_EQ(flow_d->FindFieldByName("destination_service")->number(), 21);
  EXPECT_EQ(flow_d->FindFieldByName("destination_service")->message_type(), flow::Service::descriptor());
  EXPECT_EQ(flow::Service::descriptor()->FindFieldByName("name")->number(), 1);
  EXPECT_EQ(flow::Service::descriptor()->FindFieldByName("namespace")->number(), 2);
  const auto* ff_d = flow::FlowFilter::descriptor();
  EXPECT_EQ(ff_d->FindFieldByName("source_service")->number(), 16);
  EXPECT_EQ(ff_d->FindFieldByName("destination_service")->number(), 17);
  // On the wire: destination_service {name: "a"} is tag (21 << 3 | 2) = 0xaa 0x01, then the Service.
  flow::Flow f;
  f.mutable_destination_service()->set_name("a");
  EXPECT_EQ(f.SerializeAsString(), std::string("\xaa\x01\x03\x0a\x01" "a", 6));
}

std::shared_ptr<const services::FrontendIndex> dns_index() {
  services::FrontendIndex idx;
  idx[7] = services::FrontendRef{"kube-system", "kube-dns", services::FrontendKind::cluster_ip, net::Ipv4{0x0a60000a}, 53, 17};
  idx[8] = services::FrontendRef{"shop", "web", services::FrontendKind::node_port, net::Ipv4{0x0a000001}, 30080, 6};
  return std::make_shared<const services::FrontendIndex>(std::move(idx));
}

nlohmann::json to_json(const flow::Flow& f) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(f, &out, o).ok());
  return nlohmann::json::parse(out);
}

TEST(FlowDecoder, NamesTheServicesOfATranslatedFlow) {
  int loads = 0;
  FlowDecoder d("node-1", nullptr, nullptr);
  d.set_frontends([&] { ++loads; return dns_index(); });
  auto ev = event(17, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED);
  ev.dst_service = 7;
  auto j = to_json(d.decode(ev));
  EXPECT_EQ(j["destination_service"]["name"], "kube-dns");
  EXPECT_EQ(j["destination_service"]["namespace"], "kube-system");
  EXPECT_FALSE(j.contains("source_service")) << j.dump();
  EXPECT_EQ(loads, 1) << "one index per decode";

  // A reply translated back from the frontend names it as its source.
  ev.dst_service = 0;
  ev.src_service = 8;
  j = to_json(d.decode(ev));
  EXPECT_EQ(j["source_service"]["name"], "web");
  EXPECT_EQ(j["source_service"]["namespace"], "shop");
  EXPECT_FALSE(j.contains("destination_service")) << j.dump();

  // Both sides at once (hairpin: to the Service and back from it in one packet's life).
  ev.dst_service = 7;
  j = to_json(d.decode(ev));
  EXPECT_EQ(j["destination_service"]["name"], "kube-dns");
  EXPECT_EQ(j["source_service"]["name"], "web");

  // Not translated: the index is not even read.
  loads = 0;
  ev.dst_service = ev.src_service = 0;
  j = to_json(d.decode(ev));
  EXPECT_FALSE(j.contains("destination_service") || j.contains("source_service"));
  EXPECT_EQ(loads, 0);
}

TEST(FlowDecoder, UnknownRevNatIndexNamesNoService) {
  auto ev = event(6, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED);
  ev.dst_service = 99;  // not (or no longer) in the index
  ev.src_service = 7;
  FlowDecoder d("node-1", nullptr, nullptr);
  d.set_frontends(dns_index);
  auto j = to_json(d.decode(ev));
  EXPECT_FALSE(j.contains("destination_service")) << j.dump();
  EXPECT_EQ(j["source_service"]["name"], "kube-dns");
  // No index published yet, or none wired: no Service either, and no crash.
  FlowDecoder none("node-1", nullptr, nullptr);
  none.set_frontends([] { return std::shared_ptr<const services::FrontendIndex>(); });
  EXPECT_FALSE(to_json(none.decode(ev)).contains("source_service"));
  FlowDecoder unwired("node-1", nullptr, nullptr);
  EXPECT_FALSE(to_json(unwired.decode(ev)).contains("source_service"));
  // The helper the socket path's decoding shares.
  flow::Flow f;
  fill_services(dns_index().get(), 8, 0, f);
  EXPECT_EQ(f.destination_service().name(), "web");
  EXPECT_FALSE(f.has_source_service());
  fill_services(nullptr, 8, 8, f);  // null index: untouched, no crash
}

TEST(FlowFilter, ServiceNamesAsHubbleReadsThem) {
  auto f = tcp_flow("10.0.0.1", "10.0.1.5", 53);
  f.mutable_destination_service()->set_namespace_("kube-system");
  f.mutable_destination_service()->set_name("kube-dns");
  flow::FlowFilter ff;
  ff.add_destination_service("kube-system/kube-dns");
  EXPECT_TRUE(match(ff, f));
  ff.Clear(); ff.add_destination_service("kube-system/kube-");
  EXPECT_TRUE(match(ff, f)) << "a name prefix, as for pods";
  ff.Clear(); ff.add_destination_service("kube-system/");
  EXPECT_TRUE(match(ff, f)) << "the whole namespace";
  ff.Clear(); ff.add_destination_service("kube-dns");
  EXPECT_FALSE(match(ff, f)) << "no namespace: default";
  ff.Clear(); ff.add_destination_service("default/kube-dns");
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_destination_service("kube-system/coredns");
  EXPECT_FALSE(match(ff, f));
  ff.Clear(); ff.add_source_service("kube-system/");
  EXPECT_FALSE(match(ff, f)) << "the source side names no Service";
  ff.Clear(); ff.add_destination_service("shop/"); ff.add_destination_service("kube-system/kube-dns");
  EXPECT_TRUE(match(ff, f)) << "values OR";
  ff.Clear(); ff.add_destination_service("kube-system/"); ff.add_destination_port("80");
  EXPECT_FALSE(match(ff, f)) << "fields AND";

  // A flow to a Service of the default namespace, and one naming none.
  auto g = tcp_flow("10.0.0.1", "10.0.1.5", 80);
  g.mutable_source_service()->set_namespace_("default");
  g.mutable_source_service()->set_name("web");
  ff.Clear(); ff.add_source_service("web");
  EXPECT_TRUE(match(ff, g));
  ff.Clear(); ff.add_destination_service("default/");
  EXPECT_FALSE(match(ff, g));
  auto none = tcp_flow("10.0.0.1", "10.0.1.5", 80);
  none.mutable_destination_service();  // present but empty: names nothing
  ff.Clear(); ff.add_destination_service("default/");
  EXPECT_FALSE(match(ff, none));

  for (const char* bad : {"", "/", "/web", "a/b/c"}) {
    ff.Clear(); ff.add_destination_service(bad);
    auto c = FlowFilter::compile(ff);
    EXPECT_FALSE(c) << "'" << bad << "'";
    if (!c) {
      EXPECT_NE(c.error().message.find("destination_service"), std::string::npos) << c.error().message;
    }
  }
}

// The metrics' classification: one count per translated connection, one per
// no-backend drop, nothing for the rest.
TEST(ServiceFlows, CountsTranslationsAndNoBackendDrops) {
  FlowDecoder d("node-1", nullptr, nullptr);
  d.set_frontends(dns_index);
  auto to_svc = event(17, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED);
  to_svc.dst_service = 7;
  auto c = service_flow_count(d.decode(to_svc));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->outcome, ServiceFlowCount::Outcome::translated);
  EXPECT_STREQ(c->path, "packet");
  EXPECT_STREQ(c->protocol, "UDP");

  auto later = to_svc;  // the same connection's later packets (a TCP state change)
  later.trace_reason = MYELIN_TRACE_REASON_ESTABLISHED;
  later.subtype = MYELIN_TRACE_CT_STATE;
  EXPECT_FALSE(service_flow_count(d.decode(later)));
  auto reply = to_svc;
  reply.dst_service = 0;
  reply.src_service = 7;
  reply.is_reply = 1;
  reply.trace_reason = MYELIN_TRACE_REASON_REPLY;
  EXPECT_FALSE(service_flow_count(d.decode(reply))) << "a reply is not a new translation";
  auto plain = event(6, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED);
  EXPECT_FALSE(service_flow_count(d.decode(plain))) << "not to a Service";

  auto refused = event(6, MYELIN_EVENT_DROP, MYELIN_VERDICT_DROPPED);
  refused.drop_reason = MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND;
  refused.subtype = MYELIN_DROP_SERVICE_BACKEND_NOT_FOUND;
  refused.dst_service = 8;
  c = service_flow_count(d.decode(refused));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->outcome, ServiceFlowCount::Outcome::no_backend);
  EXPECT_STREQ(c->path, "packet");
  EXPECT_STREQ(c->protocol, "TCP");
  EXPECT_STREQ(outcome_name(c->outcome), "no_backend");
  refused.dst_service = 0;  // counted whether or not the frontend is known
  EXPECT_TRUE(service_flow_count(d.decode(refused)));
  auto other_drop = event(6, MYELIN_EVENT_DROP, MYELIN_VERDICT_DROPPED);
  other_drop.dst_service = 8;
  EXPECT_FALSE(service_flow_count(d.decode(other_drop))) << "a policy or parse drop is not a no-backend drop";

  // The socket path: Type SOCK, counted at its post-translation point only.
  flow::Flow sock;
  sock.set_type(flow::SOCK);
  sock.set_verdict(flow::TRANSLATED);
  sock.mutable_l4()->mutable_udp();
  sock.mutable_destination_service()->set_name("kube-dns");
  const auto* point = flow::Flow::descriptor()->FindFieldByNumber(31);
  if (point) {  // sock_xlate_point, once the socket path's flows carry it
    sock.GetReflection()->SetEnumValue(&sock, point, 2);
    c = service_flow_count(sock);
    ASSERT_TRUE(c);
    EXPECT_STREQ(c->path, "socket");
    EXPECT_STREQ(c->protocol, "UDP");
    sock.GetReflection()->SetEnumValue(&sock, point, 1);  // pre-translation: the same call, not counted twice
    EXPECT_FALSE(service_flow_count(sock));
  } else {
    EXPECT_FALSE(service_flow_count(sock)) << "without the translation point, no SOCK flow counts";
  }
  flow::Flow sock_refused;
  sock_refused.set_type(flow::SOCK);
  sock_refused.set_verdict(flow::DROPPED);
  sock_refused.set_drop_reason_desc(flow::SERVICE_BACKEND_NOT_FOUND);
  sock_refused.mutable_l4()->mutable_tcp();
  c = service_flow_count(sock_refused);
  ASSERT_TRUE(c);
  EXPECT_STREQ(c->path, "socket");
}

}  // namespace
}  // namespace myelin::flows

namespace myelin::flows {
namespace {

std::string read_sample(const std::string& name) {
  std::ifstream f(std::string(MYELIN_TESTDATA) + "/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every key path of a JSON document ("flow.l4.TCP.flags.SYN").
void paths(const nlohmann::json& j, const std::string& prefix, std::set<std::string>& out) {
  if (!j.is_object()) return;
  for (auto& [k, v] : j.items()) {
    std::string p = prefix.empty() ? k : prefix + "." + k;
    out.insert(p);
    paths(v, p, out);
  }
}

class HubbleSamples : public ::testing::TestWithParam<const char*> {};

TEST_P(HubbleSamples, RoundTripThroughOurSchemaUnchanged) {
  // Hubble-shaped lines (field names and enum values of Hubble's flow API)
  // parse into our messages with no unknown field and print back the same.
  std::string line = read_sample(GetParam());
  flow::GetFlowsResponse r;
  auto st = google::protobuf::util::JsonStringToMessage(line, &r);
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(r, &out, o).ok());
  EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json::parse(line));
}

INSTANTIATE_TEST_SUITE_P(Samples, HubbleSamples, ::testing::Values("hubble_tcp_syn.json", "hubble_drop.json", "hubble_service.json"));

TEST(HubbleSamplesDecoder, DecodedEventsHaveTheSampleKeys) {
  // What the decoder emits for the same kind of event carries every key the
  // sample has (values differ: uuid, time, addresses).
  struct {
    const char* file;
    myelin_flow_event ev;
  } cases[] = {{"hubble_tcp_syn.json", event(6, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED)},
               {"hubble_drop.json", event(1, MYELIN_EVENT_DROP, MYELIN_VERDICT_DROPPED)}};
  for (auto& c : cases) {
    SCOPED_TRACE(c.file);
    if (c.ev.type == MYELIN_EVENT_DROP) c.ev.src_ep = 0;
    auto sample = nlohmann::json::parse(read_sample(c.file))["flow"];
    std::set<std::string> want, have;
    paths(sample, "", want);
    paths(decode_json(c.ev), "", have);
    for (const auto& p : want) {
      if (p.rfind("destination", 0) == 0 || p.rfind("source.", 0) == 0) continue;  // endpoint details depend on lookups
      EXPECT_TRUE(have.count(p)) << "decoded flow lacks " << p;
    }
  }
}

// ---- Tunnel mode ----

// Hubble's tunnel message: Flow.tunnel = 39, Tunnel{protocol = 1, IP = 2, l4 = 3}.
TEST(TunnelFields, CarryHubblesFieldNumbers) {
  const auto* d = flow::Flow::descriptor();
  ASSERT_NE(d->FindFieldByName("tunnel"), nullptr);
  EXPECT_EQ(d->FindFieldByName("tunnel")->number(), 39);
  const auto* t = flow::Tunnel::descriptor();
  EXPECT_EQ(t->FindFieldByName("protocol")->number(), 1);
  EXPECT_EQ(t->FindFieldByName("IP")->number(), 2);
  EXPECT_EQ(t->FindFieldByName("l4")->number(), 3);
  EXPECT_EQ(flow::Tunnel::VXLAN, 1);
}

TEST(FlowDecoder, TunnelledFlowsSayWhereTheTunnelLeads) {
  FlowDecoder d("node-1", nullptr, nullptr);
  d.set_node_ip(inet_addr("192.168.77.1"));
  auto ev = event(6, MYELIN_EVENT_TRACE, MYELIN_VERDICT_FORWARDED);
  ev.obs_point = MYELIN_OBS_TO_OVERLAY;
  ev.tunnel_peer = inet_addr("192.168.77.2");
  auto j = to_json(d.decode(ev));
  EXPECT_EQ(j["trace_observation_point"], "TO_OVERLAY");
  EXPECT_EQ(j["tunnel"]["protocol"], "VXLAN");
  EXPECT_EQ(j["tunnel"]["IP"]["source"], "192.168.77.1");
  EXPECT_EQ(j["tunnel"]["IP"]["destination"], "192.168.77.2");
  EXPECT_EQ(j["tunnel"]["vni"], 256) << "the VNI carries the source identity";

  // Out of the tunnel: the peer is the outer source.
  ev.obs_point = MYELIN_OBS_FROM_OVERLAY;
  ev.direction = MYELIN_DIR_INGRESS;
  j = to_json(d.decode(ev));
  EXPECT_EQ(j["trace_observation_point"], "FROM_OVERLAY");
  EXPECT_EQ(j["tunnel"]["IP"]["source"], "192.168.77.2");
  EXPECT_EQ(j["tunnel"]["IP"]["destination"], "192.168.77.1");

  // The node's own packet into the tunnel goes as remote-node.
  ev.obs_point = MYELIN_OBS_TO_OVERLAY;
  ev.src_identity = MYELIN_IDENTITY_HOST;
  j = to_json(d.decode(ev));
  EXPECT_EQ(j["tunnel"]["vni"], MYELIN_IDENTITY_REMOTE_NODE);

  // Not tunnelled: no tunnel field.
  ev.tunnel_peer = 0;
  j = to_json(d.decode(ev));
  EXPECT_FALSE(j.contains("tunnel")) << j.dump();
}

}  // namespace
}  // namespace myelin::flows
