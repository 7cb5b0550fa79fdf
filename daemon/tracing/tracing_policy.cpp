// SPDX-License-Identifier: Apache-2.0
#include "tracing_policy.hpp"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

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
// The model keeps the position.
MatchArg match_arg(const Ctx& c, const YAML::Node& n, const std::string& af, const std::vector<HookArg>& hook_args, bool ret) {
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
                    : "Equal, NotEqual, GT, LT, Mask, Prefix, Postfix; on sock args SPort, DPort, SAddr, DAddr, their Not forms, Protocol, Family") +
               ")");
  if (ret && !(row->where & kOnReturn)) c.fail(n["operator"], af + ".operator", "'" + op + "' does not apply to a return value");
  m.op = row->code;
  const YAML::Node vals = opt_list(c, n, "values", af + ".values");
  if (vals.size() == 0) c.fail(at(n, "values"), af + ".values", "a list of at least one value");
  for (size_t k = 0; k < vals.size(); ++k) {
    const std::string vf = af + ".values[" + std::to_string(k) + "]";
    if (!given(vals[k])) c.fail(vals[k], vf, "must be a value, not null");
    m.values.push_back(str(c, vals[k], vf));
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

// kind: the hook's kind (tracepoint, uprobe, kprobe); ret_probe: a kprobe
// with return: true, where matchReturnArgs applies.
Selector selector(const Ctx& c, const YAML::Node& n, const std::string& f, const std::vector<HookArg>& args, bool kprobe = false,
                  bool ret_probe = false) {
  if (!n.IsMap()) c.fail(n, f, "must be a mapping (an empty selector is {})");
  if (given(n["matchReturnArgs"]) && !ret_probe)
    c.fail(n["matchReturnArgs"], f + ".matchReturnArgs",
           kprobe ? "needs a return probe: set return: true and returnArg on the kprobe"
                  : "needs a return probe (kprobe with return: true); tracepoints and uprobes here have none");
  only(c, n, f, {"matchArgs", "matchReturnArgs", "matchBinaries", "matchActions", "matchPIDs", "matchNamespaces", "matchCapabilities"});
  Selector s;
  const YAML::Node mr = opt_list(c, n, "matchReturnArgs", f + ".matchReturnArgs");
  for (size_t i = 0; i < mr.size(); ++i) s.return_args.push_back(match_arg(c, mr[i], f + ".matchReturnArgs[" + std::to_string(i) + "]", {}, true));
  const YAML::Node ma = opt_list(c, n, "matchArgs", f + ".matchArgs");
  for (size_t i = 0; i < ma.size(); ++i) s.args.push_back(match_arg(c, ma[i], f + ".matchArgs[" + std::to_string(i) + "]", args, false));
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
  const YAML::Node acts = opt_list(c, n, "matchActions", f + ".matchActions");
  if (acts.size() > kMaxActions)
    c.fail(acts, f + ".matchActions", std::to_string(acts.size()) + " actions: at most " + std::to_string(kMaxActions) + " per selector (Tetragon's limit)");
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
  if (posts && no_post) c.fail(acts, f + ".matchActions", "Post and NoPost in one selector contradict each other");
  if (no_post) {
    if (acting.empty()) s.action = MYELIN_HOOK_ACT_NOPOST;
    else s.no_post = true;
  }
  s.also_kill = kills;
  return s;
}

std::vector<Selector> selectors(const Ctx& c, const YAML::Node& hook, const std::string& f, const std::vector<HookArg>& args,
                                bool kprobe = false, bool ret_probe = false) {
  std::vector<Selector> out;
  const YAML::Node sels = opt_list(c, hook, "selectors", f + ".selectors");
  for (size_t j = 0; j < sels.size(); ++j) out.push_back(selector(c, sels[j], f + ".selectors[" + std::to_string(j) + "]", args, kprobe, ret_probe));
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
    only(c, args[j], af, {"index", "type", "sizeArgIndex"});
    HookArg a{req_int(c, args[j], "index", af + ".index")};
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
      c.fail(args[j]["type"], af + ".type", "'" + type + "' is not supported by Myelin yet (int, int32, int64, long, uint32, uint64, size_t, string, fd, char_buf" +
                                                 std::string(kernel_objects ? ", file, path, sock" : "") + ")");
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
  only(c, n, f, {"call", "syscall", "args", "selectors", "message", "return", "returnArg", "tags"});
  KprobeHook h;
  h.line = line_of(n);
  h.call = req_str(c, n, "call", f + ".call");
  if (h.call.empty() || h.call.find_first_of("/ .") != std::string::npos) c.fail(n["call"], f + ".call", "'" + h.call + "' is not a function name");
  h.syscall = opt_bool(c, n, "syscall", f + ".syscall", true);  // Tetragon's default: a kernel function says syscall: false
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
    const auto* row = lookup(kArgTypes, type, kReturnValue);
    if (!row) c.fail(ra["type"], f + ".returnArg.type", "'" + type + "' is not supported here (an integer: int, long, size_t, ...)");
    h.ret_type = row->code;
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
  only(c, n, f, {"path", "symbols", "args", "selectors", "message", "tags"});
  UprobeHook h;
  h.line = line_of(n);
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
  h.selectors = selectors(c, n, f, h.args);
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
}

LsmHook lsmhook(const Ctx& c, const YAML::Node& n, const std::string& f) {
  only(c, n, f, {"hook", "args", "selectors", "message", "tags"});
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
  only(c, n, f, {"subsystem", "event", "args", "selectors", "message", "tags"});
  TracepointHook h;
  h.line = line_of(n);
  h.subsystem = req_str(c, n, "subsystem", f + ".subsystem");
  h.event = req_str(c, n, "event", f + ".event");
  for (const auto& name : {h.subsystem, h.event})
    if (name.empty() || name.find_first_of("/. ") != std::string::npos) c.fail(n, f, "'" + name + "' is not a tracepoint name");
  h.args = hook_args(c, n, f + ".args");
  h.selectors = selectors(c, n, f, h.args);
  message_and_tags(c, n, f, h.message, h.tags);
  return h;
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
  only(c, spec, "spec", {"tracepoints", "kprobes", "lsmhooks", "uprobes", "podSelector"});
  each(c, spec, "kprobes", [&](const YAML::Node& n, const std::string& f) { p.kprobes.push_back(kprobe(c, n, f)); });
  // podSelector: null is no selector (every process of the node); {} every pod.
  if (const YAML::Node ps = spec["podSelector"]; given(ps)) {
    auto sel = policy::decode_label_selector(ps, c.file, "spec.podSelector");
    if (auto* r = std::get_if<policy::Refusal>(&sel)) throw Failure{r->line, r->field, r->reason};
    p.pod_selector = std::get<policy::Selector>(sel);
  }
  each(c, spec, "uprobes", [&](const YAML::Node& n, const std::string& f) { p.uprobes.push_back(uprobe(c, n, f)); });
  each(c, spec, "lsmhooks", [&](const YAML::Node& n, const std::string& f) { p.lsmhooks.push_back(lsmhook(c, n, f)); });
  each(c, spec, "tracepoints", [&](const YAML::Node& n, const std::string& f) { p.tracepoints.push_back(tracepoint(c, n, f)); });
  if (p.scoped() && !p.lsmhooks.empty())
    c.fail(spec["lsmhooks"], "spec.lsmhooks",
           "cannot be scoped to pods yet (TracingPolicyNamespaced or podSelector): its rules would act on every process of the node; use a TracingPolicy without podSelector");
  if (p.tracepoints.empty() && p.uprobes.empty() && p.kprobes.empty() && p.lsmhooks.empty()) c.fail(spec, "spec", "names no hook (tracepoints, kprobes, lsmhooks, uprobes)");
  return p;
}

}  // namespace

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
      if ((t == MYELIN_HOOK_ARG_SOCK) != applies(kOperators, m.op, kOnSock))
        return Error{ctx + ": " + op + (t == MYELIN_HOOK_ARG_SOCK ? " does not apply to a sock argument (SPort, DPort, SAddr, DAddr, their Not forms, Protocol, Family)"
                                                                : " applies to sock arguments only")};
      if (t == MYELIN_HOOK_ARG_SOCK) {
        if (auto st = sock_cond(cond, m.op, value); !st) return Error{ctx + ": " + st.error().message};
        continue;
      }
      cond.op = m.op;
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

Result<myelin_hook_config> compile_uprobe(const UprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns) {
  return compile_call(hook.args, hook.selectors, hook.path, 0, policy_id, hook_id, binary_id, host_ns);
}

Result<myelin_hook_config> compile_kprobe(const KprobeHook& hook, uint32_t policy_id, uint32_t hook_id, const BinaryIds& binary_id,
                                        const HostNamespaces& host_ns) {
  return compile_call(hook.args, hook.selectors, hook.call, hook.syscall ? 0 : MYELIN_HOOK_CFG_KERNEL_STRINGS, policy_id, hook_id, binary_id,
                      host_ns);
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
