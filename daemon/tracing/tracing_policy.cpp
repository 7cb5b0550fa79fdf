// SPDX-License-Identifier: Apache-2.0
#include "tracing_policy.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "lists.hpp"
#include "arg_types.hpp"
#include "myelin/abi/tracing.hpp"
#include "myelin/policy/decode.hpp"
#include "myelin/policy/yaml_documents.hpp"

namespace myelin::tracing {
namespace {

// Thrown inside the decoder, a Refusal at the top: "file:line: field: why".
struct Failure {
  int line;
  std::string field, why;
};

int line_of(const YAML::Node& n) { return n.IsDefined() ? n.Mark().line + 1 : 0; }

struct Ctx {
  std::string file;
  std::vector<std::string>* warnings = nullptr;
  const std::vector<ListSpec>* lists = nullptr;  // spec.lists, decoded before the hooks
  // n: the value at fault, or the mapping a missing field belongs in.
  [[noreturn]] void fail(const YAML::Node& n, const std::string& field, const std::string& why) const {
    throw Failure{line_of(n), field, why};
  }
  void warn(const YAML::Node& n, const std::string& field, const std::string& what) const {
    if (warnings) warnings->push_back(file + ":" + std::to_string(line_of(n)) + ": " + field + ": " + what);
  }
};

// Fields are read as Tetragon reads them (Kubernetes' structural schema):
// a null value is the same as no value, so `selectors: null` or `args: ~`
// mean omitted, and a required field that is null is missing.
bool given(const YAML::Node& n) { return n.IsDefined() && !n.IsNull(); }

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

// A scalar value as a string (n is given).
std::string str(const Ctx& c, const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) c.fail(n, field, "must be a string");
  return n.as<std::string>();
}

// m[key] of a mapping: required, or with a default when omitted or null.
std::string req_str(const Ctx& c, const YAML::Node& m, const char* key, const std::string& f) {
  const YAML::Node n = m[key];
  if (!given(n)) c.fail(n.IsDefined() ? n : m, f, "is required");
  return str(c, n, f);
}
std::string opt_str(const Ctx& c, const YAML::Node& m, const char* key, const std::string& f, const std::string& def = "") {
  const YAML::Node n = m[key];
  return given(n) ? str(c, n, f) : def;
}

int integer(const Ctx& c, const YAML::Node& n, const std::string& field) {
  if (!n.IsScalar()) c.fail(n, field, "must be an integer");
  try {
    return n.as<int>();
  } catch (const YAML::Exception&) {
    c.fail(n, field, "must be an integer");
  }
}
int req_int(const Ctx& c, const YAML::Node& m, const char* key, const std::string& f) {
  const YAML::Node n = m[key];
  if (!given(n)) c.fail(n.IsDefined() ? n : m, f, "is required");
  return integer(c, n, f);
}
int opt_int(const Ctx& c, const YAML::Node& m, const char* key, const std::string& f, int def) {
  const YAML::Node n = m[key];
  return given(n) ? integer(c, n, f) : def;
}

bool opt_bool(const Ctx& c, const YAML::Node& m, const char* key, const std::string& f, bool def) {
  const YAML::Node n = m[key];
  if (!given(n)) return def;
  try {
    if (n.IsScalar()) return n.as<bool>();
  } catch (const YAML::Exception&) {
  }
  c.fail(n, f, "must be true or false");
}

// A list field: its items; none when omitted, null or [].
YAML::Node opt_list(const Ctx& c, const YAML::Node& m, const char* key, const std::string& f) {
  const YAML::Node n = m[key];
  if (!given(n)) return YAML::Node(YAML::NodeType::Sequence);
  if (!n.IsSequence()) c.fail(n, f, "must be a list");
  return n;
}

// The line of m[key] where it is there, else of m (where it belongs).
const YAML::Node at(const YAML::Node& m, const char* key) {
  const YAML::Node n = m[key];
  return n.IsDefined() ? n : m;
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

// One In/NotIn list entry (matchPIDs, matchNamespaces, matchCapabilities): its operator, checked.
myelin_hook_set_op in_not_in(const Ctx& c, const YAML::Node& n, const std::string& f) {
  auto op = req_str(c, n, "operator", f + ".operator");
  const auto* row = lookup(kSetOperators, op, kInSets);
  if (!row) c.fail(n["operator"], f + ".operator", "must be In or NotIn, not '" + op + "'");
  return row->code;
}

// Tetragon prints message and tags escaped as Go's %q would, without the
// quotes: quotes and backslashes escaped, control characters and bytes that
// are not UTF-8 as \n, \t, \xNN.
std::string go_escape(const std::string& s) {
  std::string out;
  static const char* hex = "0123456789abcdef";
  auto byte = [&](unsigned char b) { out += "\\x", out += hex[b >> 4], out += hex[b & 15]; };
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      switch (b) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (b < 0x20 || b == 0x7f) byte(b);
          else out += static_cast<char>(b);
      }
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence is kept whole; a broken one is bytes.
    const size_t len = b >= 0xf0 && b < 0xf5 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    bool ok = len && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(s, i, len);
      i += len;
    } else {
      byte(b);
      ++i;
    }
  }
  return out;
}

// A hook's message and tags (Tetragon's limits: a message of 2 to 256
// characters, longer ones truncated; at most 16 tags of 2 to 128, longer
// ones truncated). Truncation is Tetragon's too, and said in the policy's warnings.
void message_and_tags(const Ctx& c, const YAML::Node& hook, const std::string& f, std::string& message, std::vector<std::string>& tags) {
  const YAML::Node m = hook["message"];
  if (given(m)) {
    std::string v = str(c, m, f + ".message");
    if (v.size() == 1) c.fail(m, f + ".message", "is too short: at least 2 characters (Tetragon's limit), or none");
    if (v.size() > kMaxMessage) {
      c.warn(m, f + ".message", std::to_string(v.size()) + " bytes, truncated to " + std::to_string(kMaxMessage) + " (as Tetragon does)");
      v.resize(kMaxMessage);
    }
    message = go_escape(v);
  }
  const YAML::Node t = opt_list(c, hook, "tags", f + ".tags");
  if (t.size() > kMaxTags) c.fail(t, f + ".tags", std::to_string(t.size()) + " tags: at most " + std::to_string(kMaxTags) + " (Tetragon's limit)");
  for (size_t i = 0; i < t.size(); ++i) {
    const std::string tf = f + ".tags[" + std::to_string(i) + "]";
    if (!given(t[i])) c.fail(t[i], tf, "must be a string of at least 2 characters");
    std::string v = str(c, t[i], tf);
    if (v.size() < 2) c.fail(t[i], tf, "'" + v + "' is too short: a tag has at least 2 characters (Tetragon's limit)");
    if (v.size() > kMaxTag) {
      c.warn(t[i], tf, std::to_string(v.size()) + " bytes, truncated to " + std::to_string(kMaxTag) + " (as Tetragon does)");
      v.resize(kMaxTag);
    }
    tags.push_back(go_escape(v));
  }
}

// One matchArgs / matchReturnArgs entry. Which arg it filters, as
// Tetragon's argIndexType reads it: `index` names the arg whose own index
// field has that value (a function's argument position, or a tracepoint's
// field), not a position in the hook's args list; the newer `args` list
// names it by its position in that list instead, and wins when given.
// The model keeps the position. On tracepoints Tetragon rewrites the
// indexes that name a field to positions and keeps the others, which then
// name a position (its list-syscalls-tracepoint example relies on it):
// `tracepoint` reads an index no arg has as a position, where there is one.
MatchArg match_arg(const Ctx& c, const YAML::Node& n, const std::string& af, const std::vector<HookArg>& hook_args, bool ret,
                   bool tracepoint = false) {
  only(c, n, af, {"index", "args", "operator", "values"});
  MatchArg m;
  m.index = opt_int(c, n, "index", af + ".index", 0);
  if (ret && m.index != 0) c.fail(n["index"], af + ".index", "must be 0 (the return value)");
  if (ret && given(n["args"])) c.fail(n["args"], af + ".args", "does not apply to matchReturnArgs (index 0 is the return value)");
  if (!ret) {
    const YAML::Node pos = opt_list(c, n, "args", af + ".args");
    if (pos.size() > 1)
      c.fail(pos, af + ".args", "one position: a second one is read only by CapabilitiesGained, which Myelin does not support yet");
    if (pos.size() == 1) {
      const int p = integer(c, pos[0], af + ".args[0]");
      if (p < 0 || static_cast<size_t>(p) >= hook_args.size())
        c.fail(pos[0], af + ".args[0]",
               "position " + std::to_string(p) + " names no argument: the hook has " + std::to_string(hook_args.size()) +
                   " args (args[] is a position in the hook's args list)");
      m.index = p;
    } else {
      if (m.index < 0) c.fail(n["index"], af + ".index", "must not be negative");
      int found = -1;
      std::string have;
      for (size_t j = 0; j < hook_args.size(); ++j) {
        have += (have.empty() ? "" : ", ") + std::to_string(hook_args[j].index);
        if (found < 0 && hook_args[j].index == m.index) found = static_cast<int>(j);
      }
      if (found < 0 && tracepoint && static_cast<size_t>(m.index) < hook_args.size()) found = m.index;
      if (found < 0)
        c.fail(at(n, "index"), af + ".index",
               std::to_string(m.index) + " names no argument: no entry of the hook's args has index " + std::to_string(m.index) +
                   (have.empty() ? " (the hook has no args)" : " (their indexes: " + have + ")") +
                   "; index is the arg's own index, as in Tetragon (args: [N] names one by its position)");
      m.index = found;
    }
  }
  const std::string op = req_str(c, n, "operator", af + ".operator");
  // What it may compare is known once the args' types are (the compiler checks); here, that it is an operator at all.
  const auto* row = lookup(kOperators, op, kOnInteger | kOnString | kOnReturn | (ret ? 0u : uint32_t{kOnSock}));
  if (!row)
    c.fail(n["operator"], af + ".operator",
           "'" + op + "' is not supported by Myelin yet (" +
               (ret ? "Equal, NotEqual, GT, LT, Mask"
                    : "Equal, NotEqual, GT, LT, Mask, Prefix, Postfix, InMap, NotInMap; on sock args SPort, DPort, SAddr, DAddr, their Not forms, Protocol, Family") +
               ")");
  if (ret && !(row->where & kOnReturn)) c.fail(n["operator"], af + ".operator", "'" + op + "' does not apply to a return value");
  m.op = row->code;
  const YAML::Node vals = opt_list(c, n, "values", af + ".values");
  if (row->where & kNoValues) {  // SPortPriv, ...: no value (any given is unused, as in Tetragon)
    m.values = {""};
    return m;
  }
  if (vals.size() == 0) c.fail(at(n, "values"), af + ".values", "a list of at least one value");
  const bool in_map = m.op == MYELIN_HOOK_OP_IN_MAP || m.op == MYELIN_HOOK_OP_NOT_IN_MAP;
  for (size_t k = 0; k < vals.size(); ++k) {
    const std::string vf = af + ".values[" + std::to_string(k) + "]";
    if (!given(vals[k])) c.fail(vals[k], vf, "must be a value, not null");
    const std::string v = str(c, vals[k], vf);
    bool missing = false;
    const ListSpec* list = in_map && c.lists ? list_of(v, *c.lists, &missing) : nullptr;
    if (missing) c.fail(vals[k], vf, "'" + v + "' names no list of spec.lists");
    if (!list) {
      m.values.push_back(v);
      continue;
    }
    // A list of syscalls: their numbers (Tetragon's syscall64 values).
    auto ids = list_syscall_ids(*list);
    if (!ids) c.fail(vals[k], vf, ids.error().message);
    for (uint64_t id : *ids) m.values.push_back(std::to_string(id));
  }
  return m;
}

