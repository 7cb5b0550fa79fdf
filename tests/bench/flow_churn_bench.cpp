// SPDX-License-Identifier: Apache-2.0
// Flow decoding while policy changes, measured in one run against baselines.
// The agent's own components, in process: a real Datapath (pinned maps of
// this run), EndpointStore, IdentityAllocator, EndpointManager and
// PolicyManager with ENDPOINTS endpoints in 50 namespaces and POLICIES
// NetworkPolicies (the shape of policy_bench.cpp, one per source file), and
// the decoder exactly as myelind builds it (agent::make_flow_decoder).
// Decoded: a fixed mix of flow events between those endpoints, as the event
// pump would hand them over, timed one decode at a time:
//   60% forwarded to an endpoint under ingress policy, naming the rule id
//       the datapath reported (attribution looks the rule up),
//   30% default-deny drops (attribution lists the policies selecting it),
//   10% egress to the world with no policy id.
// Rows, each ROUNDS times, alternating, median reported:
//   floor:    the decoder with a constant view (no store, no policy lookups);
//   baseline: the agent's decoder, nothing else running;
//   churn:    the agent's decoder while another thread adds, edits and removes
//             one policy in a loop, each change followed by regenerate()
//             (what a source does on every policy event), back to back;
//   paced:    the same, one change every PACE_MS (default 1000 ms), as a
//             cluster where policy changes now and then.
// The ring buffer is left out (flow_pipeline_bench measures it): what policy
// churn can stall is the decode. Root only (loads BPF); not part of the test
// suite (tests never assert on time). Prints tables.
//   flow_churn_bench [ENDPOINTS=1000] [POLICIES=1000] [SECONDS=5] [ROUNDS=3] [PACE_MS=1000]
#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <thread>

#include "bench_policies.hpp"
#include "agent/endpoint_manager.hpp"
#include "agent/flow_view.hpp"
#include "agent/policy_manager.hpp"
#include "metrics/agent_counters.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/ipam/ipam.hpp"
#include "myelin/log.hpp"
#include "myelin/pseudo_fs.hpp"

using namespace myelin;
using Clock = std::chrono::steady_clock;

namespace {

using bench::kApps;
using bench::kNamespaces;
using bench::make_policy;  // the cluster policy_bench computes over

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "flow_churn_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string ns_of(int e) { return "ns-" + std::to_string(e % kNamespaces); }
std::string app_of(int e) { return "app-" + std::to_string(e / kNamespaces % kApps); }
uint32_t ip_of(int e) { return htonl(0x0ac80000u + 10 + static_cast<uint32_t>(e)); }  // 10.200.0.10 + e


struct Stats {
  double flows_per_s = 0, p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  uint64_t over_1ms = 0, decoded = 0, attributed = 0;
};

// Decodes the events round-robin for `seconds`, timing each decode.
Stats decode_for(const flows::FlowDecoder& d, const std::vector<myelin_flow_event>& events, double seconds) {
  std::vector<uint64_t> lat;
  lat.reserve(8u << 20);
  Stats s;
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto now = t0;
  for (size_t i = 0; now < end; ++i) {
    const auto a = Clock::now();
    flow::Flow f = d.decode(events[i % events.size()]);
    now = Clock::now();
    lat.push_back(static_cast<uint64_t>(std::chrono::nanoseconds(now - a).count()));
    s.attributed += f.ingress_allowed_by_size() + f.ingress_denied_by_size() > 0;
  }
  const double elapsed = std::chrono::duration<double>(now - t0).count();
  s.decoded = lat.size();
  s.flows_per_s = lat.size() / elapsed;
  for (uint64_t l : lat) s.over_1ms += l > 1000000;
  std::sort(lat.begin(), lat.end());
  auto q = [&](double p) { return lat[std::min(lat.size() - 1, static_cast<size_t>(p * lat.size()))] / 1000.0; };
  s.p50_us = q(0.50);
  s.p99_us = q(0.99);
  s.p999_us = q(0.999);
  s.max_us = lat.back() / 1000.0;
  return s;
}

Stats median(std::vector<Stats> v) {
  auto pick = [&](auto field) {
    std::vector<double> x;
    for (const auto& s : v) x.push_back(s.*field);
    std::sort(x.begin(), x.end());
    return x[x.size() / 2];
  };
  Stats m;
  m.flows_per_s = pick(&Stats::flows_per_s);
  m.p50_us = pick(&Stats::p50_us);
  m.p99_us = pick(&Stats::p99_us);
  m.p999_us = pick(&Stats::p999_us);
  m.max_us = pick(&Stats::max_us);
  std::vector<uint64_t> o;
  for (const auto& s : v) o.push_back(s.over_1ms);
  std::sort(o.begin(), o.end());
  m.over_1ms = o[o.size() / 2];
  for (const auto& s : v) m.decoded += s.decoded, m.attributed += s.attributed;
  return m;
}

void row(const char* name, const Stats& s, const Stats& base) {
  std::printf("%-40s %11.0f %7.2f %8.1f %8.1f %9.1f %10.1f %9llu %7.2f %7.2f\n", name, s.flows_per_s,
              s.flows_per_s / base.flows_per_s, s.p50_us, s.p99_us, s.p999_us, s.max_us,
              static_cast<unsigned long long>(s.over_1ms), s.p99_us / base.p99_us, s.max_us / base.max_us);
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) die("run as root (loads BPF)");
  const int n_eps = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int n_pols = argc > 2 ? std::atoi(argv[2]) : 1000;
  const double seconds = argc > 3 ? std::atof(argv[3]) : 5;
  const int rounds = argc > 4 ? std::atoi(argv[4]) : 3;
  const int pace_ms = argc > 5 ? std::atoi(argv[5]) : 1000;
  if (n_eps < 2 || n_pols < 1 || seconds <= 0 || rounds < 1 || pace_ms < 1)
    die("usage: flow_churn_bench [ENDPOINTS>=2] [POLICIES>=1] [SECONDS] [ROUNDS] [PACE_MS>=1]");
  log::set_level(log::Level::warn);

