// SPDX-License-Identifier: Apache-2.0
// The control plane at scale, against a real etcd: lightweight simulated
// agents that write and watch what real ones write (the key layout of
// daemon/kvstore/include/myelin/kvstore/etcd.hpp), over etcd's own gRPC API
// (api/etcd), node and endpoint records encoded by the agents' own codec
// (kvstore/records.hpp). One phase per run, so the driver script (cluster_scale_bench.sh)
// can measure etcd and a real myelind between them:
//   load     NODES nodes (a lease each, nodes/<node>) and PODS pods: for each
//            pod its identity (CAS on identities/id/<id>), this node's
//            reference (identities/ref/<id>/<node>) and endpoints/<ip>, all
//            under the node's lease; prints keys and bytes per pod.
//   probe    WATCHERS simulated nodes, each its own watch stream on
//            endpoints/ and identities/id/ (what an agent watches, from the
//            revision it listed at), then PROBES new pods with new label sets
//            one after another: the time from the first write until every
//            watcher has seen both the pod's identity and its address.
//            Also one agent's start-up list of endpoints/ (time, bytes).
//   contend  ALLOCATORS simulated nodes (a connection and lease each) allocate
//            the same SETS label sets at once, each in its own order: the
//            number of identities made must be exactly SETS, with one number
//            per label set on every allocator.
//   contend-real  the same race through the agents' own allocator
//            (kvstore::EtcdIdentities, a client, session and watcher each).
// Identities are allocated as the etcd layout implies (no lock, no master key):
// the id is probed from a hash of the labels (the same labels probe the same
// ids, so racing allocators meet on one number) with a CAS create; an existing
// id with the same labels is reused, one with other labels moves the probe on.
// Leases are long (--lease-ttl, default 3600 s) so that the load outlives its
// process for the later phases; the driver stops etcd at the end.
//   cluster_scale_sim load|probe|contend --endpoint http://127.0.0.1:2379 [options]
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "etcdserverpb/rpc.grpc.pb.h"
#include "myelin/cluster/cluster_state.hpp"
#include "myelin/kvstore/etcd.hpp"
#include "myelin/kvstore/identities.hpp"
#include "myelin/kvstore/records.hpp"
#include "myelin/net.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using etcdserverpb::KV;
using etcdserverpb::Lease;
using etcdserverpb::Watch;

struct Options {
  std::string phase, endpoint = "http://127.0.0.1:2379", cluster = "scale";
  int nodes = 1000, pods = 50000, pods_per_set = 10, threads = 32;
  int watchers = 1000, probes = 20, channels = 0;
  int allocators = 100, sets = 1000;
  int lease_ttl = 3600;
  double probe_timeout = 30;
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "cluster_scale_sim: %s\n", why.c_str());
  std::exit(1);
}

std::string prefix(const Options& o) { return "myelin/v1/" + o.cluster + "/"; }
std::string range_end(std::string p) {  // the first key after every key that starts with p
  for (auto i = p.size(); i-- > 0;) {
    if (static_cast<unsigned char>(p[i]) != 0xff) {
      p[i] = static_cast<char>(p[i] + 1);
      p.resize(i + 1);
      return p;
    }
  }
  return std::string(1, '\0');
}
double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::shared_ptr<grpc::Channel> channel(const Options& o, int salt) {
  std::string target = o.endpoint;
  if (target.rfind("http://", 0) == 0) target = target.substr(7);
  grpc::ChannelArguments args;
  args.SetInt("myelin.sim.channel", salt);  // distinct arguments: a connection of its own, as each agent has
  args.SetMaxReceiveMessageSize(-1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}
std::unique_ptr<grpc::ClientContext> ctx(double timeout_s = 30) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));
  return c;
}
void check(const grpc::Status& s, const char* what) {
  if (!s.ok()) die(std::string(what) + ": " + s.error_message());
}