// A list the model keeps one entry of (matchPIDs, matchBinaries,
// matchCapabilities, matchActions): none, or that one entry.
std::optional<YAML::Node> one_entry(const Ctx& c, const YAML::Node& list, const std::string& f, const char* what) {
  if (list.size() == 0) return std::nullopt;
  if (list.size() != 1) c.fail(list, f, what);
  return list[0];
}

// TrackSock / UntrackSock entries of a matchActions list (kprobes), taken
// into s (its sock_action and argSock, checked to be a sock arg by the
// compiler); the other entries, for the action.
YAML::Node sock_actions(const Ctx& c, const YAML::Node& acts, const std::string& f, size_t nargs, bool kprobe, Selector& s) {
  YAML::Node rest(YAML::NodeType::Sequence);
  for (size_t i = 0; i < acts.size(); ++i) {
    const YAML::Node& a = acts[i];
    const std::string xf = f + "[" + std::to_string(i) + "]";
    const std::string action = a.IsMap() && given(a["action"]) && a["action"].IsScalar() ? a["action"].as<std::string>() : "";
    if (action != "TrackSock" && action != "UntrackSock") {
      rest.push_back(a);
      continue;
    }
    if (!kprobe) c.fail(a["action"], xf + ".action", action + " tracks a kernel sock: it applies to kprobes only");
    only(c, a, xf, {"action", "argSock"});
    if (s.sock_action) c.fail(a, xf, "one TrackSock or UntrackSock per selector");
    s.sock_action = action == "TrackSock" ? MYELIN_HOOK_ACT_TRACKSOCK : MYELIN_HOOK_ACT_UNTRACKSOCK;
    s.sock_arg = opt_int(c, a, "argSock", xf + ".argSock", 0);
    if (s.sock_arg < 0 || static_cast<size_t>(s.sock_arg) >= nargs)
      c.fail(at(a, "argSock"), xf + ".argSock", "names no argument: the hook has " + std::to_string(nargs) + " args (argSock is the position of a sock arg)");
  }
  return rest;
}

