// SPDX-License-Identifier: Apache-2.0
// The TracingPolicy hook engine in the kernel: selector_cases.hpp's table
// (the one selector_engine_test runs as C++ over stubs) through the
// verifier and BPF_PROG_TEST_RUN of hook_engine.bpf.c, a raw_tp wrapper of
// the production headers (this kernel test-runs raw_tp, not tracepoint,
// uprobe or fentry programs). Each hit runs in a child process, so the
// task the engine reads is real (its pid, parent, namespaces, caps, open
// files, memory) and a Sigkill or Signal kills only the child. Root.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <climits>
#include <cstdlib>
#include <fstream>

#include "hook_engine.skel.h"
#include "myelin/bpf/ring_buffer.hpp"
#include "myelin/bpf/skeleton.hpp"
#include "selector_cases.hpp"

namespace myelin::tracing::cases {
namespace {

// What the child says of its run.
struct Outcome {
  int stage = 0;  // 0: ran; 1: compile failed; 2: a map write failed; 3: test run failed
  int err = 0;
  int32_t retval = 0;
};

class HookEngine : public testing::TestWithParam<Case> {
 protected:
  // One load for the suite: the verifier's pass over the engine is the slow part.
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    auto skel = bpf::Skeleton<hook_engine>::open("hook engine (test)");
    if (!skel) return (void)(load_error_ = skel.error().message);
    skel_ = std::move(*skel);
    if (auto st = skel_.load(); !st) return (void)(load_error_ = "the verifier refused the engine: " + st.error().message);
    auto ring = bpf::RingBuffer<myelin_hook_event>::open(bpf_map__fd(skel_->maps.myelin_hook_events),
                                                       [](const myelin_hook_event& e) { events_.push_back(e); }, "hook events");
    if (!ring) return (void)(load_error_ = ring.error().message);
    ring_ = std::move(*ring);
  }
  static void TearDownTestSuite() {
    ring_ = {};
    skel_ = {};
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: loads a BPF program";
    ASSERT_TRUE(load_error_.empty()) << load_error_;
    ASSERT_GE(ring_.poll(0), 0);
    events_.clear();
    char tmpl[] = "/tmp/mln-hook-engine-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    char real[PATH_MAX];
    ASSERT_NE(realpath(tmpl, real), nullptr);
    dir_ = real;
    std::ofstream(dir_ + "/secret") << "x";
  }
  void TearDown() override {
    if (!dir_.empty()) (void)std::system(("rm -rf " + dir_).c_str());
  }

  // One hit of c in a child; its pid in *child, its wait status in *status.
  Outcome run(const Case& c, pid_t* child, int* status) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      Outcome o = hit(c);
      (void)!write(fds[1], &o, sizeof o);
      _exit(0);
    }
    close(fds[1]);
    Outcome o{-1};
    const bool said = read(fds[0], &o, sizeof o) == sizeof o;  // nothing: killed before it could say
    close(fds[0]);
    EXPECT_EQ(waitpid(pid, status, 0), pid);
    *child = pid;
    if (!said) o.stage = -1;
    return o;
  }

  // In the child: compile for this process, seed the maps, run.
  Outcome hit(const Case& c) {
    Outcome o;
    struct stat net {};
    stat("/proc/self/ns/net", &net);
    const Process p{static_cast<uint32_t>(getpid()), static_cast<uint32_t>(getppid()), static_cast<uint32_t>(net.st_ino), dir_};
    myelin_exec_binary bin{};
    auto cfg = compile(c, p, &bin);
    if (!cfg) return o.stage = 1, o;
    const uint32_t zero = 0, tgid = p.pid;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.myelin_hook_compiled), &zero, &*cfg, BPF_ANY) ||
        bpf_map_update_elem(bpf_map__fd(skel_->maps.myelin_exec_binary), &tgid, &bin, BPF_ANY))
      return o.stage = 2, o.err = errno, o;
    std::vector<std::string> keep;
    keep.reserve(c.args.size());
    uint64_t ctx[6] = {};
    for (size_t i = 0; i < c.args.size(); ++i) {
      if (auto* v = std::get_if<int64_t>(&c.args[i])) ctx[i] = static_cast<uint64_t>(*v);
      if (auto* s = std::get_if<Str>(&c.args[i])) ctx[i] = reinterpret_cast<uint64_t>(keep.emplace_back(s->s).c_str());
      if (auto* b = std::get_if<Bytes>(&c.args[i])) ctx[i] = reinterpret_cast<uint64_t>(keep.emplace_back(b->b).data());
      if (auto* f = std::get_if<File>(&c.args[i])) ctx[i] = static_cast<uint64_t>(open((dir_ + "/" + f->name).c_str(), O_RDONLY));
    }
    ctx[5] = static_cast<uint64_t>(c.ret);
    LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = ctx, .ctx_size_in = sizeof ctx);
    if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.hook_engine), &run) != 0) return o.stage = 3, o.err = errno, o;
    o.retval = static_cast<int32_t>(run.retval);
    return o;
  }

  static inline bpf::Skeleton<hook_engine> skel_;
  static inline bpf::RingBuffer<myelin_hook_event> ring_;
  static inline std::vector<myelin_hook_event> events_;
  static inline std::string load_error_;
  std::string dir_;
};

TEST_P(HookEngine, HitDoesWhatTheCaseSays) {
  const Case& c = GetParam();
  const Expect& x = c.expect;
  pid_t child = 0;
  int status = 0;
  const Outcome o = run(c, &child, &status);
  if (x.signal) {
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child was not killed (status " << status << ", stage " << o.stage << ", errno " << o.err << ")";
    EXPECT_EQ(WTERMSIG(status), x.signal);
  } else {
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    ASSERT_EQ(o.stage, 0) << "errno " << o.err << " (1: compile, 2: map write, 3: test run)";
    EXPECT_EQ(o.retval, x.retval);
  }
  // The event, if any, was on the ring before the syscall returned.
  ASSERT_GE(ring_.poll(0), 0);
  ASSERT_EQ(events_.size(), x.posted ? 1u : 0u);
  if (!x.posted) return;
  const auto& e = events_[0];
  EXPECT_EQ(e.selector, x.selector);
  EXPECT_EQ(e.action, x.action);
  EXPECT_EQ(e.policy_id, 7u);
  EXPECT_EQ(e.hook_id, 3u);
  EXPECT_EQ(e.pid, static_cast<uint32_t>(child));
  EXPECT_EQ(e.uid, 0u);
  const Process p{static_cast<uint32_t>(child), static_cast<uint32_t>(getpid()), 0, dir_};
  for (const auto& [i, v] : x.ints) EXPECT_EQ(static_cast<int64_t>(e.ints[i]), v) << "ints[" << i << "]";
  for (const auto& [i, s] : x.strs) EXPECT_EQ(std::string(e.strs[i], e.str_lens[i]), expand(s, p)) << "strs[" << i << "]";
}

INSTANTIATE_TEST_SUITE_P(Cases, HookEngine, testing::ValuesIn(table()), [](const testing::TestParamInfo<Case>& i) {
  std::string n;
  for (char ch : std::string(i.param.name)) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return std::to_string(i.index) + "_" + n;
});

}  // namespace
}  // namespace myelin::tracing::cases
