// SPDX-License-Identifier: Apache-2.0
#include "tracing_manager.hpp"

#include <bpf/bpf.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "myelin/log.hpp"

namespace myelin::tracing {
namespace {

const char* action_name(uint8_t a) {
  switch (a) {
    case MYELIN_TP_ACT_SIGKILL: return "KPROBE_ACTION_SIGKILL";
    case MYELIN_TP_ACT_SIGNAL: return "KPROBE_ACTION_SIGNAL";
    case MYELIN_TP_ACT_NOPOST: return "KPROBE_ACTION_NOPOST";
    default: return "KPROBE_ACTION_POST";
  }
}

bool feature(const std::vector<datapath::Feature>& fs, const std::string& name, std::string* detail) {
  for (const auto& f : fs)
    if (f.name == name) {
      *detail = f.detail;
      return f.available;
    }
  *detail = "not probed";
  return false;
}

}  // namespace

TracingManager::TracingManager(runtime::RuntimeMonitor& runtime, std::vector<datapath::Feature> features, std::string tracefs)
    : runtime_(runtime), features_(std::move(features)), tracefs_(std::move(tracefs)) {}

TracingManager::~TracingManager() { stop(); }

Status TracingManager::start() {
  auto h = datapath::TracingHooks::create(runtime_.exec_binary_fd(), [this](const myelin_tp_event& e) { on_event(e); });
  if (!h) return h.error();
  hooks_ = std::move(*h);
  running_ = true;
  thread_ = std::thread([this] {
    while (running_) {
      int n = hooks_->poll(200);
      if (n < 0 && n != -EINTR) {
        log::error("tracing", std::string("tracing events: ") + strerror(-n));
        break;
      }
    }
  });
  return {};
}

void TracingManager::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
  std::lock_guard lk(mu_);
  for (auto& [file, list] : files_)
    for (auto& l : list) unload_locked(*l);
  hooks_.reset();
}

uint32_t TracingManager::binary_id_locked(const std::string& path) {
  auto [it, fresh] = binary_ids_.try_emplace(path, static_cast<uint32_t>(binary_ids_.size() + 1));
  if (fresh) {
    char key[MYELIN_BINARY_PATH_MAX] = {};
    std::memcpy(key, path.data(), std::min(path.size(), sizeof key - 1));
    bpf_map_update_elem(runtime_.binaries_fd(), key, &it->second, BPF_ANY);
    // Processes already running that binary: the exec probe did not see them.
    if (DIR* d = opendir("/proc")) {
      while (dirent* de = readdir(d)) {
        if (!std::isdigit(static_cast<unsigned char>(de->d_name[0]))) continue;
        char exe[MYELIN_BINARY_PATH_MAX] = {};
        std::string link = std::string("/proc/") + de->d_name + "/exe";
        if (readlink(link.c_str(), exe, sizeof exe - 1) > 0 && path == exe) {
          uint32_t tgid = static_cast<uint32_t>(std::stoul(de->d_name));
          bpf_map_update_elem(runtime_.exec_binary_fd(), &tgid, &it->second, BPF_ANY);
        }
      }
      closedir(d);
    }
  }
  return it->second;
}

void TracingManager::load_locked(Loaded& l) {
  const auto& p = l.policy;
  l.state = PolicyState{p.kind, p.ns, p.name, p.source, false, "", 0};
  // Whole or nothing: first what this kernel cannot do at all.
  for (const auto& other : p.other_hooks) {
    std::string detail;
    std::string need = other == "lsmhooks" ? "bpf-lsm" : "kprobe";
    bool have = feature(features_, need, &detail);
    l.state.error = "spec." + other + ": " +
                    (have ? std::string("not implemented by Myelin yet (only spec.tracepoints is)")
                          : "this kernel cannot run it: " + need + " unavailable (" + detail + ")") +
                    "; nothing of the policy was loaded";
    return;
  }
  if (!hooks_) {
    l.state.error = "runtime events are off: tracing hooks need the process probes";
    return;
  }
  std::vector<uint32_t> attached;
  for (size_t i = 0; i < p.tracepoints.size(); ++i) {
    const auto& tp = p.tracepoints[i];
    auto fmt = tracepoint_format(tracefs_, tp.subsystem, tp.event);
    Result<myelin_tp_config> cfg = fmt ? compile_hook(tp, *fmt, l.id, next_hook_, [this](const std::string& b) { return binary_id_locked(b); })
                                       : Result<myelin_tp_config>(fmt.error());
    Result<uint32_t> hook = cfg ? hooks_->attach(tp.subsystem, tp.event, *cfg) : Result<uint32_t>(cfg.error());
    if (!hook) {
      for (auto h : attached) hooks_->detach(h);
      l.state.error = "spec.tracepoints[" + std::to_string(i) + "]: " + hook.error().message + "; nothing of the policy was loaded";
      return;
    }
    hook_of_[next_hook_++] = {l.id, i};
    attached.push_back(*hook);
  }
  l.hooks = attached;
  l.state.enabled = true;
  l.state.hooks = attached.size();
}