// kind: the hook's kind (tracepoint, uprobe, kprobe); ret_probe: a kprobe
// with return: true, where matchReturnArgs applies.
Selector selector(const Ctx& c, const YAML::Node& n, const std::string& f, const std::vector<HookArg>& args, bool kprobe = false,
                  bool ret_probe = false, bool tracepoint = false) {
  if (!n.IsMap()) c.fail(n, f, "must be a mapping (an empty selector is {})");
  if (given(n["matchReturnArgs"]) && !ret_probe)
    c.fail(n["matchReturnArgs"], f + ".matchReturnArgs",
           kprobe ? "needs a return probe: set return: true and returnArg on the kprobe"
                  : "needs a return probe (a kprobe or uprobe with return: true); tracepoints have none");
  only(c, n, f, {"matchArgs", "matchReturnArgs", "matchBinaries", "matchActions", "matchPIDs", "matchNamespaces", "matchCapabilities"});
  Selector s;
  const YAML::Node mr = opt_list(c, n, "matchReturnArgs", f + ".matchReturnArgs");
  for (size_t i = 0; i < mr.size(); ++i) s.return_args.push_back(match_arg(c, mr[i], f + ".matchReturnArgs[" + std::to_string(i) + "]", {}, true));
  const YAML::Node ma = opt_list(c, n, "matchArgs", f + ".matchArgs");
  for (size_t i = 0; i < ma.size(); ++i) s.args.push_back(match_arg(c, ma[i], f + ".matchArgs[" + std::to_string(i) + "]", args, false, tracepoint));
  if (s.args.size() + s.return_args.size() > MYELIN_HOOK_MAX_CONDS)
    c.fail(n, f, "at most " + std::to_string(MYELIN_HOOK_MAX_CONDS) + " matchArgs and matchReturnArgs entries per selector");
  // A negated operator (NotEqual, NotSPort, NotDAddr, ...) of several values
  // holds when the arg is none of them (Tetragon's): one condition per
  // value, AND-ed in the selector, where other operators' values are OR-ed.
  for (auto* list : {&s.args, &s.return_args}) {
    std::vector<MatchArg> split;
    for (auto& m : *list) {
      if (!is_negated(m.op) || m.values.size() < 2) {
        split.push_back(std::move(m));
        continue;
      }
      for (auto& v : m.values) split.push_back({m.index, m.op, {std::move(v)}});
    }
    *list = std::move(split);
  }
  if (s.args.size() + s.return_args.size() > MYELIN_HOOK_MAX_CONDS)
    c.fail(ma.size() ? ma : n, f + ".matchArgs",
           std::to_string(s.args.size() + s.return_args.size()) + " conditions once each value of a negated operator is its own (at most " +
               std::to_string(MYELIN_HOOK_MAX_CONDS) + " per selector)");
  // matchPIDs entries are AND-ed (Tetragon's). NotIn entries of the same
  // flags are one NotIn of all their values (none of them); any other mix
  // needs two pid sets in a selector, which the kernel side does not have.
  const YAML::Node mpl = opt_list(c, n, "matchPIDs", f + ".matchPIDs");
  for (size_t e = 0; e < mpl.size(); ++e) {
    const std::string pf = f + ".matchPIDs[" + std::to_string(e) + "]";
    const YAML::Node& mp = mpl[e];
    only(c, mp, pf, {"operator", "values", "followForks", "isNamespacePID"});
    const myelin_hook_set_op op = in_not_in(c, mp, pf);
    const bool follow = opt_bool(c, mp, "followForks", pf + ".followForks", false);
    const bool in_ns = opt_bool(c, mp, "isNamespacePID", pf + ".isNamespacePID", false);
    if (e > 0 && !(op == MYELIN_HOOK_SET_NOT_IN && s.pids_op == MYELIN_HOOK_SET_NOT_IN && follow == s.follow_forks && in_ns == s.namespace_pids))
      c.fail(mp, pf,
             "several matchPIDs entries are supported when all are NotIn with the same followForks and isNamespacePID (one NotIn of all "
             "their values); this mix is not supported by Myelin yet");
    s.pids_op = op;
    s.follow_forks = follow;
    s.namespace_pids = in_ns;
    const YAML::Node vals = opt_list(c, mp, "values", pf + ".values");
    if (vals.size() == 0) c.fail(at(mp, "values"), pf + ".values", "at least one pid");
    for (size_t i = 0; i < vals.size(); ++i) {
      int pid = integer(c, vals[i], pf + ".values[" + std::to_string(i) + "]");
      if (pid < 0) c.fail(vals[i], pf + ".values", "a pid is not negative");
      s.pids.push_back(static_cast<uint32_t>(pid));
    }
    if (s.pids.size() > MYELIN_HOOK_MAX_PIDS)
      c.fail(vals, pf + ".values", std::to_string(s.pids.size()) + " pids in the selector's matchPIDs: at most " + std::to_string(MYELIN_HOOK_MAX_PIDS));
  }
  const YAML::Node mn = opt_list(c, n, "matchNamespaces", f + ".matchNamespaces");
  if (mn.size() > MYELIN_HOOK_MAX_NS) c.fail(mn, f + ".matchNamespaces", "at most " + std::to_string(MYELIN_HOOK_MAX_NS) + " entries");
  for (size_t i = 0; i < mn.size(); ++i) {
    const std::string nf = f + ".matchNamespaces[" + std::to_string(i) + "]";
    only(c, mn[i], nf, {"namespace", "operator", "values"});
    NamespaceMatch m;
    const std::string ns = req_str(c, mn[i], "namespace", nf + ".namespace");
    m.ns = abi::namespace_type(ns);
    if (!m.ns)
      c.fail(mn[i]["namespace"], nf + ".namespace", "'" + ns + "' is not a namespace (Uts, Ipc, Mnt, Pid, PidForChildren, Net, Time, TimeForChildren, Cgroup, User)");
    m.op = in_not_in(c, mn[i], nf);
    const YAML::Node vals = opt_list(c, mn[i], "values", nf + ".values");
    if (vals.size() == 0 || vals.size() > MYELIN_HOOK_NS_VALUES)
      c.fail(at(mn[i], "values"), nf + ".values", "1 to " + std::to_string(MYELIN_HOOK_NS_VALUES) + " namespace inode numbers or host_ns");
    for (size_t k = 0; k < vals.size(); ++k) {
      const std::string vf = nf + ".values[" + std::to_string(k) + "]";
      if (!given(vals[k])) c.fail(vals[k], vf, "must be a namespace inode number or host_ns, not null");
      auto v = str(c, vals[k], vf);
      if (v != "host_ns" && (v.empty() || v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos ||
                             std::stoull(v) > UINT32_MAX))  // an inode number is 32 bits: stoul threw, or truncated
        c.fail(vals[k], nf + ".values", "'" + v + "' is neither a namespace inode number nor host_ns");
      m.values.push_back(v);
    }
    s.namespaces.push_back(std::move(m));
  }
  const YAML::Node mcl = opt_list(c, n, "matchCapabilities", f + ".matchCapabilities");
  if (const auto mc = one_entry(c, mcl, f + ".matchCapabilities", "one matchCapabilities entry per selector is supported")) {
    const std::string cf = f + ".matchCapabilities[0]";
    only(c, *mc, cf, {"type", "operator", "values", "isNamespaceCapability"});
    if (opt_bool(c, *mc, "isNamespaceCapability", cf + ".isNamespaceCapability", false))
      c.fail((*mc)["isNamespaceCapability"], cf + ".isNamespaceCapability", "true is not supported by Myelin yet (capabilities are matched in any user namespace)");
    const auto* set = lookup(kCapabilitySets, opt_str(c, *mc, "type", cf + ".type", "Effective"), kInSets);
    if (!set) c.fail((*mc)["type"], cf + ".type", "must be Effective, Inheritable or Permitted");
    s.caps_type = set->code;
    s.caps_op = in_not_in(c, *mc, cf);
    const YAML::Node vals = opt_list(c, *mc, "values", cf + ".values");
    if (vals.size() == 0) c.fail(at(*mc, "values"), cf + ".values", "at least one capability (CAP_...)");
    for (size_t k = 0; k < vals.size(); ++k) {
      const std::string vf = cf + ".values[" + std::to_string(k) + "]";
      if (!given(vals[k])) c.fail(vals[k], vf, "must be a capability name, not null");
      auto v = str(c, vals[k], vf);
      int cap = capability(v);
      if (cap < 0) c.fail(vals[k], cf + ".values", "'" + v + "' is not a capability name (CAP_SYS_ADMIN, ...)");
      s.caps |= 1ull << cap;
    }
  }
  const YAML::Node mbl = opt_list(c, n, "matchBinaries", f + ".matchBinaries");
  if (const auto mb = one_entry(c, mbl, f + ".matchBinaries", "one matchBinaries entry per selector is supported")) {
    const std::string bf = f + ".matchBinaries[0]";
    only(c, *mb, bf, {"operator", "values"});
    const std::string op = req_str(c, *mb, "operator", bf + ".operator");
    const auto* row = lookup(kSetOperators, op, kInBinaries);
    if (!row) c.fail((*mb)["operator"], bf + ".operator", "'" + op + "' is not supported by Myelin yet (In, NotIn, Prefix, NotPrefix)");
    s.binaries_op = row->code;
    const bool prefix = s.binaries_op == MYELIN_HOOK_SET_PREFIX || s.binaries_op == MYELIN_HOOK_SET_NOT_PREFIX;
    const YAML::Node vals = opt_list(c, *mb, "values", bf + ".values");
    if (vals.size() == 0 || vals.size() > MYELIN_HOOK_MAX_BINARIES)
      c.fail(at(*mb, "values"), bf + ".values", "1 to " + std::to_string(MYELIN_HOOK_MAX_BINARIES) + " absolute paths");
    for (size_t i = 0; i < vals.size(); ++i) {
      const std::string vf = bf + ".values[" + std::to_string(i) + "]";
      if (!given(vals[i])) c.fail(vals[i], vf, "must be an absolute path, not null");
      auto v = str(c, vals[i], vf);
      const size_t max = prefix ? MYELIN_HOOK_STR_MAX : MYELIN_BINARY_PATH_MAX;
      if (v.empty() || v[0] != '/' || v.size() >= max) c.fail(vals[i], bf + ".values", "'" + v + "' is not an absolute path (of at most " + std::to_string(max - 1) + " bytes)");
      s.binaries.push_back(v);
    }
  }
  // matchActions: all of them run (Tetragon's, at most 3). The kernel side
  // has one action per selector and two flags beside it: a Sigkill beside
  // an Override (the call fails and the process dies), and NoPost beside
  // another action (it acts, and posts nothing). Post beside any is that one.
  const YAML::Node acts = sock_actions(c, opt_list(c, n, "matchActions", f + ".matchActions"), f + ".matchActions", args.size(), kprobe, s);
  if (acts.size() > kMaxActions)
    c.fail(at(n, "matchActions"), f + ".matchActions", std::to_string(acts.size()) + " actions: at most " + std::to_string(kMaxActions) + " per selector (Tetragon's limit)");
  bool posts = false, no_post = false, kills = false;
  std::string acting;  // the selector's one action other than Post/NoPost, and Sigkill beside Override
  for (size_t a = 0; a < acts.size(); ++a) {
    const YAML::Node act = acts[a];
    const std::string xf = f + ".matchActions[" + std::to_string(a) + "]";
    only(c, act, xf, {"action", "argSig", "argError"});
    const std::string action = req_str(c, act, "action", xf + ".action");
    const auto* row = lookup(kActions, action, kOnHooks);
    if (row && !(row->where & (kprobe ? kOnKprobe : kOnTracepoint | kOnUprobe)))
      c.fail(act["action"], xf + ".action",
             "Override needs a kprobe (attached as fmod_ret): a tracepoint or uprobe cannot change what a function returns (use Sigkill here)");
    if (!row)
      c.fail(act["action"], xf + ".action", "'" + action + "' is not supported by Myelin yet (Post, NoPost, Sigkill, Signal, Override)");
    const myelin_hook_action code = row->code;
    // An argument of another action would be accepted and do nothing: refused.
    if (code != MYELIN_HOOK_ACT_OVERRIDE && given(act["argError"]))
      c.fail(act["argError"], xf + ".argError", "applies to Override only (the action is " + action + ")");
    if (code != MYELIN_HOOK_ACT_SIGNAL && given(act["argSig"]))
      c.fail(act["argSig"], xf + ".argSig", "applies to Signal only (the action is " + action + ")");
    if (code == MYELIN_HOOK_ACT_POST) {
      posts = true;
      continue;
    }
    if (code == MYELIN_HOOK_ACT_NOPOST) {
      no_post = true;
      continue;
    }
    const bool override_and_kill = (code == MYELIN_HOOK_ACT_SIGKILL && s.action == MYELIN_HOOK_ACT_OVERRIDE) ||
                                   (code == MYELIN_HOOK_ACT_OVERRIDE && s.action == MYELIN_HOOK_ACT_SIGKILL && !acting.empty());
    if (!acting.empty() && !override_and_kill)
      c.fail(act["action"], xf + ".action",
             action + " beside " + acting + " in one selector is not supported by Myelin yet (Post or NoPost go beside any action, Sigkill beside Override)");
    acting += (acting.empty() ? "" : " and ") + action;
    if (override_and_kill) {
      kills = true;
      if (code == MYELIN_HOOK_ACT_SIGKILL) continue;
    }
    s.action = code;
    if (code == MYELIN_HOOK_ACT_OVERRIDE) {
      if (!given(act["argError"])) c.fail(act, xf + ".argError", "Override needs argError (a negative errno, e.g. -1 for EPERM)");
      s.error = integer(c, act["argError"], xf + ".argError");
      // Any value the function could return, as Tetragon's (a positive one, say, makes
      // security_inode_copy_up_xattr skip the attribute); 0 would let the function run.
      if (s.error == 0) c.fail(act["argError"], xf + ".argError", "must not be 0: an Override returning 0 runs the function (a negative errno, or the value to return)");
    }
    if (code == MYELIN_HOOK_ACT_SIGNAL) {
      s.signal = req_int(c, act, "argSig", xf + ".argSig");
      if (s.signal < 1 || s.signal > 64) c.fail(act["argSig"], xf + ".argSig", "must be a signal number 1-64");
    }
  }
  if (posts && no_post) c.fail(at(n, "matchActions"), f + ".matchActions", "Post and NoPost in one selector contradict each other");
  if (no_post) {
    if (acting.empty()) s.action = MYELIN_HOOK_ACT_NOPOST;
    else s.no_post = true;
  }
  s.also_kill = kills;
  return s;
}

std::vector<Selector> selectors(const Ctx& c, const YAML::Node& hook, const std::string& f, const std::vector<HookArg>& args,
                                bool kprobe = false, bool ret_probe = false, bool tracepoint = false) {
  std::vector<Selector> out;
  const YAML::Node sels = opt_list(c, hook, "selectors", f + ".selectors");
  for (size_t j = 0; j < sels.size(); ++j) out.push_back(selector(c, sels[j], f + ".selectors[" + std::to_string(j) + "]", args, kprobe, ret_probe, tracepoint));
  return out;
}