  char tmpl[] = "/tmp/mln-churn-bench-XXXXXX";
  if (!mkdtemp(tmpl)) die("mkdtemp");
  const std::string state = tmpl;
  const char* run_id = std::getenv("MLN_ID");  // bench_smoke's run id, to find what a run left
  const std::string pins = "/sys/fs/bpf/myelin/" + (run_id ? std::string(run_id) : "bench-churn-" + std::to_string(getpid()));
  if (auto m = pseudofs::Mounts::ensure(); !m) die(m.error().message);
  if (auto s = datapath::make_pin_dir(pins); !s) die(s.error().message);
  datapath::MapSizes sizes;
  sizes.policy = 1u << 20;  // 1,000 x 1,000 installs more than the default 262,144 keys
  auto dp = datapath::Datapath::load({pins, true, 4096, sizes});
  if (!dp) die("load: " + dp.error().message);
  auto ipam = ipam::Ipam::open(*net::parse_cidr4("10.200.0.0/16"), state + "/ipam.json");
  auto store = endpoints::EndpointStore::open(state + "/endpoints.json");
  auto identities = identity::IdentityAllocator::open(state + "/identities.json");
  if (!ipam || !store || !identities) die("state files in " + state);
  metrics::AgentCounters counters;
  agent::EndpointManager endpoints(**dp, **ipam, **store, **identities, counters);
  objects::ObjectStore objects;  // as the sources fill it
  agent::PolicyManager policies(**dp, endpoints, **store, **identities, counters, objects, false, true);
  auto apply_file = [&objects](const std::string& source, std::vector<objects::Object> o) {
    objects::Decoded d;
    d.objects = std::move(o);
    objects.apply(source, std::move(d));
  };
  endpoints.set_label_source([&](const std::string& ns, const std::string& pod) { return policies.identity_labels(ns, pod); });

  // The cluster: Namespaces and Pods in one file, one file per policy.
  std::vector<objects::Object> cluster;
  for (int n = 0; n < kNamespaces; ++n)
    cluster.push_back(policy::Namespace{"ns-" + std::to_string(n), {{"kubernetes.io/metadata.name", "ns-" + std::to_string(n)},
                                                                    {"team", "t" + std::to_string(n % 5)}}});
  for (int e = 0; e < n_eps; ++e)
    cluster.push_back(policy::Pod{ns_of(e), "pod-" + std::to_string(e), {{"app", app_of(e)}, {"tier", e % 3 ? "backend" : "frontend"}},
                                  {{"http", 8080, 6}, {"metrics", 9090, 6}}, {{"Deployment", app_of(e)}}});
  apply_file("cluster.yaml", std::move(cluster));
  for (int i = 0; i < n_pols; ++i)
    apply_file("p-" + std::to_string(i) + ".yaml", {make_policy(i, static_cast<uint16_t>(80 + i % 20), "p-" + std::to_string(i))});

