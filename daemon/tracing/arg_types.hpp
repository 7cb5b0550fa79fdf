// SPDX-License-Identifier: Apache-2.0
// The network and credential arg types of TracingPolicy kprobes (sock,
// socket, skb, sockaddr, net_device, cred, user_namespace, capability,
// kernel_cap_t and cap_effective / cap_inheritable / cap_permitted, nop):
// what a matchArgs condition on each may say, as Tetragon allows it
// (pkg/selectors), compiled into the kernel's condition; and how events show
// each, with Tetragon's JSON field names (api/v1/tetragon/tetragon.proto,
// as protojson writes them: proto names, zero scalars omitted, uint64 as strings).
// What the kernel reads of each: datapath/lib/hook_objects.h.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "myelin/abi/tracing.h"
#include "myelin/result.hpp"
#include "vocabulary.hpp"

namespace myelin::tracing {

// The kernel's socket numbers by the names Tetragon prints and reads (pkg/reader/network).
std::string family_name(uint16_t family);       // "AF_INET", ...; the number when unnamed
std::optional<uint16_t> family_number(const std::string& name);
std::string protocol_name(uint16_t protocol);   // "IPPROTO_TCP", ...
std::optional<uint16_t> protocol_number(const std::string& name);
std::string tcp_state_name(uint8_t state);      // "TCP_ESTABLISHED", ...
std::optional<uint8_t> tcp_state_number(const std::string& name);
std::string sock_type_name(uint16_t type);      // "SOCK_STREAM", ...
// A capability's name as Tetragon's capability_arg shows it ("" when out of range).
std::string capability_name(int cap);
// A capability mask: a number, or names joined by commas ("CAP_SYS_ADMIN,CAP_NET_RAW").
std::optional<uint64_t> capability_mask(const std::string& value);

// Is the kernel arg type one whose matchArgs conditions compile_object_cond compiles?
bool is_object_arg(uint8_t kernel_type);
// A matchArgs condition (op, one value) on an arg of such a type, checked
// against what Tetragon allows for it; the reason when it is refused.
Status compile_object_cond(myelin_hook_cond& cond, myelin_hook_op op, uint8_t kernel_type, const std::string& value);

// How an event shows arg i of e, of model type t (one of the types above):
// {"skb_arg": {...}}, ...; null for nop (not shown).
nlohmann::json object_arg_json(ArgType t, const myelin_hook_event& e, size_t i);
// A sock as sock_arg shows it (tuple, mark, priority; cookie: its address).
nlohmann::json sock_json(const myelin_hook_sock& s, uint64_t cookie);

}  // namespace myelin::tracing