// ---- what an agent writes ----------------------------------------------------
std::string node_name(int n) { return "sim-node-" + std::to_string(n); }
std::string node_ip(int n) { return "172.16." + std::to_string(n >> 8) + "." + std::to_string(n & 255); }
std::string pod_cidr(int n) { return "10." + std::to_string(64 + (n >> 8)) + "." + std::to_string(n & 255) + ".0/24"; }
std::string pod_ip(int n, int k) {  // k-th pod of node n (k < 250)
  return "10." + std::to_string(64 + (n >> 8)) + "." + std::to_string(n & 255) + "." + std::to_string(k + 2);
}
// The records as the agents encode them (kvstore/records.hpp: one codec for writer, reader and this).
std::string node_json(int n) {
  myelin::cluster::Node node;
  node.name = node_name(n);
  node.ip = *myelin::net::parse_ipv4(node_ip(n));
  node.pod_cidrs.push_back(*myelin::net::parse_cidr4(pod_cidr(n)));
  return myelin::kvstore::encode_node(node);
}
// A label set: namespace and app, as a Deployment's pods carry them.
std::vector<std::string> labels(const std::string& tag, int set) {
  std::vector<std::string> l{"k8s:app=app-" + std::to_string(set), "k8s:io.kubernetes.pod.namespace=" + tag + "-ns-" + std::to_string(set % 200),
                             "k8s:io.cilium.k8s.policy.serviceaccount=default"};
  std::sort(l.begin(), l.end());  // sorted, as EtcdIdentities writes them
  return l;
}
std::string labels_json(const std::vector<std::string>& l) {
  std::string s = "{\"labels\":[";
  for (size_t i = 0; i < l.size(); ++i) s += (i ? ",\"" : "\"") + l[i] + "\"";
  return s + "]}";
}
std::string endpoint_json(const std::string& ip, uint32_t id, int node, int set, int pod) {
  myelin::cluster::RemoteEndpoint e;
  e.ip = *myelin::net::parse_ipv4(ip);
  e.identity = id;
  e.node = node_name(node);
  e.ns = "ns-" + std::to_string(set % 200);
  e.pod = "app-" + std::to_string(set) + "-" + std::to_string(pod);
  e.named_ports.push_back({"http", 8080, 6});
  return myelin::kvstore::encode_endpoint(e);
}

// ---- the simulated agent's calls -----------------------------------------------
struct Conn {
  std::unique_ptr<KV::Stub> kv;
  std::unique_ptr<Lease::Stub> lease;
  explicit Conn(const std::shared_ptr<grpc::Channel>& ch) : kv(KV::NewStub(ch)), lease(Lease::NewStub(ch)) {}
};
int64_t grant(Conn& c, int ttl) {
  etcdserverpb::LeaseGrantRequest rq;
  etcdserverpb::LeaseGrantResponse rs;
  rq.set_ttl(ttl);
  check(c.lease->LeaseGrant(ctx().get(), rq, &rs), "LeaseGrant");
  if (!rs.error().empty()) die("LeaseGrant: " + rs.error());
  return rs.id();
}
void put(Conn& c, const std::string& k, const std::string& v, int64_t lease) {
  etcdserverpb::PutRequest rq;
  etcdserverpb::PutResponse rs;
  rq.set_key(k);
  rq.set_value(v);
  rq.set_lease(lease);
  check(c.kv->Put(ctx().get(), rq, &rs), "Put");
}
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}
constexpr uint32_t kFirstId = 256, kIdSpace = (1u << 24) - 256;  // cluster identities stay below 2^24 (the VNI)
struct AllocStats { std::atomic<uint64_t> created{0}, reused{0}, collisions{0}; };
// The id of this label set: create identities/id/<id> if absent, else reuse it
// when it holds the same labels, else probe the next id.
uint32_t allocate(Conn& c, const Options& o, const std::vector<std::string>& l, AllocStats& st) {
  std::string joined;
  for (auto& x : l) joined += x + ";";
  const std::string value = labels_json(l);
  uint64_t h = fnv1a(joined);
  for (int probe = 0; probe < 64; ++probe) {
    uint32_t id = kFirstId + static_cast<uint32_t>((h + static_cast<uint64_t>(probe)) % kIdSpace);
    std::string key = prefix(o) + "identities/id/" + std::to_string(id);
    etcdserverpb::TxnRequest rq;
    etcdserverpb::TxnResponse rs;
    auto* cmp = rq.add_compare();
    cmp->set_key(key);
    cmp->set_target(etcdserverpb::Compare::CREATE);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_create_revision(0);
    auto* p = rq.add_success()->mutable_request_put();
    p->set_key(key);
    p->set_value(value);
    rq.add_failure()->mutable_request_range()->set_key(key);
    check(c.kv->Txn(ctx().get(), rq, &rs), "Txn");
    if (rs.succeeded()) {
      st.created++;
      return id;
    }
    const auto& kvs = rs.responses(0).response_range().kvs();
    if (!kvs.empty() && kvs[0].value() == value) {
      st.reused++;
      return id;
    }
    st.collisions++;
  }
  die("no free identity after 64 probes");
}
void ref(Conn& c, const Options& o, uint32_t id, int node, int64_t lease) {
  put(c, prefix(o) + "identities/ref/" + std::to_string(id) + "/" + node_name(node), "", lease);
}