  // Endpoints as a CNI ADD leaves them (store, identity, endpoint map), without the veths.
  std::vector<api::Endpoint> eps;
  for (int e = 0; e < n_eps; ++e) {
    api::Endpoint ep;
    ep.set_container_id("bench-" + std::to_string(e));
    ep.set_ifname("eth0");
    ep.set_id((*store)->next_id());
    char ip[INET_ADDRSTRLEN];
    const uint32_t addr = ip_of(e);
    inet_ntop(AF_INET, &addr, ip, sizeof ip);
    ep.set_ip(ip);
    ep.set_pod_namespace(ns_of(e));
    ep.set_pod_name("pod-" + std::to_string(e));
    auto labels = policies.identity_labels(ep.pod_namespace(), ep.pod_name());
    auto id = (*identities)->acquire(labels);
    if (!id) die(id.error().message);
    ep.set_identity(*id);
    for (const auto& l : labels) ep.add_labels(l);
    myelin_ep_key k{};
    k.family = MYELIN_FAMILY_IPV4;
    k.addr.w[0] = addr;
    myelin_ep_info v{};
    v.ifindex = 1;
    v.ep_id = ep.id();
    v.identity = *id;
    v.flags = MYELIN_EP_F_READY;
    if (auto s = (*dp)->endpoint_upsert(k, v); !s) die(s.error().message);
    eps.push_back(std::move(ep));
  }
  if (auto s = (*store)->upsert_all(eps); !s) die(s.error().message);
  auto r0 = Clock::now();
  if (auto s = policies.regenerate(); !s) die("first regeneration: " + s.error().message);
  const double first_ms = std::chrono::duration<double, std::milli>(Clock::now() - r0).count();
  // The cost of one change with nothing else running (publication included).
  std::vector<double> quiet_ms;
  for (int i = 0; i < 6; ++i) {
    if (i % 3 == 2)
      objects.remove("churn.yaml");
    else
      apply_file("churn.yaml", {make_policy(0, static_cast<uint16_t>(900 + i), "churn")});
    auto a = Clock::now();
    (void)policies.regenerate();
    quiet_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
  }
  std::sort(quiet_ms.begin(), quiet_ms.end());

  // The events: rule ids as the datapath reports them (from the installed policy).
  std::mt19937 rng(42);
  std::vector<uint32_t> enforced;
  for (const auto& ep : eps)
    if (auto p = policies.endpoint_policy(ep.id()); p && p->ingress_enforced) enforced.push_back(ep.id());
  if (enforced.empty()) die("no endpoint is under ingress policy");
  std::vector<myelin_flow_event> events;
  for (int i = 0; i < 4096; ++i) {
    myelin_flow_event ev{};
    ev.family = MYELIN_FAMILY_IPV4;
    ev.proto = 6;
    ev.sport = htons(static_cast<uint16_t>(30000 + i));
    ev.dport = htons(8080);
    ev.tcp_flags = MYELIN_TCP_SYN;
    ev.ifindex = 1;
    ev.type = MYELIN_EVENT_TRACE;
    ev.trace_reason = MYELIN_TRACE_REASON_NEW;
    const int kind = i % 10;
    const uint32_t dst = enforced[rng() % enforced.size()];
    const auto& src = eps[rng() % eps.size()];
    ev.src_ep = src.id();
    ev.src_identity = src.identity();
    ev.saddr.w[0] = ip_of(static_cast<int>(src.id()) - 1);
    if (kind < 9) {
      const auto dst_ep = *(*store)->get_by_id(dst);
      ev.dst_ep = dst;
      ev.dst_identity = dst_ep.identity();
      ev.daddr.w[0] = ip_of(static_cast<int>(dst) - 1);
      ev.direction = MYELIN_DIR_INGRESS;
    }
    if (kind < 6) {  // forwarded by a rule
      ev.verdict = MYELIN_VERDICT_FORWARDED;
      auto p = policies.endpoint_policy(dst);
      std::vector<uint32_t> rules;
      for (const auto& en : p->entries)
        if (en.dir == MYELIN_DIR_INGRESS && en.policy) rules.push_back(en.policy);
      ev.ingress_policy_id = rules.empty() ? 0 : rules[rng() % rules.size()];
    } else if (kind < 9) {  // default deny
      ev.type = MYELIN_EVENT_DROP;
      ev.verdict = MYELIN_VERDICT_DROPPED;
      ev.drop_reason = MYELIN_DROP_POLICY_DENIED;
    } else {  // to the world, no policy
      ev.verdict = MYELIN_VERDICT_FORWARDED;
      ev.direction = MYELIN_DIR_EGRESS;
      ev.dst_identity = MYELIN_IDENTITY_WORLD;
      ev.daddr.w[0] = htonl(0x08080808);
    }
    events.push_back(ev);
  }