// kernel_objects: kprobes on kernel functions, whose args can be struct file * / struct path *;
// syscall_defaulted: a kprobe is a syscall only because it did not say syscall: false.
std::vector<HookArg> hook_args(const Ctx& c, const YAML::Node& hook, const std::string& f, bool kernel_objects = false,
                             bool syscall_defaulted = false) {
  std::vector<HookArg> out;
  const YAML::Node args = opt_list(c, hook, "args", f);
  if (args.size() > MYELIN_HOOK_MAX_ARGS) c.fail(args, f, "a list of at most " + std::to_string(MYELIN_HOOK_MAX_ARGS) + " args");
  for (size_t j = 0; j < args.size(); ++j) {
    const std::string af = f + "[" + std::to_string(j) + "]";
    only(c, args[j], af, {"index", "type", "sizeArgIndex", "label"});
    HookArg a{req_int(c, args[j], "index", af + ".index")};
    a.label = opt_str(c, args[j], "label", af + ".label");
    if (!given(args[j]["type"]))
      c.fail(at(args[j], "type"), af + ".type", "is required (Myelin does not read types from BTF, as Tetragon's default 'auto' would)");
    const std::string type = str(c, args[j]["type"], af + ".type");
    const auto* row = lookup(kArgTypes, type, kAnyHook | kKernelObject);
    const int size_arg = opt_int(c, args[j], "sizeArgIndex", af + ".sizeArgIndex", 0);  // 0: none, as Tetragon
    if (row && row->code == ArgType::char_buf) {
      if (size_arg == 0) c.fail(args[j], af + ".sizeArgIndex", "char_buf needs sizeArgIndex: 1 + the index of the argument holding its length");
      if (size_arg < 1) c.fail(args[j]["sizeArgIndex"], af + ".sizeArgIndex", "counts from 1 (1 + the length argument's index)");
      a.size_arg_index = size_arg;
    } else if (size_arg != 0) {
      c.fail(args[j]["sizeArgIndex"], af + ".sizeArgIndex", "only char_buf has a size argument");
    }
    if (row && !(row->where & kAnyHook) && !kernel_objects)
      c.fail(args[j]["type"], af + ".type",
             "'" + type + "' is a kernel object, which only a kprobe on a kernel function (not a syscall) receives" +
                 std::string(syscall_defaulted          ? "; this kprobe is a syscall because syscall is true when omitted (Tetragon's default): "
                                                          "a kernel function says syscall: false"
                             : row->code == ArgType::sock ? "; per-process connections: myelind --network-events"
                                                          : "; here use fd (resolved to the file's path)"));
    if (!row)
      c.fail(args[j]["type"], af + ".type", "'" + type + "' is not supported by Myelin yet (int, int32, int64, long, uint32, uint64, size_t, string, fd, char_buf, nop" +
                                                 std::string(kernel_objects ? ", file, path, sock, socket, skb, sockaddr, net_device, cred, user_namespace, "
                                                                              "capability, kernel_cap_t, cap_effective, cap_inheritable, cap_permitted"
                                                                            : "") + ")");
    a.type = row->code;
    out.push_back(a);
  }
  return out;
}

// A hook list of spec (kprobes, tracepoints, ...), each entry with its path.
template <typename F>
void each(const Ctx& c, const YAML::Node& spec, const char* key, F&& f) {
  const YAML::Node list = opt_list(c, spec, key, std::string("spec.") + key);
  for (size_t i = 0; i < list.size(); ++i) f(list[i], std::string("spec.") + key + "[" + std::to_string(i) + "]");
}

KprobeHook kprobe(const Ctx& c, const YAML::Node& n, const std::string& f) {
  only(c, n, f, {"call", "syscall", "args", "selectors", "message", "return", "returnArg", "returnArgAction", "tags"});
  KprobeHook h;
  h.line = line_of(n);
  h.call = req_str(c, n, "call", f + ".call");
  if (h.call.empty() || h.call.find_first_of("/ .") != std::string::npos) c.fail(n["call"], f + ".call", "'" + h.call + "' is not a function name");
  h.syscall = opt_bool(c, n, "syscall", f + ".syscall", true);  // Tetragon's default: a kernel function says syscall: false
  bool missing = false;
  const ListSpec* list = c.lists ? list_of(h.call, *c.lists, &missing) : nullptr;
  if (missing) c.fail(n["call"], f + ".call", "'" + h.call + "' names no list of spec.lists");
  if (list && is_syscall_list(list->type)) h.syscall = true;  // Tetragon: a syscall list's kprobe is a syscall
  h.ret = opt_bool(c, n, "return", f + ".return", false);
  const YAML::Node ra = n["returnArg"];
  // Without return: true Tetragon reads no returnArg (no return probe): ignored, and said so.
  if (given(ra) && !h.ret) c.warn(ra, f + ".returnArg", "ignored: the kprobe has no return: true (as in Tetragon)");
  if (given(ra) && h.ret) {
    only(c, ra, f + ".returnArg", {"index", "type"});
    if (opt_int(c, ra, "index", f + ".returnArg.index", 0) != 0)  // accepted and meaningless otherwise
      c.fail(ra["index"], f + ".returnArg.index", "must be 0: the return value has no other position");
    if (!given(ra["type"])) c.fail(at(ra, "type"), f + ".returnArg.type", "is required (an integer type: int, long, size_t, ...)");
    const std::string type = str(c, ra["type"], f + ".returnArg.type");
    const auto* row = lookup(kArgTypes, type, kReturnValue | kReturnObject);
    if (!row) c.fail(ra["type"], f + ".returnArg.type", "'" + type + "' is not supported here (an integer: int, long, size_t, ...; or sock)");
    if ((row->where & kReturnObject) && !(row->where & kReturnValue) && h.syscall)
      c.fail(ra["type"], f + ".returnArg.type", "'" + type + "' is a kernel object, which only a kernel function (syscall: false) returns");
    h.ret_type = row->code;
  }
  const YAML::Node raa = n["returnArgAction"];
  if (given(raa)) {
    const std::string a = str(c, raa, f + ".returnArgAction");
    if (a != "TrackSock" && a != "UntrackSock") c.fail(raa, f + ".returnArgAction", "'" + a + "' is not supported here (TrackSock, UntrackSock)");
    if (!h.ret) c.fail(raa, f + ".returnArgAction", "needs return: true (it acts on the returned sock)");
    if (h.ret_type != ArgType::sock) c.fail(raa, f + ".returnArgAction", a + " needs returnArg type sock (the function returns the sock)");
    h.ret_action = a == "TrackSock" ? MYELIN_HOOK_ACT_TRACKSOCK : MYELIN_HOOK_ACT_UNTRACKSOCK;
  }
  h.args = hook_args(c, n, f + ".args", !h.syscall, !given(n["syscall"]));
  for (size_t j = 0; j < h.args.size(); ++j)
    if (h.args[j].index < 0 || h.args[j].index > 4)
      c.fail(n["args"][j]["index"], f + ".args[" + std::to_string(j) + "].index", "a kprobe reads the function's arguments 0-4");
  h.selectors = selectors(c, n, f, h.args, true, h.ret);
  if (h.ret && !given(ra)) c.fail(n["return"], f + ".returnArg", "return: true needs returnArg (its type), as Tetragon's");
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
}

UprobeHook uprobe(const Ctx& c, const YAML::Node& n, const std::string& f) {
  only(c, n, f, {"path", "symbols", "args", "selectors", "message", "tags", "return", "returnArg"});
  UprobeHook h;
  h.line = line_of(n);
  h.ret = opt_bool(c, n, "return", f + ".return", false);
  // returnArg without return: true means nothing (Tetragon reads it only on return probes).
  if (const YAML::Node ra = n["returnArg"]; given(ra) && h.ret) {
    only(c, ra, f + ".returnArg", {"index", "type"});
    if (opt_int(c, ra, "index", f + ".returnArg.index", 0) != 0)
      c.fail(ra["index"], f + ".returnArg.index", "must be 0: the return value has no other position");
    const std::string type = req_str(c, ra, "type", f + ".returnArg.type");
    const auto* row = lookup(kArgTypes, type, kReturnValue);
    if (!row) c.fail(ra["type"], f + ".returnArg.type", "'" + type + "' is not supported here (an integer: int, long, size_t, ...)");
    h.ret_type = row->code;
  }
  h.path = req_str(c, n, "path", f + ".path");
  if (h.path.empty() || h.path[0] != '/') c.fail(n["path"], f + ".path", "'" + h.path + "' is not an absolute path");
  const YAML::Node syms = opt_list(c, n, "symbols", f + ".symbols");
  if (syms.size() == 0) c.fail(at(n, "symbols"), f + ".symbols", "a list of at least one symbol");
  for (size_t k = 0; k < syms.size(); ++k) {
    const std::string sf = f + ".symbols[" + std::to_string(k) + "]";
    if (!given(syms[k])) c.fail(syms[k], sf, "must be a symbol, not null");
    h.symbols.push_back(str(c, syms[k], sf));
  }
  h.args = hook_args(c, n, f + ".args");
  for (size_t j = 0; j < h.args.size(); ++j)
    if (h.args[j].index < 0 || h.args[j].index > 4)
      c.fail(n["args"][j]["index"], f + ".args[" + std::to_string(j) + "].index", "a uprobe reads the function's arguments 0-4");
  h.selectors = selectors(c, n, f, h.args, false, h.ret);
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
}

UsdtHook usdt(const Ctx& c, const YAML::Node& n, const std::string& f) {
  only(c, n, f, {"path", "btfPath", "provider", "name", "args", "selectors", "message", "tags"});
  UsdtHook h;
  h.line = line_of(n);
  h.path = req_str(c, n, "path", f + ".path");
  if (h.path.empty() || h.path[0] != '/') c.fail(n["path"], f + ".path", "'" + h.path + "' is not an absolute path");
  h.provider = req_str(c, n, "provider", f + ".provider");
  h.name = req_str(c, n, "name", f + ".name");
  if (h.provider.empty()) c.fail(n["provider"], f + ".provider", "must not be empty");
  if (h.name.empty()) c.fail(n["name"], f + ".name", "must not be empty");
  opt_str(c, n, "btfPath", f + ".btfPath");  // only resolve reads it, which args here do not take
  h.args = hook_args(c, n, f + ".args");
  for (size_t j = 0; j < h.args.size(); ++j) {
    if (h.args[j].index < 0 || h.args[j].index >= MYELIN_USDT_MAX_ARGS)
      c.fail(n["args"][j]["index"], f + ".args[" + std::to_string(j) + "].index",
             "a USDT probe has arguments 0-" + std::to_string(MYELIN_USDT_MAX_ARGS - 1));
    if (h.args[j].type == ArgType::char_buf)
      c.fail(n["args"][j]["type"], f + ".args[" + std::to_string(j) + "].type", "char_buf is not supported on USDT probes yet");
  }
  h.selectors = selectors(c, n, f, h.args);
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
}

