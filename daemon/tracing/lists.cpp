// SPDX-License-Identifier: Apache-2.0
#include "lists.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <regex>

namespace myelin::tracing {
namespace {

struct SyscallRow {
  const char* name;
  int x64, i386;
};
constexpr SyscallRow kSyscalls[] = {
#include "syscall_table.inc"
};

// This machine's ABI of syscalls (what a name without one means).
const char* default_abi() {
#if defined(__x86_64__)
  return "x64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "";
#endif
}

// The ABIs' function prefixes (Tetragon's): arm32 syscalls run the arm64 functions.
const char* abi_prefix(const std::string& abi) {
  if (abi == "x64") return "__x64_";
  if (abi == "i386") return "__ia32_";
  if (abi == "arm64" || abi == "arm32") return "__arm64_";
  return nullptr;
}

// A value's leading architecture prefix cut off: its ABI ("" without one).
std::string cut_prefix(std::string& v) {
  for (const auto& [abi, prefix] : {std::pair{"x64", "__x64_"}, {"i386", "__ia32_"}, {"arm64", "__arm64_"}})
    if (v.rfind(prefix, 0) == 0) {
      v = v.substr(std::string(prefix).size());
      return abi;
    }
  return "";
}

}  // namespace

std::optional<ListType> list_type(const std::string& yaml) {
  std::string s = yaml;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s.empty()) return ListType::none;
  if (s == "syscalls") return ListType::syscalls;
  if (s == "generated_syscalls") return ListType::generated_syscalls;
  if (s == "generated_ftrace") return ListType::generated_ftrace;
  return std::nullopt;
}

bool is_syscall_list(ListType t) { return t == ListType::syscalls || t == ListType::generated_syscalls; }

Result<SyscallRef> parse_syscall(const std::string& value) {
  SyscallRef r;
  std::string v = value;
  const auto slash = v.find('/');
  if (slash != std::string::npos) {
    if (v.find('/', slash + 1) != std::string::npos) return Error{"'" + value + "' is not a syscall (NAME or ABI/NAME)"};
    r.abi = v.substr(0, slash);
    v = v.substr(slash + 1);
    const std::string arch = cut_prefix(v);
    if (!abi_prefix(r.abi)) return Error{"'" + value + "': unknown ABI '" + r.abi + "' (x64, i386, arm64, arm32)"};
    // A prefix must agree with the ABI (x64 and i386 are amd64's, arm64 and arm32 arm64's).
    const bool ok = arch.empty() || arch == r.abi || (arch == "x64" && r.abi == "i386") || (arch == "arm64" && r.abi == "arm32");
    if (!ok) return Error{"'" + value + "': ABI " + r.abi + " does not go with the prefix of " + arch};
  } else {
    const std::string arch = cut_prefix(v);
    r.abi = arch.empty() ? default_abi() : arch;
    if (r.abi.empty()) return Error{"'" + value + "': this architecture has no default syscall ABI here"};
  }
  r.name = v.rfind("sys_", 0) == 0 ? v.substr(4) : v;
  if (r.name.empty()) return Error{"'" + value + "' names no syscall"};
  return r;
}

Result<uint64_t> syscall_id(const SyscallRef& s) {
  if (s.abi != "x64" && s.abi != "i386") return Error{"syscall numbers of ABI " + s.abi + " are not known to Myelin (x64 and i386 are)"};
  for (const auto& row : kSyscalls)
    if (s.name == row.name) {
      const int nr = s.abi == "x64" ? row.x64 : row.i386;
      if (nr < 0) break;
      return s.abi == "i386" ? (static_cast<uint64_t>(nr) | 0x80000000u) : static_cast<uint64_t>(nr);
    }
  return Error{"'" + s.name + "' is not a syscall of ABI " + s.abi};
}

