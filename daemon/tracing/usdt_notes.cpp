// SPDX-License-Identifier: Apache-2.0
#include "usdt_notes.hpp"

#include <elf.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

namespace myelin::tracing {
namespace {

// x86-64's struct pt_regs (arch/x86/include/uapi/asm/ptrace.h, stable ABI): a register's offset in it.
struct Reg {
  const char* names[4];  // 64, 32, 16 and 8-bit names
  uint16_t off;
};
constexpr Reg kRegs[] = {
    {{"rax", "eax", "ax", "al"}, 80},   {{"rbx", "ebx", "bx", "bl"}, 40},   {{"rcx", "ecx", "cx", "cl"}, 88},
    {{"rdx", "edx", "dx", "dl"}, 96},   {{"rsi", "esi", "si", "sil"}, 104}, {{"rdi", "edi", "di", "dil"}, 112},
    {{"rbp", "ebp", "bp", "bpl"}, 32},  {{"rsp", "esp", "sp", "spl"}, 152}, {{"r8", "r8d", "r8w", "r8b"}, 72},
    {{"r9", "r9d", "r9w", "r9b"}, 64},  {{"r10", "r10d", "r10w", "r10b"}, 56}, {{"r11", "r11d", "r11w", "r11b"}, 48},
    {{"r12", "r12d", "r12w", "r12b"}, 24}, {{"r13", "r13d", "r13w", "r13b"}, 16}, {{"r14", "r14d", "r14w", "r14b"}, 8},
    {{"r15", "r15d", "r15w", "r15b"}, 0},  {{"rip", "eip", "ip", nullptr}, 128},
};

bool reg_offset(const std::string& name, uint16_t* off) {
  for (const auto& r : kRegs)
    for (const char* n : r.names)
      if (n && name == n) {
        *off = r.off;
        return true;
      }
  return false;
}

bool integer(const std::string& s, int64_t* v) {
  if (s.empty()) return false;
  try {
    size_t used = 0;
    *v = std::stoll(s, &used, 0);
    return used == s.size();
  } catch (const std::exception&) {
    return false;
  }
}

// The file offset of a virtual address: through the section that holds it.
template <typename Shdr>
bool file_offset(const std::vector<Shdr>& sections, uint64_t addr, uint64_t* off) {
  for (const auto& s : sections)
    if (s.sh_type != SHT_NOBITS && (s.sh_flags & SHF_ALLOC) && addr >= s.sh_addr && addr < s.sh_addr + s.sh_size) {
      *off = addr - s.sh_addr + s.sh_offset;
      return true;
    }
  return false;
}

}  // namespace

UsdtArg usdt_arg(const std::string& text) {
  UsdtArg a;
  a.text = text;
  const auto at = text.find('@');
  int64_t size = 0;
  if (at == std::string::npos || !integer(text.substr(0, at), &size) || size == 0 || std::abs(size) > 8 ||
      (std::abs(size) & (std::abs(size) - 1))) {
    a.error = "'" + text + "' is not SIZE@OPERAND";
    return a;
  }
  a.spec.size = static_cast<uint8_t>(std::abs(size));
  a.spec.is_signed = size < 0;
  const std::string op = text.substr(at + 1);
  int64_t v = 0;
  uint16_t reg = 0;
  if (!op.empty() && op[0] == '$') {
    if (!integer(op.substr(1), &v)) {
      a.error = "'" + text + "': the constant is not an integer";
      return a;
    }
    a.spec.kind = MYELIN_USDT_ARG_CONST;
    a.spec.val_off = v;
    return a;
  }
  if (!op.empty() && op[0] == '%') {
    if (!reg_offset(op.substr(1), &reg)) {
      a.error = "'" + text + "': unknown register";
      return a;
    }
    a.spec.kind = MYELIN_USDT_ARG_REG;
    a.spec.reg_off = reg;
    return a;
  }
  // OFFSET(%REG): memory at the register plus the offset (OFFSET may be empty).
  const auto open = op.find('(');
  if (open != std::string::npos && op.back() == ')' && op.find(',') == std::string::npos && op.size() > open + 2 && op[open + 1] == '%') {
    const std::string off = op.substr(0, open);
    const std::string name = op.substr(open + 2, op.size() - open - 3);
    if ((off.empty() || integer(off, &v)) && reg_offset(name, &reg) && name != "rip" && name != "eip") {
      a.spec.kind = MYELIN_USDT_ARG_DEREF;
      a.spec.reg_off = reg;
      a.spec.val_off = off.empty() ? 0 : v;
      return a;
    }
  }
  a.error = "'" + text + "': Myelin reads constants, registers and OFFSET(%REG) memory (not indexed or symbol-relative addresses)";
  return a;
}

std::vector<std::string> elf_notes(const std::string& path, const std::string& owner, uint32_t type) {
  std::vector<std::string> out;
  std::ifstream in(path, std::ios::binary);
  Elf64_Ehdr eh;
  if (!in.read(reinterpret_cast<char*>(&eh), sizeof eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum > 4096)
    return out;
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  in.seekg(static_cast<std::streamoff>(eh.e_shoff));
  if (!in.read(reinterpret_cast<char*>(sh.data()), static_cast<std::streamsize>(sh.size() * sizeof(Elf64_Shdr)))) return out;
  for (const auto& s : sh) {
    if (s.sh_type != SHT_NOTE || s.sh_size > (1u << 20)) continue;
    std::string data(s.sh_size, '\0');
    in.seekg(static_cast<std::streamoff>(s.sh_offset));
    if (!in.read(data.data(), static_cast<std::streamsize>(data.size()))) return out;
    auto align4 = [](uint64_t x) { return (x + 3) & ~uint64_t{3}; };
    for (uint64_t at = 0; at + sizeof(Elf64_Nhdr) <= data.size();) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, data.data() + at, sizeof nh);
      const uint64_t name_at = at + sizeof nh, desc_at = name_at + align4(nh.n_namesz), next = desc_at + align4(nh.n_descsz);
      if (next > data.size() + 3) break;
      if (nh.n_type == type && nh.n_namesz == owner.size() + 1 && data.compare(name_at, owner.size(), owner) == 0 && desc_at + nh.n_descsz <= data.size())
        out.push_back(data.substr(desc_at, nh.n_descsz));
      at = next;
    }
  }
  return out;
}

