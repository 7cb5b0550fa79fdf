// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Never loaded: one global of every struct and enum the ABI lists, so that
 * each is in this object's BTF with its whole layout (clang -target bpf),
 * whether or not a program uses it yet, and ring buffer records, which no
 * map type names, too. abi_layout_test.cpp compares them with the C++ side
 * and abi_enum_test.cpp reads the enumerators' names here.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "abi_all.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define ABI_STRUCT(name) struct name abi_struct_##name;
#define ABI_ENUM(name) enum name abi_enum_##name;

MYELIN_ABI_STRUCTS(ABI_STRUCT)
MYELIN_ABI_ENUMS(ABI_ENUM)