struct Counted { int64_t keys = 0, bytes = 0, key_bytes = 0, revision = 0; };
Counted count(Conn& c, const std::string& p) {
  etcdserverpb::RangeRequest rq;
  etcdserverpb::RangeResponse rs;
  rq.set_key(p);
  rq.set_range_end(range_end(p));
  check(c.kv->Range(ctx(120).get(), rq, &rs), "Range");
  Counted n;
  n.keys = rs.count();
  n.revision = rs.header().revision();
  for (auto& kv : rs.kvs()) {
    n.key_bytes += static_cast<int64_t>(kv.key().size());
    n.bytes += static_cast<int64_t>(kv.key().size() + kv.value().size());
  }
  return n;
}

// Runs fn(i) for i in [0, n) on `threads` threads.
template <class F>
void parallel(int n, int threads, F fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i; (i = next++) < n;) fn(t, i);
    });
  for (auto& t : ts) t.join();
}

// ---- load ------------------------------------------------------------------------
int load(const Options& o) {
  const int per_node = (o.pods + o.nodes - 1) / o.nodes;
  if (per_node > 250) die("more than 250 pods per node (one /24 each)");
  std::vector<std::unique_ptr<Conn>> conns;
  for (int t = 0; t < o.threads; ++t) conns.push_back(std::make_unique<Conn>(channel(o, t)));
  std::vector<int64_t> leases(static_cast<size_t>(o.nodes));
  AllocStats st;
  auto t0 = Clock::now();
  parallel(o.nodes, o.threads, [&](int t, int n) {
    leases[static_cast<size_t>(n)] = grant(*conns[static_cast<size_t>(t)], o.lease_ttl);
    put(*conns[static_cast<size_t>(t)], prefix(o) + "nodes/" + node_name(n), node_json(n), leases[static_cast<size_t>(n)]);
  });
  auto t1 = Clock::now();
  // Pod i: node i % nodes (its k-th), label set i / pods_per_set: a set's pods on different nodes.
  std::vector<std::mutex> ref_mu(64);
  std::vector<std::map<uint32_t, bool>> refs(static_cast<size_t>(o.nodes));
  std::atomic<int64_t> writes{0};
  std::atomic<int> done{0};
  parallel(o.pods, o.threads, [&](int t, int i) {
    Conn& c = *conns[static_cast<size_t>(t)];
    int n = i % o.nodes, k = i / o.nodes, set = i / o.pods_per_set;
    uint32_t id = allocate(c, o, labels("load", set), st);
    bool first;
    {
      std::lock_guard g(ref_mu[static_cast<size_t>(n) % ref_mu.size()]);
      first = refs[static_cast<size_t>(n)].emplace(id, true).second;
    }
    if (first) ref(c, o, id, n, leases[static_cast<size_t>(n)]), writes++;
    std::string ip = pod_ip(n, k);
    put(c, prefix(o) + "endpoints/" + ip, endpoint_json(ip, id, n, set, i), leases[static_cast<size_t>(n)]);
    writes += 2;
    if (int d = ++done; d % 5000 == 0) std::fprintf(stderr, "  %d/%d pods, %.1f s\n", d, o.pods, secs(Clock::now() - t1));
  });
  auto t2 = Clock::now();
  Conn& c = *conns[0];
  Counted all = count(c, prefix(o)), ep = count(c, prefix(o) + "endpoints/"), ids = count(c, prefix(o) + "identities/id/"),
          rf = count(c, prefix(o) + "identities/ref/"), nd = count(c, prefix(o) + "nodes/");
  std::printf("\nLoad: %d nodes, %d pods (%d per node), %d pods per label set, %d writer threads\n", o.nodes, o.pods, per_node,
              o.pods_per_set, o.threads);
  std::printf("%-44s %12.2f\n", "nodes (lease + record), s", secs(t1 - t0));
  std::printf("%-44s %12.2f\n", "pods (identity + ref + endpoint), s", secs(t2 - t1));
  std::printf("%-44s %12.0f\n", "  writes per second (txn/put)", static_cast<double>(writes.load()) / secs(t2 - t1));
  std::printf("%-44s %12" PRIu64 " created, %" PRIu64 " reused, %" PRIu64 " collisions\n", "  identities", st.created.load(),
              st.reused.load(), st.collisions.load());
  std::printf("\n%-28s %10s %14s %14s %14s\n", "etcd keys", "keys", "bytes (k+v)", "bytes/key", "bytes per pod");
  auto row = [&](const char* what, const Counted& x) {
    std::printf("%-28s %10" PRId64 " %14" PRId64 " %14.1f %14.1f\n", what, x.keys, x.bytes,
                x.keys ? static_cast<double>(x.bytes) / static_cast<double>(x.keys) : 0.0,
                static_cast<double>(x.bytes) / o.pods);
  };
  row("nodes/", nd);
  row("endpoints/", ep);
  row("identities/id/", ids);
  row("identities/ref/", rf);
  row("all", all);
  std::printf("%-44s %12.3f\n", "keys per pod", static_cast<double>(all.keys) / o.pods);
  std::printf("%-44s %12" PRId64 "\n", "store revision after the load", all.revision);
  return 0;
}