Result<std::vector<UsdtNote>> usdt_notes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot open " + path};
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (data.size() < sizeof(Elf64_Ehdr) || std::memcmp(data.data(), ELFMAG, SELFMAG) != 0) return Error{path + " is not an ELF file"};
  Elf64_Ehdr eh;
  std::memcpy(&eh, data.data(), sizeof eh);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
    return Error{path + ": USDT probes are read from x86-64 ELF64 files only"};
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff == 0 || eh.e_shoff + uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr) > data.size())
    return Error{path + ": no readable section headers"};
  std::vector<Elf64_Shdr> sh(eh.e_shnum);
  std::memcpy(sh.data(), data.data() + eh.e_shoff, sh.size() * sizeof(Elf64_Shdr));
  if (eh.e_shstrndx >= sh.size()) return Error{path + ": no section names"};
  const auto& names = sh[eh.e_shstrndx];
  auto name_of = [&](const Elf64_Shdr& s) -> std::string {
    const uint64_t at = names.sh_offset + s.sh_name;
    if (at >= data.size()) return "";
    return std::string(data.c_str() + at, strnlen(data.c_str() + at, data.size() - at));
  };
  uint64_t base_addr = 0;
  bool has_base = false;
  for (const auto& s : sh)
    if (name_of(s) == ".stapsdt.base") base_addr = s.sh_addr, has_base = true;
  std::vector<UsdtNote> out;
  for (const auto& s : sh) {
    if (s.sh_type != SHT_NOTE || name_of(s) != ".note.stapsdt") continue;
    if (s.sh_offset + s.sh_size > data.size()) return Error{path + ": .note.stapsdt is cut short"};
    uint64_t at = s.sh_offset;
    const uint64_t end = s.sh_offset + s.sh_size;
    auto align4 = [](uint64_t x) { return (x + 3) & ~uint64_t{3}; };
    while (at + sizeof(Elf64_Nhdr) <= end) {
      Elf64_Nhdr nh;
      std::memcpy(&nh, data.data() + at, sizeof nh);
      const uint64_t name_at = at + sizeof nh, desc_at = name_at + align4(nh.n_namesz), next = desc_at + align4(nh.n_descsz);
      if (next > end) return Error{path + ": a .note.stapsdt note is cut short"};
      at = next;
      if (nh.n_type != 3 || nh.n_namesz != 8 || std::memcmp(data.data() + name_at, "stapsdt", 8) != 0 || nh.n_descsz < 24) continue;
      const char* d = data.data() + desc_at;
      UsdtNote n;
      uint64_t base = 0;
      std::memcpy(&n.pc, d, 8);
      std::memcpy(&base, d + 8, 8);
      std::memcpy(&n.semaphore, d + 16, 8);
      // provider\0name\0args\0
      std::string rest(d + 24, nh.n_descsz - 24);
      std::vector<std::string> parts;
      for (size_t p = 0; p < rest.size() && parts.size() < 3;) {
        const size_t z = rest.find('\0', p);
        parts.push_back(rest.substr(p, z == std::string::npos ? std::string::npos : z - p));
        if (z == std::string::npos) break;
        p = z + 1;
      }
      if (parts.size() < 2) return Error{path + ": a .note.stapsdt note has no provider or name"};
      n.provider = parts[0];
      n.name = parts[1];
      // Prelinked or moved: the note's base against .stapsdt.base's address.
      if (has_base && base) {
        n.pc += base_addr - base;
        if (n.semaphore) n.semaphore += base_addr - base;
      }
      if (!file_offset(sh, n.pc, &n.offset)) return Error{path + ": USDT " + n.provider + ":" + n.name + " is at no section's address"};
      if (n.semaphore && !file_offset(sh, n.semaphore, &n.semaphore_offset))
        return Error{path + ": the semaphore of USDT " + n.provider + ":" + n.name + " is at no section's address"};
      if (parts.size() == 3) {
        std::istringstream words(parts[2]);
        for (std::string w; words >> w;) n.args.push_back(usdt_arg(w));
      }
      out.push_back(std::move(n));
    }
  }
  return out;
}

}  // namespace myelin::tracing
