// SPDX-License-Identifier: Apache-2.0
#include "tracing_policy.hpp"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

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

Selector selector(const Ctx& c, const YAML::Node& n, const std::string& f, size_t nargs) {
  only(c, n, f, {"matchArgs", "matchBinaries", "matchActions"});
  Selector s;
  if (const auto& ma = n["matchArgs"]) {
    if (!ma.IsSequence()) c.fail(ma, f + ".matchArgs", "must be a list");
    if (ma.size() > MYELIN_TP_MAX_CONDS) c.fail(ma, f + ".matchArgs", "at most " + std::to_string(MYELIN_TP_MAX_CONDS) + " per selector");
    for (size_t i = 0; i < ma.size(); ++i) {
      const std::string af = f + ".matchArgs[" + std::to_string(i) + "]";
      only(c, ma[i], af, {"index", "operator", "values"});
      MatchArg m;
      m.index = integer(c, ma[i]["index"], af + ".index");
      if (m.index < 0 || static_cast<size_t>(m.index) >= nargs)
        c.fail(ma[i]["index"], af + ".index", "names no argument: the hook has " + std::to_string(nargs) + " args (index is the position in args)");
      m.op = str(c, ma[i]["operator"], af + ".operator");
      static const std::set<std::string> ops{"Equal", "NotEqual", "GT", "LT", "GreaterThan", "LessThan", "Mask", "Prefix"};
      if (!ops.count(m.op)) c.fail(ma[i]["operator"], af + ".operator", "'" + m.op + "' is not supported by Myelin yet (Equal, NotEqual, GT, LT, Mask, Prefix)");
      const auto& vals = ma[i]["values"];
      if (!vals || !vals.IsSequence() || vals.size() != 1)
        c.fail(vals, af + ".values", "one value per matchArgs entry is supported (use one selector per value)");
      m.value = str(c, vals[0], af + ".values[0]");
      s.args.push_back(m);
    }
  }
  if (const auto& mb = n["matchBinaries"]) {
    if (!mb.IsSequence() || mb.size() != 1) c.fail(mb, f + ".matchBinaries", "one matchBinaries entry per selector is supported");
    const std::string bf = f + ".matchBinaries[0]";
    only(c, mb[0], bf, {"operator", "values"});
    s.binaries_op = str(c, mb[0]["operator"], bf + ".operator");
    if (s.binaries_op != "In" && s.binaries_op != "NotIn")
      c.fail(mb[0]["operator"], bf + ".operator", "'" + s.binaries_op + "' is not supported by Myelin yet (In, NotIn)");
    const auto& vals = mb[0]["values"];
    if (!vals || !vals.IsSequence() || vals.size() == 0 || vals.size() > MYELIN_TP_MAX_BINARIES)
      c.fail(vals, bf + ".values", "1 to " + std::to_string(MYELIN_TP_MAX_BINARIES) + " absolute paths");
    for (size_t i = 0; i < vals.size(); ++i) {
      auto v = str(c, vals[i], bf + ".values[" + std::to_string(i) + "]");
      if (v.empty() || v[0] != '/' || v.size() >= MYELIN_BINARY_PATH_MAX) c.fail(vals[i], bf + ".values", "'" + v + "' is not an absolute path");
      s.binaries.push_back(v);
    }
  }
  if (const auto& acts = n["matchActions"]) {
    if (!acts.IsSequence() || acts.size() != 1) c.fail(acts, f + ".matchActions", "one action per selector is supported");
    const std::string xf = f + ".matchActions[0]";
    only(c, acts[0], xf, {"action", "argSig"});
    s.action = str(c, acts[0]["action"], xf + ".action");
    if (s.action == "Override")
      c.fail(acts[0]["action"], xf + ".action",
             "Override needs an fmod_ret/kprobe override hook, which a tracepoint cannot do (use Sigkill here; Override is not built yet)");
    if (s.action != "Post" && s.action != "NoPost" && s.action != "Sigkill" && s.action != "Signal")
      c.fail(acts[0]["action"], xf + ".action", "'" + s.action + "' is not supported by Myelin yet (Post, NoPost, Sigkill, Signal)");
    if (s.action == "Signal") {
      s.signal = integer(c, acts[0]["argSig"], xf + ".argSig");
      if (s.signal < 1 || s.signal > 64) c.fail(acts[0]["argSig"], xf + ".argSig", "must be a signal number 1-64");
    }
  }
  return s;
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
  only(c, spec, "spec", {"tracepoints", "kprobes", "lsmhooks", "uprobes"});
  for (const char* other : {"kprobes", "uprobes"})
    if (spec[other]) p.other_hooks.push_back(other);
  if (const auto& hooks = spec["lsmhooks"]) {
    if (!hooks.IsSequence()) c.fail(hooks, "spec.lsmhooks", "must be a list");
    for (size_t i = 0; i < hooks.size(); ++i) {
      const std::string f = "spec.lsmhooks[" + std::to_string(i) + "]";
      only(c, hooks[i], f, {"hook", "args", "selectors"});
      LsmHook h;
      h.hook = str(c, hooks[i]["hook"], f + ".hook");
      if (!lsm_hook_id(h.hook))
        c.fail(hooks[i]["hook"], f + ".hook", "'" + h.hook + "' is not supported by Myelin yet (inode_unlink, inode_rename, path_unlink, bprm_check_security, file_open)");
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
      if (const auto& args = tps[i]["args"]) {
        if (!args.IsSequence() || args.size() > MYELIN_TP_MAX_ARGS)
          c.fail(args, f + ".args", "a list of at most " + std::to_string(MYELIN_TP_MAX_ARGS) + " args");
        for (size_t j = 0; j < args.size(); ++j) {
          const std::string af = f + ".args[" + std::to_string(j) + "]";
          only(c, args[j], af, {"index", "type"});
          TpArg a{integer(c, args[j]["index"], af + ".index"), str(c, args[j]["type"], af + ".type")};
          static const std::set<std::string> types{"int", "int32", "int64", "long", "uint32", "uint64", "size_t", "string", "filename"};
          if (!types.count(a.type))
            c.fail(args[j]["type"], af + ".type", "'" + a.type + "' is not supported by Myelin yet (int, int32, int64, long, uint32, uint64, size_t, string)");
          h.args.push_back(a);
        }
      }
      if (const auto& sels = tps[i]["selectors"]) {
        if (!sels.IsSequence() || sels.size() > MYELIN_TP_MAX_SELECTORS)
          c.fail(sels, f + ".selectors", "a list of at most " + std::to_string(MYELIN_TP_MAX_SELECTORS) + " selectors");
        for (size_t j = 0; j < sels.size(); ++j) h.selectors.push_back(selector(c, sels[j], f + ".selectors[" + std::to_string(j) + "]", h.args.size()));
      }
      p.tracepoints.push_back(std::move(h));
    }
  }
  if (p.tracepoints.empty() && p.lsmhooks.empty() && p.other_hooks.empty()) c.fail(spec, "spec", "names no hook (tracepoints, kprobes, lsmhooks, uprobes)");
  return p;
}

}  // namespace

