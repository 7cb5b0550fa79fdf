// SPDX-License-Identifier: Apache-2.0
#include "tracing_policy.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "myelin/policy/decode.hpp"
#include "myelin/policy/yaml_documents.hpp"

namespace myelin::tracing {
namespace {

struct Ctx {
  std::string file;
  [[noreturn]] void fail(const YAML::Node& n, const std::string& field, const std::string& why) const {
    int line = n.IsDefined() ? n.Mark().line + 1 : 0;
    throw std::runtime_error(file + ":" + std::to_string(line) + ": " + field + ": " + why);
  }
};

void only(const Ctx& c, const YAML::Node& n, const std::string& where, const std::set<std::string>& allowed,
          const std::string& why = "is not supported by Myelin yet") {
  if (!n.IsMap()) c.fail(n, where, "must be a mapping");
  for (const auto& kv : n) {
    auto k = kv.first.as<std::string>();
    if (!allowed.count(k)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      c.fail(kv.first, where + "." + k, why + " (supported here: " + list + ")");
    }
  }
}

std::string str(const Ctx& c, const YAML::Node& n, const std::string& field) {
  if (!n || !n.IsScalar()) c.fail(n, field, "must be a string");
  return n.as<std::string>();
}

int integer(const Ctx& c, const YAML::Node& n, const std::string& field) {
  try {
    return n.as<int>();
  } catch (const YAML::Exception&) {
    c.fail(n, field, "must be an integer");
  }
}

// Linux capability numbers by Tetragon's (and the kernel's) names.
int capability(const std::string& name) {
  static const char* names[] = {"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
                                "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
                                "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
                                "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
                                "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
                                "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
                                "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
                                "CAP_CHECKPOINT_RESTORE"};
  for (int i = 0; i < static_cast<int>(std::size(names)); ++i)
    if (name == names[i]) return i;
  return -1;
}

bool boolean(const Ctx& c, const YAML::Node& n, const std::string& field) {
  if (!n) return false;
  try {
    return n.as<bool>();
  } catch (const YAML::Exception&) {
    c.fail(n, field, "must be true or false");
  }
}

// One In/NotIn list entry (matchPIDs, matchNamespaces, matchCapabilities): its operator, checked.
std::string in_not_in(const Ctx& c, const YAML::Node& n, const std::string& f) {
  auto op = str(c, n["operator"], f + ".operator");
  if (op != "In" && op != "NotIn") c.fail(n["operator"], f + ".operator", "must be In or NotIn, not '" + op + "'");
  return op;
}

// The operators of sock args (Tetragon's) and their codes.
uint8_t sock_op(const std::string& op) {
  static const std::pair<const char*, uint8_t> ops[] = {
      {"SPort", MYELIN_TP_OP_SPORT},     {"NotSPort", MYELIN_TP_OP_NOT_SPORT}, {"DPort", MYELIN_TP_OP_DPORT},
      {"NotDPort", MYELIN_TP_OP_NOT_DPORT}, {"SAddr", MYELIN_TP_OP_SADDR},   {"NotSAddr", MYELIN_TP_OP_NOT_SADDR},
      {"DAddr", MYELIN_TP_OP_DADDR},     {"NotDAddr", MYELIN_TP_OP_NOT_DADDR}, {"Protocol", MYELIN_TP_OP_PROTOCOL},
      {"Family", MYELIN_TP_OP_FAMILY}};
  for (const auto& [n, code] : ops)
    if (op == n) return code;
  return 0;
}

// One matchArgs / matchReturnArgs entry.
MatchArg match_arg(const Ctx& c, const YAML::Node& n, const std::string& af, size_t nargs, bool ret) {
  only(c, n, af, {"index", "operator", "values"});
  MatchArg m;
  m.index = n["index"] ? integer(c, n["index"], af + ".index") : 0;
  if (ret && m.index != 0) c.fail(n["index"], af + ".index", "must be 0 (the return value)");
  if (!ret && (m.index < 0 || static_cast<size_t>(m.index) >= nargs))
    c.fail(n["index"], af + ".index", "names no argument: the hook has " + std::to_string(nargs) + " args (index is the position in args)");
  m.op = str(c, n["operator"], af + ".operator");
  static const std::set<std::string> ops{"Equal", "NotEqual", "GT", "LT", "GreaterThan", "LessThan", "Mask", "Prefix", "Postfix"};
  if (!ops.count(m.op) && !(!ret && sock_op(m.op)))
    c.fail(n["operator"], af + ".operator",
           "'" + m.op + "' is not supported by Myelin yet (" +
               (ret ? "Equal, NotEqual, GT, LT, Mask"
                    : "Equal, NotEqual, GT, LT, Mask, Prefix, Postfix; on sock args SPort, DPort, SAddr, DAddr, their Not forms, Protocol, Family") +
               ")");
  if (ret && (m.op == "Prefix" || m.op == "Postfix")) c.fail(n["operator"], af + ".operator", "'" + m.op + "' does not apply to a return value");
  const auto& vals = n["values"];
  if (!vals || !vals.IsSequence() || vals.size() == 0) c.fail(vals, af + ".values", "a list of at least one value");
  if ((m.op == "NotEqual" || m.op.rfind("Not", 0) == 0) && vals.size() > 1)
    c.fail(vals, af + ".values", m.op + " takes one value here (use several matchArgs entries on the same index, AND-ed)");
  for (size_t k = 0; k < vals.size(); ++k) m.values.push_back(str(c, vals[k], af + ".values[" + std::to_string(k) + "]"));
  return m;
}

// ret_probe: the hook is a return probe (kprobe with return: true), where matchReturnArgs applies.
Selector selector(const Ctx& c, const YAML::Node& n, const std::string& f, size_t nargs, bool kprobe = false, bool ret_probe = false) {
  if (n["matchReturnArgs"] && !ret_probe)
    c.fail(n["matchReturnArgs"], f + ".matchReturnArgs",
           kprobe ? "needs a return probe: set return: true and returnArg on the kprobe"
                  : "needs a return probe (kprobe with return: true); tracepoints and uprobes here have none");
  only(c, n, f, {"matchArgs", "matchReturnArgs", "matchBinaries", "matchActions", "matchPIDs", "matchNamespaces", "matchCapabilities"});
  Selector s;
  if (const auto& mr = n["matchReturnArgs"]) {
    if (!mr.IsSequence()) c.fail(mr, f + ".matchReturnArgs", "must be a list");
    for (size_t i = 0; i < mr.size(); ++i) s.return_args.push_back(match_arg(c, mr[i], f + ".matchReturnArgs[" + std::to_string(i) + "]", 1, true));
  }
  if (const auto& ma = n["matchArgs"]) {
    if (!ma.IsSequence()) c.fail(ma, f + ".matchArgs", "must be a list");
    for (size_t i = 0; i < ma.size(); ++i) s.args.push_back(match_arg(c, ma[i], f + ".matchArgs[" + std::to_string(i) + "]", nargs, false));
  }
  if (s.args.size() + s.return_args.size() > MYELIN_TP_MAX_CONDS)
    c.fail(n, f, "at most " + std::to_string(MYELIN_TP_MAX_CONDS) + " matchArgs and matchReturnArgs entries per selector");
  if (const auto& mp = n["matchPIDs"]) {
    if (!mp.IsSequence() || mp.size() != 1) c.fail(mp, f + ".matchPIDs", "one matchPIDs entry per selector is supported");
    const std::string pf = f + ".matchPIDs[0]";
    only(c, mp[0], pf, {"operator", "values", "followForks", "isNamespacePID"});
    s.pids_op = in_not_in(c, mp[0], pf);
    s.follow_forks = boolean(c, mp[0]["followForks"], pf + ".followForks");
    s.namespace_pids = boolean(c, mp[0]["isNamespacePID"], pf + ".isNamespacePID");
    const auto& vals = mp[0]["values"];
    if (!vals || !vals.IsSequence() || vals.size() == 0 || vals.size() > MYELIN_TP_MAX_PIDS)
      c.fail(vals, pf + ".values", "1 to " + std::to_string(MYELIN_TP_MAX_PIDS) + " pids");
    for (size_t i = 0; i < vals.size(); ++i) {
      int pid = integer(c, vals[i], pf + ".values[" + std::to_string(i) + "]");
      if (pid < 0) c.fail(vals[i], pf + ".values", "a pid is not negative");
      s.pids.push_back(static_cast<uint32_t>(pid));
    }
  }
  if (const auto& mn = n["matchNamespaces"]) {
    if (!mn.IsSequence() || mn.size() == 0 || mn.size() > MYELIN_TP_MAX_NS)
      c.fail(mn, f + ".matchNamespaces", "1 to " + std::to_string(MYELIN_TP_MAX_NS) + " entries");
    for (size_t i = 0; i < mn.size(); ++i) {
      const std::string nf = f + ".matchNamespaces[" + std::to_string(i) + "]";
      only(c, mn[i], nf, {"namespace", "operator", "values"});
      NamespaceMatch m;
      m.ns = str(c, mn[i]["namespace"], nf + ".namespace");
      if (!namespace_type(m.ns))
        c.fail(mn[i]["namespace"], nf + ".namespace", "'" + m.ns + "' is not a namespace (Uts, Ipc, Mnt, Pid, PidForChildren, Net, Time, TimeForChildren, Cgroup, User)");
      m.op = in_not_in(c, mn[i], nf);
      const auto& vals = mn[i]["values"];
      if (!vals || !vals.IsSequence() || vals.size() == 0 || vals.size() > MYELIN_TP_NS_VALUES)
        c.fail(vals, nf + ".values", "1 to " + std::to_string(MYELIN_TP_NS_VALUES) + " namespace inode numbers or host_ns");
      for (size_t k = 0; k < vals.size(); ++k) {
        auto v = str(c, vals[k], nf + ".values[" + std::to_string(k) + "]");
        if (v != "host_ns" && (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos ||
                               std::stoull(v) > UINT32_MAX))  // an inode number is 32 bits: stoul threw, or truncated
          c.fail(vals[k], nf + ".values", "'" + v + "' is neither a namespace inode number nor host_ns");
        m.values.push_back(v);
      }
      s.namespaces.push_back(std::move(m));
    }
  }
  if (const auto& mc = n["matchCapabilities"]) {
    if (!mc.IsSequence() || mc.size() != 1) c.fail(mc, f + ".matchCapabilities", "one matchCapabilities entry per selector is supported");
    const std::string cf = f + ".matchCapabilities[0]";
    only(c, mc[0], cf, {"type", "operator", "values", "isNamespaceCapability"});
    if (boolean(c, mc[0]["isNamespaceCapability"], cf + ".isNamespaceCapability"))
      c.fail(mc[0]["isNamespaceCapability"], cf + ".isNamespaceCapability", "true is not supported by Myelin yet (capabilities are matched in any user namespace)");
    s.caps_type = mc[0]["type"] ? str(c, mc[0]["type"], cf + ".type") : "Effective";
    if (s.caps_type != "Effective" && s.caps_type != "Inheritable" && s.caps_type != "Permitted")
      c.fail(mc[0]["type"], cf + ".type", "must be Effective, Inheritable or Permitted");
    s.caps_op = in_not_in(c, mc[0], cf);
    const auto& vals = mc[0]["values"];
    if (!vals || !vals.IsSequence() || vals.size() == 0) c.fail(vals, cf + ".values", "at least one capability (CAP_...)");
    for (size_t k = 0; k < vals.size(); ++k) {
      auto v = str(c, vals[k], cf + ".values[" + std::to_string(k) + "]");
      int cap = capability(v);
      if (cap < 0) c.fail(vals[k], cf + ".values", "'" + v + "' is not a capability name (CAP_SYS_ADMIN, ...)");
      s.caps |= 1ull << cap;
    }
  }
  if (const auto& mb = n["matchBinaries"]) {
    if (!mb.IsSequence() || mb.size() != 1) c.fail(mb, f + ".matchBinaries", "one matchBinaries entry per selector is supported");
    const std::string bf = f + ".matchBinaries[0]";
    only(c, mb[0], bf, {"operator", "values"});
    s.binaries_op = str(c, mb[0]["operator"], bf + ".operator");
    if (s.binaries_op != "In" && s.binaries_op != "NotIn" && s.binaries_op != "Prefix" && s.binaries_op != "NotPrefix")
      c.fail(mb[0]["operator"], bf + ".operator", "'" + s.binaries_op + "' is not supported by Myelin yet (In, NotIn, Prefix, NotPrefix)");
    const auto& vals = mb[0]["values"];
    if (!vals || !vals.IsSequence() || vals.size() == 0 || vals.size() > MYELIN_TP_MAX_BINARIES)
      c.fail(vals, bf + ".values", "1 to " + std::to_string(MYELIN_TP_MAX_BINARIES) + " absolute paths");
    for (size_t i = 0; i < vals.size(); ++i) {
      auto v = str(c, vals[i], bf + ".values[" + std::to_string(i) + "]");
      const size_t max = s.binaries_op.find("Prefix") != std::string::npos ? MYELIN_TP_STR_MAX : MYELIN_BINARY_PATH_MAX;
      if (v.empty() || v[0] != '/' || v.size() >= max) c.fail(vals[i], bf + ".values", "'" + v + "' is not an absolute path (of at most " + std::to_string(max - 1) + " bytes)");
      s.binaries.push_back(v);
    }
  }
  if (const auto& acts = n["matchActions"]) {
    if (!acts.IsSequence() || acts.size() != 1) c.fail(acts, f + ".matchActions", "one action per selector is supported");
    const std::string xf = f + ".matchActions[0]";
    only(c, acts[0], xf, {"action", "argSig", "argError"});
    s.action = str(c, acts[0]["action"], xf + ".action");
    if (s.action == "Override" && !kprobe)
      c.fail(acts[0]["action"], xf + ".action",
             "Override needs a kprobe (attached as fmod_ret): a tracepoint or uprobe cannot change what a function returns (use Sigkill here)");
    if (s.action != "Post" && s.action != "NoPost" && s.action != "Sigkill" && s.action != "Signal" && s.action != "Override")
      c.fail(acts[0]["action"], xf + ".action", "'" + s.action + "' is not supported by Myelin yet (Post, NoPost, Sigkill, Signal, Override)");
    if (s.action == "Override") {
      if (!acts[0]["argError"]) c.fail(acts[0], xf + ".argError", "Override needs argError (a negative errno, e.g. -1 for EPERM)");
      s.error = integer(c, acts[0]["argError"], xf + ".argError");
      if (s.error >= 0 || s.error < -4095) c.fail(acts[0]["argError"], xf + ".argError", "must be a negative errno (-1 is EPERM)");
    }
    if (s.action == "Signal") {
      s.signal = integer(c, acts[0]["argSig"], xf + ".argSig");
      if (s.signal < 1 || s.signal > 64) c.fail(acts[0]["argSig"], xf + ".argSig", "must be a signal number 1-64");
    }
  }
  return s;
}

// kernel_objects: kprobes on kernel functions, whose args can be struct file * / struct path *.
std::vector<TpArg> hook_args(const Ctx& c, const YAML::Node& args, const std::string& f, bool kernel_objects = false) {
  std::vector<TpArg> out;
  if (!args) return out;
  if (!args.IsSequence() || args.size() > MYELIN_TP_MAX_ARGS)
    c.fail(args, f, "a list of at most " + std::to_string(MYELIN_TP_MAX_ARGS) + " args");
  for (size_t j = 0; j < args.size(); ++j) {
    const std::string af = f + "[" + std::to_string(j) + "]";
    only(c, args[j], af, {"index", "type", "sizeArgIndex"});
    TpArg a{integer(c, args[j]["index"], af + ".index"), str(c, args[j]["type"], af + ".type")};
    static const std::set<std::string> types{"int", "int32", "int64", "long", "uint32", "uint64", "size_t", "string", "filename", "fd", "char_buf"};
    if (a.type == "char_buf") {
      if (!args[j]["sizeArgIndex"]) c.fail(args[j], af + ".sizeArgIndex", "char_buf needs sizeArgIndex: 1 + the index of the argument holding its length");
      a.size_arg_index = integer(c, args[j]["sizeArgIndex"], af + ".sizeArgIndex");
      if (a.size_arg_index < 1) c.fail(args[j]["sizeArgIndex"], af + ".sizeArgIndex", "counts from 1 (1 + the length argument's index)");
    } else if (args[j]["sizeArgIndex"]) {
      c.fail(args[j]["sizeArgIndex"], af + ".sizeArgIndex", "only char_buf has a size argument");
    }
    if ((a.type == "file" || a.type == "path" || a.type == "sock") && !kernel_objects)
      c.fail(args[j]["type"], af + ".type",
             "'" + a.type + "' is a kernel object, which only a kprobe on a kernel function (not a syscall) receives" +
                 std::string(a.type == "sock" ? "; per-process connections: myelind --network-events" : "; here use fd (resolved to the file's path)"));
    if (!types.count(a.type) && a.type != "file" && a.type != "path" && a.type != "sock")
      c.fail(args[j]["type"], af + ".type", "'" + a.type + "' is not supported by Myelin yet (int, int32, int64, long, uint32, uint64, size_t, string, fd, char_buf" +
                                                 std::string(kernel_objects ? ", file, path, sock" : "") + ")");
    out.push_back(a);
  }
  return out;
}

TracingPolicy policy(const Ctx& c, const YAML::Node& doc, const std::string& kind) {
  TracingPolicy p;
  p.kind = kind;
  const auto& meta = doc["metadata"];
  if (!meta || !meta["name"]) c.fail(doc, "metadata.name", "is required");
  p.name = str(c, meta["name"], "metadata.name");
  if (kind == "TracingPolicyNamespaced") p.ns = meta["namespace"] ? str(c, meta["namespace"], "metadata.namespace") : "default";
  p.source = c.file + ":" + std::to_string(doc.Mark().line + 1);
  const auto& spec = doc["spec"];
  if (!spec || !spec.IsMap()) c.fail(doc, "spec", "is required");
  only(c, spec, "spec", {"tracepoints", "kprobes", "lsmhooks", "uprobes", "podSelector"});
  if (const auto& kps = spec["kprobes"]) {
    if (!kps.IsSequence()) c.fail(kps, "spec.kprobes", "must be a list");
    for (size_t i = 0; i < kps.size(); ++i) {
      const std::string f = "spec.kprobes[" + std::to_string(i) + "]";
      only(c, kps[i], f, {"call", "syscall", "args", "selectors", "message", "return", "returnArg", "tags"});
      KprobeHook h;
      h.call = str(c, kps[i]["call"], f + ".call");
      if (h.call.empty() || h.call.find_first_of("/ .") != std::string::npos) c.fail(kps[i]["call"], f + ".call", "'" + h.call + "' is not a function name");
      h.syscall = boolean(c, kps[i]["syscall"], f + ".syscall");
      h.ret = boolean(c, kps[i]["return"], f + ".return");
      if (const auto& ra = kps[i]["returnArg"]) {
        if (!h.ret) c.fail(ra, f + ".returnArg", "needs return: true");
        only(c, ra, f + ".returnArg", {"index", "type"});
        static const std::set<std::string> rtypes{"int", "int32", "int64", "long", "size_t", "uint32", "uint64"};
        auto t = str(c, ra["type"], f + ".returnArg.type");
        if (!rtypes.count(t)) c.fail(ra["type"], f + ".returnArg.type", "'" + t + "' is not supported here (an integer: int, long, size_t, ...)");
      }
      h.args = hook_args(c, kps[i]["args"], f + ".args", !h.syscall);
      for (size_t j = 0; j < h.args.size(); ++j)
        if (h.args[j].index < 0 || h.args[j].index > 4)
          c.fail(kps[i]["args"][j]["index"], f + ".args[" + std::to_string(j) + "].index", "a kprobe reads the function's arguments 0-4");
      if (const auto& sels = kps[i]["selectors"]) {
        if (!sels.IsSequence()) c.fail(sels, f + ".selectors", "must be a list");
        for (size_t j = 0; j < sels.size(); ++j)
          h.selectors.push_back(selector(c, sels[j], f + ".selectors[" + std::to_string(j) + "]", h.args.size(), true, h.ret));
      if (h.ret && h.overrides())
        c.fail(kps[i]["return"], f + ".return", "a return probe cannot Override: the function has already run (Override on an entry probe)");
      }
      p.kprobes.push_back(std::move(h));
    }
  }
  if (const auto& ps = spec["podSelector"]) {
    auto sel = policy::decode_label_selector(ps, c.file, "spec.podSelector");
    if (!sel) throw std::runtime_error(sel.error().message);
    p.pod_selector = *sel;
  }
  if (const auto& ups = spec["uprobes"]) {
    if (!ups.IsSequence()) c.fail(ups, "spec.uprobes", "must be a list");
    for (size_t i = 0; i < ups.size(); ++i) {
      const std::string f = "spec.uprobes[" + std::to_string(i) + "]";
      only(c, ups[i], f, {"path", "symbols", "args", "selectors", "message"});
      UprobeHook h;
      h.path = str(c, ups[i]["path"], f + ".path");
      if (h.path.empty() || h.path[0] != '/') c.fail(ups[i]["path"], f + ".path", "'" + h.path + "' is not an absolute path");
      const auto& syms = ups[i]["symbols"];
      if (!syms || !syms.IsSequence() || syms.size() == 0) c.fail(ups[i], f + ".symbols", "a list of at least one symbol");
      for (size_t k = 0; k < syms.size(); ++k) h.symbols.push_back(str(c, syms[k], f + ".symbols[" + std::to_string(k) + "]"));
      h.args = hook_args(c, ups[i]["args"], f + ".args");
      for (size_t j = 0; j < h.args.size(); ++j)
        if (h.args[j].index < 0 || h.args[j].index > 4)
          c.fail(ups[i]["args"][j]["index"], f + ".args[" + std::to_string(j) + "].index", "a uprobe reads the function's arguments 0-4");
      if (const auto& sels = ups[i]["selectors"]) {
        if (!sels.IsSequence()) c.fail(sels, f + ".selectors", "must be a list");
        for (size_t j = 0; j < sels.size(); ++j) h.selectors.push_back(selector(c, sels[j], f + ".selectors[" + std::to_string(j) + "]", h.args.size()));
      }
      p.uprobes.push_back(std::move(h));
    }
  }
  if (const auto& hooks = spec["lsmhooks"]) {
    if (!hooks.IsSequence()) c.fail(hooks, "spec.lsmhooks", "must be a list");
    for (size_t i = 0; i < hooks.size(); ++i) {
      const std::string f = "spec.lsmhooks[" + std::to_string(i) + "]";
      only(c, hooks[i], f, {"hook", "args", "selectors"});
      LsmHook h;
      h.hook = str(c, hooks[i]["hook"], f + ".hook");
      if (!lsm_hook_id(h.hook))
        c.fail(hooks[i]["hook"], f + ".hook", "'" + h.hook + "' is not supported by Myelin yet (inode_unlink, inode_rename, path_unlink, path_rename, bprm_check_security, file_open)");
      if (const auto& args = hooks[i]["args"]) {
        // The hook's object is what Myelin matches; one arg names it.
        if (!args.IsSequence() || args.size() != 1) c.fail(args, f + ".args", "one arg: the hook's object (file, path, dentry or linux_binprm)");
        only(c, args[0], f + ".args[0]", {"index", "type"});
        static const std::set<std::string> types{"file", "path", "dentry", "linux_binprm"};
        auto t = str(c, args[0]["type"], f + ".args[0].type");
        if (!types.count(t)) c.fail(args[0]["type"], f + ".args[0].type", "'" + t + "' is not supported here (file, path, dentry, linux_binprm)");
      }
      const auto& sels = hooks[i]["selectors"];
      if (!sels || !sels.IsSequence() || sels.size() == 0) c.fail(hooks[i], f + ".selectors", "at least one selector naming paths");
      for (size_t j = 0; j < sels.size(); ++j) {
        const std::string sf = f + ".selectors[" + std::to_string(j) + "]";
        only(c, sels[j], sf, {"matchArgs", "matchActions"});
        LsmSelector s;
        const auto& ma = sels[j]["matchArgs"];
        if (!ma || !ma.IsSequence() || ma.size() != 1) c.fail(sels[j], sf + ".matchArgs", "one matchArgs entry on the hook's object (index 0)");
        only(c, ma[0], sf + ".matchArgs[0]", {"index", "operator", "values"});
        if (ma[0]["index"] && integer(c, ma[0]["index"], sf + ".matchArgs[0].index") != 0)
          c.fail(ma[0]["index"], sf + ".matchArgs[0].index", "must be 0 (the hook's object)");
        s.op = str(c, ma[0]["operator"], sf + ".matchArgs[0].operator");
        if (s.op != "Equal" && s.op != "Prefix")
          c.fail(ma[0]["operator"], sf + ".matchArgs[0].operator", "'" + s.op + "' is not supported on lsmhooks (Equal, Prefix)");
        const auto& vals = ma[0]["values"];
        if (!vals || !vals.IsSequence() || vals.size() == 0) c.fail(ma[0], sf + ".matchArgs[0].values", "at least one absolute path");
        for (size_t k = 0; k < vals.size(); ++k) {
          auto v = str(c, vals[k], sf + ".matchArgs[0].values[" + std::to_string(k) + "]");
          if (v.empty() || v[0] != '/') c.fail(vals[k], sf + ".matchArgs[0].values", "'" + v + "' is not an absolute path");
          s.paths.push_back(v);
        }
        if (const auto& acts = sels[j]["matchActions"]) {
          if (!acts.IsSequence() || acts.size() != 1) c.fail(acts, sf + ".matchActions", "one action per selector is supported");
          only(c, acts[0], sf + ".matchActions[0]", {"action", "argError"});
          s.action = str(c, acts[0]["action"], sf + ".matchActions[0].action");
          if (s.action != "Post" && s.action != "NoPost" && s.action != "Sigkill" && s.action != "Override")
            c.fail(acts[0]["action"], sf + ".matchActions[0].action", "'" + s.action + "' is not supported on lsmhooks (Post, NoPost, Sigkill, Override)");
          if (acts[0]["argError"]) s.error = integer(c, acts[0]["argError"], sf + ".matchActions[0].argError");
          if (s.error >= 0 || s.error < -4095) c.fail(acts[0]["argError"], sf + ".matchActions[0].argError", "must be a negative errno (-1 is EPERM)");
        }
        h.selectors.push_back(std::move(s));
      }
      p.lsmhooks.push_back(std::move(h));
    }
  }
  if (const auto& tps = spec["tracepoints"]) {
    if (!tps.IsSequence()) c.fail(tps, "spec.tracepoints", "must be a list");
    for (size_t i = 0; i < tps.size(); ++i) {
      const std::string f = "spec.tracepoints[" + std::to_string(i) + "]";
      only(c, tps[i], f, {"subsystem", "event", "args", "selectors"});
      TracepointHook h;
      h.subsystem = str(c, tps[i]["subsystem"], f + ".subsystem");
      h.event = str(c, tps[i]["event"], f + ".event");
      for (const auto& name : {h.subsystem, h.event})
        if (name.empty() || name.find_first_of("/. ") != std::string::npos) c.fail(tps[i], f, "'" + name + "' is not a tracepoint name");
      h.args = hook_args(c, tps[i]["args"], f + ".args");
      if (const auto& sels = tps[i]["selectors"]) {
        if (!sels.IsSequence()) c.fail(sels, f + ".selectors", "must be a list");
        for (size_t j = 0; j < sels.size(); ++j) h.selectors.push_back(selector(c, sels[j], f + ".selectors[" + std::to_string(j) + "]", h.args.size()));
      }
      p.tracepoints.push_back(std::move(h));
    }
  }
  if (p.scoped() && !p.lsmhooks.empty())
    c.fail(spec["lsmhooks"], "spec.lsmhooks",
           "cannot be scoped to pods yet (TracingPolicyNamespaced or podSelector): its rules would act on every process of the node; use a TracingPolicy without podSelector");
  if (p.tracepoints.empty() && p.uprobes.empty() && p.kprobes.empty() && p.lsmhooks.empty()) c.fail(spec, "spec", "names no hook (tracepoints, kprobes, lsmhooks, uprobes)");
  return p;
}

}  // namespace

uint32_t lsm_hook_id(const std::string& name) {
  if (name == "inode_unlink") return MYELIN_LSM_INODE_UNLINK;
  if (name == "inode_rename") return MYELIN_LSM_INODE_RENAME;
  if (name == "path_unlink") return MYELIN_LSM_PATH_UNLINK;
  if (name == "path_rename") return MYELIN_LSM_PATH_RENAME;
  if (name == "bprm_check_security") return MYELIN_LSM_BPRM_CHECK;
  if (name == "file_open") return MYELIN_LSM_FILE_OPEN;
  return 0;
}

std::vector<std::pair<std::string, std::string>> lsm_fallback_syscalls(const std::string& hook) {
  if (hook == "inode_unlink" || hook == "path_unlink") return {{"sys_enter_unlinkat", "pathname"}, {"sys_enter_unlink", "pathname"}};
  if (hook == "inode_rename" || hook == "path_rename")
    return {{"sys_enter_renameat2", "oldname"}, {"sys_enter_renameat", "oldname"}, {"sys_enter_rename", "oldname"}};
  if (hook == "bprm_check_security") return {{"sys_enter_execve", "filename"}, {"sys_enter_execveat", "filename"}};
  if (hook == "file_open") return {{"sys_enter_openat", "filename"}, {"sys_enter_openat2", "filename"}, {"sys_enter_open", "filename"}};
  return {};
}

Result<std::vector<TracepointHook>> lsm_fallback(const TracingPolicy& p,
                                                 const std::function<Result<std::vector<TpField>>(const std::string& event)>& format) {
  std::vector<TracepointHook> out;
  for (const auto& lh : p.lsmhooks)
    for (const auto& [event, field] : lsm_fallback_syscalls(lh.hook)) {
      auto fmt = format(event);
      if (!fmt) continue;  // this architecture has no such syscall (e.g. unlink on arm64)
      int index = -1;
      for (size_t i = 0; i < fmt->size(); ++i)
        if ((*fmt)[i].name == field) index = static_cast<int>(i);
      if (index < 0) return Error{"syscalls/" + event + " has no field '" + field + "'"};
      TracepointHook h;
      h.subsystem = "syscalls";
      h.event = event;
      h.args.push_back({index, "string"});
      for (const auto& sel : lh.selectors)
        for (const auto& path : sel.paths) {
          if (h.selectors.size() == MYELIN_TP_MAX_SELECTORS)
            return Error{"spec.lsmhooks (" + lh.hook + "): more than " + std::to_string(MYELIN_TP_MAX_SELECTORS) +
                         " paths cannot be enforced without BPF-LSM"};
          Selector s;
          s.args.push_back({0, sel.op, {path}});
          s.action = sel.action == "Override" ? "Sigkill" : sel.action;
          h.selectors.push_back(std::move(s));
        }
      out.push_back(std::move(h));
    }
  return out;
}

Result<std::vector<TracingPolicy>> decode_tracing_yaml(const std::string& text, const std::string& file) {
  Ctx c{file};
  std::vector<TracingPolicy> out;
  auto docs = policy::load_yaml_documents(text, file);
  if (!docs) return docs.error();
  try {
    for (const auto& doc : *docs) {
      if (!doc.IsMap() || !doc["kind"]) continue;
      const auto kind = doc["kind"].as<std::string>();
      if (kind != "TracingPolicy" && kind != "TracingPolicyNamespaced") continue;
      const auto api = doc["apiVersion"] ? doc["apiVersion"].as<std::string>() : "";
      if (api != "cilium.io/v1alpha1") c.fail(doc["apiVersion"], "apiVersion", "must be cilium.io/v1alpha1 for " + kind + ", not '" + api + "'");
      out.push_back(policy(c, doc, kind));
    }
  } catch (const YAML::Exception& e) {
    return Error{file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg};
  } catch (const std::runtime_error& e) {
    return Error{e.what()};
  }
  return out;
}

Result<std::vector<TpField>> tracepoint_format(const std::string& tracefs, const std::string& subsystem, const std::string& event) {
  const std::string path = tracefs + "/events/" + subsystem + "/" + event + "/format";
  std::ifstream in(path);
  if (!in) return Error{"tracepoint " + subsystem + "/" + event + " does not exist on this kernel (no " + path + ")"};
  std::vector<TpField> out;
  std::string line;
  while (std::getline(in, line)) {
    auto f = line.find("field:");
    if (f == std::string::npos) continue;
    TpField t;
    auto semi = line.find(';', f);
    t.decl = line.substr(f + 6, semi - f - 6);
    auto name_end = t.decl.find('[');
    std::string d = t.decl.substr(0, name_end);
    while (!d.empty() && d.back() == ' ') d.pop_back();
    auto sp = d.find_last_of(" *");
    t.name = d.substr(sp + 1);
    auto num = [&](const char* key) -> long {
      auto k = line.find(key);
      return k == std::string::npos ? -1 : std::strtol(line.c_str() + k + std::strlen(key), nullptr, 10);
    };
    t.offset = static_cast<uint16_t>(num("offset:"));
    t.size = static_cast<uint8_t>(num("size:"));
    t.is_signed = num("signed:") == 1;
    out.push_back(t);
  }
  if (out.empty()) return Error{"cannot read the fields of " + path};
  return out;
}

namespace {

// Several values in one matchArgs entry mean any of them: the selector is
// repeated once per combination, each with single values (selectors are OR-ed).
Result<std::vector<Selector>> expand(const std::vector<Selector>& in, const std::string& where) {
  std::vector<Selector> out;
  for (const auto& sel : in) {
    std::vector<Selector> partial{sel};
    for (auto list : {&Selector::args, &Selector::return_args})
      for (size_t c = 0; c < (sel.*list).size(); ++c) {
        std::vector<Selector> next;
        for (const auto& p : partial)
          for (const auto& v : (sel.*list)[c].values) {
            Selector q = p;
            (q.*list)[c].values = {v};
            next.push_back(std::move(q));
          }
        partial = std::move(next);
      }
    out.insert(out.end(), partial.begin(), partial.end());
  }
  if (out.size() > MYELIN_TP_MAX_SELECTORS)
    return Error{where + ": " + std::to_string(out.size()) + " selectors once each matchArgs value is its own (at most " +
                 std::to_string(MYELIN_TP_MAX_SELECTORS) + " per hook: split the hook or use Prefix)"};
  return out;
}

// A sock condition: ports and protocol/family as numbers or names, addresses as CIDR.
Status sock_cond(myelin_tp_cond& cond, const std::string& op, const std::string& value) {
  cond.op = sock_op(op);
  if (op.find("Addr") != std::string::npos) {
    const auto slash = value.find('/');
    const std::string addr = value.substr(0, slash);
    uint8_t bytes[16] = {};
    int family = inet_pton(AF_INET, addr.c_str(), bytes) == 1 ? 2 : inet_pton(AF_INET6, addr.c_str(), bytes) == 1 ? 10 : 0;
    if (!family) return Error{"'" + value + "' is not an address or CIDR"};
    const int max = family == 2 ? 32 : 128;
    int bits = max;
    if (slash != std::string::npos) {
      try {
        size_t used = 0;
        bits = std::stoi(value.substr(slash + 1), &used);
        if (used != value.size() - slash - 1) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        bits = -1;
      }
      if (bits < 0 || bits > max) return Error{"'" + value + "': the prefix length must be 0-" + std::to_string(max)};
    }
    std::memcpy(cond.str, bytes, sizeof bytes);
    cond.str_len = static_cast<uint8_t>(bits);
    cond.value = static_cast<uint64_t>(family);
    return {};
  }
  static const std::map<std::string, uint64_t> names{{"IPPROTO_TCP", 6}, {"IPPROTO_UDP", 17}, {"IPPROTO_ICMP", 1}, {"IPPROTO_ICMPV6", 58},
                                                     {"AF_INET", 2},      {"AF_INET6", 10}};
  if (auto it = names.find(value); it != names.end()) {
    cond.value = it->second;
    return {};
  }
  try {
    size_t used = 0;
    const long v = std::stol(value, &used, 0);
    if (used != value.size() || v < 0 || v > 65535) throw std::invalid_argument("range");
    cond.value = static_cast<uint64_t>(v);
  } catch (const std::exception&) {
    return Error{"'" + value + "' is not a port, protocol or family"};
  }
  return {};
}

uint8_t action_code(const std::string& a) {
  return a == "NoPost"     ? MYELIN_TP_ACT_NOPOST
         : a == "Sigkill"  ? MYELIN_TP_ACT_SIGKILL
         : a == "Signal"   ? MYELIN_TP_ACT_SIGNAL
         : a == "Override" ? MYELIN_TP_ACT_OVERRIDE
                           : MYELIN_TP_ACT_POST;
}

Status compile_selectors(myelin_tp_config& cfg, const std::vector<Selector>& selectors, const std::string& where,
                         const BinaryIds& binary_id, const HostNamespaces& host_ns) {
  auto expanded = expand(selectors, where);
  if (!expanded) return expanded.error();
  for (size_t s = 0; s < expanded->size(); ++s) {
    const auto& in = (*expanded)[s];
    auto& out = cfg.selectors[s];
    const std::string sctx = where + ": selectors[" + std::to_string(s) + "]";
    out.action = action_code(in.action);
    out.action_arg = in.action == "Override" ? in.error : in.signal;
    out.binary_op = in.binaries_op == "In" ? 1 : in.binaries_op == "NotIn" ? 2 : in.binaries_op == "Prefix" ? 3 : in.binaries_op == "NotPrefix" ? 4 : 0;
    out.nbinaries = static_cast<uint8_t>(in.binaries.size());
    const bool prefix = out.binary_op >= 3;
    for (size_t b = 0; b < in.binaries.size(); ++b) {
      const uint32_t v = binary_id(in.binaries[b], prefix);
      if (prefix && v == 0)
        return Error{sctx + ".matchBinaries: no room for prefix '" + in.binaries[b] + "' (at most " +
                     std::to_string(MYELIN_BINARY_PREFIXES) + " distinct binary prefixes on a node)"};
      if (prefix)
        out.binaries[0] |= 1u << (v - 1);  // the prefix's bit
      else
        out.binaries[b] = v;
    }
    out.pid_op = in.pids_op == "In" ? 1 : in.pids_op == "NotIn" ? 2 : 0;
    out.npids = static_cast<uint8_t>(in.pids.size());
    for (size_t i = 0; i < in.pids.size(); ++i) out.pids[i] = in.pids[i];
    out.pid_flags = (in.follow_forks ? MYELIN_TP_PID_FOLLOW_FORKS : 0) | (in.namespace_pids ? MYELIN_TP_PID_NAMESPACED : 0);
    out.cap_op = in.caps_op == "In" ? 1 : in.caps_op == "NotIn" ? 2 : 0;
    out.cap_set = in.caps_type == "Inheritable" ? MYELIN_TP_CAP_INHERITABLE
                  : in.caps_type == "Permitted" ? MYELIN_TP_CAP_PERMITTED
                                                : MYELIN_TP_CAP_EFFECTIVE;
    out.caps = in.caps;
    out.nns = static_cast<uint8_t>(in.namespaces.size());
    for (size_t n = 0; n < in.namespaces.size(); ++n) {
      const auto& m = in.namespaces[n];
      auto& o = out.ns[n];
      o.ns = namespace_type(m.ns);
      o.op = m.op == "In" ? 1 : 2;
      o.nvalues = static_cast<uint8_t>(m.values.size());
      for (size_t k = 0; k < m.values.size(); ++k) {
        if (m.values[k] != "host_ns") {
          o.values[k] = static_cast<uint32_t>(std::stoul(m.values[k]));
          continue;
        }
        uint32_t inum = host_ns ? host_ns(o.ns) : 0;
        if (!inum) return Error{sctx + ".matchNamespaces[" + std::to_string(n) + "]: cannot read the host's " + m.ns + " namespace (/proc/2/ns or /proc/1/ns)"};
        o.values[k] = inum;
      }
    }
    out.nconds = static_cast<uint8_t>(in.args.size());
    for (size_t c = 0; c < in.args.size(); ++c) {
      const auto& m = in.args[c];
      const std::string& value = m.values.at(0);
      auto& cond = out.conds[c];
      cond.arg = static_cast<uint8_t>(m.index);
      const uint8_t t = cfg.args[m.index].type;
      const bool is_str = t == MYELIN_TP_ARG_STRING || t == MYELIN_TP_ARG_FD || t == MYELIN_TP_ARG_FILE || t == MYELIN_TP_ARG_PATH ||
                          t == MYELIN_TP_ARG_BUF;
      const std::string ctx = sctx + ".matchArgs[" + std::to_string(c) + "]";
      if ((t == MYELIN_TP_ARG_SOCK) != (sock_op(m.op) != 0))
        return Error{ctx + ": " + m.op + (t == MYELIN_TP_ARG_SOCK ? " does not apply to a sock argument (SPort, DPort, SAddr, DAddr, their Not forms, Protocol, Family)"
                                                                  : " applies to sock arguments only")};
      if (t == MYELIN_TP_ARG_SOCK) {
        if (auto st = sock_cond(cond, m.op, value); !st) return Error{ctx + ": " + st.error().message};
        continue;
      }
      if (m.op == "Equal") cond.op = MYELIN_TP_OP_EQ;
      else if (m.op == "NotEqual") cond.op = MYELIN_TP_OP_NE;
      else if (m.op == "GT" || m.op == "GreaterThan") cond.op = MYELIN_TP_OP_GT;
      else if (m.op == "LT" || m.op == "LessThan") cond.op = MYELIN_TP_OP_LT;
      else if (m.op == "Mask") cond.op = MYELIN_TP_OP_MASK;
      else if (m.op == "Postfix") cond.op = MYELIN_TP_OP_POSTFIX;
      else cond.op = MYELIN_TP_OP_PREFIX;
      if (is_str) {
        if (cond.op != MYELIN_TP_OP_EQ && cond.op != MYELIN_TP_OP_NE && cond.op != MYELIN_TP_OP_PREFIX && cond.op != MYELIN_TP_OP_POSTFIX)
          return Error{ctx + ": " + m.op + " does not apply to a string argument"};
        if (value.size() >= MYELIN_TP_STR_MAX - 1) return Error{ctx + ": the value is longer than " + std::to_string(MYELIN_TP_STR_MAX - 2) + " bytes"};
        std::memcpy(cond.str, value.data(), value.size());
        cond.str_len = static_cast<uint8_t>(value.size());
      } else {
        if (cond.op == MYELIN_TP_OP_PREFIX || cond.op == MYELIN_TP_OP_POSTFIX) return Error{ctx + ": " + m.op + " applies to strings only"};
        try {
          size_t used = 0;
          long long v = std::stoll(value, &used, 0);
          if (used != value.size()) throw std::invalid_argument("trailing");
          cond.value = static_cast<uint64_t>(v);
        } catch (const std::exception&) {
          return Error{ctx + ": '" + value + "' is not an integer"};
        }
      }
    }
  }
  cfg.nselectors = static_cast<uint8_t>(expanded->size());
  // matchReturnArgs: after the arg conditions, on the return value (signed).
  for (size_t s = 0; s < expanded->size(); ++s) {
    auto& out = cfg.selectors[s];
    for (const auto& m : (*expanded)[s].return_args) {
      auto& cond = out.conds[out.nconds++];
      cond.arg = MYELIN_TP_RET_ARG;
      cond.op = m.op == "Equal" ? MYELIN_TP_OP_EQ : m.op == "NotEqual" ? MYELIN_TP_OP_NE : m.op == "Mask" ? MYELIN_TP_OP_MASK
                : (m.op == "GT" || m.op == "GreaterThan") ? MYELIN_TP_OP_GT : MYELIN_TP_OP_LT;
      try {
        size_t used = 0;
        cond.value = static_cast<uint64_t>(std::stoll(m.values.at(0), &used, 0));
        if (used != m.values[0].size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        return Error{where + ": selectors[" + std::to_string(s) + "].matchReturnArgs: '" + m.values[0] + "' is not an integer"};
      }
    }
  }
  return {};
}

uint8_t arg_kind(const std::string& type) {
  if (type == "string" || type == "filename") return MYELIN_TP_ARG_STRING;
  if (type == "fd") return MYELIN_TP_ARG_FD;
  if (type == "file") return MYELIN_TP_ARG_FILE;
  if (type == "path") return MYELIN_TP_ARG_PATH;
  if (type == "sock") return MYELIN_TP_ARG_SOCK;
  if (type == "char_buf") return MYELIN_TP_ARG_BUF;
  if (type == "uint32" || type == "uint64" || type == "size_t") return MYELIN_TP_ARG_UINT;
  return MYELIN_TP_ARG_INT;
}

// The kernel resolves one fd / file / path per hook to its path (a bounded dentry walk).
Status mark_path_arg(myelin_tp_config& cfg, const std::string& where) {
  for (uint8_t i = 0; i < cfg.nargs; ++i) {
    const uint8_t t = cfg.args[i].type;
    if (t != MYELIN_TP_ARG_FD && t != MYELIN_TP_ARG_FILE && t != MYELIN_TP_ARG_PATH) continue;
    if (cfg.path_arg) return Error{where + ": args[" + std::to_string(i) + "]: one fd, file or path argument per hook is resolved to a path"};
    cfg.path_arg = static_cast<uint8_t>(i + 1);
  }
  return {};
}

// Args of a function call (uprobe, kprobe): offset is the argument's position.
void call_args(myelin_tp_config& cfg, const std::vector<TpArg>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto& out = cfg.args[i];
    out.offset = static_cast<uint16_t>(a.index);
    out.type = arg_kind(a.type);
    out.size = (a.type == "int" || a.type == "int32" || a.type == "uint32" || a.type == "fd") ? 4 : 8;
    if (out.type == MYELIN_TP_ARG_BUF) {
      out.size_offset = static_cast<uint16_t>(a.size_arg_index - 1);  // the length's argument position
      out.size_size = 8;
    }
  }
  cfg.nargs = static_cast<uint8_t>(args.size());
}

}  // namespace

uint8_t namespace_type(const std::string& name) {
  static const std::pair<const char*, uint8_t> names[] = {
      {"Uts", MYELIN_NS_UTS}, {"Ipc", MYELIN_NS_IPC}, {"Mnt", MYELIN_NS_MNT}, {"Pid", MYELIN_NS_PID},
      {"PidForChildren", MYELIN_NS_PID_FOR_CHILDREN}, {"Net", MYELIN_NS_NET}, {"Time", MYELIN_NS_TIME},
      {"TimeForChildren", MYELIN_NS_TIME_FOR_CHILDREN}, {"Cgroup", MYELIN_NS_CGROUP}, {"User", MYELIN_NS_USER}};
  for (const auto& [n, t] : names)
    if (name == n) return t;
  return 0;
}

Result<myelin_tp_config> compile_hook(const TracepointHook& hook, const std::vector<TpField>& format, uint32_t policy_id,
                                      uint32_t hook_id, const BinaryIds& binary_id, const HostNamespaces& host_ns) {
  myelin_tp_config cfg{};
  cfg.policy_id = policy_id;
  cfg.hook_id = hook_id;
  const std::string where = hook.subsystem + "/" + hook.event;
  for (size_t i = 0; i < hook.args.size(); ++i) {
    const auto& a = hook.args[i];
    if (a.index < 0 || static_cast<size_t>(a.index) >= format.size())
      return Error{where + ": args[" + std::to_string(i) + "].index " + std::to_string(a.index) + ": the tracepoint has " +
                   std::to_string(format.size()) + " fields (0-" + std::to_string(format.size() - 1) + ", common fields included)"};
    const auto& f = format[static_cast<size_t>(a.index)];
    auto& out = cfg.args[i];
    out.offset = f.offset;
    out.size = f.size;
    out.type = arg_kind(a.type);
    if (out.type == MYELIN_TP_ARG_BUF) {
      const size_t si = static_cast<size_t>(a.size_arg_index - 1);
      if (f.size != 8 || f.decl.find('*') == std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not a pointer to a buffer"};
      if (si >= format.size() || format[si].decl.find('*') != std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "].sizeArgIndex " + std::to_string(a.size_arg_index) +
                     " names no integer field (it is 1 + the field index of the length)"};
      out.size_offset = format[si].offset;
      out.size_size = format[si].size;
    } else if (out.type == MYELIN_TP_ARG_STRING) {
      if (f.size != 8 || f.decl.find('*') == std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not a pointer to a string"};
    } else {
      if (f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not an integer"};
      if (out.type == MYELIN_TP_ARG_FD && f.decl.find('*') != std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is a pointer, not a file descriptor"};
      // Syscall tracepoints keep every argument in a 64-bit slot; a 32-bit
      // type is its low half (x86-64 and arm64 are little-endian), sign-
      // extended for int: AT_FDCWD is -100, not 4294967196.
      if ((a.type == "int" || a.type == "int32" || a.type == "uint32" || a.type == "fd") && f.size == 8) out.size = 4;
    }
  }
  cfg.nargs = static_cast<uint8_t>(hook.args.size());
  if (auto s = mark_path_arg(cfg, where); !s) return s.error();
  if (auto s = compile_selectors(cfg, hook.selectors, where, binary_id, host_ns); !s) return s.error();
  return cfg;
}

namespace {

// A function-call hook (uprobe, kprobe): args by argument position.
Result<myelin_tp_config> compile_call(const std::vector<TpArg>& args, const std::vector<Selector>& selectors, const std::string& where,
                                      uint8_t flags, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                      const HostNamespaces& host_ns) {
  myelin_tp_config cfg{};
  cfg.policy_id = policy_id;
  cfg.hook_id = hook_id;
  cfg.flags = flags;
  call_args(cfg, args);
  for (const auto& a : args)
    if (a.type == "char_buf" && a.size_arg_index > 5)
      return Error{where + ": sizeArgIndex " + std::to_string(a.size_arg_index) + ": a call's length is one of its arguments 1-5"};
  if (auto s = mark_path_arg(cfg, where); !s) return s.error();
  if (auto s = compile_selectors(cfg, selectors, where, binary_id, host_ns); !s) return s.error();
  return cfg;
}

}  // namespace

Result<myelin_tp_config> compile_uprobe(const UprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns) {
  return compile_call(hook.args, hook.selectors, hook.path, 0, policy_id, hook_id, binary_id, host_ns);
}

Result<myelin_tp_config> compile_kprobe(const KprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns) {
  return compile_call(hook.args, hook.selectors, hook.call, hook.syscall ? 0 : MYELIN_TP_CFG_KERNEL_STRINGS, policy_id, hook_id, binary_id,
                      host_ns);
}

bool KprobeHook::overrides() const {
  for (const auto& s : selectors)
    if (s.action == "Override") return true;
  return false;
}

std::string KprobeHook::function(const std::function<std::string(const std::string&)>& syscall_function) const {
  if (!syscall) return call;
  for (const char* prefix : {"__x64_sys_", "__arm64_sys_", "__ia32_sys_"})
    if (call.rfind(prefix, 0) == 0) return call;
  return syscall_function(call.rfind("sys_", 0) == 0 ? call.substr(4) : call);
}

}  // namespace myelin::tracing