  std::map<uint32_t, flows::EndpointView> constant;
  for (const auto& ep : eps) constant[ep.id()] = {ep.id(), 256, "ns", "pod", {"k8s:app=x"}, {{"Deployment", "x"}}};
  const auto floor_decoder = flows::FlowDecoder(
      "bench", flows::FlowDecoder::fixed(std::make_shared<flows::StaticView>(std::move(constant))),
      [](uint32_t) { return std::string("lxc0"); });
  const auto agent_decoder = agent::make_flow_decoder("bench", policies);

  // The churn: one policy (selecting app-0 of ns-0) added, edited, removed, each change regenerated.
  std::atomic<bool> churning{false}, paced{false}, stop{false};
  std::atomic<uint64_t> regenerations{0};
  std::vector<double> regen_ms;
  std::thread churn([&] {
    uint16_t port = 1000;
    for (int step = 0; !stop; ++step) {
      if (!churning) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (step % 3 == 2)
        objects.remove("churn.yaml");
      else
        apply_file("churn.yaml", {make_policy(0, port++, "churn")});
      auto a = Clock::now();
      (void)policies.regenerate();
      regen_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - a).count());
      ++regenerations;
      if (paced) std::this_thread::sleep_until(a + std::chrono::milliseconds(pace_ms));
    }
  });

  std::vector<Stats> floor, base, churned, paced_rows;
  for (int r = 0; r < rounds; ++r) {
    floor.push_back(decode_for(floor_decoder, events, seconds));
    base.push_back(decode_for(agent_decoder, events, seconds));
    churning = true;
    while (regenerations == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // churn under way
    churned.push_back(decode_for(agent_decoder, events, seconds));
    paced = true;
    paced_rows.push_back(decode_for(agent_decoder, events, seconds));
    churning = false;
    paced = false;
    std::fprintf(stderr,
                 "  round %d: floor %.0f/s, baseline %.0f/s, churn %.0f/s (p99 %.1f us, max %.1f us), paced %.0f/s (max %.1f us)\n",
                 r + 1, floor.back().flows_per_s, base.back().flows_per_s, churned.back().flows_per_s, churned.back().p99_us,
                 churned.back().max_us, paced_rows.back().flows_per_s, paced_rows.back().max_us);
  }
  stop = true;
  churn.join();

  std::sort(regen_ms.begin(), regen_ms.end());
  const Stats f = median(floor), b = median(base), c = median(churned), p = median(paced_rows);
  std::printf("\nFlow decoding under policy churn: %d endpoints, %d policies (%llu policy entries installed), "
              "%zu events in the mix, %.0f s per row, median of %d rounds, %ld CPUs\n",
              n_eps, n_pols, static_cast<unsigned long long>(policies.installed_entries()), events.size(), seconds, rounds,
              sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("first regeneration %.0f ms; one change, nothing else running: %.1f ms median of %zu (%.1f-%.1f)\n", first_ms,
              quiet_ms[quiet_ms.size() / 2], quiet_ms.size(), quiet_ms.front(), quiet_ms.back());
  std::printf("churn and paced rows: %zu regenerations, %.1f ms median, %.1f ms max (sharing the CPUs with the decoder)\n",
              regen_ms.size(),
              regen_ms.empty() ? 0 : regen_ms[regen_ms.size() / 2], regen_ms.empty() ? 0 : regen_ms.back());
  std::printf("%-40s %11s %7s %8s %8s %9s %10s %9s %7s %7s\n", "run", "flows/s", "ratio", "p50 us", "p99 us", "p99.9 us",
              "max us", ">1 ms", "p99 x", "max x");
  row("floor: constant view, no lookups", f, b);
  row("baseline: agent decoder, no churn", b, b);
  row("agent decoder under policy churn", c, b);
  row(("same, one change every " + std::to_string(pace_ms) + " ms").c_str(), p, b);
  std::printf("(ratios against the baseline row; attributed flows: baseline %llu of %llu, churn %llu of %llu, paced %llu of %llu)\n",
              static_cast<unsigned long long>(b.attributed), static_cast<unsigned long long>(b.decoded),
              static_cast<unsigned long long>(c.attributed), static_cast<unsigned long long>(c.decoded),
              static_cast<unsigned long long>(p.attributed), static_cast<unsigned long long>(p.decoded));

  dp->reset();
  (void)datapath::Datapath::unpin_all(pins);
  std::filesystem::remove_all(state);
  return 0;
}