// ---- probe -------------------------------------------------------------------------
struct Probe { std::string ip, id_key; };
struct Seen {  // per watcher and probe: when the address and the identity arrived (ns since t0 of the run)
  std::atomic<int64_t> ep{0}, id{0};
};
int probe(const Options& o) {
  const int nch = o.channels > 0 ? o.channels : std::max(1, o.watchers / 50);
  std::vector<std::shared_ptr<grpc::Channel>> chans;
  for (int i = 0; i < nch; ++i) chans.push_back(channel(o, 1000 + i));
  Conn writer(channel(o, 1));
  // An agent starting up lists endpoints/ and identities/id/: once here, timed.
  auto l0 = Clock::now();
  Counted ep = count(writer, prefix(o) + "endpoints/");
  Counted ids = count(writer, prefix(o) + "identities/id/");
  double list_s = secs(Clock::now() - l0);
  const int64_t rev = std::max(ep.revision, ids.revision);

  // The probes' keys, known before the watchers start so that lookups need no lock.
  std::vector<Probe> probes;
  std::map<std::string, int> by_key;
  AllocStats st;
  const int probe_node_base = 0;
  for (int p = 0; p < o.probes; ++p) {
    int n = (probe_node_base + p * 37) % o.nodes;
    probes.push_back({pod_ip(n, 249 - (p / o.nodes)), ""});
  }
  std::vector<std::unique_ptr<Seen[]>> seen;
  for (int w = 0; w < o.watchers; ++w) seen.emplace_back(new Seen[static_cast<size_t>(o.probes)]);
  for (int p = 0; p < o.probes; ++p) by_key[prefix(o) + "endpoints/" + probes[static_cast<size_t>(p)].ip] = p;
  // The identity's key is known only after allocation: watchers record it by labels value instead.
  std::vector<std::string> probe_values;
  for (int p = 0; p < o.probes; ++p) probe_values.push_back(labels_json(labels("probe-" + std::to_string(rev), p)));
  std::map<std::string, int> by_value;
  for (int p = 0; p < o.probes; ++p) by_value[probe_values[static_cast<size_t>(p)]] = p;

  const auto epoch = Clock::now();
  auto now_ns = [&] { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - epoch).count(); };
  std::atomic<int> created{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> events{0};
  struct W {
    std::unique_ptr<Watch::Stub> stub;
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<etcdserverpb::WatchRequest, etcdserverpb::WatchResponse>> rw;
    std::thread t;
  };
  std::vector<std::unique_ptr<W>> ws;
  auto c0 = Clock::now();
  for (int w = 0; w < o.watchers; ++w) {
    auto x = std::make_unique<W>();
    x->stub = Watch::NewStub(chans[static_cast<size_t>(w % nch)]);
    x->rw = x->stub->Watch(&x->ctx);
    for (const char* sub : {"endpoints/", "identities/id/"}) {
      etcdserverpb::WatchRequest rq;
      auto* cr = rq.mutable_create_request();
      cr->set_key(prefix(o) + sub);
      cr->set_range_end(range_end(prefix(o) + sub));
      cr->set_start_revision(rev + 1);
      if (!x->rw->Write(rq)) die("watch create: stream closed");
    }
    Seen* mine = seen[static_cast<size_t>(w)].get();
    x->t = std::thread([&, mine, rw = x->rw.get()] {
      etcdserverpb::WatchResponse rs;
      int made = 0;
      while (rw->Read(&rs)) {
        if (rs.created() && ++made == 2) created++;
        if (rs.canceled()) die("watch canceled: " + rs.cancel_reason());
        for (auto& ev : rs.events()) {
          events++;
          if (ev.type() != mvccpb::Event::PUT) continue;
          auto k = by_key.find(ev.kv().key());
          if (k != by_key.end()) {
            mine[k->second].ep.store(now_ns());
            continue;
          }
          auto v = by_value.find(ev.kv().value());
          if (v != by_value.end()) mine[v->second].id.store(now_ns());
        }
      }
    });
    ws.push_back(std::move(x));
  }
  while (created.load() < o.watchers) {
    if (secs(Clock::now() - c0) > 120) die("watchers not all created after 120 s: " + std::to_string(created.load()));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  double create_s = secs(Clock::now() - c0);

  // The probes, one after another: a new pod with a new label set on node n.
  std::vector<double> all_nodes, p50s, p99s;
  int64_t lease = grant(writer, o.lease_ttl);
  for (int p = 0; p < o.probes; ++p) {
    const auto& pr = probes[static_cast<size_t>(p)];
    int n = (probe_node_base + p * 37) % o.nodes;
    int64_t t0 = now_ns();
    uint32_t id = allocate(writer, o, labels("probe-" + std::to_string(rev), p), st);
    ref(writer, o, id, n, lease);
    put(writer, prefix(o) + "endpoints/" + pr.ip, endpoint_json(pr.ip, id, n, 100000 + p, p), lease);
    std::vector<double> lat;
    auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.probe_timeout * 1000));
    for (;;) {
      lat.clear();
      for (int w = 0; w < o.watchers; ++w) {
        Seen& s = seen[static_cast<size_t>(w)][p];
        int64_t a = s.ep.load(), b = s.id.load();
        if (a && b) lat.push_back(static_cast<double>(std::max(a, b) - t0) / 1e6);
      }
      if (static_cast<int>(lat.size()) == o.watchers || Clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    if (static_cast<int>(lat.size()) < o.watchers)
      die("probe " + std::to_string(p) + ": only " + std::to_string(lat.size()) + " of " + std::to_string(o.watchers) +
          " watchers saw it within " + std::to_string(o.probe_timeout) + " s");
    std::sort(lat.begin(), lat.end());
    all_nodes.push_back(lat.back());
    p50s.push_back(lat[lat.size() / 2]);
    p99s.push_back(lat[std::min(lat.size() - 1, lat.size() * 99 / 100)]);
  }
  stop = true;
  for (auto& x : ws) x->ctx.TryCancel();
  for (auto& x : ws) x->t.join();
  auto med = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  auto mx = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  std::printf("\nPropagation: %d watchers (a watch stream each on endpoints/ and identities/id/, %d connections), "
              "%d probes (a new pod with a new identity, one at a time), over %" PRId64 " endpoints\n",
              o.watchers, nch, o.probes, ep.keys);
  std::printf("%-52s %10s %10s\n", "ms from the first write", "median", "max");
  std::printf("%-52s %10.2f %10.2f\n", "  to half the nodes (p50 watcher)", med(p50s), mx(p50s));
  std::printf("%-52s %10.2f %10.2f\n", "  to 99% of the nodes", med(p99s), mx(p99s));
  std::printf("%-52s %10.2f %10.2f\n", "  to every node (identity and address)", med(all_nodes), mx(all_nodes));
  std::printf("%-52s %10.2f\n", "creating the watchers, s", create_s);
  std::printf("%-52s %10" PRId64 "\n", "events delivered to the watchers", events.load());
  std::printf("%-52s %10.3f\n", "one agent's start-up list (endpoints + ids), s", list_s);
  std::printf("%-52s %10.1f\n", "  its size, MiB (keys + values)", static_cast<double>(ep.bytes + ids.bytes) / 1048576.0);
  return 0;
}

// ---- contend -----------------------------------------------------------------------
int contend(const Options& o) {
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<int64_t> leases;
  for (int a = 0; a < o.allocators; ++a) {
    conns.push_back(std::make_unique<Conn>(channel(o, 5000 + a)));
    leases.push_back(grant(*conns.back(), o.lease_ttl));
  }
  std::vector<std::vector<uint32_t>> got(static_cast<size_t>(o.allocators), std::vector<uint32_t>(static_cast<size_t>(o.sets)));
  AllocStats st;
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  bool go = false;
  std::vector<std::thread> ts;
  std::vector<double> took(static_cast<size_t>(o.allocators));
  Clock::time_point t0;
  for (int a = 0; a < o.allocators; ++a)
    ts.emplace_back([&, a] {
      std::vector<int> order(static_cast<size_t>(o.sets));
      for (int i = 0; i < o.sets; ++i) order[static_cast<size_t>(i)] = i;
      // Half in the same order (head-on races), half shuffled.
      if (a % 2) std::shuffle(order.begin(), order.end(), std::mt19937(static_cast<unsigned>(a)));
      {
        std::unique_lock g(mu);
        ++ready;
        cv.notify_all();
        cv.wait(g, [&] { return go; });
      }
      for (int s : order) {
        uint32_t id = allocate(*conns[static_cast<size_t>(a)], o, labels("contend", s), st);
        ref(*conns[static_cast<size_t>(a)], o, id, a, leases[static_cast<size_t>(a)]);
        got[static_cast<size_t>(a)][static_cast<size_t>(s)] = id;
      }
      took[static_cast<size_t>(a)] = secs(Clock::now() - t0);
    });
  {
    std::unique_lock g(mu);
    cv.wait(g, [&] { return ready == o.allocators; });
    t0 = Clock::now();
    go = true;
    cv.notify_all();
  }
  for (auto& t : ts) t.join();
  double total = secs(Clock::now() - t0);
  Counted ids = count(*conns[0], prefix(o) + "identities/id/");
  Counted rf = count(*conns[0], prefix(o) + "identities/ref/");
  int disagree = 0;
  for (int s = 0; s < o.sets; ++s)
    for (int a = 1; a < o.allocators; ++a)
      if (got[static_cast<size_t>(a)][static_cast<size_t>(s)] != got[0][static_cast<size_t>(s)]) ++disagree;
  std::vector<uint32_t> distinct(got[0]);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::printf("\nIdentity allocation under contention: %d allocators (a connection and lease each), the same %d label sets at once\n",
              o.allocators, o.sets);
  std::printf("%-52s %10" PRId64 "   (want %d)\n", "identities in etcd (identities/id/)", ids.keys, o.sets);
  std::printf("%-52s %10zu   (want %d)\n", "distinct numbers handed out", distinct.size(), o.sets);
  std::printf("%-52s %10d   (want 0)\n", "(label set, allocator) pairs that disagree", disagree);
  std::printf("%-52s %10" PRId64 "   (want %d)\n", "references (identities/ref/)", rf.keys, o.sets * o.allocators);
  std::printf("%-52s %10" PRIu64 " created, %" PRIu64 " found (raced or existing), %" PRIu64 " collided with other labels\n", "CAS outcomes",
              st.created.load(), st.reused.load(), st.collisions.load());
  std::printf("%-52s %10.2f\n", "all allocations, s", total);
  std::sort(took.begin(), took.end());
  std::printf("%-52s %10.2f\n", "  one allocator's whole list, median s", took[took.size() / 2]);
  bool ok = ids.keys == o.sets && static_cast<int>(distinct.size()) == o.sets && disagree == 0;
  std::printf("result: %s\n", ok ? "exactly one identity per label set" : "WRONG: not one identity per label set");
  return ok ? 0 : 2;
}

// ---- contend-real: the same race through the agents' own allocator -------------------
// ALLOCATORS kvstore::EtcdIdentities (each with its own client, session and
// watcher, as each agent has) acquire the same SETS label sets at once.
int contend_real(const Options& o) {
  namespace kv = myelin::kvstore;
  struct Agent {
    std::unique_ptr<kv::Etcd> etcd;
    std::unique_ptr<kv::Session> session;
    std::unique_ptr<kv::EtcdIdentities> ids;
    std::atomic<kv::EtcdIdentities*> ids_ptr{nullptr};
    ~Agent() {
      session.reset();  // its thread calls into ids until joined
      ids.reset();
    }
  };
  kv::EtcdOptions eo;
  eo.endpoints = {o.endpoint};
  eo.timeout = std::chrono::milliseconds(30000);
  std::vector<std::unique_ptr<Agent>> agents;
  auto s0 = Clock::now();
  for (int a = 0; a < o.allocators; ++a) {
    auto ag = std::make_unique<Agent>();
    auto e = kv::Etcd::connect(eo);
    if (!e) die("connect: " + e.error().message);
    ag->etcd = std::move(*e);
    Agent* raw = ag.get();
    auto se = kv::Session::open(*ag->etcd, std::chrono::seconds(o.lease_ttl), [raw](int64_t lease) {
      if (auto* ids = raw->ids_ptr.load()) (void)ids->write_references(lease);
    });
    if (!se) die("session: " + se.error().message);
    ag->session = std::move(*se);
    kv::EtcdIdentitiesOptions io;
    io.cluster = o.cluster;
    io.node = node_name(a);
    auto ids = kv::EtcdIdentities::open(*ag->etcd, *ag->session, io);
    if (!ids) die("EtcdIdentities: " + ids.error().message);
    ag->ids = std::move(*ids);
    ag->ids_ptr = ag->ids.get();
    agents.push_back(std::move(ag));
  }
  for (auto& ag : agents)
    while (!ag->ids->synced()) {
      if (secs(Clock::now() - s0) > 120) die("EtcdIdentities not synced after 120 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  double setup_s = secs(Clock::now() - s0);
  std::vector<std::vector<uint32_t>> got(static_cast<size_t>(o.allocators), std::vector<uint32_t>(static_cast<size_t>(o.sets)));
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex mu;
  std::condition_variable cv;
  int ready = 0;
  bool go = false;
  Clock::time_point t0;
  std::vector<std::thread> ts;
  for (int a = 0; a < o.allocators; ++a)
    ts.emplace_back([&, a] {
      std::vector<int> order(static_cast<size_t>(o.sets));
      for (int i = 0; i < o.sets; ++i) order[static_cast<size_t>(i)] = i;
      if (a % 2) std::shuffle(order.begin(), order.end(), std::mt19937(static_cast<unsigned>(a)));
      {
        std::unique_lock g(mu);
        ++ready;
        cv.notify_all();
        cv.wait(g, [&] { return go; });
      }
      for (int s : order) {
        auto l = labels("real", s);
        std::sort(l.begin(), l.end());
        auto id = agents[static_cast<size_t>(a)]->ids->acquire(l);
        if (!id) {
          if (errors++ == 0) {
            std::lock_guard g(mu);
            first_error = id.error().message;
          }
          continue;
        }
        got[static_cast<size_t>(a)][static_cast<size_t>(s)] = *id;
      }
    });
  {
    std::unique_lock g(mu);
    cv.wait(g, [&] { return ready == o.allocators; });
    t0 = Clock::now();
    go = true;
    cv.notify_all();
  }
  for (auto& t : ts) t.join();
  double total = secs(Clock::now() - t0);
  Conn c(channel(o, 9999));
  Counted ids = count(c, prefix(o) + "identities/id/");
  Counted rf = count(c, prefix(o) + "identities/ref/");
  int disagree = 0;
  for (int s = 0; s < o.sets; ++s)
    for (int a = 1; a < o.allocators; ++a)
      if (got[static_cast<size_t>(a)][static_cast<size_t>(s)] != got[0][static_cast<size_t>(s)]) ++disagree;
  std::vector<uint32_t> distinct(got[0]);
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  // Every node's view converges on the same list (the watchers).
  size_t views_ok = 0;
  auto v0 = Clock::now();
  for (auto& ag : agents) {
    while (ag->ids->list().size() < static_cast<size_t>(o.sets) && secs(Clock::now() - v0) < 60)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (ag->ids->list().size() == static_cast<size_t>(o.sets)) ++views_ok;
  }
  std::printf("\nIdentity allocation under contention, the agents' allocator (kvstore::EtcdIdentities): %d allocators "
              "(a client, session and watcher each), the same %d label sets at once\n", o.allocators, o.sets);
  std::printf("%-52s %10" PRId64 "   (want %d)\n", "identities in etcd (identities/id/)", ids.keys, o.sets);
  std::printf("%-52s %10zu   (want %d)\n", "distinct numbers handed out", distinct.size(), o.sets);
  std::printf("%-52s %10d   (want 0)\n", "(label set, allocator) pairs that disagree", disagree);
  std::printf("%-52s %10d   (want 0)\n", "acquire errors", errors.load());
  if (!first_error.empty()) std::printf("  first error: %s\n", first_error.c_str());
  std::printf("%-52s %10" PRId64 "   (want %d)\n", "references (identities/ref/)", rf.keys, o.sets * o.allocators);
  std::printf("%-52s %10zu   (want %d)\n", "allocators whose list() has exactly the sets", views_ok, o.allocators);
  std::printf("%-52s %10.2f\n", "opening the allocators (client, session, watcher), s", setup_s);
  std::printf("%-52s %10.2f\n", "all allocations, s", total);
  bool ok = ids.keys == o.sets && static_cast<int>(distinct.size()) == o.sets && disagree == 0 && errors == 0;
  std::printf("result: %s\n", ok ? "exactly one identity per label set" : "WRONG: not one identity per label set");
  agents.clear();
  return ok ? 0 : 2;
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) die("usage: cluster_scale_sim load|probe|contend|contend-real [--endpoint URL] [--cluster NAME] [--nodes N] [--pods N] "
                    "[--pods-per-set N] [--threads N] [--watchers N] [--channels N] [--probes N] [--allocators N] [--sets N] "
                    "[--lease-ttl S] [--probe-timeout S]");
  o.phase = argv[1];
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (i + 1 >= argc) die(k + " needs a value");
    std::string v = argv[i + 1];
    auto num = [&] {
      char* end = nullptr;
      long x = std::strtol(v.c_str(), &end, 10);
      if (!end || *end || x < 0) die(k + ": not a number: " + v);
      return static_cast<int>(x);
    };
    if (k == "--endpoint") o.endpoint = v;
    else if (k == "--cluster") o.cluster = v;
    else if (k == "--nodes") o.nodes = num();
    else if (k == "--pods") o.pods = num();
    else if (k == "--pods-per-set") o.pods_per_set = num();
    else if (k == "--threads") o.threads = num();
    else if (k == "--watchers") o.watchers = num();
    else if (k == "--channels") o.channels = num();
    else if (k == "--probes") o.probes = num();
    else if (k == "--allocators") o.allocators = num();
    else if (k == "--sets") o.sets = num();
    else if (k == "--lease-ttl") o.lease_ttl = num();
    else if (k == "--probe-timeout") o.probe_timeout = num();
    else die("unknown option " + k);
  }
  if (o.nodes < 1 || o.pods < 1 || o.pods_per_set < 1 || o.threads < 1 || o.watchers < 1 || o.probes < 1 ||
      o.allocators < 1 || o.sets < 1)
    die("counts must be at least 1");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.phase == "load") return load(o);
  if (o.phase == "probe") return probe(o);
  if (o.phase == "contend") return contend(o);
  if (o.phase == "contend-real") return contend_real(o);
  die("unknown phase " + o.phase + " (load, probe, contend or contend-real)");
}
