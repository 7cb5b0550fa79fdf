// SPDX-License-Identifier: Apache-2.0
#include "myelin/datapath/tracepoints.hpp"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "myelin/fd.hpp"

namespace myelin::datapath {
namespace {

Result<uint64_t> tracepoint_id(const std::string& tracefs, const std::string& subsystem, const std::string& event) {
  if (tracefs.empty()) return Error{"tracepoint " + subsystem + "/" + event + ": no tracefs (see the tracefs row of the feature report)"};
  const std::string path = tracefs + "/events/" + subsystem + "/" + event + "/id";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::from_errno("tracepoint " + subsystem + "/" + event + ": open " + path);
  char buf[32] = {};
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return Error::from_errno("tracepoint " + subsystem + "/" + event + ": read " + path, n < 0 ? errno : EINVAL);
  char* end = nullptr;
  uint64_t id = std::strtoull(buf, &end, 10);
  if (end == buf) return Error{"tracepoint " + subsystem + "/" + event + ": " + path + " holds no id"};
  return id;
}

}  // namespace

Result<bpf::Link> attach_tracepoint(bpf_program* prog, const std::string& tracefs, const std::string& subsystem,
                                    const std::string& event) {
  auto id = tracepoint_id(tracefs, subsystem, event);
  if (!id) return id.error();
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = *id;
  // pid -1, cpu 0: every process on every CPU (as libbpf attaches them).
  int pfd = static_cast<int>(::syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (pfd < 0) return Error::from_errno("tracepoint " + subsystem + "/" + event + ": perf_event_open");
  auto link = bpf::Link::attach("attach to tracepoint " + subsystem + "/" + event,
                                [&] { return bpf_program__attach_perf_event(prog, pfd); });
  if (!link) ::close(pfd);  // on success the link owns it
  return link;
}

Result<std::vector<bpf::Link>> attach_programs(bpf_object* obj, const std::string& tracefs) {
  std::vector<bpf::Link> links;  // on failure, those made so far detach as this goes
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__autoload(prog)) continue;
    const std::string sec = bpf_program__section_name(prog), name = bpf_program__name(prog);
    if (sec.rfind("tracepoint/", 0) == 0 || sec.rfind("tp/", 0) == 0) {
      const auto a = sec.find('/'), b = sec.find('/', a + 1);
      if (b == std::string::npos) return Error{"program " + name + ": section " + sec + " names no tracepoint"};
      auto l = attach_tracepoint(prog, tracefs, sec.substr(a + 1, b - a - 1), sec.substr(b + 1));
      if (!l) return Error{"program " + name + ": " + l.error().message, l.error().code};
      links.push_back(std::move(*l));
    } else {
      auto l = bpf::Link::attach("program " + name + ": attach " + sec, [&] { return bpf_program__attach(prog); });
      if (!l) return l.error();
      links.push_back(std::move(*l));
    }
  }
  return links;
}

}  // namespace myelin::datapath
