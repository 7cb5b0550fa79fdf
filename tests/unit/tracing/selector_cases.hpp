// SPDX-License-Identifier: Apache-2.0
// One table of selector-engine cases, run twice: as C++ over the engine's
// headers with stubbed BPF helpers (selector_engine_test.cpp, no root) and
// through the kernel with BPF_PROG_TEST_RUN of a raw_tp wrapper built from
// the same headers (tests/datapath/hook_engine_test.cpp). Each case is a
// hook of a TracingPolicy in YAML (its args and selectors), compiled by the
// agent's own decoder and compiler, the call's arguments, and what the hit
// must do: post or not, with which selector and action, which signal, what
// return (Override). Tokens in the YAML ($SELF, $PARENT, $NETNS) name the
// process the hit runs in, so the kernel run uses its real task.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

#include "tracing_policy.hpp"

namespace myelin::tracing::cases {

// A call argument: an integer, a NUL-terminated string (its address is
// passed), a file opened for the call (its fd is passed; its path is what
// the kernel resolves), or bytes (a buffer's address).
struct Str {
  std::string s;
};
struct File {
  std::string name;  // under the case's directory
};
struct Bytes {
  std::string b;
};
using Arg = std::variant<int64_t, Str, File, Bytes>;

struct Expect {
  bool posted = true;
  int selector = 0;  // the selector in the event
  myelin_hook_action action = MYELIN_HOOK_ACT_POST;
  int signal = 0;    // sent to the process (0: none)
  int retval = 0;    // what the program returns (Override: the errno)
  std::vector<std::pair<int, int64_t>> ints;         // event ints[i] as captured
  std::vector<std::pair<int, std::string>> strs;     // event strs[i] as captured ($DIR: the case's directory)
};

struct Case {
  const char* name;
  const char* hook;     // the hook's args and selectors (YAML, 4-space indent)
  std::vector<Arg> args;
  Expect expect;
  bool kprobe = false;  // a kprobe on a kernel function (Override, return values); else a uprobe
  int64_t ret = 0;      // the call's return value (kprobes with return: true)
  const char* binary = "/usr/bin/true";  // the binary the process runs (matchBinaries)
};

inline Expect none() {
  Expect e;
  e.posted = false;
  return e;
}
inline Expect post(int selector = 0, myelin_hook_action action = MYELIN_HOOK_ACT_POST) {
  Expect e;
  e.selector = selector;
  e.action = action;
  return e;
}
inline Expect with_int(Expect e, int i, int64_t v) {
  e.ints.push_back({i, v});
  return e;
}
inline Expect with_str(Expect e, int i, std::string s) {
  e.strs.push_back({i, std::move(s)});
  return e;
}

inline const std::vector<Case>& table() {
  static const std::vector<Case> t = {
      {"no selectors: every hit is posted", "    args: [{index: 0, type: int}]\n", {int64_t{7}}, with_int(post(), 0, 7)},
      {"int Equal", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"5\"]}]\n",
       {int64_t{5}}, post()},
      {"int Equal, another value", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"5\"]}]\n",
       {int64_t{6}}, none()},
      {"int is 32 bits of the register, sign-extended",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"-1\"]}]\n",
       {int64_t{0x1ffffffffll}}, with_int(post(), 0, -1)},
      {"NotEqual", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: NotEqual, values: [\"5\"]}]\n",
       {int64_t{6}}, post()},
      {"GT on int is signed", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: GT, values: [\"-10\"]}]\n",
       {int64_t{-5}}, post()},
      {"GT on uint64 is unsigned", "    args: [{index: 0, type: uint64}]\n    selectors:\n    - matchArgs: [{index: 0, operator: GT, values: [\"10\"]}]\n",
       {int64_t{-5}}, post()},
      {"LessThan (LT's alias)", "    args: [{index: 0, type: long}]\n    selectors:\n    - matchArgs: [{index: 0, operator: LessThan, values: [\"0\"]}]\n",
       {int64_t{3}}, none()},
      {"Mask: any bit", "    args: [{index: 0, type: uint32}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Mask, values: [\"0x40\"]}]\n",
       {int64_t{0x241}}, post()},
      {"Mask: no bit", "    args: [{index: 0, type: uint32}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Mask, values: [\"0x40\"]}]\n",
       {int64_t{0x201}}, none()},
      {"string Equal", "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"/etc/passwd\"]}]\n",
       {Str{"/etc/passwd"}}, with_str(post(), 0, "/etc/passwd")},
      {"string Equal is not a prefix", "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"/etc/passwd\"]}]\n",
       {Str{"/etc/passwd-"}}, none()},
      {"string Prefix", "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Prefix, values: [\"/etc/\"]}]\n",
       {Str{"/etc/shadow"}}, post()},
      {"string Postfix", "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Postfix, values: [\"shadow\"]}]\n",
       {Str{"/etc/shadow"}}, post()},
      {"string Postfix longer than the string", "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Postfix, values: [\"/x/etc/shadow\"]}]\n",
       {Str{"/etc/shadow"}}, none()},
      {"string NotEqual", "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: NotEqual, values: [\"/etc/passwd\"]}]\n",
       {Str{"/etc/passwd"}}, none()},
      {"string unreadable (NULL): empty, Equal does not match",
       "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"/x\"]}]\n",
       {int64_t{0}}, none()},
      {"string unreadable (NULL): captured empty", "    args: [{index: 0, type: string}]\n", {int64_t{0}}, with_str(post(), 0, "")},
      {"string longer than the capture: its first 127 bytes, Prefix matches",
       "    args: [{index: 0, type: string}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Prefix, values: [\"/aaaa\"]}]\n",
       {Str{"/" + std::string(200, 'a')}}, with_str(post(), 0, "/" + std::string(126, 'a'))},
      {"several values: one selector each, the second matches",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"1\", \"2\"]}]\n", {int64_t{2}},
       post(1)},
      {"matchArgs are AND-ed", "    args: [{index: 0, type: int}, {index: 1, type: string}]\n    selectors:\n    - matchArgs:\n"
       "      - {index: 0, operator: Equal, values: [\"1\"]}\n      - {index: 1, operator: Prefix, values: [\"/tmp/\"]}\n",
       {int64_t{1}, Str{"/etc/x"}}, none()},
      {"selectors are OR-ed, in order: the second's action",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"1\"]}]\n"
       "    - matchArgs: [{index: 0, operator: Equal, values: [\"2\"]}]\n      matchActions: [{action: Signal, argSig: 10}]\n",
       {int64_t{2}}, [] { auto e = post(1, MYELIN_HOOK_ACT_SIGNAL); e.signal = 10; return e; }()},
      {"the first match wins: NoPost posts nothing",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"2\"]}]\n"
       "      matchActions: [{action: NoPost}]\n    - matchArgs: [{index: 0, operator: Equal, values: [\"2\"]}]\n",
       {int64_t{2}}, none()},
      {"Sigkill posts and kills", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchActions: [{action: Sigkill}]\n", {int64_t{0}},
       [] { auto e = post(0, MYELIN_HOOK_ACT_SIGKILL); e.signal = 9; return e; }()},
      {"matchPIDs In: the process", "    selectors:\n    - matchPIDs: [{operator: In, values: [$SELF]}]\n", {}, post()},
      {"matchPIDs NotIn: the process", "    selectors:\n    - matchPIDs: [{operator: NotIn, values: [$SELF]}]\n", {}, none()},
      {"matchPIDs In: the parent, without followForks", "    selectors:\n    - matchPIDs: [{operator: In, values: [$PARENT]}]\n", {}, none()},
      {"matchPIDs In: the parent, followForks", "    selectors:\n    - matchPIDs: [{operator: In, values: [$PARENT], followForks: true}]\n", {},
       post()},
      {"matchNamespaces Net In: its own", "    selectors:\n    - matchNamespaces: [{namespace: Net, operator: In, values: [\"$NETNS\"]}]\n", {},
       post()},
      {"matchNamespaces Net NotIn: its own", "    selectors:\n    - matchNamespaces: [{namespace: Net, operator: NotIn, values: [\"$NETNS\"]}]\n",
       {}, none()},
      {"matchCapabilities In CAP_SYS_ADMIN (root)", "    selectors:\n    - matchCapabilities: [{operator: In, values: [CAP_SYS_ADMIN]}]\n", {}, post()},
      {"matchCapabilities NotIn CAP_SYS_ADMIN (root)", "    selectors:\n    - matchCapabilities: [{operator: NotIn, values: [CAP_SYS_ADMIN]}]\n", {},
       none()},
      {"matchBinaries In: its binary", "    selectors:\n    - matchBinaries: [{operator: In, values: [/usr/bin/true]}]\n", {}, post()},
      {"matchBinaries In: another", "    selectors:\n    - matchBinaries: [{operator: In, values: [/usr/bin/cat]}]\n", {}, none()},
      {"matchBinaries NotIn: another", "    selectors:\n    - matchBinaries: [{operator: NotIn, values: [/usr/bin/cat]}]\n", {}, post()},
      {"matchBinaries Prefix", "    selectors:\n    - matchBinaries: [{operator: Prefix, values: [/usr/]}]\n", {}, post()},
      {"matchBinaries NotPrefix", "    selectors:\n    - matchBinaries: [{operator: NotPrefix, values: [/usr/]}]\n", {}, none()},
      {"fd: its file's path, Prefix", "    args: [{index: 0, type: fd}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Prefix, values: [\"$DIR/\"]}]\n",
       {File{"secret"}}, with_str(post(), 0, "$DIR/secret")},
      {"fd: Postfix on another name", "    args: [{index: 0, type: fd}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Postfix, values: [\"/public\"]}]\n",
       {File{"secret"}}, none()},
      {"char_buf: its bytes, as many as its length", "    args: [{index: 0, type: char_buf, sizeArgIndex: 2}, {index: 1, type: size_t}]\n",
       {Bytes{"hello, world"}, int64_t{5}}, with_int(with_str(post(), 0, "hello"), 0, 5)},
      {"char_buf Equal", "    args: [{index: 0, type: char_buf, sizeArgIndex: 2}, {index: 1, type: size_t}]\n"
       "    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"hello\"]}]\n",
       {Bytes{"hello, world"}, int64_t{5}}, post()},
      {"char_buf Prefix, another", "    args: [{index: 0, type: char_buf, sizeArgIndex: 2}, {index: 1, type: size_t}]\n"
       "    selectors:\n    - matchArgs: [{index: 0, operator: Prefix, values: [\"help\"]}]\n",
       {Bytes{"hello, world"}, int64_t{12}}, none()},
      {"Override returns the errno", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchActions: [{action: Override, argError: -13}]\n",
       {int64_t{0}}, [] { auto e = post(0, MYELIN_HOOK_ACT_OVERRIDE); e.retval = -13; return e; }(), true},
      {"NotEqual of several values: none of them, and it is another",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: NotEqual, values: [\"1\", \"2\"]}]\n",
       {int64_t{3}}, post()},
      {"NotEqual of several values: it is one of them",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: NotEqual, values: [\"1\", \"2\"]}]\n",
       {int64_t{2}}, none()},
      {"matchArgs index names the arg whose own index it is (Tetragon's)",
       "    args: [{index: 1, type: int}]\n    selectors:\n    - matchArgs: [{index: 1, operator: Equal, values: [\"7\"]}]\n",
       {int64_t{0}, int64_t{7}}, with_int(post(), 0, 7)},
      {"matchArgs args: [0] names it by its position",
       "    args: [{index: 1, type: int}]\n    selectors:\n    - matchArgs: [{args: [0], operator: Equal, values: [\"8\"]}]\n",
       {int64_t{7}, int64_t{8}}, with_int(post(), 0, 8)},
      {"five args, the fifth matched",
       "    args: [{index: 0, type: int}, {index: 1, type: int}, {index: 2, type: int}, {index: 3, type: int}, {index: 4, type: int}]\n"
       "    selectors:\n    - matchArgs: [{index: 4, operator: Equal, values: [\"5\"]}, {index: 0, operator: Equal, values: [\"1\"]}]\n",
       {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{4}, int64_t{5}}, with_int(with_int(post(), 4, 5), 0, 1)},
      {"four selectors once expanded, the fourth matches",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: Equal, values: [\"1\", \"2\", \"3\", \"4\"]}]\n",
       {int64_t{4}}, post(3)},
      {"Sigkill and NoPost: killed, nothing posted", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchActions: [{action: Sigkill}, {action: NoPost}]\n",
       {int64_t{0}}, [] { auto e = none(); e.signal = 9; return e; }()},
      {"Override and Sigkill: the errno, and the process killed",
       "    args: [{index: 0, type: int}]\n    selectors:\n    - matchActions: [{action: Override, argError: -13}, {action: Sigkill}]\n",
       {int64_t{0}}, [] { auto e = post(0, MYELIN_HOOK_ACT_OVERRIDE); e.retval = -13; e.signal = 9; return e; }(), true},
      {"matchReturnArgs Equal", "    return: true\n    returnArg: {index: 0, type: int}\n    args: [{index: 0, type: int}]\n"
       "    selectors:\n    - matchReturnArgs: [{index: 0, operator: Equal, values: [\"-2\"]}]\n",
       {int64_t{0}}, post(), true, -2},
      {"matchReturnArgs GT, a smaller return", "    return: true\n    returnArg: {index: 0, type: int}\n    args: [{index: 0, type: int}]\n"
       "    selectors:\n    - matchReturnArgs: [{index: 0, operator: GT, values: [\"0\"]}]\n",
       {int64_t{0}}, none(), true, -2},
      {"InMap: one of the set", "    args: [{index: 0, type: uint64}]\n    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"32\", \"33\", \"292\"]}]\n",
       {int64_t{33}}, post()},
      {"InMap: none of the set", "    args: [{index: 0, type: uint64}]\n    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"32\", \"33\", \"292\"]}]\n",
       {int64_t{34}}, none()},
      {"InMap: a min:max range", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"10:20\"]}]\n",
       {int64_t{20}}, post()},
      {"InMap on int is signed: -1", "    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"5\", \"-1\"]}]\n",
       {int64_t{0xffffffffll}}, post()},
      {"InMap: sixteen values, the last", "    args: [{index: 0, type: uint32}]\n    selectors:\n    - matchArgs: [{index: 0, operator: InMap, values: [\"100:114\", \"7\"]}]\n",
       {int64_t{7}}, post()},
      {"NotInMap: one of the set", "    args: [{index: 0, type: uint64}]\n    selectors:\n    - matchArgs: [{index: 0, operator: NotInMap, values: [\"32\", \"33\"]}]\n",
       {int64_t{32}}, none()},
      {"NotInMap: none of the set, one selector", "    args: [{index: 0, type: uint64}]\n    selectors:\n    - matchArgs: [{index: 0, operator: NotInMap, values: [\"32\", \"33\"]}]\n"
       "      matchActions: [{action: Signal, argSig: 10}]\n",
       {int64_t{1}}, [] { auto e = post(0, MYELIN_HOOK_ACT_SIGNAL); e.signal = 10; return e; }()},
  };
  return t;
}

// gtest names a case by its name, not its bytes.
inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// The process a case's hit runs in, for the tokens of its YAML.
struct Process {
  uint32_t pid = 0, parent = 0, netns = 0;
  std::string dir;  // where the case's files are
};

inline std::string expand(std::string s, const Process& p) {
  auto sub = [&](const std::string& from, const std::string& to) {
    for (size_t at; (at = s.find(from)) != std::string::npos;) s.replace(at, from.size(), to);
  };
  sub("$SELF", std::to_string(p.pid));
  sub("$PARENT", std::to_string(p.parent));
  sub("$NETNS", std::to_string(p.netns));
  sub("$DIR", p.dir);
  return s;
}

// The binaries' ids and prefix bits the compiler asked for, and what the
// process probes would have recorded for a process running `binary`.
struct Binaries {
  std::vector<std::pair<std::string, uint32_t>> ids, prefixes;
  uint32_t id(const std::string& path, bool prefix) {
    auto& list = prefix ? prefixes : ids;
    for (const auto& [p, v] : list)
      if (p == path) return v;
    list.push_back({path, static_cast<uint32_t>(list.size() + 1)});
    return list.back().second;
  }
  myelin_exec_binary of(const std::string& binary) const {
    myelin_exec_binary b{};
    for (const auto& [p, v] : ids)
      if (p == binary) b.id = v;
    for (const auto& [p, v] : prefixes)
      if (binary.rfind(p, 0) == 0) b.prefixes |= 1u << (v - 1);
    return b;
  }
};

// The case's hook compiled as the agent compiles it; the binary's record in *binary.
inline Result<myelin_hook_config> compile(const Case& c, const Process& p, myelin_exec_binary* binary) {
  const std::string head = c.kprobe ? "  kprobes:\n  - call: security_file_open\n    syscall: false\n"
                                    : "  uprobes:\n  - path: /usr/bin/true\n    symbols: [main]\n";
  const std::string yaml = "apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: cases}\nspec:\n" + head + expand(c.hook, p);
  auto decoded = decode_tracing_yaml(yaml, "case.yaml");
  if (!decoded) return decoded.error();
  Binaries bins;
  const BinaryIds ids = [&](const std::string& path, bool prefix) { return bins.id(path, prefix); };
  auto cfg = c.kprobe ? compile_kprobe((*decoded)[0].kprobes[0], 7, 3, ids) : compile_uprobe((*decoded)[0].uprobes[0], 7, 3, ids);
  *binary = bins.of(c.binary);
  return cfg;
}

}  // namespace myelin::tracing::cases
