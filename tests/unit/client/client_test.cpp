// SPDX-License-Identifier: Apache-2.0
// The two clients' pure parts: `myelin observe` flags -> ObserveRequest and
// the output formats; the CNI plugin's input validation and error codes.
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cni_config.hpp"
#include "format.hpp"
#include "observe_request.hpp"

namespace myelin {
namespace {

using google::protobuf::util::TimeUtil;
const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));

Result<api::ObserveRequest> obs(std::vector<std::string> args) { return cli::build_observe_request(args, kNow); }

TEST(ObserveRequest, Counts) {
  EXPECT_EQ(obs({"--last", "5"})->number(), 5u);
  EXPECT_FALSE(obs({"--last", "5"})->first());
  EXPECT_TRUE(obs({"--first=3"})->first());
  EXPECT_TRUE(obs({"--all"})->all());
  EXPECT_TRUE(obs({"-f"})->follow());
  EXPECT_FALSE(obs({"--last", "0"}));
  EXPECT_FALSE(obs({"--last"}));
}

TEST(ObserveRequest, SinceRelativeAndAbsolute) {
  auto r = obs({"--since", "5m", "--until", "2027-01-15T10:00:00Z"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->since().seconds(), 1'800'000'000 - 300);
  EXPECT_EQ(TimeUtil::ToString(r->until()), "2027-01-15T10:00:00Z");
  EXPECT_FALSE(obs({"--since", "yesterday"}));
}

TEST(ObserveRequest, PodSplitsIntoSourceOrDestination) {
  auto r = obs({"--pod", "shop/web", "--verdict", "DROPPED"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->whitelist_size(), 2);
  EXPECT_EQ(r->whitelist(0).source_pod(0), "shop/web");
  EXPECT_EQ(r->whitelist(1).destination_pod(0), "shop/web");
  EXPECT_EQ(r->whitelist(0).verdict(0), flow::DROPPED) << "other flags apply to both alternatives";
  EXPECT_EQ(r->whitelist(1).verdict(0), flow::DROPPED);
}

TEST(ObserveRequest, FromToAndNot) {
  auto r = obs({"--from-pod", "a", "--to-port", "80", "--to-port", "443", "--not", "--verdict", "FORWARDED",
                "--protocol", "tcp", "--namespace", "kube-system", "--type", "drop", "--tcp-flags", "SYN,ACK"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->whitelist_size(), 2);  // --namespace splits
  const auto& w = r->whitelist(0);
  EXPECT_EQ(w.source_pod(0), "a");
  EXPECT_EQ(w.destination_port_size(), 2) << "repeated flag ORs within one field";
  EXPECT_EQ(w.protocol(0), "tcp");
  EXPECT_EQ(w.event_type(0).type(), 1);
  EXPECT_TRUE(w.tcp_flags(0).syn() && w.tcp_flags(0).ack());
  EXPECT_EQ(r->whitelist(0).source_pod(1), "kube-system/");
  EXPECT_EQ(r->whitelist(1).destination_pod(0), "kube-system/");
  ASSERT_EQ(r->blacklist_size(), 1);
  EXPECT_EQ(r->blacklist(0).verdict(0), flow::FORWARDED);
}

// Hubble's --to-service/--from-service/--service: FlowFilter's
// destination_service/source_service, as --to-pod/--from-pod/--pod.
TEST(ObserveRequest, ServiceFlags) {
  auto r = obs({"--to-service", "kube-system/kube-dns", "--protocol", "udp"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->whitelist_size(), 1);
  ASSERT_EQ(r->whitelist(0).destination_service_size(), 1);
  EXPECT_EQ(r->whitelist(0).destination_service(0), "kube-system/kube-dns");
  EXPECT_EQ(r->whitelist(0).source_service_size(), 0);
  r = obs({"--from-service", "web", "--from-service=shop/"});
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->whitelist_size(), 1);
  ASSERT_EQ(r->whitelist(0).source_service_size(), 2);
  EXPECT_EQ(r->whitelist(0).source_service(1), "shop/");
  r = obs({"--service", "shop/web"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->whitelist_size(), 2) << "either side: two alternatives";
  EXPECT_EQ(r->whitelist(0).source_service(0), "shop/web");
  EXPECT_EQ(r->whitelist(1).destination_service(0), "shop/web");
  EXPECT_EQ(r->whitelist(0).destination_service_size(), 0);
  r = obs({"--not", "--to-service", "kube-system/"});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->blacklist_size(), 1);
  EXPECT_EQ(r->blacklist(0).destination_service(0), "kube-system/");
  for (const char* bad : {"", "/web", "a/b/c"}) {
    auto e = obs({"--to-service", bad});
    EXPECT_FALSE(e) << bad;
    if (!e) {
      EXPECT_NE(e.error().message.find("--to-service"), std::string::npos) << e.error().message;
    }
  }
}

TEST(ObserveRequest, BadValuesAreClearErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{{"--port", "70000"}, {"--verdict", "NOPE"},
                                                              {"--ip", "1.2.3"}, {"--protocol", "foo"},
                                                              {"--tcp-flags", "BAD"}, {"--bogus"}, {"--not"},
                                                              {"--traffic-direction", "up"}, {"--identity", "x"},
                                                              // std::stoi/stoll threw on these; the time overflowed
                                                              {"--ip", "10.0.0.0/99999999999"}, {"--since", "99999999999999999999s"},
                                                              {"--since", "200000000000d"}}) {
    auto r = obs(args);
    EXPECT_FALSE(r) << args[0];
    if (!r) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

flow::GetFlowsResponse sample(bool reply, bool drop) {
  flow::GetFlowsResponse r;
  auto* f = r.mutable_flow();
  f->mutable_ip()->set_source(reply ? "10.0.0.2" : "10.0.0.1");
  f->mutable_ip()->set_destination(reply ? "10.0.0.1" : "10.0.0.2");
  f->mutable_l4()->mutable_tcp()->set_source_port(reply ? 80 : 40000);
  f->mutable_l4()->mutable_tcp()->set_destination_port(reply ? 40000 : 80);
  f->mutable_source()->set_namespace_("ns");
  f->mutable_source()->set_pod_name(reply ? "b" : "a");
  f->mutable_source()->set_identity(256);
  f->mutable_destination()->set_namespace_("ns");
  f->mutable_destination()->set_pod_name(reply ? "a" : "b");
  f->mutable_destination()->set_identity(257);
  f->mutable_is_reply()->set_value(reply);
  f->set_verdict(drop ? flow::DROPPED : flow::FORWARDED);
  if (drop) f->set_drop_reason_desc(flow::INVALID_SOURCE_IP);
  f->set_trace_observation_point(flow::TO_ENDPOINT);
  f->set_summary("TCP Flags: SYN");
  r.set_node_name("n1");
  return r;
}

TEST(Format, JsonIsHubbleShaped) {
  auto j = nlohmann::json::parse(cli::to_json(sample(false, false)));
  EXPECT_EQ(j["flow"]["verdict"], "FORWARDED");
  EXPECT_EQ(j["flow"]["IP"]["source"], "10.0.0.1");
  EXPECT_EQ(j["flow"]["l4"]["TCP"]["destination_port"], 80);
  EXPECT_EQ(j["flow"]["source"]["pod_name"], "a");
  EXPECT_EQ(j["node_name"], "n1");
  EXPECT_EQ(cli::to_json(sample(false, false)).find('\n'), std::string::npos) << "one line per flow";
}

TEST(Format, CompactRequestReplyDrop) {
  std::string req = cli::flow_compact(sample(false, false));
  EXPECT_NE(req.find("ns/a:40000 (ID:256) -> ns/b:80 (ID:257) to-endpoint FORWARDED"), std::string::npos) << req;
  std::string rep = cli::flow_compact(sample(true, false));
  EXPECT_NE(rep.find("ns/a:40000 (ID:257) <- ns/b:80 (ID:256)"), std::string::npos) << "client stays left: " << rep;
  std::string drop = cli::flow_compact(sample(false, true));
  EXPECT_NE(drop.find("DROPPED"), std::string::npos);
  EXPECT_NE(drop.find("INVALID_SOURCE_IP"), std::string::npos);
  flow::GetFlowsResponse lost;
  lost.mutable_lost_events()->set_num_events_lost(9);
  EXPECT_NE(cli::flow_compact(lost).find("EVENTS LOST"), std::string::npos);
}

TEST(Format, ServicesAsHubblePrintsThem) {
  // A pod is named by its pod; an address without one by the Service it was
  // translated for; the dict output says both.
  auto r = sample(false, false);
  auto* f = r.mutable_flow();
  f->mutable_destination_service()->set_namespace_("ns");
  f->mutable_destination_service()->set_name("web");
  EXPECT_NE(cli::flow_compact(r).find("-> ns/b:80"), std::string::npos) << cli::flow_compact(r);
  f->mutable_destination()->clear_pod_name();
  EXPECT_NE(cli::flow_compact(r).find("-> ns/web:80 (ID:257)"), std::string::npos) << cli::flow_compact(r);
  std::string dict = cli::flow_dict(r);
  EXPECT_NE(dict.find("      DEST SERVICE: ns/web\n"), std::string::npos) << dict;
  EXPECT_EQ(dict.find("SOURCE SERVICE"), std::string::npos) << dict;
  EXPECT_EQ(nlohmann::json::parse(cli::to_json(r))["flow"]["destination_service"]["name"], "web");
}

TEST(Format, TraceToAServiceListsEachBackend) {
  api::PolicyTraceResponse t;
  t.set_verdict("MIXED");
  t.set_service("shop/web");
  t.set_frontend("ClusterIP 10.96.0.10:80/tcp");
  t.set_note("the verdict depends on the backend a connection is given");
  auto* b = t.add_backends();
  b->set_address("10.0.0.2:8080");
  b->set_pod("shop/web-1");
  b->set_state("active");
  b->set_verdict("ALLOWED");
  b->set_egress("egress of shop/client: allowed (no policy selects it in this direction)");
  b->set_ingress("ingress of shop/web-1: allowed by ...");
  b = t.add_backends();
  b->set_address("10.0.0.3:8080");
  b->set_state("terminating");
  b->set_verdict("SKIPPED");
  std::string out = cli::trace_text(t);
  EXPECT_EQ(out.rfind("Service: shop/web via ClusterIP 10.96.0.10:80/tcp\nVerdict: MIXED\n", 0), 0u) << out;
  EXPECT_NE(out.find("10.0.0.2:8080  shop/web-1  active       ALLOWED"), std::string::npos) << out;
  EXPECT_NE(out.find("10.0.0.3:8080  -           terminating  SKIPPED"), std::string::npos) << out;
  EXPECT_NE(out.find("  ingress of shop/web-1: allowed by ..."), std::string::npos) << out;
  api::PolicyTraceResponse pod;
  pod.set_verdict("ALLOWED");
  pod.set_egress("e");
  pod.set_ingress("i");
  EXPECT_EQ(cli::trace_text(pod), "Verdict: ALLOWED\n  e\n  i\n") << "pod-to-pod output unchanged";
}

TEST(Format, TableAlignsColumns) {
  std::string t = cli::render_table({{"ID", "NAME"}, {"1234", "x"}});
  EXPECT_EQ(t, "ID    NAME\n1234  x\n");
}

// ---- CNI ----
using cni::Env;
using cni::Invocation;

const std::string kConf = R"({"cniVersion":"1.1.0","name":"myelin","type":"myelin-cni","socket":"/run/m.sock"})";

std::optional<cni::CniError> parse(Env env, const std::string& conf = kConf) {
  Invocation inv;
  return cni::parse_invocation(env, conf, inv);
}
Env add_env() { return {{"CNI_COMMAND", "ADD"}, {"CNI_CONTAINERID", "c1"}, {"CNI_NETNS", "/run/netns/x"}, {"CNI_IFNAME", "eth0"}}; }

TEST(CniConfig, ValidAddParsesArgsAndMtu) {
  Invocation inv;
  Env env = add_env();
  env["CNI_ARGS"] = "K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web;IgnoreUnknown=1";
  ASSERT_FALSE(cni::parse_invocation(env, R"({"cniVersion":"1.0.0","name":"m","socket":"/s","mtu":9000})", inv));
  EXPECT_EQ(inv.args["K8S_POD_NAME"], "web");
  EXPECT_EQ(inv.conf.mtu, 9000u);
  EXPECT_EQ(inv.conf.cni_version, "1.0.0");
}

TEST(CniConfig, ErrorCodesPerSpec) {
  auto code = [](std::optional<cni::CniError> e) { return e ? e->code : 0; };
  EXPECT_EQ(code(parse({})), 4);
  EXPECT_EQ(code(parse({{"CNI_COMMAND", "FROB"}})), 4);
  for (const char* var : {"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"}) {
    Env e = add_env();
    e.erase(var);
    auto err = parse(e);
    ASSERT_TRUE(err) << var;
    EXPECT_EQ(err->code, 4);
    EXPECT_NE(err->msg.find(var), std::string::npos) << "names the variable";
  }
  Env del = add_env();
  del["CNI_COMMAND"] = "DEL";
  del.erase("CNI_NETNS");
  EXPECT_FALSE(parse(del)) << "DEL works without a netns";
  EXPECT_EQ(code(parse(add_env(), "{nope")), 6);
  EXPECT_EQ(code(parse(add_env(), R"({"cniVersion":"0.2.0","name":"m","socket":"/s"})")), 1);
  EXPECT_EQ(code(parse(add_env(), R"({"cniVersion":"1.1.0","name":"m"})")), 7);
  EXPECT_EQ(code(parse(add_env(), R"({"cniVersion":"1.1.0","socket":"/s"})")), 7);
  EXPECT_EQ(code(parse(add_env(), R"({"cniVersion":"1.1.0","name":"m","socket":"/s","mtu":10})")), 7);
  Env chk = add_env();
  chk["CNI_COMMAND"] = "CHECK";
  EXPECT_EQ(code(parse(chk)), 7) << "CHECK needs prevResult";
  Env args = add_env();
  args["CNI_ARGS"] = "novalue";
  EXPECT_EQ(code(parse(args)), 4);
  Env ifn = add_env();
  ifn["CNI_IFNAME"] = "a/very/bad/name";
  EXPECT_EQ(code(parse(ifn)), 4);
}

TEST(CniConfig, VersionGcAndErrorShape) {
  EXPECT_FALSE(parse({{"CNI_COMMAND", "VERSION"}}, "")) << "VERSION needs no stdin";
  auto v = nlohmann::json::parse(cni::version_json());
  EXPECT_EQ(v["supportedVersions"], nlohmann::json({"0.3.1", "0.4.0", "1.0.0", "1.1.0"}));
  Invocation inv;
  ASSERT_FALSE(cni::parse_invocation(
      {{"CNI_COMMAND", "GC"}},
      R"({"cniVersion":"1.1.0","name":"m","socket":"/s","cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]})",
      inv));
  ASSERT_EQ(inv.conf.valid_attachments.size(), 1u);
  EXPECT_EQ(inv.conf.valid_attachments[0].first, "a");
  auto e = nlohmann::json::parse(cni::error_json({7, "bad", "why"}, "1.0.0"));
  EXPECT_EQ(e["cniVersion"], "1.0.0");
  EXPECT_EQ(e["code"], 7);
  EXPECT_EQ(e["msg"], "bad");
  EXPECT_EQ(e["details"], "why");
}

// Found by tests/fuzz: json::dump threw on them and the plugin aborted without printing an error.
TEST(CniConfig, ErrorsAreJsonWhateverTheInputBytes) {
  Invocation inv;
  auto bad_json = cni::parse_invocation({{"CNI_COMMAND", "ADD"}}, "{\"cniVersion\": \"1.1.0\", \"socket\": \"/s\x9d\"}", inv);
  ASSERT_TRUE(bad_json);
  EXPECT_TRUE(nlohmann::json::accept(cni::error_json(*bad_json, "1.1.0"))) << cni::error_json(*bad_json, "1.1.0");
  Env env = add_env();
  env["CNI_ARGS"] = "\xff";
  auto bad_args = parse(env);
  ASSERT_TRUE(bad_args);
  auto e = nlohmann::json::parse(cni::error_json(*bad_args, "1.1.0"));
  EXPECT_EQ(e["code"], 4);
  EXPECT_NE(e["details"].get<std::string>().find("\xef\xbf\xbd"), std::string::npos) << "the bad byte prints as U+FFFD";
}

// Found by tests/fuzz: a number beyond a double is json::out_of_range, not a parse_error, and ended the plugin.
TEST(CniConfig, NumberOverflowIsADecodeFailure) {
  Invocation inv;
  auto e = cni::parse_invocation({{"CNI_COMMAND", "STATUS"}}, R"({"cniVersion":"1.0.0","name":"m","socket":"/s","mtu":1E400})", inv);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, cni::kDecodeFailure);
}

// Found by review, confirmed by the fuzz target: a prevResult nested 200,000 deep overflowed the plugin's stack.
TEST(CniConfig, DeepNestingIsADecodeFailure) {
  Invocation inv;
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  auto e = cni::parse_invocation({{"CNI_COMMAND", "STATUS"}}, R"({"cniVersion":"1.0.0","name":"m","socket":"/s","prevResult":)" + deep + "}", inv);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, cni::kDecodeFailure);
  EXPECT_FALSE(cni::parse_invocation({{"CNI_COMMAND", "STATUS"}}, R"({"cniVersion":"1.0.0","name":"m","socket":"/s","prevResult":[[[{"a":[1]}]]]})", inv));
}

// Read as an unsigned int, an MTU of 2^32 + 68 was 68 (a fuzz invariant states it now).
TEST(CniConfig, MtuIsComparedAsWritten) {
  Invocation inv;
  auto e = cni::parse_invocation({{"CNI_COMMAND", "STATUS"}}, R"({"cniVersion":"1.0.0","name":"m","socket":"/s","mtu":4294967364})", inv);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, cni::kInvalidConfig);
}

TEST(CniConfig, HostInterfaceNames) {
  std::string a = cni::host_ifname("container-1", "eth0");
  EXPECT_EQ(a, cni::host_ifname("container-1", "eth0")) << "stable";
  EXPECT_EQ(a.rfind("lxc", 0), 0u);
  EXPECT_LE(a.size(), 15u);
  EXPECT_NE(a, cni::host_ifname("container-1", "net1"));
}

}  // namespace
}  // namespace myelin
