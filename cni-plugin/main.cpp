// SPDX-License-Identifier: Apache-2.0
// myelin-cni: Myelin's CNI plugin (spec 1.1.0; also speaks 0.3.1, 0.4.0,
// 1.0.0). The runtime sets CNI_* variables and passes the network
// configuration on stdin; the plugin prints a result or an error object.
// Addresses and endpoint state come from myelind over its socket; the
// plugin only does the pod-side plumbing.
#include <unistd.h>

#include <iostream>
#include <iterator>
#include <map>

#include "agent_client.hpp"
#include "cni_config.hpp"
#include "pod_network.hpp"

extern char** environ;

namespace myelin::cni {
namespace {

using Outcome = std::variant<std::string, CniError>;  // stdout text, or an error

std::string owner(const Invocation& inv) { return inv.container_id + "/" + inv.ifname; }

nlohmann::json render_result(const Invocation& inv, const PodLink& link, const std::string& ip,
                             const std::string& gw, unsigned route_mtu) {
  const bool old = inv.conf.cni_version == "0.3.1" || inv.conf.cni_version == "0.4.0";
  nlohmann::json ipj = {{"address", ip + "/32"}, {"gateway", gw}, {"interface", 1}};
  if (old) ipj["version"] = "4";
  nlohmann::json route = {{"dst", "0.0.0.0/0"}, {"gw", gw}};
  if (route_mtu && inv.conf.cni_version == "1.1.0") route["mtu"] = route_mtu;  // a route field since CNI 1.1.0
  return {
      {"cniVersion", inv.conf.cni_version},
      {"interfaces",
       {{{"name", link.host.name}, {"mac", net::mac_str(link.host.mac.data())}},
        {{"name", inv.ifname}, {"mac", net::mac_str(link.pod.mac.data())}, {"sandbox", inv.netns}}}},
      {"ips", {ipj}},
      {"routes", nlohmann::json::array({route})},
      {"dns", nlohmann::json::object()},
  };
}

Outcome cmd_add(const Invocation& inv) {
  {  // The namespace must be a network namespace we can enter: checked before anything changes.
    auto probe = netlink::NetnsGuard::enter(inv.netns);
    if (!probe) return CniError{kInvalidEnv, "CNI_NETNS '" + inv.netns + "' is not a usable network namespace",
                                probe.error().message};
  }
  api::Request alloc;
  alloc.mutable_ipam_allocate()->set_owner(owner(inv));
  auto ar = agent_call(inv.conf.socket, alloc);
  if (auto* e = std::get_if<CniError>(&ar)) return *e;
  const auto& a = std::get<api::Response>(ar).ipam_allocate();
  auto ip = net::parse_ipv4(a.ip());
  auto gw = net::parse_ipv4(a.gateway());
  if (!ip || !gw) return CniError{kAgentError, "agent returned a bad address", a.ShortDebugString()};

  const std::string host_if = host_ifname(inv.container_id, inv.ifname);
  auto release = [&] {
    (void)teardown_pod_link(inv.netns, inv.ifname, host_if);
    api::Request rel;
    rel.mutable_ipam_release()->set_owner(owner(inv));
    (void)agent_call(inv.conf.socket, rel);
  };
  // The network configuration's "mtu" wins; else the agent's (tunnel mode:
  // the underlay's for the device, minus 50 for the routes).
  const unsigned device_mtu = inv.conf.mtu_set || !a.device_mtu() ? inv.conf.mtu : a.device_mtu();
  auto link = setup_pod_link(inv.netns, inv.ifname, host_if, *ip, *gw, device_mtu, a.route_mtu());
  if (!link) {
    release();
    return CniError{kIoFailure, "cannot set up the pod interface " + inv.ifname, link.error().message};
  }
  api::Request add;
  auto* ep = add.mutable_endpoint_add()->mutable_endpoint();
  ep->set_container_id(inv.container_id);
  ep->set_ifname(inv.ifname);
  ep->set_netns(inv.netns);
  ep->set_host_ifname(host_if);
  ep->set_host_ifindex(static_cast<uint32_t>(link->host.index));
  ep->set_ip(a.ip());
  ep->set_mac(net::mac_str(link->pod.mac.data()));
  ep->set_host_mac(net::mac_str(link->host.mac.data()));
  auto arg = [&](const char* k) {
    auto it = inv.args.find(k);
    return it == inv.args.end() ? std::string() : it->second;
  };
  ep->set_pod_namespace(arg("K8S_POD_NAMESPACE"));
  ep->set_pod_name(arg("K8S_POD_NAME"));
  auto er = agent_call(inv.conf.socket, add);
  if (auto* e = std::get_if<CniError>(&er)) {
    release();
    return *e;
  }
  return print(render_result(inv, *link, a.ip(), a.gateway(), a.route_mtu()));
}

Outcome cmd_del(const Invocation& inv) {
  (void)teardown_pod_link(inv.netns, inv.ifname, host_ifname(inv.container_id, inv.ifname));
  api::Request del;
  del.mutable_endpoint_del()->set_container_id(inv.container_id);
  del.mutable_endpoint_del()->set_ifname(inv.ifname);
  auto r = agent_call(inv.conf.socket, del);
  if (auto* e = std::get_if<CniError>(&r)) return *e;
  return std::string();
}

Outcome cmd_check(const Invocation& inv) {
  const auto& prev = *inv.conf.prev_result;
  std::string addr;
  try {
    addr = prev.at("ips").at(0).at("address").get<std::string>();
  } catch (const std::exception& e) {
    return CniError{kInvalidConfig, "prevResult has no ips[0].address", e.what()};
  }
  auto ip = net::parse_ipv4(addr.substr(0, addr.find('/')));
  if (!ip) return CniError{kInvalidConfig, "prevResult address '" + addr + "' is not IPv4", ""};
  if (auto s = check_pod_link(inv.netns, inv.ifname, *ip); !s) return CniError{kCheckFailed, s.error().message, ""};
  api::Request get;
  get.mutable_endpoint_get()->set_container_id(inv.container_id);
  get.mutable_endpoint_get()->set_ifname(inv.ifname);
  auto r = agent_call(inv.conf.socket, get);
  if (auto* e = std::get_if<CniError>(&r)) return CniError{kCheckFailed, "agent: " + e->msg, e->details};
  const auto& ep = std::get<api::Response>(r).endpoint();
  if (ep.ip() != ip->str())
    return CniError{kCheckFailed, "agent has " + ep.ip() + " for this attachment, prevResult says " + ip->str(), ""};
  if (ep.state() != "ready") return CniError{kCheckFailed, "endpoint is " + ep.state() + ", not ready", ""};
  if (!netlink::link_get(ep.host_ifname())) return CniError{kCheckFailed, "host interface " + ep.host_ifname() + " is missing", ""};
  return std::string();
}

Outcome cmd_status(const Invocation& inv) {
  api::Request st;
  st.mutable_status();
  auto r = agent_call(inv.conf.socket, st);
  if (auto* e = std::get_if<CniError>(&r)) return CniError{kNotAvailable, "Myelin is not available: " + e->msg, e->details};
  if (!std::get<api::Response>(r).status().ready()) return CniError{kNotAvailable, "the Myelin agent is not ready yet", ""};
  return std::string();
}

Outcome cmd_gc(const Invocation& inv) {
  api::Request gc;
  for (const auto& [cid, ifname] : inv.conf.valid_attachments) {
    auto* a = gc.mutable_gc()->add_valid();
    a->set_container_id(cid);
    a->set_ifname(ifname);
  }
  gc.mutable_gc();
  auto r = agent_call(inv.conf.socket, gc);
  if (auto* e = std::get_if<CniError>(&r)) return *e;
  return std::string();
}

const std::map<std::string, Outcome (*)(const Invocation&)> kCommands = {
    {"ADD", cmd_add}, {"DEL", cmd_del}, {"CHECK", cmd_check}, {"STATUS", cmd_status}, {"GC", cmd_gc},
};

}  // namespace
}  // namespace myelin::cni

