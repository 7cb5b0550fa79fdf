// SPDX-License-Identifier: Apache-2.0
#include "tracing_manager.hpp"
#include "lists.hpp"
#include "usdt_notes.hpp"
#include "arg_types.hpp"
#include "return_arg.hpp"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <elf.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "myelin/abi/tracing.hpp"
#include "myelin/atomic_file.hpp"
#include "myelin/log.hpp"
#include "myelin/policy/model.hpp"
#include "runtime/sock_arg.hpp"

namespace myelin::tracing {
namespace {

// The inode of the host's namespace of a type (what matchNamespaces' host_ns
// means): the kernel's initial namespaces, which kthreadd (pid 2) runs in; or
// pid 1's where kthreadd is not visible. Read with stat, so it works from any
// network namespace the agent was started in.
uint32_t host_namespace(uint8_t type) {
  const char* file = abi::namespace_proc_name(type);
  if (!file) return 0;
  auto comm = read_file("/proc/2/comm");
  const bool kthreadd = comm && *comm && (*comm)->rfind("kthreadd", 0) == 0;
  for (const char* pid : {kthreadd ? "2" : "1", "1"}) {
    struct stat st {};
    if (stat((std::string("/proc/") + pid + "/ns/" + file).c_str(), &st) == 0) return static_cast<uint32_t>(st.st_ino);
  }
  return 0;
}

// An endpoint's labels ("key=value", maybe "k8s:"-prefixed) as a map.
policy::Labels labels_of(const api::Endpoint& ep) {
  policy::Labels out;
  for (const auto& kv : ep.labels()) {
    auto eq = kv.find('=');
    std::string k = kv.substr(0, eq);
    if (k.rfind("k8s:", 0) == 0) k = k.substr(4);
    out[k] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return out;
}

// Does the running kernel's BTF name this function (generated_syscalls lists)?
bool kernel_has_function(const std::string& fn) {
  static btf* vmlinux = btf__load_vmlinux_btf();
  return vmlinux && btf__find_by_name_kind(vmlinux, fn.c_str(), BTF_KIND_FUNC) >= 0;
}

// spec.options policy-mode: monitor: what would enforce (Sigkill, Signal,
// Override) is reported as Post and not taken.
bool monitor_only(TracingPolicy& p) {
  if (!p.options.monitor) return false;
  auto post = [](myelin_hook_action& a) {
    if (a == MYELIN_HOOK_ACT_SIGKILL || a == MYELIN_HOOK_ACT_SIGNAL || a == MYELIN_HOOK_ACT_OVERRIDE) a = MYELIN_HOOK_ACT_POST;
  };
  for (auto& h : p.tracepoints)
    for (auto& s : h.selectors) post(s.action);
  for (auto& h : p.kprobes)
    for (auto& s : h.selectors) post(s.action);
  for (auto& h : p.uprobes)
    for (auto& s : h.selectors) post(s.action);
  for (auto& h : p.lsmhooks)
    for (auto& s : h.selectors) post(s.action);
  return true;
}

// The GNU build id of an ELF file (its .note.gnu.build-id), "" if none;
// the last few files' are kept (a loader event repeats the same libraries).
std::string elf_build_id(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::string> cache;
  std::lock_guard lk(mu);
  if (auto it = cache.find(path); it != cache.end()) return it->second;
  if (cache.size() > 256) cache.clear();
  std::string id;
  if (auto notes = elf_notes(path, "GNU", NT_GNU_BUILD_ID); !notes.empty()) id = notes[0];
  return cache[path] = id;
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

TracingManager::TracingManager(runtime::RuntimeMonitor& runtime, std::vector<datapath::Feature> features, std::string tracefs,
                               const endpoints::EndpointStore* endpoints)
    : runtime_(runtime), features_(std::move(features)), tracefs_(std::move(tracefs)), endpoints_(endpoints) {}

TracingManager::~TracingManager() { stop(); }

Status TracingManager::start() {
  auto h = datapath::TracingHooks::create(runtime_.exec_binary_fd(), tracefs_, [this](const myelin_hook_event& e) { on_event(e); });
  if (!h) return h.error();
  hooks_ = std::move(*h);
  // Consumed on the runtime monitor's thread, after the process records.
  poller_ = runtime_.add_poller([this] {
    refresh_scopes();
    hooks_->poll(0);
    datapath::LsmHooks* lsm = nullptr;
    {
      std::lock_guard lk(mu_);
      lsm = lsm_.get();  // loaded once, never replaced while the poller is set
    }
    if (lsm) lsm->poll(0);
  });
  running_ = true;
  return {};
}

void TracingManager::stop() {
  if (objects_) objects_->unsubscribe(subscription_);
  objects_ = nullptr;
  if (running_.exchange(false)) runtime_.remove_poller(poller_);
  std::lock_guard lk(mu_);
  for (auto& [key, l] : kept_) unload_locked(*l);
  for (auto& [key, l] : loaded_) unload_locked(*l);
  lsm_.reset();
  hooks_.reset();
}

void TracingManager::mark_running_locked(const std::function<bool(const std::string& exe)>& matches,
                                         const std::function<void(myelin_exec_binary&)>& update) {
  DIR* d = opendir("/proc");
  if (!d) return;
  while (dirent* de = readdir(d)) {
    if (!std::isdigit(static_cast<unsigned char>(de->d_name[0]))) continue;
    char exe[MYELIN_BINARY_PATH_MAX] = {};
    std::string link = std::string("/proc/") + de->d_name + "/exe";
    if (readlink(link.c_str(), exe, sizeof exe - 1) <= 0 || !matches(exe)) continue;
    uint32_t tgid = static_cast<uint32_t>(std::stoul(de->d_name));
    myelin_exec_binary b{};
    bpf_map_lookup_elem(runtime_.exec_binary_fd(), &tgid, &b);  // absent: stays zero
    update(b);
    bpf_map_update_elem(runtime_.exec_binary_fd(), &tgid, &b, BPF_ANY);
  }
  closedir(d);
}

uint32_t TracingManager::binary_id_locked(const std::string& path) {
  auto [it, fresh] = binary_ids_.try_emplace(path, static_cast<uint32_t>(binary_ids_.size() + 1));
  if (fresh) {
    myelin_binary_key key{};
    std::memcpy(key.path, path.data(), std::min(path.size(), sizeof key.path - 1));
    bpf_map_update_elem(runtime_.binaries_fd(), &key, &it->second, BPF_ANY);
    const uint32_t id = it->second;
    mark_running_locked([&](const std::string& exe) { return exe == path; }, [id](myelin_exec_binary& b) { b.id = id; });
  }
  return it->second;
}

uint32_t TracingManager::binary_prefix_locked(const std::string& prefix) {
  if (auto it = binary_prefixes_.find(prefix); it != binary_prefixes_.end()) return it->second;
  if (binary_prefixes_.size() >= MYELIN_BINARY_PREFIXES) return 0;
  const uint32_t slot = static_cast<uint32_t>(binary_prefixes_.size());
  binary_prefixes_[prefix] = slot + 1;
  // Each trie entry's value: its bit and those of every shorter prefix of
  // it, since the kernel's one lookup finds only the longest.
  for (const auto& [p, id] : binary_prefixes_) {
    uint32_t bits = 0;
    for (const auto& [q, qid] : binary_prefixes_)
      if (p.rfind(q, 0) == 0) bits |= 1u << (qid - 1);
    myelin_binary_prefix_key key{};
    key.prefixlen = static_cast<uint32_t>(p.size() * 8);
    std::memcpy(key.path, p.data(), std::min(p.size(), sizeof key.path));
    bpf_map_update_elem(runtime_.binary_prefixes_fd(), &key, &bits, BPF_ANY);
  }
  mark_running_locked([&](const std::string& exe) { return exe.rfind(prefix, 0) == 0; },
                      [slot](myelin_exec_binary& b) { b.prefixes |= 1u << slot; });
  return slot + 1;
}

// A policy that decoded but cannot be loaded here: why, as a refusal of cause kernel.
void TracingManager::reject(Loaded& l, int line, const std::string& field, const std::string& reason) {
  const auto& p = l.policy;
  policy::Refusal r{p.file, line ? line : p.line, field, reason + "; nothing of the policy was loaded", p.kind, p.ns, p.name,
                    policy::Refusal::Cause::kernel};
  l.state.error = (field.empty() ? "" : field + ": ") + r.reason;
  l.state.refusal = std::move(r);
}

void TracingManager::load_locked(Loaded& l) {
  const bool monitor = monitor_only(l.policy);
  const auto& p = l.policy;
  l.state = PolicyState{p.kind, p.ns, p.name, p.source, false, "", "", 0, std::nullopt, p.warnings};
  // Whole or nothing: first what this kernel cannot do at all.
  if (!p.kprobes.empty()) {
    std::string detail;
    if (!feature(features_, "fentry", &detail))
      return reject(l, p.kprobes[0].line, "spec.kprobes",
                    "this kernel cannot attach them: fentry unavailable (" + detail +
                        "); Myelin attaches kprobes as fentry (attaching through the kprobe PMU is not built)");
  }
  // A kprobe whose call is a list (list:NAME) is one kprobe per function of
  // the list; kprobe_spec: the spec.kprobes entry of each attached one.
  std::vector<size_t> kprobe_spec;
  l.kprobes.clear();
  for (size_t i = 0; i < p.kprobes.size(); ++i) {
    bool missing = false;
    const ListSpec* list = list_of(p.kprobes[i].call, p.lists, &missing);
    if (!list) {
      l.kprobes.push_back(p.kprobes[i]);
      kprobe_spec.push_back(i);
      continue;
    }
    auto fns = list_functions(*list, ListKernel{kernel_has_function, tracefs_});
    if (!fns) return reject(l, list->line, "spec.kprobes[" + std::to_string(i) + "].call", fns.error().message);
    for (const auto& fn : *fns) {
      KprobeHook k = p.kprobes[i];
      k.call = fn.function;
      // A syscall list's functions are syscalls (Tetragon's); another list's are as named.
      k.syscall = fn.syscall || fn.function.rfind("__x64_sys_", 0) == 0 || fn.function.rfind("__arm64_sys_", 0) == 0 ||
                  fn.function.rfind("__ia32_sys_", 0) == 0;
      l.kprobes.push_back(std::move(k));
      kprobe_spec.push_back(i);
    }
  }
  // An Override the kernel cannot honour on that function becomes Sigkill
  // (kill-after), and the policy's mode says so.
  for (auto& kp : l.kprobes) {
    if (!kp.overrides()) continue;
    const std::string fn = kp.function(datapath::kernel_syscall_function);
    const std::string need = fn.rfind("security_", 0) == 0 ? "fmod_ret" : "fmod_ret-syscalls";
    std::string detail;
    if (feature(features_, need, &detail)) continue;
    for (auto& s : kp.selectors)
      if (s.action == MYELIN_HOOK_ACT_OVERRIDE) s.action = MYELIN_HOOK_ACT_SIGKILL;
    l.state.mode += std::string(l.state.mode.empty() ? "" : "; ") + "kill-after on " + fn + ": its return cannot be overridden here (" +
                    need + ": " + detail + "), so Override runs as Sigkill; the call may have completed";
  }
  l.tracepoints = p.tracepoints;
  if (p.loader) {
    auto h = loader_hook([this](const std::string& ev) { return tracepoint_format(tracefs_, "syscalls", ev); });
    if (!h) return reject(l, p.line, "spec.loader", h.error().message);
    static_cast<HookInfo&>(*h).line = p.line;
    l.loader = l.tracepoints.size();
    l.tracepoints.push_back(std::move(*h));
  }
  bool lsm_fallback_mode = false;
  if (!p.lsmhooks.empty()) {
    std::string detail;
    if (!feature(features_, "bpf-lsm", &detail)) {
      // No BPF-LSM: the syscalls that reach the hooks, Sigkill at their entry.
      auto fb = lsm_fallback(p, [this](const std::string& ev) { return tracepoint_format(tracefs_, "syscalls", ev); });
      if (!fb) return reject(l, p.lsmhooks[0].line, "spec.lsmhooks", "bpf-lsm unavailable (" + detail + ") and no fallback: " + fb.error().message);
      l.tracepoints.insert(l.tracepoints.end(), fb->begin(), fb->end());
      lsm_fallback_mode = true;
      l.state.mode = "kill-after: no BPF-LSM here (" + detail +
                     "), so lsmhooks run as Sigkill at syscall entry, matching paths as passed (relative paths are not seen); "
                     "the call may have completed";
    }
  }
  if (!hooks_) return reject(l, 0, "", "runtime events are off: tracing hooks need the process probes");
  // A scoped policy acts only where its pods are: the scope is written
  // before any hook attaches (an empty scope acts nowhere).
  if (p.scoped()) {
    if (auto s = hooks_->set_scope(l.id, scope_of(p)); !s) return reject(l, 0, "", s.error().message);
    l.state.mode = std::string("scoped to ") + (p.kind == "TracingPolicyNamespaced" ? "namespace " + p.ns : "all namespaces") +
                   (p.pod_selector ? ", pods matching spec.podSelector" : "") + " (by network namespace)";
  }
  const BinaryIds bin = [this](const std::string& b, bool prefix) { return prefix ? binary_prefix_locked(b) : binary_id_locked(b); };
  std::vector<uint32_t> attached;
  auto fail = [&](int line, const std::string& field, const std::string& why) {
    for (auto h : attached) hooks_->detach(h);
    hooks_->drop_scope(l.id);
    reject(l, line, field, why);
  };
  for (size_t i = 0; i < l.tracepoints.size(); ++i) {
    const auto& tp = l.tracepoints[i];
    Result<myelin_hook_config> cfg = Error{""};
    if (tp.raw) {
      cfg = compile_raw_tracepoint(tp, l.id, next_hook_, bin, host_namespace);
    } else {
      auto fmt = tracepoint_format(tracefs_, tp.subsystem, tp.event);
      cfg = fmt ? compile_tracepoint(tp, *fmt, l.id, next_hook_, bin, host_namespace) : Result<myelin_hook_config>(fmt.error());
    }
    if (cfg) cfg->scoped = p.scoped();
    Result<uint32_t> hook = !cfg     ? Result<uint32_t>(cfg.error())
                            : tp.raw ? hooks_->attach_raw(tp.event, *cfg)
                                     : hooks_->attach(tp.subsystem, tp.event, *cfg);
    if (!hook && i == l.loader) return fail(p.line, "spec.loader", "syscalls/sys_enter_mmap: " + hook.error().message);
    if (!hook)
      return i < p.tracepoints.size() ? fail(tp.line, "spec.tracepoints[" + std::to_string(i) + "]", hook.error().message)
                                      : fail(tp.line, "spec.lsmhooks", "the fallback on syscalls/" + tp.event + ": " + hook.error().message);
    hook_of_[next_hook_++] = {l.id, HookRef::Kind::tracepoint, i, ""};
    attached.push_back(*hook);
  }
  for (size_t i = 0; i < p.uprobes.size(); ++i) {
    const auto& up = p.uprobes[i];
    for (const auto& sym : up.symbols) {
      auto cfg = compile_uprobe(up, l.id, next_hook_, bin, host_namespace);
      if (cfg) cfg->scoped = p.scoped();
      Result<uint32_t> hook = !cfg ? Result<uint32_t>(cfg.error()) : up.ret ? hooks_->attach_uretprobe(up.path, sym, *cfg) : hooks_->attach_uprobe(up.path, sym, *cfg);
      if (!hook) return fail(up.line, "spec.uprobes[" + std::to_string(i) + "]", up.path + ":" + sym + ": " + hook.error().message);
      hook_of_[next_hook_++] = {l.id, HookRef::Kind::uprobe, i, sym};
      attached.push_back(*hook);
    }
  }
  // spec.usdts: every site of the probe its notes list, one uprobe each.
  for (size_t i = 0; i < p.usdts.size(); ++i) {
    const auto& u = p.usdts[i];
    const std::string field = "spec.usdts[" + std::to_string(i) + "]";
    const std::string probe = u.provider + ":" + u.name;
    auto notes = usdt_notes(u.path);
    if (!notes) return fail(u.line, field, notes.error().message);
    size_t sites = 0;
    for (const auto& n : *notes) {
      if (n.provider != u.provider || n.name != u.name) continue;
      myelin_usdt_spec spec{};
      for (size_t k = 0; k < n.args.size() && k < MYELIN_USDT_MAX_ARGS; ++k) spec.args[k] = n.args[k].spec;
      for (size_t j = 0; j < u.args.size(); ++j) {
        const auto idx = static_cast<size_t>(u.args[j].index);
        if (idx >= n.args.size())
          return fail(u.line, field + ".args[" + std::to_string(j) + "].index",
                      "USDT " + probe + " in " + u.path + " has " + std::to_string(n.args.size()) + " arguments (0-based), not " + std::to_string(idx + 1));
        if (!n.args[idx].error.empty())
          return fail(u.line, field + ".args[" + std::to_string(j) + "]", "USDT " + probe + ": " + n.args[idx].error);
      }
      auto cfg = compile_usdt(u, l.id, next_hook_, bin, host_namespace);
      if (cfg) cfg->scoped = p.scoped();
      Result<uint32_t> hook = cfg ? hooks_->attach_usdt(u.path, n.offset, n.semaphore_offset, spec, *cfg) : Result<uint32_t>(cfg.error());
      if (!hook) return fail(u.line, field, u.path + " " + probe + ": " + hook.error().message);
      hook_of_[next_hook_++] = {l.id, HookRef::Kind::usdt, i, probe};
      attached.push_back(*hook);
      ++sites;
    }
    if (!sites) {
      std::string have;
      for (const auto& n : *notes) have += (have.empty() ? "" : ", ") + n.provider + ":" + n.name;
      return fail(u.line, field, "no USDT probe " + probe + " in " + u.path + " (its .note.stapsdt has " + (have.empty() ? "none" : have) + ")");
    }
  }
  for (size_t i = 0; i < l.kprobes.size(); ++i) {
    const auto& kp = l.kprobes[i];
    const std::string fn = kp.function(datapath::kernel_syscall_function);
    using Mode = datapath::TracingHooks::KprobeMode;
    // return: true with an Override (Tetragon's): the selectors and the
    // Override run at entry (fmod_ret; an overridden call is posted there
    // with the errno it returned), and a return probe beside it posts what
    // the other selectors matched, with the return value.
    std::vector<std::pair<KprobeHook, Mode>> probes;
    if (kp.ret && kp.overrides()) {
      auto [entry, exit] = split_return_override(kp);
      probes = {{std::move(entry), Mode::override}, {std::move(exit), Mode::exit}};
    } else {
      probes = {{kp, kp.overrides() ? Mode::override : kp.ret ? Mode::exit : Mode::entry}};
    }
    for (const auto& [probe, mode] : probes) {
      auto cfg = compile_kprobe(probe, l.id, next_hook_, bin, host_namespace);
      if (cfg) cfg->scoped = p.scoped();
      Result<uint32_t> hook = cfg ? hooks_->attach_kprobe(fn, kp.syscall, mode, *cfg) : Result<uint32_t>(cfg.error());
      if (!hook)
        return fail(kp.line, "spec.kprobes[" + std::to_string(kprobe_spec[i]) + "]",
                    fn + ": " + hook.error().message +
                        (kp.syscall && kp.call.rfind("sys_", 0) != 0 && kp.call.find("_sys_") == std::string::npos
                             ? " (attached as a syscall: syscall is true unless set to false, as in Tetragon)"
                             : ""));
      hook_of_[next_hook_++] = {l.id, HookRef::Kind::kprobe, i, fn};
      attached.push_back(*hook);
    }
  }
  // Generic lsmhooks (any hook by name, full selectors): BPF-LSM programs of
  // the kprobe engine, attached where the kernel has BPF-LSM (else refused above).
  bool generic_lsm = false;
  for (size_t i = 0; i < p.lsmhooks.size() && !lsm_fallback_mode; ++i) {
    const auto& lh = p.lsmhooks[i];
    if (!lh.generic) continue;
    KprobeHook k;
    k.call = lh.hook;
    k.syscall = false;
    k.args = lh.args;
    k.selectors = lh.generic_selectors;
    auto cfg = compile_kprobe(k, l.id, next_hook_, bin, host_namespace);
    if (cfg) cfg->scoped = p.scoped();
    Result<uint32_t> hook = cfg ? hooks_->attach_lsm(lh.hook, *cfg) : Result<uint32_t>(cfg.error());
    if (!hook) return fail(lh.line, "spec.lsmhooks[" + std::to_string(i) + "]", lh.hook + ": " + hook.error().message);
    hook_of_[next_hook_++] = {l.id, HookRef::Kind::lsm, i, lh.hook};
    attached.push_back(*hook);
    generic_lsm = true;
  }
  bool overrides = false;
  for (const auto& k : l.kprobes) overrides |= k.overrides();
  if (overrides) l.state.mode += std::string(l.state.mode.empty() ? "" : "; ") + "preventive: Override makes the function return the errno without running (fmod_ret)";
  l.hooks = attached;
  const std::string monitored = monitor ? "monitor (spec.options policy-mode): Sigkill, Signal and Override are reported as Post and not taken" : "";
  if (lsm_fallback_mode) {
    if (monitor) l.state.mode = monitored;
    l.state.enabled = true;
    l.state.hooks = attached.size();
    return;
  }
  size_t lsm_failed = 0;
  if (auto s = load_lsm_locked(l, &lsm_failed); !s) {
    for (auto h : attached) hooks_->detach(h);
    l.hooks.clear();
    return reject(l, p.lsmhooks[lsm_failed].line, "spec.lsmhooks[" + std::to_string(lsm_failed) + "]", s.error().message);
  }
  l.state.enabled = true;
  l.state.hooks = attached.size() + l.lsm_hooks.size();
  if (!l.lsm_hooks.empty() || generic_lsm) l.state.mode = "preventive: lsmhooks run on BPF-LSM, an Override fails the operation before it happens";
  if (monitor) l.state.mode = monitored;
}

// lsmhooks: paths resolved to (dev, inode) now; the programs attached once.
// The reason of an error; *failed: the index of the lsmhook at fault.
Status TracingManager::load_lsm_locked(Loaded& l, size_t* failed) {
  const auto& p = l.policy;
  bool rules = false;
  for (const auto& h : p.lsmhooks) rules |= !h.generic;
  if (!rules) return {};
  if (!lsm_) {
    auto h = datapath::LsmHooks::load([this](const myelin_lsm_event& e) { on_lsm_event(e); });
    if (!h) return Error{h.error().message};
    lsm_ = std::move(*h);
  }
  auto undo = [&] {
    for (const auto& k : l.lsm_keys) lsm_->remove_rule(k);
    for (auto h : l.lsm_hooks) lsm_->release(h);
    l.lsm_keys.clear();
    l.lsm_hooks.clear();
  };
  for (size_t i = 0; i < p.lsmhooks.size(); ++i) {
    const auto& hook = p.lsmhooks[i];
    if (hook.generic) continue;  // attached with the other hooks
    const uint32_t id = hook.id;
    const std::string where = hook.hook;
    *failed = i;
    for (const auto& sel : hook.selectors)
      for (const auto& path : sel.paths) {
        struct stat st {};
        if (stat(path.c_str(), &st) != 0) {
          undo();
          return Error{where + ": " + path + " does not exist (lsmhooks protect files and directories that exist when the policy loads)"};
        }
        myelin_lsm_key k{};
        k.hook = id;
        k.dev = (static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev);  // the kernel's internal dev_t
        k.ino = st.st_ino;
        myelin_lsm_rule r{};
        r.policy_id = l.id;
        r.rule_id = next_rule_++;
        r.action = sel.action;
        r.prefix = sel.op == MYELIN_HOOK_OP_PREFIX;
        r.error = sel.error;
        if (auto s = lsm_->add_rule(k, r); !s) {
          undo();
          return Error{where + ": " + s.error().message};
        }
        lsm_rules_[r.rule_id] = LsmRule{hook.hook, path, i};
        l.lsm_keys.push_back(k);
      }
    if (auto s = lsm_->use(id); !s) {
      undo();
      return Error{where + ": " + s.error().message};
    }
    l.lsm_hooks.push_back(id);
  }
  return {};
}

void TracingManager::unload_locked(Loaded& l) {
  if (hooks_) {
    for (auto h : l.hooks) hooks_->detach(h);
    hooks_->drop_scope(l.id);
  }
  l.hooks.clear();
  if (lsm_) {
    for (const auto& k : l.lsm_keys) lsm_->remove_rule(k);
    for (auto h : l.lsm_hooks) lsm_->release(h);
  }
  l.lsm_keys.clear();
  l.lsm_hooks.clear();
  l.state.enabled = false;
}

std::set<uint32_t> TracingManager::scope_of(const TracingPolicy& p) const {
  std::set<uint32_t> out;
  if (!endpoints_) return out;
  for (const auto& ep : endpoints_->list()) {
    if (p.kind == "TracingPolicyNamespaced" && ep.pod_namespace() != p.ns) continue;
    if (p.pod_selector && !p.pod_selector->matches(labels_of(ep))) continue;
    struct stat st {};
    if (!ep.netns().empty() && stat(ep.netns().c_str(), &st) == 0) out.insert(static_cast<uint32_t>(st.st_ino));
  }
  return out;
}

// On the runtime thread: when the endpoints changed, each scoped policy's pods again.
void TracingManager::refresh_scopes() {
  if (!endpoints_ || endpoints_->generation() == endpoints_generation_) return;
  std::lock_guard lk(mu_);
  endpoints_generation_ = endpoints_->generation();
  for (auto& [id, l] : by_id_)
    if (l->state.enabled && l->policy.scoped())
      if (auto s = hooks_->set_scope(id, scope_of(l->policy)); !s) log::error("tracing", l->policy.name + ": " + s.error().message);
}

void TracingManager::subscribe(objects::ObjectStore& store) {
  objects_ = &store;
  objects::ObjectStore::Subscriber sub;
  sub.kinds = {objects::Kind::tracing_policy, objects::Kind::tracing_policy_namespaced};
  sub.on_event = [this](const objects::Event& e) { on_object(e); };
  sub.on_refusal = [this](objects::Part part, const std::string& source, const policy::Refusal* why) {
    if (part == objects::Part::tracing) on_refusal(source, why);
  };
  subscription_ = store.subscribe(std::move(sub));
}

void TracingManager::on_refusal(const std::string& source, const policy::Refusal* why) {
  std::lock_guard lk(mu_);
  if (!why) {  // removed, or a text that decodes: its refusal goes
    refused_.erase(source);
    return;
  }
  policy::Refusal r = *why;
  bool in_force = false;
  for (const auto& [key, l] : loaded_)
    if (key.source == source) in_force |= l->state.enabled;
  r.last_good_in_force = in_force;
  log::error("tracing", r.message() + (in_force ? " (the last good version of " + source + " stays in force)" : ""));
  refused_[source] = std::move(r);
}

void TracingManager::on_object(const objects::Event& e) {
  std::lock_guard lk(mu_);
  std::shared_ptr<Loaded> old;
  if (auto it = loaded_.find(e.key); it != loaded_.end()) old = it->second;
  // A previous version kept in force beside a rejected one goes with any change.
  auto drop = [&](std::shared_ptr<Loaded> l) {
    if (!l) return;
    unload_locked(*l);
    by_id_.erase(l->id);
  };
  if (auto k = kept_.find(e.key); k != kept_.end()) {
    if (e.type == objects::Event::Type::deleted || k->second != old) drop(k->second);
    kept_.erase(k);
  }
  if (e.type == objects::Event::Type::deleted) {
    drop(old);
    loaded_.erase(e.key);
    return;
  }
  // The new version loads before the old one goes, and a new version this
  // kernel refuses keeps the enabled old one in force (listed beside the
  // refusal), as a source that does not decode does: an edit never leaves
  // what the policy watched or enforced unwatched.
  auto l = std::make_shared<Loaded>();
  l->policy = std::get<TracingPolicy>(e.object);
  l->id = next_policy_++;
  load_locked(*l);
  for (const auto& w : l->state.warnings) log::warn("tracing", w);
  const bool keep_old = !l->state.enabled && old && old->state.enabled;
  if (l->state.enabled)
    log::info("tracing", "TracingPolicy " + l->policy.name + " enabled (" + std::to_string(l->state.hooks) + " hooks, filters in the kernel)");
  else
    log::error("tracing", "TracingPolicy " + l->policy.name + " (" + l->policy.source + ") rejected: " + l->state.error +
                              (keep_old ? " (its previous version stays in force)" : ""));
  if (keep_old) {
    if (l->state.refusal) l->state.refusal->last_good_in_force = true;
    kept_[e.key] = old;
  } else {
    drop(old);
  }
  by_id_[l->id] = l;
  loaded_[e.key] = l;
}

myelin_proc_stats TracingManager::ring_stats() const {
  std::lock_guard lk(mu_);
  return hooks_ ? hooks_->stats() : myelin_proc_stats{};
}

std::vector<PolicyState> TracingManager::list() const {
  std::lock_guard lk(mu_);
  std::vector<PolicyState> out;
  for (const auto& [key, l] : kept_) out.push_back(l->state);  // in force beside its rejected new version
  for (const auto& [key, l] : loaded_) out.push_back(l->state);
  for (const auto& [file, r] : refused_)
    out.push_back(PolicyState{r.kind, r.ns, r.name, r.source + (r.line ? ":" + std::to_string(r.line) : ""), false,
                              (r.field.empty() ? "" : r.field + ": ") + r.reason, "", 0, r, {}});
  return out;
}

void TracingManager::on_event(const myelin_hook_event& e) {
  runtime::Event ev;
  ev.time_ns = static_cast<int64_t>(e.ktime_ns) + runtime_.mono_to_wall_ns();
  ev.action = e.action;
  {
    std::lock_guard lk(mu_);
    auto h = hook_of_.find(e.hook_id);
    auto p = by_id_.find(e.policy_id);
    if (h == hook_of_.end() || p == by_id_.end()) return;  // a policy removed meanwhile
    const auto& l = *p->second;
    const std::vector<HookArg>* args = nullptr;
    if (h->second.kind == HookRef::Kind::lsm) {
      const auto& lh = l.policy.lsmhooks[h->second.index];
      ev.message = lh.message, ev.tags = lh.tags;
      ev.type = runtime::Event::Type::lsm;
      ev.event = lh.hook;
      ev.return_value = e.action == MYELIN_HOOK_ACT_OVERRIDE ? e.ret : 0;
      args = &lh.args;
    } else if (h->second.kind == HookRef::Kind::usdt) {
      const auto& u = l.policy.usdts[h->second.index];
      ev.message = u.message, ev.tags = u.tags;
      ev.type = runtime::Event::Type::usdt;
      ev.subsys = u.path;
      ev.event = h->second.symbol;  // provider:name
      args = &u.args;
    } else if (h->second.kind == HookRef::Kind::uprobe) {
      const auto& up = l.policy.uprobes[h->second.index];
      ev.message = up.message, ev.tags = up.tags;
      ev.type = runtime::Event::Type::uprobe;
      ev.subsys = up.path;
      ev.event = h->second.symbol;
      ev.has_return = up.ret;  // return: true: the event is the return's, with the value
      ev.return_value = e.ret;
      ev.return_arg = return_arg_of(up.ret_type);
      args = &up.args;
    } else if (h->second.kind == HookRef::Kind::kprobe) {
      const auto& kp = l.kprobes[h->second.index];
      ev.message = kp.message, ev.tags = kp.tags;
      ev.return_arg = return_arg_of(kp.ret_type);
      ev.type = runtime::Event::Type::kprobe;
      ev.event = h->second.symbol;
      ev.return_value = e.ret;
      ev.has_return = kp.ret || e.action == MYELIN_HOOK_ACT_OVERRIDE;
      if (kp.ret && kp.ret_type == ArgType::sock && kp.args.size() < MYELIN_HOOK_MAX_ARGS) {  // the returned sock, in the slot after the args
        const size_t s = kp.args.size();
        myelin_hook_sock sk{};
        std::memcpy(&sk, e.strs[s], std::min<size_t>(sizeof sk, e.str_lens[s]));
        ev.return_json = {{"sock_arg", sock_json(sk, static_cast<uint64_t>(e.ret))}};
      }
      if (kp.ret_action && e.ret) ev.return_action = kp.ret_action;
      args = &kp.args;
    } else if (h->second.index == l.loader) {
      // Tetragon's ProcessLoader: the file mapped executable (its build id from the file's note).
      ev.type = runtime::Event::Type::loader;
      const std::string path(e.strs[0], std::min<size_t>(e.str_lens[0], MYELIN_HOOK_STR_MAX - 1));
      ev.subsys = path;
      ev.event = runtime::base64(elf_build_id(path));
    } else {
      const auto& tp = l.tracepoints[h->second.index];
      ev.type = runtime::Event::Type::tracepoint;
      ev.message = tp.message, ev.tags = tp.tags;
      ev.subsys = tp.subsystem;
      ev.event = tp.event;
      args = &tp.args;
    }
    ev.policy = l.policy.name;
    for (size_t i = 0; args && i < args->size() && i < MYELIN_HOOK_MAX_ARGS; ++i) {
      const std::string str(e.strs[i], std::min<size_t>(e.str_lens[i], MYELIN_HOOK_STR_MAX - 1));
      const auto v = static_cast<int64_t>(e.ints[i]);
      const size_t shown = ev.args.size();
      switch ((*args)[i].type) {
        case ArgType::string:
        case ArgType::filename: ev.args.push_back({{"string_arg", str}}); break;
        case ArgType::fd: ev.args.push_back({{"file_arg", {{"path", str}, {"fd", v}}}}); break;
        case ArgType::file: ev.args.push_back({{"file_arg", {{"path", str}}}}); break;
        case ArgType::path: ev.args.push_back({{"path_arg", {{"path", str}}}}); break;
        case ArgType::char_buf:  // the bytes captured (at most 127) and the buffer's full length
          ev.args.push_back({{"bytes_arg", runtime::base64(str)}, {"size", e.ints[i]}});
          break;
        case ArgType::sock:  // the network and credential objects (arg_types.cpp); nop is not shown
        case ArgType::nop:
        case ArgType::skb:
        case ArgType::socket:
        case ArgType::sockaddr:
        case ArgType::net_device:
        case ArgType::cred:
        case ArgType::user_namespace:
        case ArgType::capability:
        case ArgType::kernel_cap_t:
        case ArgType::cap_effective:
        case ArgType::cap_inheritable:
        case ArgType::cap_permitted:
          if (auto j = object_arg_json((*args)[i].type, e, i); !j.is_null()) ev.args.push_back(std::move(j));
          break;
        case ArgType::uint32:
        case ArgType::uint64:
        case ArgType::size_t_: ev.args.push_back({{"size_arg", std::to_string(e.ints[i])}}); break;
        case ArgType::int64:
        case ArgType::long_: ev.args.push_back({{"long_arg", v}}); break;
        case ArgType::none:
        case ArgType::int_:
        case ArgType::int32: ev.args.push_back({{"int_arg", v}}); break;
      }
      if (ev.args.size() > shown && !(*args)[i].label.empty()) ev.args.back()["label"] = (*args)[i].label;
    }
  }
  runtime_.publish_for(std::move(ev), e.pid, e.tid, e.uid, e.netns);
}

void TracingManager::on_lsm_event(const myelin_lsm_event& e) {
  runtime::Event ev;
  ev.type = runtime::Event::Type::lsm;
  ev.time_ns = static_cast<int64_t>(e.ktime_ns) + runtime_.mono_to_wall_ns();
  ev.action = e.action;
  {
    std::lock_guard lk(mu_);
    auto p = by_id_.find(e.policy_id);
    auto r = lsm_rules_.find(e.rule_id);
    if (p == by_id_.end() || r == lsm_rules_.end()) return;
    const auto& rule = r->second;
    const auto& hook = p->second->policy.lsmhooks.at(rule.index);
    ev.policy = p->second->policy.name;
    ev.message = hook.message, ev.tags = hook.tags;
    ev.event = rule.hook;
    std::string name(e.name, strnlen(e.name, sizeof e.name));
    std::string path = e.depth == 0 ? rule.path
                       : e.depth == 1 ? rule.path + (rule.path.back() == '/' ? "" : "/") + name
                                      : rule.path + (rule.path.back() == '/' ? "" : "/") + ".../" + name;
    // The object as Tetragon shows the arg type the hook names (a path when none).
    const char* key = hook.arg_type == LsmObject::file ? "file_arg" : hook.arg_type == LsmObject::linux_binprm ? "linux_binprm_arg" : "path_arg";
    ev.args.push_back({{key, {{"path", path}}}});
    ev.return_value = e.ret;
  }
  runtime_.publish_for(std::move(ev), e.pid, e.tid, e.uid, e.netns);
}

}  // namespace myelin::tracing