// Does an lsmhook fit the inode rules (one of their hooks, each selector one
// Equal / Prefix matchArgs on the object and at most one action of theirs)?
bool inode_rules_fit(const YAML::Node& n, bool scoped) {
  if (scoped || !given(n["hook"]) || !n["hook"].IsScalar() || !lsm_hook_id(n["hook"].as<std::string>())) return false;
  const YAML::Node args = n["args"];
  if (given(args) && (!args.IsSequence() || args.size() > 1)) return false;
  if (given(args) && args.size() == 1 && (!args[0].IsMap() || !given(args[0]["type"]) || !args[0]["type"].IsScalar() ||
                                          !lookup(kLsmObjects, args[0]["type"].as<std::string>(), kOnLsm)))
    return false;
  const YAML::Node sels = n["selectors"];
  if (!given(sels) || !sels.IsSequence() || sels.size() == 0) return false;
  for (const auto& s : sels) {
    if (!s.IsMap()) return false;
    for (const auto& kv : s)
      if (kv.first.as<std::string>() != "matchArgs" && kv.first.as<std::string>() != "matchActions") return false;
    const YAML::Node ma = s["matchArgs"];
    if (!given(ma) || !ma.IsSequence() || ma.size() != 1 || !ma[0].IsMap() || !given(ma[0]["operator"]) || !ma[0]["operator"].IsScalar() ||
        !lookup(kOperators, ma[0]["operator"].as<std::string>(), kOnLsmObject))
      return false;
    const YAML::Node acts = s["matchActions"];
    if (given(acts) && (!acts.IsSequence() || acts.size() > 1)) return false;
    if (given(acts) && acts.size() == 1 &&
        (!acts[0].IsMap() || !given(acts[0]["action"]) || !acts[0]["action"].IsScalar() || !lookup(kActions, acts[0]["action"].as<std::string>(), kOnLsm)))
      return false;
  }
  return true;
}