int main(int argc, char** argv) {
  using namespace myelin::cni;
  if (argc > 1 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::cout << "myelin-cni: Myelin's CNI plugin (CNI spec 1.1.0; also 0.3.1, 0.4.0, 1.0.0).\n"
                 "Run by a container runtime: CNI_COMMAND (ADD, DEL, CHECK, VERSION, STATUS, GC), CNI_CONTAINERID,\n"
                 "CNI_NETNS, CNI_IFNAME, CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME) in the environment and the\n"
                 "network configuration on stdin, e.g.\n"
                 "  {\"cniVersion\":\"1.1.0\",\"name\":\"myelin\",\"type\":\"myelin-cni\",\"socket\":\"/var/run/myelin/myelin.sock\"}\n";
    return 0;
  }
  Env env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::string input;
  if (env["CNI_COMMAND"] != "VERSION") input.assign(std::istreambuf_iterator<char>(std::cin), {});

  Invocation inv;
  if (auto err = parse_invocation(env, input, inv)) {
    std::cout << error_json(*err, inv.conf.cni_version) << std::endl;
    return 1;
  }
  if (inv.command == "VERSION") {
    std::cout << version_json() << std::endl;
    return 0;
  }
  Outcome out = kCommands.at(inv.command)(inv);
  if (auto* err = std::get_if<CniError>(&out)) {
    std::cout << error_json(*err, inv.conf.cni_version) << std::endl;
    return 1;
  }
  const auto& text = std::get<std::string>(out);
  if (!text.empty()) std::cout << text << std::endl;
  return 0;
}