Result<std::string> syscall_symbol(const std::string& value) {
  auto s = parse_syscall(value);
  if (!s) return s.error();
  // Tetragon's rule: the value names the function (sys_NAME), with or without the ABI's prefix.
  std::string v = value.substr(value.find('/') == std::string::npos ? 0 : value.find('/') + 1);
  cut_prefix(v);
  if (v.rfind("sys_", 0) != 0) return Error{"'" + value + "' is not a syscall function (sys_NAME, e.g. sys_dup)"};
  if (auto id = syscall_id(*s); !id && (s->abi == "x64" || s->abi == "i386")) return id.error();
  return std::string(abi_prefix(s->abi)) + v;
}

Result<std::vector<ListFunction>> list_functions(const ListSpec& list, const ListKernel& kernel) {
  std::vector<ListFunction> out;
  switch (list.type) {
    case ListType::none:
      for (const auto& v : list.values) out.push_back({v, false});
      break;
    case ListType::syscalls:
      for (const auto& v : list.values) {
        auto sym = syscall_symbol(v);
        if (!sym) return Error{"list '" + list.name + "': " + sym.error().message};
        out.push_back({*sym, true});
      }
      break;
    case ListType::generated_syscalls: {
      // Every syscall of this architecture's ABI whose function the kernel has (Tetragon: its table checked against BTF).
      const std::string abi = default_abi();
      if (abi != "x64") return Error{"list '" + list.name + "': generated_syscalls needs this architecture's syscall table (x86-64 only here)"};
      for (const auto& row : kSyscalls) {
        if (row.x64 < 0) continue;
        const std::string fn = std::string("__x64_sys_") + row.name;
        if (kernel.has_function && kernel.has_function(fn)) out.push_back({fn, true});
      }
      if (out.empty()) return Error{"list '" + list.name + "': the kernel's BTF names no syscall function"};
      break;
    }
    case ListType::generated_ftrace: {
      const std::string path = kernel.tracefs + "/available_filter_functions";
      std::ifstream in(path);
      if (kernel.tracefs.empty() || !in) return Error{"list '" + list.name + "': cannot read " + path + " (generated_ftrace needs tracefs)"};
      std::regex re;
      try {
        re = std::regex(list.pattern);  // ECMAScript: closest to the RE2 syntax Tetragon reads
      } catch (const std::regex_error& e) {
        return Error{"list '" + list.name + "': pattern '" + list.pattern + "' is not a regular expression"};
      }
      std::vector<std::string> names;
      std::string line;
      while (std::getline(in, line)) {
        if (line.find(' ') != std::string::npos) break;  // module functions follow: Tetragon stops at the first
        if (line.find("__ftrace_invalid_address__") != std::string::npos) continue;
        if (std::regex_search(line, re)) names.push_back(line);
      }
      std::sort(names.begin(), names.end());
      names.erase(std::unique(names.begin(), names.end()), names.end());
      if (names.empty()) return Error{"list '" + list.name + "': pattern '" + list.pattern + "' matches no function of " + path};
      for (auto& n : names) out.push_back({n, false});
      break;
    }
  }
  return out;
}

Result<std::vector<uint64_t>> list_syscall_ids(const ListSpec& list) {
  if (list.type != ListType::syscalls)
    return Error{"list '" + list.name + "' is not of type syscalls (InMap and NotInMap take the numbers of a syscalls list)"};
  std::vector<uint64_t> out;
  for (const auto& v : list.values) {
    auto s = parse_syscall(v);
    if (!s) return Error{"list '" + list.name + "': " + s.error().message};
    auto id = syscall_id(*s);
    if (!id) return Error{"list '" + list.name + "': " + id.error().message};
    out.push_back(*id);
  }
  return out;
}

const ListSpec* list_of(const std::string& value, const std::vector<ListSpec>& lists, bool* missing) {
  *missing = false;
  if (value.rfind("list:", 0) != 0) return nullptr;
  const std::string name = value.substr(5);
  for (const auto& l : lists)
    if (l.name == name) return &l;
  *missing = true;
  return nullptr;
}

}  // namespace myelin::tracing
