// SPDX-License-Identifier: Apache-2.0
// How fast flows move from the datapath to a reader, measured in one run
// against baselines: BPF_PROG_TEST_RUN with `repeat` makes the real
// from_container program emit one drop event per run at kernel speed; the
// agent's pipeline (ring buffer -> decode -> flow store) drains it on
// another thread. Prints events/s, loss (always accounted: sent + lost =
// produced), the consumer's CPU per 100k events, and the `observe -o json
// --all` rate on a full store. Root only; not part of the test suite.
#include <bpf/bpf.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "../datapath/packet.hpp"
#include "format.hpp"
#include "myelin/datapath/datapath.hpp"
#include "myelin/flows/flow_decoder.hpp"
#include "myelin/flows/flow_store.hpp"

using namespace myelin;
using Clock = std::chrono::steady_clock;

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct Run {
  uint64_t produced = 0, delivered = 0, lost = 0;
  double seconds = 0, consumer_cpu = 0;
};

// Produces `total` drop events (spoofed packets) and drains them with `work` per event.
Run run(datapath::Datapath& dp, uint64_t total, const std::function<void(const myelin_flow_event&)>& work) {
  test::Packet p;
  p.saddr = test::ip4("10.9.9.9");  // not the endpoint: a drop, hence an event, per run
  test::Bytes pkt = p.build();
  const auto before = dp.stats();
  std::atomic<bool> done{false};
  std::atomic<uint64_t> delivered{0};
  double cpu = 0;
  std::thread consumer([&] {
    auto reader = datapath::EventReader::open(dp.events_fd(), [&](const myelin_flow_event& e) {
      work(e);
      delivered.fetch_add(1, std::memory_order_relaxed);
    }, "flow events");
    double c0 = thread_cpu_seconds();
    while (!done) reader->poll(10);
    while (reader->poll(0) > 0) {
    }
    cpu = thread_cpu_seconds() - c0;
  });
  auto t0 = Clock::now();
  const uint32_t batch = 10000;
  for (uint64_t made = 0; made < total; made += batch) {
    __sk_buff ctx{};
    ctx.ifindex = 1;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data(), .data_size_in = static_cast<uint32_t>(pkt.size()),
                .ctx_in = &ctx, .ctx_size_in = sizeof ctx, .repeat = static_cast<int>(batch));
    if (bpf_prog_test_run_opts(dp.from_container_fd(), &opts) != 0) {
      std::perror("BPF_PROG_TEST_RUN");
      std::exit(1);
    }
  }
  // Wait (bounded) until every sent event has been read.
  for (int i = 0; i < 500 && delivered.load() < dp.stats().events_sent - before.events_sent; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  done = true;
  consumer.join();
  Run r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto after = dp.stats();
  r.produced = total;
  r.delivered = delivered.load();
  r.lost = after.events_lost - before.events_lost;
  r.consumer_cpu = cpu;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    std::fprintf(stderr, "flow_pipeline_bench: run as root (loads BPF)\n");
    return 1;
  }
  const uint64_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const std::string pins = "/sys/fs/bpf/myelin-bench-" + std::to_string(getpid());
  if (auto m = pseudofs::Mounts::ensure(); !m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 1;
  if (auto s = datapath::make_pin_dir(pins); !s) return std::fprintf(stderr, "%s\n", s.error().message.c_str()), 1;
  auto dp = datapath::Datapath::load({pins, true, 64u << 20});
  if (!dp) return std::fprintf(stderr, "%s\n", dp.error().message.c_str()), 1;
  myelin_ep_key k{};
  k.addr.w[0] = test::ip4("10.0.0.1");
  k.family = MYELIN_FAMILY_IPV4;
  myelin_ep_info v{};
  v.ifindex = 1;
  v.ep_id = 1;
  (void)(*dp)->endpoint_upsert(k, v);
  k.addr.w[0] = test::ip4("10.0.0.2");
  v.ep_id = 2;
  (void)(*dp)->endpoint_upsert(k, v);

  flows::FlowDecoder decoder(
      "bench",
      flows::FlowDecoder::fixed(std::make_shared<flows::StaticView>(std::map<uint32_t, flows::EndpointView>{
          {1, {1, 256, "ns", "pod", {"k8s:app=x"}, {}}}, {2, {2, 256, "ns", "pod", {"k8s:app=x"}, {}}}})),
      [](uint32_t) { return std::string("lxc0"); });
  flows::FlowStore store(16384);

  Run base = run(**dp, total, [](const myelin_flow_event&) {});
  Run full = run(**dp, total, [&](const myelin_flow_event& e) { store.push(decoder.decode(e)); });

  // observe -o json --all on a full store: query + one JSON line per flow.
  api::ObserveRequest all;
  all.set_all(true);
  auto q0 = Clock::now();
  size_t n = 0;
  for (int i = 0; i < 5; ++i) n += store.query(all, "bench")->size();
  double query_s = std::chrono::duration<double>(Clock::now() - q0).count();
  auto j0 = Clock::now();
  size_t bytes = 0;
  auto snapshot = store.query(all, "bench");  // kept: a range-for over *temporary would dangle
  for (const auto& r : *snapshot) bytes += cli::to_json(r).size() + 1;
  double json_s = std::chrono::duration<double>(Clock::now() - j0).count() + query_s / 5;

  auto row = [](const char* name, const Run& r) {
    std::printf("%-34s %10.0f %10.0f %9llu %9llu %12llu %10.1f\n", name, r.produced / r.seconds, r.delivered / r.seconds,
                static_cast<unsigned long long>(r.lost), static_cast<unsigned long long>(r.produced - r.delivered - r.lost),
                static_cast<unsigned long long>(r.delivered), r.consumer_cpu * 1000.0 / (r.delivered / 100000.0));
  };
  std::printf("\nFlow pipeline, %llu events per run, 64 MiB ring buffer, %ld CPUs\n",
              static_cast<unsigned long long>(total), sysconf(_SC_NPROCESSORS_ONLN));
  std::printf("%-34s %10s %10s %9s %9s %12s %10s\n", "run", "made/s", "read/s", "lost", "unacct.", "delivered",
              "CPUms/100k");
  row("baseline: ring buffer drain only", base);
  row("agent pipeline: decode + store", full);
  std::printf("%-34s %10.2f\n", "pipeline/baseline read rate", (full.delivered / full.seconds) / (base.delivered / base.seconds));
  std::printf("\nobserve -o json --all on a full store (%zu flows, %zu bytes of JSON):\n", n / 5, bytes);
  std::printf("  snapshot query %.0f flows/s, query + JSON %.0f flows/s (ratio %.2f)\n", n / query_s,
              (n / 5) / json_s, ((n / 5) / json_s) / (n / query_s));
  dp->reset();
  (void)datapath::Datapath::unpin_all(pins);
  return full.produced == full.delivered + full.lost && base.produced == base.delivered + base.lost ? 0 : 3;
}
