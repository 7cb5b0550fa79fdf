// SPDX-License-Identifier: Apache-2.0
// What a CNI invocation asks for: the CNI_* environment and the network
// configuration on stdin, parsed and validated before anything is changed.
// Every problem becomes a CniError carrying the spec's error code.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace myelin::cni {

// Error codes of the CNI specification (1.1.0, "Error"); 100+ are ours.
enum Code : int {
  kIncompatibleVersion = 1,
  kUnsupportedField = 2,
  kUnknownContainer = 3,
  kInvalidEnv = 4,
  kIoFailure = 5,
  kDecodeFailure = 6,
  kInvalidConfig = 7,
  kTryAgainLater = 11,
  kNotAvailable = 50,
  kNoFreeAddress = 100,  // the node has no room: no free address, or the endpoint map is full
  kAgentError = 101,
  kCheckFailed = 102,
};

struct CniError {
  int code;
  std::string msg;
  std::string details;
};

inline const std::vector<std::string> kSupportedVersions = {"0.3.1", "0.4.0", "1.0.0", "1.1.0"};

struct NetConf {
  std::string cni_version;
  std::string name;
  std::string type;
  std::string socket;
  unsigned mtu = 1500;
  bool mtu_set = false;  // "mtu" given in the configuration
  std::optional<nlohmann::json> prev_result;
  std::vector<std::pair<std::string, std::string>> valid_attachments;  // GC: {containerID, ifname}
};

struct Invocation {
  std::string command;
  std::string container_id;
  std::string netns;
  std::string ifname;
  std::map<std::string, std::string> args;  // CNI_ARGS
  NetConf conf;
};

using Env = std::map<std::string, std::string>;

// The checks that depend on the command: which variables are required.
std::optional<CniError> parse_invocation(const Env& env, const std::string& stdin_text, Invocation& out);
std::optional<CniError> parse_netconf(const std::string& text, NetConf& out);
// "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p" -> map; malformed pairs are an error.
std::optional<CniError> parse_cni_args(const std::string& text, std::map<std::string, std::string>& out);

// What the plugin prints, always JSON: bytes that are not UTF-8 (from the
// environment, or quoted from a bad configuration) print as U+FFFD, where
// json::dump threw and the plugin ended on SIGABRT without an error object.
std::string print(const nlohmann::json& j);
std::string error_json(const CniError& e, const std::string& version);
std::string version_json();
// A stable host-side interface name for a container's interface: "lxc" + 11 hex chars.
std::string host_ifname(const std::string& container_id, const std::string& ifname);

}  // namespace myelin::cni
