// SPDX-License-Identifier: Apache-2.0
// Every field the TracingPolicy decoder reads, null, empty and omitted, as
// Tetragon reads them (null is omitted; the defaults are its CRD's): a table
// of YAML -> the decoded model, or the refusal file:line: field: why, by
// parts. Also message and tags (Tetragon's limits and escaping) and the
// refusals of whole texts (YAML syntax, a document without kind, several
// documents with one bad).
#include <gtest/gtest.h>

#include <functional>

#include "tracing_policy.hpp"

namespace myelin::tracing {
namespace {

using policy::Refusal;

// A TracingPolicy named t whose spec is `spec` (indented two spaces; line 6 is its first line).
std::string doc(const std::string& spec, const std::string& kind = "TracingPolicy", const std::string& meta = "  name: t\n") {
  return "apiVersion: cilium.io/v1alpha1\nkind: " + kind + "\nmetadata:\n" + meta + "spec:\n" + spec;
}
// A spec with one tracepoint (lines 6-8) and `extra` after it.
std::string tp(const std::string& extra) { return doc("  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n" + extra); }
// A spec with one kprobe (lines 6-7) and `extra` after it.
std::string kp(const std::string& extra) { return doc("  kprobes:\n  - call: sys_write\n" + extra); }

struct Case {
  const char* name;
  std::string yaml;
  std::function<void(const TracingPolicy&)> check;  // decodes, then this holds
  const char* refusal = nullptr;                     // or it is refused with this message (file:line: field: why, a prefix)
};

void run(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto d = decode_tracing(c.yaml, "t.yaml");
    if (c.refusal) {
      const auto* r = std::get_if<Refusal>(&d);
      ASSERT_NE(r, nullptr) << "decoded, but should be refused: " << c.refusal << "\n" << c.yaml;
      EXPECT_EQ(r->message().rfind(c.refusal, 0), 0u) << r->message();
      continue;
    }
    const auto* r = std::get_if<Refusal>(&d);
    ASSERT_EQ(r, nullptr) << r->message() << "\n" << c.yaml;
    const auto& ps = std::get<std::vector<TracingPolicy>>(d);
    ASSERT_EQ(ps.size(), 1u);
    c.check(ps[0]);
  }
}

const auto ok = [](const TracingPolicy&) {};

TEST(TracingPolicyFields, MetadataAndSpec) {
  run({
      {"metadata omitted", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nspec: {}\n", nullptr, "t.yaml:1: metadata.name: is required"},
      {"metadata null", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: null\nspec: {}\n", nullptr, "t.yaml:1: metadata.name: is required"},
      {"metadata {}", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {}\nspec: {}\n", nullptr, "t.yaml:3: metadata.name: is required"},
      {"name null", doc("  kprobes: []\n", "TracingPolicy", "  name: null\n"), nullptr, "t.yaml:4: metadata.name: is required"},
      {"name empty", doc("  kprobes: []\n", "TracingPolicy", "  name: \"\"\n"), nullptr, "t.yaml:4: metadata.name: must not be empty"},
      {"namespaced, namespace omitted: default",
       doc("  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n", "TracingPolicyNamespaced"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.ns, "default"); }},
      {"namespaced, namespace null: default",
       doc("  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n", "TracingPolicyNamespaced", "  name: t\n  namespace: null\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.ns, "default"); }},
      {"namespaced, namespace empty: default",
       doc("  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n", "TracingPolicyNamespaced", "  name: t\n  namespace: \"\"\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.ns, "default"); }},
      {"namespaced, namespace given",
       doc("  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n", "TracingPolicyNamespaced", "  name: t\n  namespace: shop\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.ns, "shop"); }},
      {"cluster-wide: a namespace means nothing",
       doc("  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n", "TracingPolicy", "  name: t\n  namespace: shop\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.ns, ""); }},
      {"spec omitted", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: t}\n", nullptr, "t.yaml:1: spec: is required"},
      {"spec null", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: t}\nspec: null\n", nullptr, "t.yaml:1: spec: is required"},
      {"spec {}", "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: t}\nspec: {}\n", nullptr,
       "t.yaml:4: spec: names no hook (tracepoints, kprobes, lsmhooks, uprobes, usdts, loader)"},
      {"apiVersion omitted", "kind: TracingPolicy\nmetadata: {name: t}\nspec: {}\n", nullptr, "t.yaml:1: apiVersion: must be cilium.io/v1alpha1 for TracingPolicy, not ''"},
      {"hook lists null and [] are none", doc("  kprobes: null\n  uprobes: []\n  lsmhooks: ~\n  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n"),
       [](const TracingPolicy& p) {
         EXPECT_TRUE(p.kprobes.empty() && p.uprobes.empty() && p.lsmhooks.empty());
         EXPECT_EQ(p.tracepoints.size(), 1u);
       }},
      {"every hook list empty", doc("  kprobes: []\n  tracepoints: null\n"), nullptr, "t.yaml:6: spec: names no hook"},
      {"a hook list that is not a list", doc("  kprobes: {call: sys_write}\n"), nullptr, "t.yaml:6: spec.kprobes: must be a list"},
      {"podSelector omitted: every process", tp(""), [](const TracingPolicy& p) { EXPECT_FALSE(p.scoped()); }},
      {"podSelector null: every process", tp("  podSelector: null\n"), [](const TracingPolicy& p) { EXPECT_FALSE(p.scoped()); }},
      {"podSelector {}: every pod", tp("  podSelector: {}\n"),
       [](const TracingPolicy& p) {
         ASSERT_TRUE(p.pod_selector);
         EXPECT_TRUE(p.scoped());
         EXPECT_TRUE(p.pod_selector->matches({{"app", "any"}}));
       }},
      {"podSelector with labels", tp("  podSelector: {matchLabels: {app: web}}\n"),
       [](const TracingPolicy& p) {
         ASSERT_TRUE(p.pod_selector);
         EXPECT_FALSE(p.pod_selector->matches({{"app", "db"}}));
       }},
      {"podSelector refused by parts", tp("  podSelector: {matchLabel: {app: web}}\n"), nullptr, "t.yaml:9: spec.podSelector.matchLabel: is not supported"},
  });
}

TEST(TracingPolicyFields, Kprobes) {
  run({
      {"call omitted", doc("  kprobes:\n  - syscall: true\n"), nullptr, "t.yaml:7: spec.kprobes[0].call: is required"},
      {"call null", doc("  kprobes:\n  - call: null\n"), nullptr, "t.yaml:7: spec.kprobes[0].call: is required"},
      {"call empty", doc("  kprobes:\n  - call: \"\"\n"), nullptr, "t.yaml:7: spec.kprobes[0].call: '' is not a function name"},
      {"syscall omitted: true (Tetragon's default)", kp(""), [](const TracingPolicy& p) { EXPECT_TRUE(p.kprobes[0].syscall); }},
      {"syscall null: true", kp("    syscall: null\n"), [](const TracingPolicy& p) { EXPECT_TRUE(p.kprobes[0].syscall); }},
      {"syscall false", kp("    syscall: false\n"), [](const TracingPolicy& p) { EXPECT_FALSE(p.kprobes[0].syscall); }},
      {"syscall not a bool", kp("    syscall: maybe\n"), nullptr, "t.yaml:8: spec.kprobes[0].syscall: must be true or false"},
      {"a kernel object arg on a defaulted syscall says why", kp("    args: [{index: 0, type: file}]\n"), nullptr,
       "t.yaml:8: spec.kprobes[0].args[0].type: 'file' is a kernel object, which only a kprobe on a kernel function (not a syscall) "
       "receives; this kprobe is a syscall because syscall is true when omitted"},
      {"return null: false, no return probe", kp("    return: null\n"), [](const TracingPolicy& p) { EXPECT_FALSE(p.kprobes[0].ret); }},
      {"returnArg null: none", kp("    returnArg: null\n"), [](const TracingPolicy& p) { EXPECT_EQ(p.kprobes[0].ret_type, ArgType::none); }},
      {"returnArg {}: its type is required", kp("    return: true\n    returnArg: {}\n"), nullptr, "t.yaml:9: spec.kprobes[0].returnArg.type: is required"},
      {"return: true needs returnArg, as Tetragon's", kp("    return: true\n"), nullptr, "t.yaml:8: spec.kprobes[0].returnArg: return: true needs returnArg"},
      {"returnArg type kept (events show it)", kp("    return: true\n    returnArg: {index: 0, type: size_t}\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.kprobes[0].ret_type, ArgType::size_t_); }},
      {"returnArg index null: 0", kp("    return: true\n    returnArg: {index: null, type: int}\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.kprobes[0].ret_type, ArgType::int_); }},
      {"returnArg index other than 0 meant nothing: refused", kp("    return: true\n    returnArg: {index: 2, type: int}\n"), nullptr,
       "t.yaml:9: spec.kprobes[0].returnArg.index: must be 0"},
      {"returnArg without return: ignored, as Tetragon does, and said", kp("    returnArg: {index: 0, type: bogus}\n"), [](const TracingPolicy& p) {
         EXPECT_FALSE(p.kprobes[0].ret);
         EXPECT_EQ(p.kprobes[0].ret_type, ArgType::none);
         ASSERT_EQ(p.warnings.size(), 1u);
         EXPECT_EQ(p.warnings[0], "t.yaml:8: spec.kprobes[0].returnArg: ignored: the kprobe has no return: true (as in Tetragon)");
       }},
      {"args null", kp("    args: null\n"), [](const TracingPolicy& p) { EXPECT_TRUE(p.kprobes[0].args.empty()); }},
      {"args []", kp("    args: []\n"), [](const TracingPolicy& p) { EXPECT_TRUE(p.kprobes[0].args.empty()); }},
      {"arg index omitted", kp("    args: [{type: int}]\n"), nullptr, "t.yaml:8: spec.kprobes[0].args[0].index: is required"},
      {"arg index null", kp("    args: [{index: null, type: int}]\n"), nullptr, "t.yaml:8: spec.kprobes[0].args[0].index: is required"},
      {"arg type omitted (Tetragon's auto is BTF)", kp("    args: [{index: 0}]\n"), nullptr, "t.yaml:8: spec.kprobes[0].args[0].type: is required (Myelin does not read types from BTF"},
      {"arg type null", kp("    args: [{index: 0, type: null}]\n"), nullptr, "t.yaml:8: spec.kprobes[0].args[0].type: is required"},
      {"arg type empty", kp("    args: [{index: 0, type: \"\"}]\n"), nullptr, "t.yaml:8: spec.kprobes[0].args[0].type: '' is not supported"},
      {"sizeArgIndex null on an int: none", kp("    args: [{index: 0, type: int, sizeArgIndex: null}]\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.kprobes[0].args[0].size_arg_index, 0); }},
      {"sizeArgIndex 0 on an int: none (Tetragon's default)", kp("    args: [{index: 0, type: int, sizeArgIndex: 0}]\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.kprobes[0].args[0].size_arg_index, 0); }},
      {"sizeArgIndex on an int", kp("    args: [{index: 0, type: int, sizeArgIndex: 2}]\n"), nullptr, "t.yaml:8: spec.kprobes[0].args[0].sizeArgIndex: only char_buf"},
      {"char_buf without sizeArgIndex", kp("    args: [{index: 1, type: char_buf, sizeArgIndex: null}]\n"), nullptr,
       "t.yaml:8: spec.kprobes[0].args[0].sizeArgIndex: char_buf needs sizeArgIndex"},
      {"an arg that is null", kp("    args: [null]\n"), nullptr, "t.yaml:8: spec.kprobes[0].args[0]: must be a mapping"},
  });
}

TEST(TracingPolicyFields, Selectors) {
  const std::string args = "    args: [{index: 5, type: int}, {index: 6, type: string}]\n";
  auto sel = [&](const std::string& s) { return tp(args + "    selectors:\n    - " + s + "\n"); };  // the selector is line 11
  auto one = [](std::function<void(const Selector&)> f) {
    return [f](const TracingPolicy& p) {
      ASSERT_EQ(p.tracepoints[0].selectors.size(), 1u);
      f(p.tracepoints[0].selectors[0]);
    };
  };
  run({
      {"selectors null", tp(args + "    selectors: null\n"), [](const TracingPolicy& p) { EXPECT_TRUE(p.tracepoints[0].selectors.empty()); }},
      {"selectors []", tp(args + "    selectors: []\n"), [](const TracingPolicy& p) { EXPECT_TRUE(p.tracepoints[0].selectors.empty()); }},
      {"a selector {} matches every call and posts", sel("{}"), one([](const Selector& s) {
         EXPECT_TRUE(s.args.empty() && s.binaries.empty() && s.pids.empty());
         EXPECT_EQ(s.action, MYELIN_HOOK_ACT_POST);
       })},
      {"a selector that is null", sel("null"), nullptr, "t.yaml:11: spec.tracepoints[0].selectors[0]: must be a mapping"},
      {"every match list null or [] is none",
       sel("{matchArgs: null, matchBinaries: [], matchPIDs: null, matchNamespaces: [], matchCapabilities: ~, matchActions: []}"),
       one([](const Selector& s) {
         EXPECT_TRUE(s.args.empty() && s.binaries_op == MYELIN_HOOK_SET_ANY && s.pids_op == MYELIN_HOOK_SET_ANY && s.namespaces.empty() && s.caps_op == MYELIN_HOOK_SET_ANY);
         EXPECT_EQ(s.action, MYELIN_HOOK_ACT_POST);
       })},
      // A tracepoint's index that names no field is a position: Tetragon rewrites the
      // indexes naming fields to positions and keeps the others (generictracepoint.go).
      {"matchArgs index omitted: 0, no field: position 0 (Tetragon's tracepoints)", sel("{matchArgs: [{operator: Equal, values: ['1']}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.args[0].index, 0); })},
      {"matchArgs index null: 0", sel("{matchArgs: [{index: null, operator: Equal, values: ['1']}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.args[0].index, 0); })},
      {"matchArgs index 7: neither a field nor a position", sel("{matchArgs: [{index: 7, operator: Equal, values: ['1']}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs[0].index: 7 names no argument: no entry of the hook's args has index 7 (their indexes: 5, 6)"},
      {"matchArgs index: the arg whose own index it is (Tetragon's)", sel("{matchArgs: [{index: 6, operator: Prefix, values: [/etc]}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.args[0].index, 1) << "the model keeps its position in args"; })},
      {"matchArgs index 5: the first arg", sel("{matchArgs: [{index: 5, operator: Equal, values: ['1']}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.args[0].index, 0); })},
      {"matchArgs index 1: no field 1, so the position 1 (Tetragon's tracepoints)", sel("{matchArgs: [{index: 1, operator: Equal, values: ['1']}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.args[0].index, 1); })},
      {"matchArgs args: [1]: by position (Tetragon's newer form), index ignored", sel("{matchArgs: [{index: 5, args: [1], operator: Prefix, values: [/etc]}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.args[0].index, 1); })},
      {"matchArgs args: [2]: no such position", sel("{matchArgs: [{args: [2], operator: Equal, values: ['1']}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs[0].args[0]: position 2 names no argument: the hook has 2 args"},
      {"matchArgs args: two positions (CapabilitiesGained's)", sel("{matchArgs: [{args: [0, 1], operator: Equal, values: ['1']}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs[0].args: one position: a second one is read only by CapabilitiesGained"},
      {"matchArgs args: [] is none: index", sel("{matchArgs: [{index: 6, args: [], operator: Prefix, values: [/etc]}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.args[0].index, 1); })},
      {"NotEqual of several values: one condition each, AND-ed", sel("{matchArgs: [{index: 5, operator: NotEqual, values: ['1', '2', '3']}]}"),
       one([](const Selector& s) {
         ASSERT_EQ(s.args.size(), 3u);
         for (size_t i = 0; i < 3; ++i) EXPECT_EQ(s.args[i].values, std::vector<std::string>{std::to_string(i + 1)});
       })},
      {"Equal of several values stays one entry (its values OR-ed)", sel("{matchArgs: [{index: 5, operator: Equal, values: ['1', '2']}]}"),
       one([](const Selector& s) { ASSERT_EQ(s.args.size(), 1u); EXPECT_EQ(s.args[0].values.size(), 2u); })},
      {"NotEqual of 5 values: more conditions than a selector has", sel("{matchArgs: [{index: 5, operator: NotEqual, values: ['1', '2', '3', '4', '5']}]}"),
       nullptr, "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs: 5 conditions once each value of a negated operator is its own (at most 4 per selector)"},
      {"matchArgs operator null", sel("{matchArgs: [{index: 6, operator: null, values: [/etc]}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs[0].operator: is required"},
      {"matchArgs values omitted", sel("{matchArgs: [{index: 6, operator: Prefix}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs[0].values: a list of at least one value"},
      {"matchArgs values []", sel("{matchArgs: [{index: 6, operator: Prefix, values: []}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs[0].values: a list of at least one value"},
      {"matchArgs values [null]", sel("{matchArgs: [{index: 6, operator: Prefix, values: [null]}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchArgs[0].values[0]: must be a value, not null"},
      {"matchPIDs flags null: false", sel("{matchPIDs: [{operator: In, values: [1], followForks: null, isNamespacePID: ~}]}"),
       one([](const Selector& s) { EXPECT_FALSE(s.follow_forks || s.namespace_pids); })},
      {"matchPIDs values []", sel("{matchPIDs: [{operator: In, values: []}]}"), nullptr, "t.yaml:11: spec.tracepoints[0].selectors[0].matchPIDs[0].values: at least one pid"},
      {"matchPIDs operator omitted", sel("{matchPIDs: [{values: [1]}]}"), nullptr, "t.yaml:11: spec.tracepoints[0].selectors[0].matchPIDs[0].operator: is required"},
      {"matchBinaries values null", sel("{matchBinaries: [{operator: In, values: null}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchBinaries[0].values: 1 to"},
      {"matchCapabilities type null: Effective", sel("{matchCapabilities: [{type: null, operator: In, values: [CAP_SYS_ADMIN]}]}"),
       one([](const Selector& s) { EXPECT_EQ(s.caps_type, MYELIN_HOOK_CAP_EFFECTIVE); })},
      {"matchCapabilities isNamespaceCapability null: false",
       sel("{matchCapabilities: [{operator: In, values: [CAP_SYS_ADMIN], isNamespaceCapability: null}]}"), one([](const Selector& s) { EXPECT_EQ(s.caps_op, MYELIN_HOOK_SET_IN); })},
      {"matchNamespaces values []", sel("{matchNamespaces: [{namespace: Mnt, operator: In, values: []}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchNamespaces[0].values: 1 to"},
      {"matchNamespaces namespace null", sel("{matchNamespaces: [{namespace: null, operator: In, values: [host_ns]}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchNamespaces[0].namespace: is required"},
      {"matchActions null: Post", sel("{matchActions: null}"), one([](const Selector& s) { EXPECT_EQ(s.action, MYELIN_HOOK_ACT_POST); })},
      {"action null", sel("{matchActions: [{action: null}]}"), nullptr, "t.yaml:11: spec.tracepoints[0].selectors[0].matchActions[0].action: is required"},
      {"argError on Post does nothing: refused", sel("{matchActions: [{action: Post, argError: -1}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchActions[0].argError: applies to Override only (the action is Post)"},
      {"argError null on Post: omitted", sel("{matchActions: [{action: Post, argError: null}]}"), one([](const Selector& s) { EXPECT_EQ(s.action, MYELIN_HOOK_ACT_POST); })},
      {"argSig on Sigkill does nothing: refused", sel("{matchActions: [{action: Sigkill, argSig: 9}]}"), nullptr,
       "t.yaml:11: spec.tracepoints[0].selectors[0].matchActions[0].argSig: applies to Signal only (the action is Sigkill)"},
      {"Signal without argSig", sel("{matchActions: [{action: Signal}]}"), nullptr, "t.yaml:11: spec.tracepoints[0].selectors[0].matchActions[0].argSig: is required"},
      {"Signal with argSig", sel("{matchActions: [{action: Signal, argSig: 19}]}"), one([](const Selector& s) { EXPECT_EQ(s.signal, 19); })},
  });
}

TEST(TracingPolicyFields, UprobesLsmhooksTracepoints) {
  const std::string up = "  uprobes:\n  - path: /usr/lib/libssl.so.3\n";  // the uprobe is line 7
  const std::string lsm = "  lsmhooks:\n  - hook: file_open\n";        // the lsmhook is line 7
  const std::string paths = "    selectors: [{matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}]}]\n";
  run({
      {"uprobe symbols omitted", doc(up), nullptr, "t.yaml:7: spec.uprobes[0].symbols: a list of at least one symbol"},
      {"uprobe symbols null", doc(up + "    symbols: null\n"), nullptr, "t.yaml:8: spec.uprobes[0].symbols: a list of at least one symbol"},
      {"uprobe symbols []", doc(up + "    symbols: []\n"), nullptr, "t.yaml:8: spec.uprobes[0].symbols: a list of at least one symbol"},
      {"uprobe path null", doc("  uprobes:\n  - path: null\n    symbols: [SSL_write]\n"), nullptr, "t.yaml:7: spec.uprobes[0].path: is required"},
      {"uprobe args and selectors null", doc(up + "    symbols: [SSL_write]\n    args: null\n    selectors: ~\n"),
       [](const TracingPolicy& p) { EXPECT_TRUE(p.uprobes[0].args.empty() && p.uprobes[0].selectors.empty()); }},
      {"lsmhook args null and []: none", doc(lsm + "    args: []\n" + paths), [](const TracingPolicy& p) { EXPECT_EQ(p.lsmhooks[0].arg_type, LsmObject::none); }},
      {"lsmhook arg type kept (events show it)", doc(lsm + "    args: [{index: 0, type: file}]\n" + paths),
       [](const TracingPolicy& p) { EXPECT_EQ(p.lsmhooks[0].arg_type, LsmObject::file); }},
      {"lsmhook arg index other than 0 did nothing: refused", doc(lsm + "    args: [{index: 1, type: file}]\n" + paths), nullptr,
       "t.yaml:8: spec.lsmhooks[0].args[0].index: must be 0"},
      // Without selectors (null or omitted) an lsmhook posts every hit, as Tetragon's: a generic one.
      {"lsmhook selectors null", doc(lsm + "    selectors: null\n"),
       [](const TracingPolicy& p) { EXPECT_TRUE(p.lsmhooks[0].generic && p.lsmhooks[0].generic_selectors.empty()); }},
      {"lsmhook selectors omitted", doc(lsm), [](const TracingPolicy& p) { EXPECT_TRUE(p.lsmhooks[0].generic); }},
      {"lsmhook matchActions []: Post", doc(lsm + "    selectors: [{matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}], matchActions: []}]\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.lsmhooks[0].selectors[0].action, MYELIN_HOOK_ACT_POST); }},
      {"lsmhook Override, argError null: EPERM",
       doc(lsm + "    selectors: [{matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}], matchActions: [{action: Override, argError: null}]}]\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.lsmhooks[0].selectors[0].error, -1); }},
      {"lsmhook argError on Sigkill: refused",
       doc(lsm + "    selectors: [{matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}], matchActions: [{action: Sigkill, argError: -13}]}]\n"),
       nullptr, "t.yaml:8: spec.lsmhooks[0].selectors[0].matchActions[0].argError: applies to Override only"},
      {"lsmhook matchArgs values null", doc(lsm + "    selectors: [{matchArgs: [{index: 0, operator: Prefix, values: null}]}]\n"), nullptr,
       "t.yaml:8: spec.lsmhooks[0].selectors[0].matchArgs[0].values: at least one absolute path"},
      {"tracepoint subsystem null", doc("  tracepoints:\n  - subsystem: null\n    event: x\n"), nullptr, "t.yaml:7: spec.tracepoints[0].subsystem: is required"},
      {"tracepoint event omitted", doc("  tracepoints:\n  - subsystem: syscalls\n"), nullptr, "t.yaml:7: spec.tracepoints[0].event: is required"},
  });
}

TEST(TracingPolicyFields, MessageAndTagsAsTetragon) {
  const std::string long_message(300, 'm'), long_tag(130, 't');
  std::string many_tags;
  for (int i = 0; i < 17; ++i) many_tags += (i ? ", " : "") + std::string("t") + std::to_string(i);
  run({
      {"message and tags on a tracepoint", tp("    message: \"Access to a secret\"\n    tags: [\"observability.filesystem\", secrets]\n"),
       [](const TracingPolicy& p) {
         EXPECT_EQ(p.tracepoints[0].message, "Access to a secret");
         EXPECT_EQ(p.tracepoints[0].tags, (std::vector<std::string>{"observability.filesystem", "secrets"}));
       }},
      {"on a kprobe", kp("    message: write\n    tags: [io]\n"),
       [](const TracingPolicy& p) {
         EXPECT_EQ(p.kprobes[0].message, "write");
         EXPECT_EQ(p.kprobes[0].tags, std::vector<std::string>{"io"});
       }},
      {"on a uprobe", doc("  uprobes:\n  - path: /usr/lib/libssl.so.3\n    symbols: [SSL_write]\n    message: tls\n    tags: [tls]\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.uprobes[0].message, "tls"); EXPECT_EQ(p.uprobes[0].tags.size(), 1u); }},
      {"on an lsmhook",
       doc("  lsmhooks:\n  - hook: file_open\n    message: opened\n    tags: [fim]\n    selectors: [{matchArgs: [{index: 0, operator: Prefix, values: [/etc/]}]}]\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.lsmhooks[0].message, "opened"); EXPECT_EQ(p.lsmhooks[0].tags, std::vector<std::string>{"fim"}); }},
      {"message null, tags null: none", tp("    message: null\n    tags: null\n"),
       [](const TracingPolicy& p) { EXPECT_TRUE(p.tracepoints[0].message.empty() && p.tracepoints[0].tags.empty()); }},
      {"message \"\", tags []: none", tp("    message: \"\"\n    tags: []\n"),
       [](const TracingPolicy& p) { EXPECT_TRUE(p.tracepoints[0].message.empty() && p.tracepoints[0].tags.empty()); }},
      {"a message of one character", tp("    message: x\n"), nullptr, "t.yaml:9: spec.tracepoints[0].message: is too short: at least 2 characters"},
      {"a long message is truncated to 256, and says so", tp("    message: " + long_message + "\n"),
       [](const TracingPolicy& p) {
         EXPECT_EQ(p.tracepoints[0].message, std::string(256, 'm'));
         ASSERT_EQ(p.warnings.size(), 1u);
         EXPECT_EQ(p.warnings[0], "t.yaml:9: spec.tracepoints[0].message: 300 bytes, truncated to 256 (as Tetragon does)");
       }},
      {"quotes, backslashes and control characters escaped as Go's %q", tp("    message: \"say \\\"hi\\\" \\\\ now\\n\\tü\\x01\"\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.tracepoints[0].message, "say \\\"hi\\\" \\\\ now\\n\\tü\\x01"); }},
      {"17 tags", tp("    tags: [" + many_tags + "]\n"), nullptr, "t.yaml:9: spec.tracepoints[0].tags: 17 tags: at most 16 (Tetragon's limit)"},
      {"16 tags", tp("    tags: [" + many_tags.substr(0, many_tags.rfind(',')) + "]\n"),
       [](const TracingPolicy& p) { EXPECT_EQ(p.tracepoints[0].tags.size(), 16u); }},
      {"a tag of one character", tp("    tags: [ok, x]\n"), nullptr, "t.yaml:9: spec.tracepoints[0].tags[1]: 'x' is too short"},
      {"an empty tag", tp("    tags: [\"\"]\n"), nullptr, "t.yaml:9: spec.tracepoints[0].tags[0]: '' is too short"},
      {"a null tag", tp("    tags: [null]\n"), nullptr, "t.yaml:9: spec.tracepoints[0].tags[0]: must be a string of at least 2 characters"},
      {"tags that are not a list", tp("    tags: secrets\n"), nullptr, "t.yaml:9: spec.tracepoints[0].tags: must be a list"},
      {"a long tag is truncated to 128, and says so", tp("    tags: [" + long_tag + "]\n"),
       [](const TracingPolicy& p) {
         EXPECT_EQ(p.tracepoints[0].tags[0], std::string(128, 't'));
         ASSERT_EQ(p.warnings.size(), 1u);
         EXPECT_NE(p.warnings[0].find("tags[0]: 130 bytes, truncated to 128"), std::string::npos);
       }},
  });
}

// Whole texts: the refusal by parts (source, line, field, reason, the document's kind and name).
TEST(TracingPolicyFields, RefusalsByParts) {
  auto refused = [](const std::string& text) {
    auto d = decode_tracing(text, "/m/x.yaml");
    EXPECT_TRUE(std::holds_alternative<Refusal>(d)) << text;
    return std::holds_alternative<Refusal>(d) ? std::get<Refusal>(d) : Refusal{};
  };
  auto r = refused("apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: a\nspec: {}\n");
  EXPECT_EQ(r.source, "/m/x.yaml");
  EXPECT_EQ(r.field, "") << "a syntax error is about no field";
  EXPECT_EQ(r.reason.rfind("invalid YAML: ", 0), 0u) << r.reason;
  EXPECT_EQ(r.kind, "") << "the YAML does not parse: the kind is unknown";
  EXPECT_GT(r.line, 0);
  EXPECT_EQ(r.cause, Refusal::Cause::decode);

  // A second document at fault: its line, field, kind and name.
  r = refused(doc("  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n") + "---\n" +
              doc("  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_openat\n    bogus: 1\n", "TracingPolicyNamespaced",
                  "  name: second\n  namespace: shop\n"));
  EXPECT_EQ(r.line, 17);
  EXPECT_EQ(r.field, "spec.tracepoints[0].bogus");
  EXPECT_EQ(r.reason.rfind("is not supported by Myelin yet", 0), 0u) << r.reason;
  EXPECT_EQ(r.kind, "TracingPolicyNamespaced");
  EXPECT_EQ(r.name, "second");
  EXPECT_EQ(r.ns, "shop");
  EXPECT_EQ(r.message().rfind("/m/x.yaml:17: spec.tracepoints[0].bogus: is not supported", 0), 0u) << r.message();

  // A document without kind might have been a TracingPolicy: refused, kind unknown.
  r = refused("apiVersion: cilium.io/v1alpha1\nmetadata: {name: a}\nspec: {}\n");
  EXPECT_EQ(r.message(), "/m/x.yaml:1: kind: is required");
  EXPECT_EQ(r.kind, "");
  EXPECT_EQ(r.name, "a");
  r = refused("- just\n- a list\n");
  EXPECT_EQ(r.message(), "/m/x.yaml:1: a document must be a mapping with apiVersion and kind");

  // Other kinds and empty documents are passed over.
  auto d = decode_tracing("---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\n---\n" +
                              doc("  tracepoints: [{subsystem: syscalls, event: sys_enter_openat}]\n"),
                          "/m/x.yaml");
  ASSERT_TRUE(std::holds_alternative<std::vector<TracingPolicy>>(d));
  ASSERT_EQ(std::get<0>(d).size(), 1u);
  EXPECT_EQ(std::get<0>(d)[0].source, "/m/x.yaml:7");
  EXPECT_EQ(std::get<0>(d)[0].tracepoints[0].line, 12) << "each hook knows its line, for errors found at load";
}

}  // namespace
}  // namespace myelin::tracing