// A generic lsmhook: the hook by name (checked against the kernel's BTF when
// loading), its arguments by position as a kernel function's, full selectors.
LsmHook generic_lsmhook(const Ctx& c, const YAML::Node& n, const std::string& f) {
  LsmHook h;
  h.generic = true;
  h.line = line_of(n);
  h.hook = req_str(c, n, "hook", f + ".hook");
  if (h.hook.empty() || h.hook.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
    c.fail(n["hook"], f + ".hook", "'" + h.hook + "' is not an LSM hook name (e.g. file_open, bprm_check_security)");
  h.id = static_cast<myelin_lsm_hook>(lsm_hook_id(h.hook));
  h.args = hook_args(c, n, f + ".args", true);
  for (size_t j = 0; j < h.args.size(); ++j)
    if (h.args[j].index < 0 || h.args[j].index > 4)
      c.fail(n["args"][j]["index"], f + ".args[" + std::to_string(j) + "].index", "an lsmhook reads the hook's arguments 0-4");
  h.generic_selectors = selectors(c, n, f, h.args, true);
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
}

LsmHook lsmhook(const Ctx& c, const YAML::Node& n, const std::string& f, bool scoped) {
  only(c, n, f, {"hook", "args", "selectors", "message", "tags"});
  if (!inode_rules_fit(n, scoped)) return generic_lsmhook(c, n, f);
  LsmHook h;
  h.line = line_of(n);
  h.hook = req_str(c, n, "hook", f + ".hook");
  h.id = static_cast<myelin_lsm_hook>(lsm_hook_id(h.hook));
  if (!h.id)
    c.fail(n["hook"], f + ".hook", "'" + h.hook + "' is not supported by Myelin yet (inode_unlink, inode_rename, path_unlink, path_rename, bprm_check_security, file_open)");
  // The hook's object is what Myelin matches and reports; one arg may name its type.
  const YAML::Node args = opt_list(c, n, "args", f + ".args");
  if (args.size() > 1) c.fail(args, f + ".args", "one arg: the hook's object (file, path, dentry or linux_binprm)");
  if (args.size() == 1) {
    only(c, args[0], f + ".args[0]", {"index", "type"});
    if (opt_int(c, args[0], "index", f + ".args[0].index", 0) != 0)
      c.fail(args[0]["index"], f + ".args[0].index", "must be 0: the hook's object is its first argument here");
    const std::string type = req_str(c, args[0], "type", f + ".args[0].type");
    const auto* row = lookup(kLsmObjects, type, kOnLsm);
    if (!row) c.fail(args[0]["type"], f + ".args[0].type", "'" + type + "' is not supported here (file, path, dentry, linux_binprm)");
    h.arg_type = row->code;
  }
  const YAML::Node sels = opt_list(c, n, "selectors", f + ".selectors");
  if (sels.size() == 0) c.fail(at(n, "selectors"), f + ".selectors", "at least one selector naming paths");
  for (size_t j = 0; j < sels.size(); ++j) {
    const std::string sf = f + ".selectors[" + std::to_string(j) + "]";
    only(c, sels[j], sf, {"matchArgs", "matchActions"});
    LsmSelector s;
    const YAML::Node ma = opt_list(c, sels[j], "matchArgs", sf + ".matchArgs");
    if (ma.size() != 1) c.fail(at(sels[j], "matchArgs"), sf + ".matchArgs", "one matchArgs entry on the hook's object (index 0)");
    const std::string mf = sf + ".matchArgs[0]";
    only(c, ma[0], mf, {"index", "operator", "values"});
    if (opt_int(c, ma[0], "index", mf + ".index", 0) != 0) c.fail(ma[0]["index"], mf + ".index", "must be 0 (the hook's object)");
    const std::string op = req_str(c, ma[0], "operator", mf + ".operator");
    const auto* row = lookup(kOperators, op, kOnLsmObject);
    if (!row) c.fail(ma[0]["operator"], mf + ".operator", "'" + op + "' is not supported on lsmhooks (Equal, Prefix)");
    s.op = row->code;
    const YAML::Node vals = opt_list(c, ma[0], "values", mf + ".values");
    if (vals.size() == 0) c.fail(at(ma[0], "values"), mf + ".values", "at least one absolute path");
    for (size_t k = 0; k < vals.size(); ++k) {
      const std::string vf = mf + ".values[" + std::to_string(k) + "]";
      if (!given(vals[k])) c.fail(vals[k], vf, "must be an absolute path, not null");
      auto v = str(c, vals[k], vf);
      if (v.empty() || v[0] != '/') c.fail(vals[k], mf + ".values", "'" + v + "' is not an absolute path");
      s.paths.push_back(v);
    }
    const YAML::Node acts = opt_list(c, sels[j], "matchActions", sf + ".matchActions");
    if (const auto act = one_entry(c, acts, sf + ".matchActions", "one action per selector is supported")) {
      const std::string xf = sf + ".matchActions[0]";
      only(c, *act, xf, {"action", "argError"});
      const std::string action = req_str(c, *act, "action", xf + ".action");
      const auto* row = lookup(kActions, action, kOnLsm);
      if (!row) c.fail((*act)["action"], xf + ".action", "'" + action + "' is not supported on lsmhooks (Post, NoPost, Sigkill, Override)");
      s.action = row->code;
      if (s.action != MYELIN_HOOK_ACT_OVERRIDE && given((*act)["argError"]))
        c.fail((*act)["argError"], xf + ".argError", "applies to Override only (the action is " + action + ")");
      s.error = opt_int(c, *act, "argError", xf + ".argError", -1);
      if (s.error >= 0 || s.error < -4095) c.fail((*act)["argError"], xf + ".argError", "must be a negative errno (-1 is EPERM)");
    }
    h.selectors.push_back(std::move(s));
  }
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
}

TracepointHook tracepoint(const Ctx& c, const YAML::Node& n, const std::string& f) {
  only(c, n, f, {"subsystem", "event", "raw", "args", "selectors", "message", "tags"});
  TracepointHook h;
  h.line = line_of(n);
  h.raw = opt_bool(c, n, "raw", f + ".raw", false);
  h.subsystem = req_str(c, n, "subsystem", f + ".subsystem");
  h.event = req_str(c, n, "event", f + ".event");
  for (const auto& name : {h.subsystem, h.event})
    if (name.empty() || name.find_first_of("/. ") != std::string::npos) c.fail(n, f, "'" + name + "' is not a tracepoint name");
  // A raw tracepoint's args are its TP_PROTO arguments (kernel objects among them), 0-5 as Tetragon's.
  h.args = hook_args(c, n, f + ".args", h.raw);
  for (size_t j = 0; h.raw && j < h.args.size(); ++j)
    if (h.args[j].index < 0 || h.args[j].index > 5)
      c.fail(n["args"][j]["index"], f + ".args[" + std::to_string(j) + "].index", "a raw tracepoint reads its arguments 0-5");
  h.selectors = selectors(c, n, f, h.args, false, false, true);
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
}

// spec.lists: each named once, of a type Tetragon knows, generated ones without values.
std::vector<ListSpec> lists(const Ctx& c, const YAML::Node& spec) {
  std::vector<ListSpec> out;
  const YAML::Node l = opt_list(c, spec, "lists", "spec.lists");
  for (size_t i = 0; i < l.size(); ++i) {
    const std::string f = "spec.lists[" + std::to_string(i) + "]";
    only(c, l[i], f, {"name", "type", "values", "pattern", "validated"});
    ListSpec s;
    s.line = line_of(l[i]);
    s.name = req_str(c, l[i], "name", f + ".name");
    if (s.name.empty()) c.fail(l[i]["name"], f + ".name", "must not be empty");
    for (const auto& o : out)
      if (o.name == s.name) c.fail(l[i]["name"], f + ".name", "'" + s.name + "' names two lists");
    const std::string type = opt_str(c, l[i], "type", f + ".type");
    const auto t = list_type(type);
    if (!t) c.fail(l[i]["type"], f + ".type", "'" + type + "' is not a list type (syscalls, generated_syscalls, generated_ftrace)");
    s.type = *t;
    opt_bool(c, l[i], "validated", f + ".validated", false);  // Tetragon's own bookkeeping: read, no meaning
    const YAML::Node vals = opt_list(c, l[i], "values", f + ".values");
    for (size_t k = 0; k < vals.size(); ++k) {
      const std::string vf = f + ".values[" + std::to_string(k) + "]";
      if (!given(vals[k])) c.fail(vals[k], vf, "must be a name, not null");
      s.values.push_back(str(c, vals[k], vf));
    }
    const bool generated = s.type == ListType::generated_syscalls || s.type == ListType::generated_ftrace;
    if (generated && !s.values.empty()) c.fail(vals, f + ".values", "a generated list (" + type + ") has no values: the kernel's are taken");
    if (!generated && s.values.empty()) c.fail(at(l[i], "values"), f + ".values", "a list of at least one name");
    s.pattern = opt_str(c, l[i], "pattern", f + ".pattern");
    if (s.type == ListType::generated_ftrace && s.pattern.empty())
      c.fail(at(l[i], "pattern"), f + ".pattern", "generated_ftrace needs a pattern (a regular expression over the kernel's functions)");
    if (s.type != ListType::generated_ftrace && given(l[i]["pattern"]))
      c.fail(l[i]["pattern"], f + ".pattern", "applies to generated_ftrace lists only");
    if (s.type == ListType::generated_ftrace) try {
        std::regex re(s.pattern);
      } catch (const std::regex_error&) {
        c.fail(l[i]["pattern"], f + ".pattern", "'" + s.pattern + "' is not a regular expression");
      }
    // A syscall name is checked now (its number and function are this architecture's, not the kernel's).
    for (size_t k = 0; s.type == ListType::syscalls && k < s.values.size(); ++k) {
      auto ref = parse_syscall(s.values[k]);
      if (ref && (ref->abi == "x64" || ref->abi == "i386")) {
        auto id = syscall_id(*ref);
        if (!id) c.fail(vals[k], f + ".values[" + std::to_string(k) + "]", id.error().message);
      }
      if (!ref) c.fail(vals[k], f + ".values[" + std::to_string(k) + "]", ref.error().message);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// strconv.ParseBool's spellings, as Tetragon reads an option's value.
std::optional<bool> go_bool(const std::string& v) {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"})
    if (v == t) return true;
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"})
    if (v == f) return false;
  return std::nullopt;
}

// spec.options: Tetragon's options by name; one it does not know is ignored, as Tetragon ignores it (with a warning here).
SpecOptions options(const Ctx& c, const YAML::Node& spec) {
  SpecOptions o;
  const YAML::Node l = opt_list(c, spec, "options", "spec.options");
  for (size_t i = 0; i < l.size(); ++i) {
    const std::string f = "spec.options[" + std::to_string(i) + "]";
    only(c, l[i], f, {"name", "value"});
    const std::string name = req_str(c, l[i], "name", f + ".name");
    const std::string value = opt_str(c, l[i], "value", f + ".value");
    const YAML::Node vn = at(l[i], "value");
    auto boolean = [&](bool& out) {
      auto b = go_bool(value);
      if (!b) c.fail(vn, f + ".value", name + " takes true or false (1, t, TRUE, 0, f, FALSE, ...), not '" + value + "'");
      out = *b;
    };
    if (name == "disable-kprobe-multi") {
      boolean(o.disable_kprobe_multi);
    } else if (name == "disable-uprobe-multi") {
      boolean(o.disable_uprobe_multi);
    } else if (name == "override-method") {
      if (value != "fmod-ret" && value != "override-return")
        c.fail(vn, f + ".value", "override-method is fmod-ret or override-return, not '" + value + "'");
      o.override_return = value == "override-return";
    } else if (name == "policy-mode") {
      if (value != "enforce" && value != "monitor") c.fail(vn, f + ".value", "policy-mode is enforce or monitor, not '" + value + "'");
      o.monitor = value == "monitor";
    } else if (name == "sleepable-preload-size") {
      int n = 0;
      try {
        size_t used = 0;
        n = std::stoi(value, &used);
        if (used != value.size()) n = 0;
      } catch (const std::exception&) {
      }
      if (n <= 0) c.fail(vn, f + ".value", "sleepable-preload-size must be a positive integer, not '" + value + "'");
      o.sleepable_preload_size = n;
    } else {
      c.warn(l[i]["name"], f + ".name", "'" + name + "' is not an option Tetragon knows: ignored, as Tetragon ignores it");
    }
  }
  return o;
}

TracingPolicy policy(const Ctx& c, const YAML::Node& doc, const std::string& kind) {
  TracingPolicy p;
  p.kind = kind;
  const YAML::Node meta = doc["metadata"];
  if (!given(meta)) c.fail(doc, "metadata.name", "is required");
  if (!meta.IsMap()) c.fail(meta, "metadata", "must be a mapping");
  p.name = req_str(c, meta, "name", "metadata.name");
  if (p.name.empty()) c.fail(meta["name"], "metadata.name", "must not be empty");
  // A namespaced object without a namespace is in "default" (kubectl's); a
  // cluster-wide one has none, whatever its metadata says (the API server's).
  if (kind == "TracingPolicyNamespaced") p.ns = opt_str(c, meta, "namespace", "metadata.namespace");
  if (kind == "TracingPolicyNamespaced" && p.ns.empty()) p.ns = "default";
  p.file = c.file;
  p.line = line_of(doc);
  p.source = c.file + ":" + std::to_string(p.line);
  const YAML::Node spec = doc["spec"];
  if (!given(spec)) c.fail(doc, "spec", "is required");
  only(c, spec, "spec", {"tracepoints", "kprobes", "lsmhooks", "uprobes", "usdts", "loader", "podSelector", "lists", "options"});
  p.loader = opt_bool(c, spec, "loader", "spec.loader", false);
  p.lists = lists(c, spec);
  p.options = options(c, spec);
  Ctx lc = c;
  lc.lists = &p.lists;
  const Ctx& c2 = lc;
  each(c2, spec, "kprobes", [&](const YAML::Node& n, const std::string& f) { p.kprobes.push_back(kprobe(c2, n, f)); });
  // podSelector: null is no selector (every process of the node); {} every pod.
  if (const YAML::Node ps = spec["podSelector"]; given(ps)) {
    auto sel = policy::decode_label_selector(ps, c.file, "spec.podSelector");
    if (auto* r = std::get_if<policy::Refusal>(&sel)) throw Failure{r->line, r->field, r->reason};
    p.pod_selector = std::get<policy::Selector>(sel);
  }
  each(c2, spec, "uprobes", [&](const YAML::Node& n, const std::string& f) { p.uprobes.push_back(uprobe(c2, n, f)); });
  each(c2, spec, "usdts", [&](const YAML::Node& n, const std::string& f) { p.usdts.push_back(usdt(c2, n, f)); });
  each(c2, spec, "lsmhooks", [&](const YAML::Node& n, const std::string& f) { p.lsmhooks.push_back(lsmhook(c2, n, f, p.scoped())); });
  each(c2, spec, "tracepoints", [&](const YAML::Node& n, const std::string& f) { p.tracepoints.push_back(tracepoint(c2, n, f)); });
  if (p.options.override_return)
    for (size_t i = 0; i < p.kprobes.size(); ++i)
      if (p.kprobes[i].overrides())
        c.fail(spec["options"], "spec.options",
               "override-method override-return: Myelin overrides with fmod_ret only (bpf_override_return through kprobes is not built); "
               "spec.kprobes[" + std::to_string(i) + "] overrides: use fmod-ret or drop the option");
  if (p.tracepoints.empty() && p.uprobes.empty() && p.kprobes.empty() && p.lsmhooks.empty() && p.usdts.empty() && !p.loader)
    c.fail(spec, "spec", "names no hook (tracepoints, kprobes, lsmhooks, uprobes, usdts, loader)");
  return p;
}

}  // namespace

Result<TracepointHook> loader_hook(const std::function<Result<std::vector<TpField>>(const std::string& event)>& format) {
  auto fmt = format("sys_enter_mmap");
  if (!fmt) return Error{"spec.loader needs syscalls/sys_enter_mmap: " + fmt.error().message};
  int fd = -1, prot = -1;
  for (size_t i = 0; i < fmt->size(); ++i) {
    if ((*fmt)[i].name == "fd") fd = static_cast<int>(i);
    if ((*fmt)[i].name == "prot") prot = static_cast<int>(i);
  }
  if (fd < 0 || prot < 0) return Error{"syscalls/sys_enter_mmap has no fd or prot field"};
  TracepointHook h;
  h.subsystem = "syscalls";
  h.event = "sys_enter_mmap";
  h.args = {{fd, ArgType::fd}, {prot, ArgType::int_}, {fd, ArgType::int_}};
  Selector s;
  s.args.push_back({1, MYELIN_HOOK_OP_MASK, {"4"}});  // PROT_EXEC
  s.args.push_back({2, MYELIN_HOOK_OP_GT, {"-1"}});   // a file, not anonymous memory
  h.selectors.push_back(std::move(s));
  return h;
}

uint32_t lsm_hook_id(const std::string& name) {
  const auto* row = lookup(kLsmHooks, name, kOnLsm);
  return row ? row->code : 0;
}

std::vector<std::pair<std::string, std::string>> lsm_fallback_syscalls(myelin_lsm_hook hook) {
  switch (hook) {
    case MYELIN_LSM_INODE_UNLINK:
    case MYELIN_LSM_PATH_UNLINK: return {{"sys_enter_unlinkat", "pathname"}, {"sys_enter_unlink", "pathname"}};
    case MYELIN_LSM_INODE_RENAME:
    case MYELIN_LSM_PATH_RENAME: return {{"sys_enter_renameat2", "oldname"}, {"sys_enter_renameat", "oldname"}, {"sys_enter_rename", "oldname"}};
    case MYELIN_LSM_BPRM_CHECK: return {{"sys_enter_execve", "filename"}, {"sys_enter_execveat", "filename"}};
    case MYELIN_LSM_FILE_OPEN: return {{"sys_enter_openat", "filename"}, {"sys_enter_openat2", "filename"}, {"sys_enter_open", "filename"}};
  }
  return {};
}

Result<std::vector<TracepointHook>> lsm_fallback(const TracingPolicy& p,
                                                 const std::function<Result<std::vector<TpField>>(const std::string& event)>& format) {
  std::vector<TracepointHook> out;
  for (const auto& lh : p.lsmhooks)
    if (lh.generic)
      return Error{"spec.lsmhooks (" + lh.hook + "): this lsmhook (a hook or selectors beyond the inode rules of " +
                   "inode_unlink, inode_rename, path_unlink, path_rename, bprm_check_security, file_open with Equal/Prefix paths) runs on BPF-LSM only"};
  for (const auto& lh : p.lsmhooks)
    for (const auto& [event, field] : lsm_fallback_syscalls(lh.id)) {
      auto fmt = format(event);
      if (!fmt) continue;  // this architecture has no such syscall (e.g. unlink on arm64)
      int index = -1;
      for (size_t i = 0; i < fmt->size(); ++i)
        if ((*fmt)[i].name == field) index = static_cast<int>(i);
      if (index < 0) return Error{"syscalls/" + event + " has no field '" + field + "'"};
      TracepointHook h;
      static_cast<HookInfo&>(h) = lh;  // its line, message and tags
      h.subsystem = "syscalls";
      h.event = event;
      h.args.push_back({index, ArgType::string});
      for (const auto& sel : lh.selectors)
        for (const auto& path : sel.paths) {
          if (h.selectors.size() == MYELIN_HOOK_MAX_SELECTORS)
            return Error{"spec.lsmhooks (" + lh.hook + "): more than " + std::to_string(MYELIN_HOOK_MAX_SELECTORS) +
                         " paths cannot be enforced without BPF-LSM"};
          Selector s;
          s.args.push_back({0, sel.op, {path}});
          s.action = sel.action == MYELIN_HOOK_ACT_OVERRIDE ? MYELIN_HOOK_ACT_SIGKILL : sel.action;
          h.selectors.push_back(std::move(s));
        }
      out.push_back(std::move(h));
    }
  return out;
}

policy::Decoded<std::vector<TracingPolicy>> decode_tracing(const std::string& text, const std::string& file) {
  auto loaded = policy::load_yaml_documents(text, file);
  if (auto* refusal = std::get_if<policy::Refusal>(&loaded)) return std::move(*refusal);
  const auto& docs = std::get<std::vector<YAML::Node>>(loaded);
  std::vector<TracingPolicy> out;
  for (const auto& doc : docs) {
    if (doc.IsNull()) continue;  // "---" with nothing after it
    std::vector<std::string> warnings;
    const Ctx c{file, &warnings};
    policy::Refusal r;
    r.source = file;
    try {
      // A document without a readable kind may have been meant as a
      // TracingPolicy: refused here as well as by the network decoder.
      if (!doc.IsMap()) c.fail(doc, "", "a document must be a mapping with apiVersion and kind");
      if (!given(doc["kind"])) c.fail(doc, "kind", "is required");
      const std::string kind = str(c, doc["kind"], "kind");
      if (!policy::is_tracing_kind(kind)) continue;  // the network decoder's
      const std::string api = opt_str(c, doc, "apiVersion", "apiVersion");
      if (api != "cilium.io/v1alpha1") c.fail(at(doc, "apiVersion"), "apiVersion", "must be cilium.io/v1alpha1 for " + kind + ", not '" + api + "'");
      out.push_back(policy(c, doc, kind));
      out.back().warnings = std::move(warnings);
      continue;
    } catch (const Failure& f) {
      r.line = f.line, r.field = f.field, r.reason = f.why;
    } catch (const YAML::Exception& e) {
      r.line = e.mark.line + 1, r.reason = e.msg;
    }
    policy::describe(doc, r);
    return r;
  }
  return out;
}

Result<std::vector<TracingPolicy>> decode_tracing_yaml(const std::string& text, const std::string& file) {
  auto d = decode_tracing(text, file);
  if (auto* r = std::get_if<policy::Refusal>(&d)) return Error{r->message()};
  return std::get<std::vector<TracingPolicy>>(std::move(d));
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
        const auto op = (sel.*list)[c].op;
        if (op == MYELIN_HOOK_OP_IN_MAP || op == MYELIN_HOOK_OP_NOT_IN_MAP) continue;  // one condition on a set of values
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
  if (out.size() > MYELIN_HOOK_MAX_SELECTORS)
    return Error{where + ": " + std::to_string(out.size()) + " selectors once each matchArgs value is its own (at most " +
                 std::to_string(MYELIN_HOOK_MAX_SELECTORS) + " per hook: split the hook or use Prefix)"};
  return out;
}

// InMap / NotInMap values: integers and min:max ranges (a list's syscall
// numbers are values already), at most MYELIN_HOOK_SET_VALUES in all, kept in the condition.
Result<std::vector<uint64_t>> in_map_values(const std::vector<std::string>& values, bool is_signed) {
  std::vector<uint64_t> out;
  auto number = [&](const std::string& v, uint64_t& n) -> bool {
    try {
      size_t used = 0;
      if (is_signed || (!v.empty() && v[0] == '-'))
        n = static_cast<uint64_t>(std::stoll(v, &used, 0));
      else
        n = std::stoull(v, &used, 0);
      return used == v.size();
    } catch (const std::exception&) {
      return false;
    }
  };
  for (const auto& v : values) {
    const auto colon = v.find(':');
    uint64_t lo = 0, hi = 0;
    if (colon == std::string::npos) {
      if (!number(v, lo)) return Error{"'" + v + "' is not an integer, a min:max range or list:NAME"};
      hi = lo;
    } else if (!number(v.substr(0, colon), lo) || !number(v.substr(colon + 1), hi)) {
      return Error{"'" + v + "' is not a min:max range of integers"};
    }
    const bool reversed = is_signed ? static_cast<int64_t>(lo) > static_cast<int64_t>(hi) : lo > hi;
    if (reversed) std::swap(lo, hi);
    for (uint64_t x = lo;; ++x) {
      if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
      if (out.size() > MYELIN_HOOK_SET_VALUES)
        return Error{"more than " + std::to_string(MYELIN_HOOK_SET_VALUES) +
                     " values once ranges and lists are expanded (Myelin keeps an InMap set in the selector: split it over selectors)"};
      if (x == hi) break;
    }
  }
  return out;
}

// A sock condition: ports and protocol/family as numbers or names, addresses as CIDR.
Status sock_cond(myelin_hook_cond& cond, myelin_hook_op op, const std::string& value) {
  cond.op = op;
  if (op == MYELIN_HOOK_OP_SADDR || op == MYELIN_HOOK_OP_NOT_SADDR || op == MYELIN_HOOK_OP_DADDR || op == MYELIN_HOOK_OP_NOT_DADDR) {
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

Status compile_selectors(myelin_hook_config& cfg, const std::vector<Selector>& selectors, const std::string& where,
                         const BinaryIds& binary_id, const HostNamespaces& host_ns) {
  auto expanded = expand(selectors, where);
  if (!expanded) return expanded.error();
  for (size_t s = 0; s < expanded->size(); ++s) {
    const auto& in = (*expanded)[s];
    auto& out = cfg.selectors[s];
    const std::string sctx = where + ": selectors[" + std::to_string(s) + "]";
    out.action = in.action;
    out.action_arg = in.action == MYELIN_HOOK_ACT_OVERRIDE ? in.error : in.signal;
    if (in.sock_action) {  // TrackSock / UntrackSock: of a sock or socket arg
      const uint8_t st = cfg.args[in.sock_arg].type;
      if (st != MYELIN_HOOK_ARG_SOCK && st != MYELIN_HOOK_ARG_SOCKET)
        return Error{sctx + ".matchActions: argSock " + std::to_string(in.sock_arg) + " is not a sock or socket argument"};
      out.sock_action = in.sock_action;
      out.sock_arg = static_cast<uint8_t>(in.sock_arg);
    }
    out.action_flags = static_cast<uint8_t>((in.also_kill ? MYELIN_HOOK_ACTF_SIGKILL : 0) | (in.no_post ? MYELIN_HOOK_ACTF_NOPOST : 0));
    out.binary_op = in.binaries_op;
    out.nbinaries = static_cast<uint8_t>(in.binaries.size());
    const bool prefix = out.binary_op == MYELIN_HOOK_SET_PREFIX || out.binary_op == MYELIN_HOOK_SET_NOT_PREFIX;
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
    out.pid_op = in.pids_op;
    out.npids = static_cast<uint8_t>(in.pids.size());
    for (size_t i = 0; i < in.pids.size(); ++i) out.pids[i] = in.pids[i];
    out.pid_flags = (in.follow_forks ? MYELIN_HOOK_PID_FOLLOW_FORKS : 0) | (in.namespace_pids ? MYELIN_HOOK_PID_NAMESPACED : 0);
    out.cap_op = in.caps_op;
    out.cap_set = in.caps_type;
    out.caps = in.caps;
    out.nns = static_cast<uint8_t>(in.namespaces.size());
    for (size_t n = 0; n < in.namespaces.size(); ++n) {
      const auto& m = in.namespaces[n];
      auto& o = out.ns[n];
      o.ns = m.ns;
      o.op = m.op;
      o.nvalues = static_cast<uint8_t>(m.values.size());
      for (size_t k = 0; k < m.values.size(); ++k) {
        if (m.values[k] != "host_ns") {
          o.values[k] = static_cast<uint32_t>(std::stoul(m.values[k]));
          continue;
        }
        uint32_t inum = host_ns ? host_ns(o.ns) : 0;
        if (!inum) return Error{sctx + ".matchNamespaces[" + std::to_string(n) + "]: cannot read the host's " + std::string(abi::namespace_yaml_name(m.ns)) + " namespace (/proc/2/ns or /proc/1/ns)"};
        o.values[k] = inum;
      }
    }
    out.nconds = static_cast<uint8_t>(in.args.size());
    for (size_t c = 0; c < in.args.size(); ++c) {
      const auto& m = in.args[c];
      std::string value = m.values.at(0);
      auto& cond = out.conds[c];
      cond.arg = static_cast<uint8_t>(m.index);
      const uint8_t t = cfg.args[m.index].type;
      const bool is_str = t == MYELIN_HOOK_ARG_STRING || t == MYELIN_HOOK_ARG_FD || t == MYELIN_HOOK_ARG_FILE || t == MYELIN_HOOK_ARG_PATH ||
                          t == MYELIN_HOOK_ARG_BUF;
      const std::string ctx = sctx + ".matchArgs[" + std::to_string(c) + "]";
      const std::string op = op_name(m.op);
      if (is_object_arg(t)) {  // network and credential objects (arg_types.cpp)
        if (auto st = compile_object_cond(cond, m.op, t, value); !st) return Error{ctx + ": " + st.error().message};
        continue;
      }
      if ((t == MYELIN_HOOK_ARG_SOCK) != applies(kOperators, m.op, kOnSock))
        return Error{ctx + ": " + op + (t == MYELIN_HOOK_ARG_SOCK ? " does not apply to a sock argument (SPort, DPort, SAddr, DAddr, their Not forms, Protocol, Family)"
                                                                : " applies to sock arguments only")};
      if (t == MYELIN_HOOK_ARG_SOCK) {
        if (auto st = sock_cond(cond, m.op, value); !st) return Error{ctx + ": " + st.error().message};
        continue;
      }
      cond.op = m.op;
      if (m.op == MYELIN_HOOK_OP_IN_MAP || m.op == MYELIN_HOOK_OP_NOT_IN_MAP) {
        if (is_str) return Error{ctx + ": " + op + " applies to integer arguments only"};
        auto set = in_map_values(m.values, t == MYELIN_HOOK_ARG_INT);
        if (!set) return Error{ctx + ": " + set.error().message};
        std::memcpy(cond.str, set->data(), set->size() * sizeof(uint64_t));
        cond.str_len = static_cast<uint8_t>(set->size());
        continue;
      }
      if (is_str) {
        if (!applies(kOperators, m.op, kOnString)) return Error{ctx + ": " + op + " does not apply to a string argument"};
        // A string's Equal value may end in the NUL Tetragon's kernel side compares too ("name\0"): Tetragon trims it.
        if (t == MYELIN_HOOK_ARG_STRING && (m.op == MYELIN_HOOK_OP_EQ || m.op == MYELIN_HOOK_OP_NE) && !value.empty() && value.back() == '\0')
          value.pop_back();
        if (value.size() >= MYELIN_HOOK_STR_MAX - 1) return Error{ctx + ": the value is longer than " + std::to_string(MYELIN_HOOK_STR_MAX - 2) + " bytes"};
        std::memcpy(cond.str, value.data(), value.size());
        cond.str_len = static_cast<uint8_t>(value.size());
      } else {
        if (!applies(kOperators, m.op, kOnInteger)) return Error{ctx + ": " + op + " applies to strings only"};
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
      cond.arg = MYELIN_HOOK_RET_ARG;
      cond.op = m.op;  // the decoder took only operators of return values
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

// The kernel resolves one fd / file / path per hook to its path (a bounded dentry walk).
Status mark_path_arg(myelin_hook_config& cfg, const std::string& where) {
  for (uint8_t i = 0; i < cfg.nargs; ++i) {
    const uint8_t t = cfg.args[i].type;
    if (t != MYELIN_HOOK_ARG_FD && t != MYELIN_HOOK_ARG_FILE && t != MYELIN_HOOK_ARG_PATH) continue;
    if (cfg.path_arg) return Error{where + ": args[" + std::to_string(i) + "]: one fd, file or path argument per hook is resolved to a path"};
    cfg.path_arg = static_cast<uint8_t>(i + 1);
  }
  return {};
}

// Args of a function call (uprobe, kprobe): offset is the argument's position.
void call_args(myelin_hook_config& cfg, const std::vector<HookArg>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    auto& out = cfg.args[i];
    out.offset = static_cast<uint16_t>(a.index);
    out.type = arg_type(a.type).kernel;
    out.size = arg_type(a.type).call_size;
    if (out.type == MYELIN_HOOK_ARG_BUF) {
      out.size_offset = static_cast<uint16_t>(a.size_arg_index - 1);  // the length's argument position
      out.size_size = 8;
    }
  }
  cfg.nargs = static_cast<uint8_t>(args.size());
}

}  // namespace

Result<myelin_hook_config> compile_tracepoint(const TracepointHook& hook, const std::vector<TpField>& format, uint32_t policy_id,
                                      uint32_t hook_id, const BinaryIds& binary_id, const HostNamespaces& host_ns) {
  myelin_hook_config cfg{};
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
    out.type = arg_type(a.type).kernel;
    if (out.type == MYELIN_HOOK_ARG_NOP) continue;  // declared, not read
    if (out.type == MYELIN_HOOK_ARG_BUF) {
      const size_t si = static_cast<size_t>(a.size_arg_index - 1);
      if (f.size != 8 || f.decl.find('*') == std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not a pointer to a buffer"};
      if (si >= format.size() || format[si].decl.find('*') != std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "].sizeArgIndex " + std::to_string(a.size_arg_index) +
                     " names no integer field (it is 1 + the field index of the length)"};
      out.size_offset = format[si].offset;
      out.size_size = format[si].size;
    } else if (out.type == MYELIN_HOOK_ARG_STRING) {
      if (f.size != 8 || f.decl.find('*') == std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not a pointer to a string"};
    } else {
      if (f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not an integer"};
      if (out.type == MYELIN_HOOK_ARG_FD && f.decl.find('*') != std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is a pointer, not a file descriptor"};
      // Syscall tracepoints keep every argument in a 64-bit slot; a 32-bit
      // type is its low half (x86-64 and arm64 are little-endian), sign-
      // extended for int: AT_FDCWD is -100, not 4294967196.
      if (arg_type(a.type).call_size == 4 && f.size == 8) out.size = 4;
    }
  }
  cfg.nargs = static_cast<uint8_t>(hook.args.size());
  if (auto s = mark_path_arg(cfg, where); !s) return s.error();
  if (auto s = compile_selectors(cfg, hook.selectors, where, binary_id, host_ns); !s) return s.error();
  return cfg;
}

namespace {

// A function-call hook (uprobe, kprobe): args by argument position.
Result<myelin_hook_config> compile_call(const std::vector<HookArg>& args, const std::vector<Selector>& selectors, const std::string& where,
                                      uint8_t flags, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                      const HostNamespaces& host_ns) {
  myelin_hook_config cfg{};
  cfg.policy_id = policy_id;
  cfg.hook_id = hook_id;
  cfg.flags = flags;
  call_args(cfg, args);
  for (const auto& a : args)
    if (a.type == ArgType::char_buf && a.size_arg_index > 5)
      return Error{where + ": sizeArgIndex " + std::to_string(a.size_arg_index) + ": a call's length is one of its arguments 1-5"};
  if (auto s = mark_path_arg(cfg, where); !s) return s.error();
  if (auto s = compile_selectors(cfg, selectors, where, binary_id, host_ns); !s) return s.error();
  return cfg;
}

}  // namespace

Result<myelin_hook_config> compile_raw_tracepoint(const TracepointHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                                  const HostNamespaces& host_ns) {
  // Its arguments are the kernel's (pointers into kernel memory), read as a kernel function's.
  return compile_call(hook.args, hook.selectors, hook.subsystem + "/" + hook.event + " (raw)", MYELIN_HOOK_CFG_KERNEL_STRINGS, policy_id,
                      hook_id, binary_id, host_ns);
}

Result<myelin_hook_config> compile_usdt(const UsdtHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns) {
  return compile_call(hook.args, hook.selectors, hook.path + ":" + hook.provider + ":" + hook.name, 0, policy_id, hook_id, binary_id, host_ns);
}

Result<myelin_hook_config> compile_uprobe(const UprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns) {
  return compile_call(hook.args, hook.selectors, hook.path, 0, policy_id, hook_id, binary_id, host_ns);
}

Result<myelin_hook_config> compile_kprobe(const KprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns) {
  auto cfg = compile_call(hook.args, hook.selectors, hook.call, hook.syscall ? 0 : MYELIN_HOOK_CFG_KERNEL_STRINGS, policy_id, hook_id, binary_id,
                          host_ns);
  if (!cfg) return cfg;
  // A sock returned: its tuple goes in the first arg slot the hook leaves free.
  if (hook.ret && hook.ret_type == ArgType::sock) {
    if (hook.args.size() >= MYELIN_HOOK_MAX_ARGS)
      return Error{hook.call + ": returnArg type sock needs a free arg slot: at most " + std::to_string(MYELIN_HOOK_MAX_ARGS - 1) + " args beside it"};
    cfg->ret_type = MYELIN_HOOK_ARG_SOCK;
    cfg->ret_slot = static_cast<uint8_t>(hook.args.size());
  }
  cfg->ret_action = hook.ret_action;
  return cfg;
}

std::pair<KprobeHook, KprobeHook> split_return_override(const KprobeHook& hook) {
  KprobeHook entry = hook, exit = hook;
  entry.ret = false;
  for (auto& s : entry.selectors) {
    s.return_args.clear();  // the return value is not known yet
    if (s.action != MYELIN_HOOK_ACT_OVERRIDE) s.action = MYELIN_HOOK_ACT_NOPOST, s.no_post = false, s.also_kill = false, s.signal = 0;
  }
  for (auto& s : exit.selectors)
    if (s.action == MYELIN_HOOK_ACT_OVERRIDE) s.action = MYELIN_HOOK_ACT_NOPOST, s.also_kill = false;
  return {std::move(entry), std::move(exit)};
}

bool KprobeHook::overrides() const {
  for (const auto& s : selectors)
    if (s.action == MYELIN_HOOK_ACT_OVERRIDE) return true;
  return false;
}

std::string KprobeHook::function(const std::function<std::string(const std::string&)>& syscall_function) const {
  if (!syscall) return call;
  for (const char* prefix : {"__x64_sys_", "__arm64_sys_", "__ia32_sys_"})
    if (call.rfind(prefix, 0) == 0) return call;
  return syscall_function(call.rfind("sys_", 0) == 0 ? call.substr(4) : call);
}

}  // namespace myelin::tracing
