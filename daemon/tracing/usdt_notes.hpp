// SPDX-License-Identifier: Apache-2.0
// USDT probes (spec.usdts): the probe sites an ELF file's .note.stapsdt
// notes describe (SystemTap's format, which <sys/sdt.h> writes), each with
// the file offset a uprobe attaches at, its semaphore's file offset (the
// kernel counts it up while a uprobe is attached: ref_ctr_offset), and its
// arguments decoded from their spec strings ("-4@%edi", "8@-16(%rbp)",
// "4@$7") into where the probe reads each (abi/tracing.h myelin_usdt_arg).
// x86-64 ELF64 only; an argument this reader cannot place (an indexed or
// symbol-relative address) is kept as an error on that argument, so only a
// policy that uses it is refused.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "myelin/abi/tracing.h"
#include "myelin/result.hpp"

namespace myelin::tracing {

struct UsdtArg {
  myelin_usdt_arg spec{};  // kind 0 when it cannot be placed
  std::string text;        // as the note writes it
  std::string error;       // why it cannot be placed
};

struct UsdtNote {
  std::string provider, name;
  uint64_t pc = 0;                 // the probe's address (after the .stapsdt.base adjustment)
  uint64_t offset = 0;             // its file offset (where the uprobe attaches)
  uint64_t semaphore = 0;          // the semaphore's address, 0 if none
  uint64_t semaphore_offset = 0;   // its file offset (ref_ctr_offset)
  std::vector<UsdtArg> args;
};

// Every probe site of the ELF file at path, in note order.
Result<std::vector<UsdtNote>> usdt_notes(const std::string& path);

// The descriptors of every note of `owner` and `type` in an ELF64 file's
// note sections (e.g. "GNU", NT_GNU_BUILD_ID: its build id); none on any error.
std::vector<std::string> elf_notes(const std::string& path, const std::string& owner, uint32_t type);

// One argument spec string ("-4@%edi"), x86-64's operand syntax.
UsdtArg usdt_arg(const std::string& text);

}  // namespace myelin::tracing
