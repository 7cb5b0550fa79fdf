// SPDX-License-Identifier: Apache-2.0
#include "cni_config.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace myelin::cni {

std::optional<CniError> parse_cni_args(const std::string& text, std::map<std::string, std::string>& out) {
  std::stringstream ss(text);
  std::string pair;
  while (std::getline(ss, pair, ';')) {
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      return CniError{kInvalidEnv, "CNI_ARGS is malformed", "expected KEY=VALUE pairs separated by ';', got '" + pair + "'"};
    out[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return std::nullopt;
}

std::optional<CniError> parse_netconf(const std::string& text, NetConf& out) {
  nlohmann::json j;
  // nlohmann parses iteratively but copies and dumps recursively: 200,000
  // nested brackets in prevResult overflowed the plugin's stack (SIGSEGV).
  constexpr int kMaxDepth = 256;
  bool too_deep = false;
  try {
    j = nlohmann::json::parse(text, [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      too_deep = too_deep || depth > kMaxDepth;
      return !too_deep;
    });
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1E400
    return CniError{kDecodeFailure, "network configuration on stdin is not valid JSON", e.what()};
  }
  if (too_deep)
    return CniError{kDecodeFailure, "network configuration nests deeper than " + std::to_string(kMaxDepth) + " levels", ""};
  if (!j.is_object()) return CniError{kDecodeFailure, "network configuration must be a JSON object", ""};
  auto str = [&](const char* key, std::string& dst, bool required) -> std::optional<CniError> {
    if (!j.contains(key)) {
      if (required) return CniError{kInvalidConfig, std::string("network configuration lacks \"") + key + "\"", ""};
      return std::nullopt;
    }
    if (!j[key].is_string())
      return CniError{kInvalidConfig, std::string("network configuration field \"") + key + "\" must be a string", ""};
    dst = j[key].get<std::string>();
    return std::nullopt;
  };
  if (auto e = str("cniVersion", out.cni_version, true)) return e;
  if (std::find(kSupportedVersions.begin(), kSupportedVersions.end(), out.cni_version) == kSupportedVersions.end())
    return CniError{kIncompatibleVersion, "cniVersion " + out.cni_version + " is not supported",
                    "supported: 0.3.1, 0.4.0, 1.0.0, 1.1.0"};
  if (auto e = str("name", out.name, true)) return e;
  if (auto e = str("type", out.type, false)) return e;
  if (auto e = str("socket", out.socket, true)) return e;
  if (out.socket.empty()) return CniError{kInvalidConfig, "network configuration field \"socket\" is empty", ""};
  if (j.contains("mtu")) {
    // Compared as read: as an unsigned int, 4294967364 was 68 and passed.
    if (!j["mtu"].is_number_unsigned() || j["mtu"].get<uint64_t>() < 68 || j["mtu"].get<uint64_t>() > 65535)
      return CniError{kInvalidConfig, "network configuration field \"mtu\" must be a number from 68 to 65535",
                      "got " + j["mtu"].dump()};
    out.mtu = j["mtu"].get<unsigned>();
    out.mtu_set = true;
  }
  if (j.contains("prevResult")) out.prev_result = j["prevResult"];
  if (j.contains("cni.dev/valid-attachments")) {
    const auto& va = j["cni.dev/valid-attachments"];
    if (!va.is_array())
      return CniError{kInvalidConfig, "\"cni.dev/valid-attachments\" must be an array", ""};
    for (const auto& a : va) {
      if (!a.is_object() || !a.contains("containerID") || !a.contains("ifname") || !a["containerID"].is_string() ||
          !a["ifname"].is_string())
        return CniError{kInvalidConfig, "each valid attachment needs string \"containerID\" and \"ifname\"", a.dump()};
      out.valid_attachments.emplace_back(a["containerID"].get<std::string>(), a["ifname"].get<std::string>());
    }
  }
  return std::nullopt;
}

std::optional<CniError> parse_invocation(const Env& env, const std::string& stdin_text, Invocation& out) {
  auto get = [&](const char* k) {
    auto it = env.find(k);
    return it == env.end() ? std::string() : it->second;
  };
  out.command = get("CNI_COMMAND");
  if (out.command.empty()) return CniError{kInvalidEnv, "CNI_COMMAND is not set", "expected ADD, DEL, CHECK, VERSION, STATUS or GC"};
  static const std::vector<std::string> commands = {"ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"};
  if (std::find(commands.begin(), commands.end(), out.command) == commands.end())
    return CniError{kInvalidEnv, "CNI_COMMAND '" + out.command + "' is not a CNI command",
                    "expected ADD, DEL, CHECK, VERSION, STATUS or GC"};
  if (out.command == "VERSION") return std::nullopt;

  if (auto e = parse_netconf(stdin_text, out.conf)) return e;
  if (out.command == "STATUS" || out.command == "GC") return std::nullopt;

  out.container_id = get("CNI_CONTAINERID");
  out.netns = get("CNI_NETNS");
  out.ifname = get("CNI_IFNAME");
  std::vector<std::string> missing;
  if (out.container_id.empty()) missing.push_back("CNI_CONTAINERID");
  if (out.ifname.empty()) missing.push_back("CNI_IFNAME");
  if (out.netns.empty() && out.command != "DEL") missing.push_back("CNI_NETNS");
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    return CniError{kInvalidEnv, "required environment variable(s) not set: " + names, ""};
  }
  if (out.ifname.size() >= 16 || out.ifname.find_first_of("/ \t:") != std::string::npos)
    return CniError{kInvalidEnv, "CNI_IFNAME '" + out.ifname + "' is not a valid interface name",
                    "at most 15 characters, no '/', ':' or spaces"};
  if (out.container_id.find_first_of("/ \t") != std::string::npos)
    return CniError{kInvalidEnv, "CNI_CONTAINERID '" + out.container_id + "' contains '/' or spaces", ""};
  if (auto e = parse_cni_args(get("CNI_ARGS"), out.args)) return e;
  if (out.command == "CHECK" && !out.conf.prev_result)
    return CniError{kInvalidConfig, "CHECK needs prevResult in the network configuration", ""};
  return std::nullopt;
}

std::string print(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

std::string error_json(const CniError& e, const std::string& version) {
  nlohmann::json j;
  j["cniVersion"] = version.empty() ? "1.1.0" : version;
  j["code"] = e.code;
  j["msg"] = e.msg;
  if (!e.details.empty()) j["details"] = e.details;
  return print(j);
}

std::string version_json() {
  nlohmann::json j;
  j["cniVersion"] = "1.1.0";
  j["supportedVersions"] = kSupportedVersions;
  return print(j);
}

std::string host_ifname(const std::string& container_id, const std::string& ifname) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: stable across runs and builds
  for (char c : container_id + "/" + ifname) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "lxc%011llx", static_cast<unsigned long long>(h & 0xfffffffffffull));
  return buf;
}

}  // namespace myelin::cni