uint32_t lsm_hook_id(const std::string& name) {
  if (name == "inode_unlink") return MYELIN_LSM_INODE_UNLINK;
  if (name == "inode_rename") return MYELIN_LSM_INODE_RENAME;
  if (name == "path_unlink") return MYELIN_LSM_PATH_UNLINK;
  if (name == "bprm_check_security") return MYELIN_LSM_BPRM_CHECK;
  if (name == "file_open") return MYELIN_LSM_FILE_OPEN;
  return 0;
}

std::vector<std::pair<std::string, std::string>> lsm_fallback_syscalls(const std::string& hook) {
  if (hook == "inode_unlink" || hook == "path_unlink") return {{"sys_enter_unlinkat", "pathname"}, {"sys_enter_unlink", "pathname"}};
  if (hook == "inode_rename")
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
          s.args.push_back({0, sel.op, path});
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
  try {
    for (const auto& doc : YAML::LoadAll(text)) {
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

Result<myelin_tp_config> compile_hook(const TracepointHook& hook, const std::vector<TpField>& format, uint32_t policy_id,
                                      uint32_t hook_id, const std::function<uint32_t(const std::string&)>& binary_id) {
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
    if (a.type == "string" || a.type == "filename") {
      if (f.size != 8 || f.decl.find('*') == std::string::npos)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not a pointer to a string"};
      out.type = MYELIN_TP_ARG_STRING;
    } else {
      if (f.size != 1 && f.size != 2 && f.size != 4 && f.size != 8)
        return Error{where + ": args[" + std::to_string(i) + "]: field '" + f.decl + "' is not an integer"};
      out.type = (a.type == "uint32" || a.type == "uint64" || a.type == "size_t") ? MYELIN_TP_ARG_UINT : MYELIN_TP_ARG_INT;
      // Syscall tracepoints keep every argument in a 64-bit slot; a 32-bit
      // type is its low half (x86-64 and arm64 are little-endian), sign-
      // extended for int: AT_FDCWD is -100, not 4294967196.
      if ((a.type == "int" || a.type == "int32" || a.type == "uint32") && f.size == 8) out.size = 4;
    }
  }
  cfg.nargs = static_cast<uint8_t>(hook.args.size());
  for (size_t s = 0; s < hook.selectors.size(); ++s) {
    const auto& in = hook.selectors[s];
    auto& out = cfg.selectors[s];
    out.action = in.action == "NoPost" ? MYELIN_TP_ACT_NOPOST
                 : in.action == "Sigkill" ? MYELIN_TP_ACT_SIGKILL
                 : in.action == "Signal"  ? MYELIN_TP_ACT_SIGNAL
                                          : MYELIN_TP_ACT_POST;
    out.signal = static_cast<uint32_t>(in.signal);
    out.binary_op = in.binaries_op == "In" ? 1 : in.binaries_op == "NotIn" ? 2 : 0;
    out.nbinaries = static_cast<uint8_t>(in.binaries.size());
    for (size_t b = 0; b < in.binaries.size(); ++b) out.binaries[b] = binary_id(in.binaries[b]);
    out.nconds = static_cast<uint8_t>(in.args.size());
    for (size_t c = 0; c < in.args.size(); ++c) {
      const auto& m = in.args[c];
      auto& cond = out.conds[c];
      cond.arg = static_cast<uint8_t>(m.index);
      const bool is_str = cfg.args[m.index].type == MYELIN_TP_ARG_STRING;
      const std::string ctx = where + ": selectors[" + std::to_string(s) + "].matchArgs[" + std::to_string(c) + "]";
      if (m.op == "Equal") cond.op = MYELIN_TP_OP_EQ;
      else if (m.op == "NotEqual") cond.op = MYELIN_TP_OP_NE;
      else if (m.op == "GT" || m.op == "GreaterThan") cond.op = MYELIN_TP_OP_GT;
      else if (m.op == "LT" || m.op == "LessThan") cond.op = MYELIN_TP_OP_LT;
      else if (m.op == "Mask") cond.op = MYELIN_TP_OP_MASK;
      else cond.op = MYELIN_TP_OP_PREFIX;
      if (is_str) {
        if (cond.op != MYELIN_TP_OP_EQ && cond.op != MYELIN_TP_OP_NE && cond.op != MYELIN_TP_OP_PREFIX)
          return Error{ctx + ": " + m.op + " does not apply to a string argument"};
        if (m.value.size() >= MYELIN_TP_STR_MAX - 1) return Error{ctx + ": the value is longer than " + std::to_string(MYELIN_TP_STR_MAX - 2) + " bytes"};
        std::memcpy(cond.str, m.value.data(), m.value.size());
        cond.str_len = static_cast<uint8_t>(m.value.size());
      } else {
        if (cond.op == MYELIN_TP_OP_PREFIX) return Error{ctx + ": Prefix applies to strings only"};
        try {
          size_t used = 0;
          long long v = std::stoll(m.value, &used, 0);
          if (used != m.value.size()) throw std::invalid_argument("trailing");
          cond.value = static_cast<uint64_t>(v);
        } catch (const std::exception&) {
          return Error{ctx + ": '" + m.value + "' is not an integer"};
        }
      }
    }
  }
  cfg.nselectors = static_cast<uint8_t>(hook.selectors.size());
  return cfg;
}

}  // namespace myelin::tracing
