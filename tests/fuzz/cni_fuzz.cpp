// SPDX-License-Identifier: Apache-2.0
// A CNI invocation: the input is the environment (KEY=VALUE lines, CNI_ARGS
// among them) up to an empty line, then the network configuration on stdin.
// Parsed as myelin-cni parses it; an error is rendered as the plugin prints
// it. Invariants: what the plugin prints is JSON (also when the input holds
// bytes that are not UTF-8); the MTU is the one configured; a host interface
// name is "lxc" + 11 hex digits.
#include <cstdint>
#include <nlohmann/json.hpp>

#include "cni_config.hpp"
#include "fuzz_check.hpp"

using namespace myelin::cni;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  Env env;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find('\n', pos);
    if (eol == std::string::npos) eol = in.size();
    const std::string line = in.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty()) break;
    const auto eq = line.find('=');
    if (eq != std::string::npos) env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  const std::string stdin_text = pos < in.size() ? in.substr(pos) : "";

  Invocation inv;
  if (auto err = parse_invocation(env, stdin_text, inv)) {
    const std::string out = error_json(*err, inv.conf.cni_version);
    FUZZ_CHECK(nlohmann::json::accept(out), "the plugin would print an error that is not JSON: " + out);
    return 0;
  }
  if (inv.command == "VERSION") {
    FUZZ_CHECK(nlohmann::json::accept(version_json()), "VERSION");
    return 0;
  }
  // The MTU the plugin sets is the one configured, not a truncation of it.
  const auto conf = nlohmann::json::parse(stdin_text, nullptr, false);
  if (conf.is_object() && conf.contains("mtu"))
    FUZZ_CHECK(conf["mtu"].get<uint64_t>() == inv.conf.mtu, "mtu " + conf["mtu"].dump() + " taken as " + std::to_string(inv.conf.mtu));
  const std::string host = host_ifname(inv.container_id, inv.ifname);
  FUZZ_CHECK(host.size() == 14 && starts_with(host, "lxc") && host.find_first_not_of("0123456789abcdef", 3) == std::string::npos, host);
  // CNI_ARGS alone, as the runtime sets it.
  if (auto a = env.find("CNI_ARGS"); a != env.end()) {
    std::map<std::string, std::string> args;
    if (auto err = parse_cni_args(a->second, args))
      FUZZ_CHECK(nlohmann::json::accept(error_json(*err, "1.1.0")), "CNI_ARGS error is not JSON");
    for (const auto& [k, v] : args) FUZZ_CHECK(!k.empty() && k.find(';') == std::string::npos && v.find(';') == std::string::npos, k);
  }
  return 0;
}