void TracingManager::unload_locked(Loaded& l) {
  if (hooks_)
    for (auto h : l.hooks) hooks_->detach(h);
  l.hooks.clear();
  l.state.enabled = false;
}

void TracingManager::apply_text(const std::string& file, const std::string* text) {
  std::vector<TracingPolicy> next;
  if (text) {
    auto decoded = decode_tracing_yaml(*text, file);
    if (!decoded) {
      log::error("tracing", decoded.error().message + " (the last good version of " + file + " stays in force)");
      return;
    }
    next = std::move(*decoded);
  }
  std::lock_guard lk(mu_);
  auto& list = files_[file];
  if (list.empty() && next.empty()) {
    files_.erase(file);
    return;
  }
  for (auto& l : list) {
    unload_locked(*l);
    by_id_.erase(l->id);
  }
  list.clear();
  for (auto& p : next) {
    auto l = std::make_shared<Loaded>();
    l->policy = std::move(p);
    l->id = next_policy_++;
    load_locked(*l);
    if (l->state.enabled)
      log::info("tracing", "TracingPolicy " + l->policy.name + " enabled (" + std::to_string(l->state.hooks) + " hooks, filters in the kernel)");
    else
      log::error("tracing", "TracingPolicy " + l->policy.name + " (" + l->policy.source + ") rejected: " + l->state.error);
    by_id_[l->id] = l;
    list.push_back(l);
  }
  if (list.empty()) files_.erase(file);
}

std::vector<PolicyState> TracingManager::list() const {
  std::lock_guard lk(mu_);
  std::vector<PolicyState> out;
  for (const auto& [file, list] : files_)
    for (const auto& l : list) out.push_back(l->state);
  return out;
}

void TracingManager::on_event(const myelin_tp_event& e) {
  runtime::Event ev;
  ev.type = runtime::Event::Type::tracepoint;
  ev.time_ns = static_cast<int64_t>(e.ktime_ns) + runtime_.mono_to_wall_ns();
  ev.action = action_name(e.action);
  {
    std::lock_guard lk(mu_);
    auto h = hook_of_.find(e.hook_id);
    auto p = by_id_.find(e.policy_id);
    if (h == hook_of_.end() || p == by_id_.end()) return;  // a policy removed meanwhile
    const auto& tp = p->second->policy.tracepoints[h->second.second];
    ev.policy = p->second->policy.name;
    ev.subsys = tp.subsystem;
    ev.event = tp.event;
    for (size_t i = 0; i < tp.args.size() && i < MYELIN_TP_MAX_ARGS; ++i) {
      const auto& t = tp.args[i].type;
      if (t == "string" || t == "filename")
        ev.args.push_back({{"string_arg", std::string(e.strs[i], strnlen(e.strs[i], MYELIN_TP_STR_MAX))}});
      else if (t == "uint32" || t == "uint64" || t == "size_t")
        ev.args.push_back({{"size_arg", std::to_string(e.ints[i])}});
      else if (t == "int64" || t == "long")
        ev.args.push_back({{"long_arg", static_cast<int64_t>(e.ints[i])}});
      else
        ev.args.push_back({{"int_arg", static_cast<int64_t>(e.ints[i])}});
    }
  }
  if (auto proc = runtime_.process(e.pid)) {
    ev.process = *proc;
    ev.parent = runtime_.process(proc->ppid);
  } else {
    ev.process.pid = e.pid;
    ev.process.tid = e.tid;
    ev.process.uid = e.uid;
    ev.process.netns = e.netns;
  }
  ev.process.tid = e.tid;
  runtime_.publish(std::move(ev));
}

}  // namespace myelin::tracing
