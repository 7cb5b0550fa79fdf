// SPDX-License-Identifier: Apache-2.0
// myelin: the command-line client of myelind. Commands are a table of
// {words, help, handler}; each handler sends one request and prints the
// answer in the chosen output format.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "format.hpp"
#include "lb_format.hpp"
#include "node_format.hpp"
#include "myelin/wire.hpp"
#include "observe_request.hpp"

namespace {

using namespace myelin;
using namespace myelin::cli;

struct Global {
  std::string socket = "/var/run/myelin/myelin.sock";
  std::string output;
  bool help = false;
};

// Sends a request and hands each response to `on` until the stream ends.
// Returns the process exit code.
int call(const Global& g, const api::Request& req, const std::function<void(const api::Response&)>& on) {
  auto fd = wire::connect_unix(g.socket);
  if (!fd) {
    std::cerr << "myelin: " << fd.error().message << "\n";
    return 1;
  }
  // A refusing agent answers and closes without reading: the send may fail
  // with the agent's reason already waiting to be read.
  auto sent = wire::send(fd->get(), req);
  for (;;) {
    api::Response r;
    auto s = wire::recv(fd->get(), r);
    if (!sent && !(s && r.has_error())) {
      std::cerr << "myelin: " << sent.error().message << "\n";
      return 1;
    }
    if (!s) {
      if (s.error().message == "closed") return 0;
      std::cerr << "myelin: " << s.error().message << "\n";
      return 1;
    }
    if (r.has_error() && r.error().code() != api::OK) {
      std::cerr << "myelin: " << r.error().message() << "\n";
      return 1;
    }
    if (r.end_of_stream() && r.kind_case() == api::Response::KIND_NOT_SET) return 0;
    on(r);
    if (r.end_of_stream()) return 0;
  }
}

int bad_output(const std::string& o, const std::string& allowed) {
  std::cerr << "myelin: -o " << o << " is not one of " << allowed << "\n";
  return 2;
}

int cmd_status(const Global& g, const std::vector<std::string>& args) {
  if (g.help) return std::cout << "Usage: myelin status [-o table|json]\n\nAgent health, datapath counters and kernel features.\n", 0;
  if (!args.empty()) return std::cerr << "myelin status: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_status();
  return call(g, req, [&](const api::Response& r) {
    std::cout << (o == "json" ? to_json(r.status()) + "\n" : status_table(r.status()));
  });
}

int cmd_endpoint_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help) return std::cout << "Usage: myelin endpoint list [-o table|json]\n", 0;
  if (!args.empty()) return std::cerr << "myelin endpoint list: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_endpoint_list();
  return call(g, req, [&](const api::Response& r) {
    std::cout << (o == "json" ? to_json(r.endpoints()) + "\n" : endpoints_table(r.endpoints()));
  });
}

int cmd_endpoint_get(const Global& g, const std::vector<std::string>& args) {
  if (g.help || args.empty())
    return std::cout << "Usage: myelin endpoint get ID [-o table|json]\n       myelin endpoint get --container-id ID --ifname IF\n",
           g.help ? 0 : 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  auto* get = req.mutable_endpoint_get();
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--container-id" && i + 1 < args.size()) get->set_container_id(args[++i]);
    else if (args[i] == "--ifname" && i + 1 < args.size()) get->set_ifname(args[++i]);
    else if (args[i].find_first_not_of("0123456789") == std::string::npos) get->set_id(static_cast<uint32_t>(std::stoul(args[i])));
    else return std::cerr << "myelin endpoint get: '" << args[i] << "' is not an endpoint id\n", 2;
  }
  if (get->id() == 0 && get->ifname().empty()) get->set_ifname("eth0");
  return call(g, req, [&](const api::Response& r) {
    std::cout << (o == "json" ? to_json(r.endpoint()) + "\n" : endpoint_detail(r.endpoint()));
  });
}

int cmd_observe(const Global& g, const std::vector<std::string>& args) {
  if (g.help) return std::cout << cli::observe_help(), 0;
  const std::string o = g.output.empty() ? "compact" : g.output;
  if (o != "compact" && o != "json" && o != "jsonpb" && o != "dict" && o != "table")
    return bad_output(o, "compact, json, dict, table");
  auto req = cli::build_observe_request(args, std::chrono::system_clock::now());
  if (!req) return std::cerr << "myelin observe: " << req.error().message << "\n", 2;
  api::Request r;
  *r.mutable_observe() = *req;
  if (o == "table") std::cout << cli::flow_table_header() << "\n";
  return call(g, r, [&](const api::Response& resp) {
    if (!resp.has_flow()) return;
    const auto& f = resp.flow();
    if (o == "json" || o == "jsonpb") std::cout << cli::to_json(f) << "\n";
    else if (o == "dict") std::cout << cli::flow_dict(f);
    else if (o == "table") std::cout << cli::flow_table_row(f) << "\n";
    else std::cout << cli::flow_compact(f) << "\n";
    std::cout.flush();
  });
}

// Flags of the form --name VALUE from a command's words; anything else is an error.
bool take_flags(const std::vector<std::string>& args, std::map<std::string, std::string>& out, std::vector<std::string>& pos,
                const std::vector<std::string>& allowed, const char* cmd) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].rfind("--", 0) != 0) {
      pos.push_back(args[i]);
      continue;
    }
    std::string name = args[i].substr(2), value;
    if (auto eq = name.find('='); eq != std::string::npos) value = name.substr(eq + 1), name = name.substr(0, eq);
    else if (i + 1 < args.size()) value = args[++i];
    else return std::cerr << "myelin " << cmd << ": --" << name << " needs a value\n", false;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      return std::cerr << "myelin " << cmd << ": unknown flag --" << name << " (see --help)\n", false;
    out[name] = value;
  }
  return true;
}

int cmd_policy_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin policy list [--namespace NS] [-o table|json]\n\nPolicies in force, what they enforce and the endpoints "
                        "they select; then refused manifests and API objects in state error (file, line, field, reason; the\n"
                        "last good version of a refused file stays in force and is listed too).\n",
           0;
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!take_flags(args, f, pos, {"namespace"}, "policy list") || !pos.empty()) return 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_policy_list()->set_namespace_(f["namespace"]);
  return call(g, req, [&](const api::Response& r) { std::cout << (o == "json" ? to_json(r.policies()) + "\n" : policies_table(r.policies())); });
}

int cmd_policy_get(const Global& g, const std::vector<std::string>& args) {
  if (g.help) return std::cout << "Usage: myelin policy get NAME [--namespace NS] [-o table|json]\n", 0;
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!take_flags(args, f, pos, {"namespace"}, "policy get") || pos.size() != 1)
    return std::cerr << "myelin policy get: give one policy name (see --help)\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_policy_list()->set_namespace_(f["namespace"]);
  req.mutable_policy_list()->set_name(pos[0]);
  return call(g, req, [&](const api::Response& r) {
    for (const auto& p : r.policies().policies()) std::cout << (o == "json" ? to_json(p) + "\n" : policy_detail(p));
  });
}

int cmd_policy_trace(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin policy trace --from NS/POD --to NS/POD --port PORT[/tcp|udp|sctp] [-o table|json]\n"
                        "       myelin policy trace --from NS/POD --to-service NS/NAME --port PORT[/tcp|udp|sctp] [-o table|json]\n\n"
                        "Shows the verdict the datapath would give a new connection, the deciding rules and why, without sending traffic.\n"
                        "With --to-service, PORT is the Service's port: the connection is traced to each of its backends after\n"
                        "translation (policy meets the backend's identity and its targetPort, as Kubernetes defines), and the\n"
                        "verdict is the backends' (MIXED when it depends on the backend picked, NO_BACKENDS when none takes\n"
                        "new connections: the connection is refused).\n", 0;
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!take_flags(args, f, pos, {"from", "to", "to-service", "port"}, "policy trace") || !pos.empty()) return 2;
  if (f["from"].empty() || (f["to"].empty() && f["to-service"].empty()) || f["port"].empty())
    return std::cerr << "myelin policy trace: --from, --to (or --to-service) and --port are required\n", 2;
  if (!f["to"].empty() && !f["to-service"].empty())
    return std::cerr << "myelin policy trace: give --to or --to-service, not both\n", 2;
  std::string port = f["port"], proto = "tcp";
  if (auto slash = port.find('/'); slash != std::string::npos) proto = port.substr(slash + 1), port = port.substr(0, slash);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535)
    return std::cerr << "myelin policy trace: --port '" << f["port"] << "' is not PORT[/PROTOCOL]\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  auto* t = req.mutable_policy_trace();
  t->set_from(f["from"]);
  t->set_to(f["to"]);
  t->set_to_service(f["to-service"]);
  t->set_port(static_cast<uint32_t>(std::stoul(port)));
  t->set_protocol(proto);
  return call(g, req, [&](const api::Response& r) { std::cout << (o == "json" ? to_json(r.policy_trace()) + "\n" : trace_text(r.policy_trace())); });
}

int cmd_identity_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help) return std::cout << "Usage: myelin identity list [-o table|json]\n", 0;
  if (!args.empty()) return std::cerr << "myelin identity list: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_identity_list();
  return call(g, req, [&](const api::Response& r) { std::cout << (o == "json" ? to_json(r.identities()) + "\n" : identities_table(r.identities())); });
}

// service / endpointslice / node list: what the agent stored, as decoded.
int object_list(const Global& g, const std::vector<std::string>& args, const std::string& kind, const std::string& command) {
  if (g.help)
    return std::cout << "Usage: myelin " << command << " list [-o table|json]\n\n"
                     << kind << "s the agent stores (from the manifests directory and the Kubernetes API), as decoded,\n"
                        "and the sources refused for one (file:line: field: reason). Nothing acts on them yet.\n", 0;
  if (!args.empty()) return std::cerr << "myelin " << command << " list: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_object_list()->set_kind(kind);
  return call(g, req, [&](const api::Response& r) { std::cout << (o == "json" ? to_json(r.objects()) + "\n" : objects_table(r.objects(), kind)); });
}
int cmd_service_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin service list [--namespace NS] [-o table|json]\n\n"
                        "Services as stored and as this node serves them: where the endpoints come from (EndpointSlice,\n"
                        "derived from the Pods, none), frontends, backends taking new connections, and why a Service is\n"
                        "not proxied; then the sources refused for a Service (file:line: field: reason).\n"
                        "myelin service get NAME shows one in full.\n",
           0;
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!take_flags(args, f, pos, {"namespace"}, "service list") || !pos.empty()) return 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_service_list()->set_namespace_(f["namespace"]);
  return call(g, req, [&](const api::Response& r) { std::cout << (o == "json" ? to_json(r.objects()) + "\n" : services_table(r.objects())); });
}

int cmd_service_get(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin service get [NS/]NAME [--namespace NS] [-o table|json]\n\n"
                        "One Service: its spec, where its endpoints come from, each frontend (ClusterIP, NodePort on each\n"
                        "node address, externalIP and LoadBalancer IP of this node) with its backends: state (active takes\n"
                        "new connections, terminating keeps its established ones), local or remote, pod, conditions;\n"
                        "affinity, traffic policies, warnings, or why it is not proxied.\n",
           0;
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!take_flags(args, f, pos, {"namespace"}, "service get") || pos.size() != 1)
    return std::cerr << "myelin service get: give one Service name (see --help)\n", 2;
  std::string ns = f["namespace"], name = pos[0];
  if (auto slash = name.find('/'); slash != std::string::npos) {
    if (!ns.empty() && ns != name.substr(0, slash)) return std::cerr << "myelin service get: " << name << " and --namespace " << ns << " disagree\n", 2;
    ns = name.substr(0, slash), name = name.substr(slash + 1);
  }
  if (name.empty()) return std::cerr << "myelin service get: give one Service name (see --help)\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_service_list()->set_namespace_(ns.empty() ? "default" : ns);
  req.mutable_service_list()->set_name(name);
  return call(g, req, [&](const api::Response& r) {
    for (const auto& s : r.objects().services()) std::cout << (o == "json" ? to_json(s) + "\n" : service_detail(s));
  });
}
int cmd_endpointslice_list(const Global& g, const std::vector<std::string>& a) { return object_list(g, a, "EndpointSlice", "endpointslice"); }
// The cluster's nodes as this agent uses them; --stored: the Node objects
// as stored (decoded, with the sources refused for one).
int cmd_node_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin node list [-o table|json]\n       myelin node list --stored [-o table|json]\n\n"
                        "The cluster's nodes as this node sees them: addresses, pod CIDRs, where each comes from (etcd,\n"
                        "kubernetes), health (a node this one cannot use says why, e.g. not directly reachable in native\n"
                        "routing), its pods known here and the last update; this node is marked (local). A single node\n"
                        "(no --kvstore and no Kubernetes API) says so.\n"
                        "--stored: the Node objects stored from the manifests directory and the Kubernetes API, as decoded,\n"
                        "and the sources refused for one (file:line: field: reason).\n",
           0;
  std::vector<std::string> rest;
  bool stored = false;
  for (const auto& a : args) (a == "--stored" ? stored = true : (rest.push_back(a), false));
  if (stored) return object_list(g, rest, "Node", "node");
  if (!rest.empty()) return std::cerr << "myelin node list: unexpected argument '" << rest[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_node_list();
  return call(g, req, [&](const api::Response& r) { std::cout << (o == "json" ? to_json(r.nodes()) + "\n" : nodes_table(r.nodes())); });
}

int cmd_events(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin events [--follow] [--last N] [--type TYPE]... [--pod [NS/]POD] [--namespace NS]\n"
                        "                     [--binary TEXT] [-o compact|json]\n\n"
                        "Runtime events of the node's processes (exec and exit), with their pod and parent,\n"
                        "as `tetra getevents` prints them. Filtering happens in the agent.\n\n"
                        "  --follow          keep printing new events\n"
                        "  --last N          only the last N stored events (default: all)\n"
                        "  --type TYPE       process_exec, process_exit, process_tracepoint, process_lsm, process_uprobe\n"
                        "                    process_kprobe (the TCP sensor: tcp_connect, inet_csk_accept, tcp_close), process_usdt, process_loader (repeatable)\n"
                        "  --policy NAME     events of this TracingPolicy\n"
                        "  --pod [NS/]POD    pod name prefix (any namespace without NS/)\n"
                        "  --namespace NS    pods of this namespace\n"
                        "  --binary TEXT     binary path contains TEXT\n",
           0;
  const std::string o = g.output.empty() ? "compact" : g.output;
  if (o != "compact" && o != "json") return bad_output(o, "compact, json");
  api::Request req;
  auto* e = req.mutable_events();
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      return args[++i];
    };
    std::optional<std::string> v;
    if (a == "--follow" || a == "-f") {
      e->set_follow(true);
      continue;
    }
    if (a != "--last" && a != "--type" && a != "--pod" && a != "--namespace" && a != "--binary" && a != "--policy")
      return std::cerr << "myelin events: unknown argument '" << a << "' (see --help)\n", 2;
    if (!(v = value())) return std::cerr << "myelin events: " << a << " needs a value\n", 2;
    if (a == "--last") {
      if (v->empty() || v->find_first_not_of("0123456789") != std::string::npos || v->size() > 9)
        return std::cerr << "myelin events: --last needs a number, not '" << *v << "'\n", 2;
      e->set_last(static_cast<uint32_t>(std::stoul(*v)));
    } else if (a == "--type") {
      static const std::set<std::string> types{"process_exec", "process_exit", "process_tracepoint", "process_lsm", "process_uprobe", "process_kprobe", "process_usdt", "process_loader"};
      if (!types.count(*v))
        return std::cerr << "myelin events: --type " << *v
                         << " is not one of process_exec, process_exit, process_tracepoint, process_lsm, process_uprobe, process_kprobe, process_usdt, process_loader\n", 2;
      e->add_types(*v);
    } else if (a == "--pod") {
      e->set_pod(*v);
    } else if (a == "--namespace") {
      e->set_namespace_(*v);
    } else if (a == "--policy") {
      e->set_policy(*v);
    } else {
      e->set_binary(*v);
    }
  }
  return call(g, req, [&](const api::Response& r) {
    if (!r.has_runtime_event()) return;
    std::cout << (o == "json" ? r.runtime_event().json() : r.runtime_event().compact()) << "\n";
    std::cout.flush();
  });
}

int cmd_tracingpolicy_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin tracingpolicy list [-o table|json]\n\nTracingPolicies: state (enabled, or the error that "
                        "kept all of it out), hooks, events posted and actions taken.\nA file that does not decode is listed in state error "
                        "(file, line, field, reason) beside the last good version it keeps in force;\na policy this kernel cannot load "
                        "is in state error with the reason (cause kernel).\n",
           0;
  if (!args.empty()) return std::cerr << "myelin tracingpolicy list: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_tracing_policy_list();
  return call(g, req, [&](const api::Response& r) {
    std::cout << (o == "json" ? to_json(r.tracing_policies()) + "\n" : tracing_policies_table(r.tracing_policies()));
  });
}

int cmd_gpu_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin gpu list [-o table|json]\n\nPer process (and pod): CUDA calls, bytes allocated and copied, "
                        "kernel launches, from uprobes on the CUDA libraries.\n",
           0;
  if (!args.empty()) return std::cerr << "myelin gpu list: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_gpu_list();
  return call(g, req, [&](const api::Response& r) {
    if (o == "json") {
      std::cout << to_json(r.gpu()) << "\n";
      return;
    }
    std::printf("%-8s %-24s %-22s %10s %14s %14s %9s\n", "PID", "BINARY", "POD", "CALLS", "ALLOCATED", "COPIED", "LAUNCHES");
    for (const auto& p : r.gpu().processes()) {
      uint64_t calls = 0;
      for (const auto& [fn, n] : p.calls()) calls += n;
      std::string pod = p.pod_name().empty() ? "host" : p.pod_namespace() + "/" + p.pod_name();
      std::string bin = p.binary().size() > 24 ? "..." + p.binary().substr(p.binary().size() - 21) : p.binary();
      std::printf("%-8u %-24s %-22s %10lu %14lu %14lu %9lu\n", p.pid(), bin.c_str(), pod.c_str(), static_cast<unsigned long>(calls),
                  static_cast<unsigned long>(p.bytes_allocated()), static_cast<unsigned long>(p.bytes_copied()),
                  static_cast<unsigned long>(p.kernel_launches()));
    }
  });
}

int cmd_storage_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin storage list [-o table|json]\n\nBlock I/O per device and issuing process (and pod): "
                        "requests, bytes, latency (average, p50 and p99 as log2 bucket bounds).\n",
           0;
  if (!args.empty()) return std::cerr << "myelin storage list: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_storage_list();
  return call(g, req, [&](const api::Response& r) {
    if (o == "json") {
      std::cout << to_json(r.storage()) << "\n";
      return;
    }
    std::printf("%-10s %-8s %-20s %-20s %8s %12s %9s %9s %9s\n", "DEVICE", "PID", "BINARY", "POD", "IOS", "BYTES", "AVG(us)", "P50(us)",
                "P99(us)");
    for (const auto& e : r.storage().entries()) {
      std::string pod = e.pod_name().empty() ? "host" : e.pod_namespace() + "/" + e.pod_name();
      std::string bin = e.binary().size() > 20 ? "..." + e.binary().substr(e.binary().size() - 17) : e.binary();
      std::printf("%-10s %-8u %-20s %-20s %8lu %12lu %9lu %9lu %9lu\n", e.device().c_str(), e.pid(), bin.c_str(), pod.c_str(),
                  static_cast<unsigned long>(e.ios()), static_cast<unsigned long>(e.bytes()),
                  static_cast<unsigned long>(e.latency_avg_us()), static_cast<unsigned long>(e.latency_p50_us()),
                  static_cast<unsigned long>(e.latency_p99_us()));
    }
  });
}

int cmd_bpf_lb_list(const Global& g, const std::vector<std::string>& args) {
  if (g.help)
    return std::cout << "Usage: myelin bpf lb list [-o table|json]\n\nWhat the pinned load-balancing maps hold: each frontend "
                        "(address, port, protocol, scope) with its rev_nat_index, flags and backend slots, the backends by id, "
                        "and the frontends that could not be installed (a full map).\n",
           0;
  if (!args.empty()) return std::cerr << "myelin bpf lb list: unexpected argument '" << args[0] << "'\n", 2;
  const std::string o = g.output.empty() ? "table" : g.output;
  if (o != "table" && o != "json") return bad_output(o, "table, json");
  api::Request req;
  req.mutable_lb_list();
  return call(g, req, [&](const api::Response& r) { std::cout << (o == "json" ? to_json(r.lb()) + "\n" : lb_table(r.lb())); });
}

struct Command {
  std::vector<std::string> words;
  std::string help;
  int (*run)(const Global&, const std::vector<std::string>&);
};

const std::vector<Command> kCommands = {
    {{"status"}, "agent health, datapath counters, kernel features", cmd_status},
    {{"endpoint", "list"}, "endpoints (pods) on this node", cmd_endpoint_list},
    {{"endpoint", "get"}, "one endpoint", cmd_endpoint_get},
    {{"observe"}, "flows: recorded and live, filtered in the agent", cmd_observe},
    {{"policy", "list"}, "policies in force and refused manifests", cmd_policy_list},
    {{"policy", "get"}, "one policy", cmd_policy_get},
    {{"policy", "trace"}, "the verdict for a connection, and why, without traffic", cmd_policy_trace},
    {{"identity", "list"}, "security identities and their labels", cmd_identity_list},
    {{"service", "list"}, "Services: frontends, backends, where the endpoints come from", cmd_service_list},
    {{"service", "get"}, "one Service: each frontend's backends with state, affinity, warnings", cmd_service_get},
    {{"endpointslice", "list"}, "EndpointSlices stored (where Services get their backends)", cmd_endpointslice_list},
    {{"node", "list"}, "the cluster's nodes: addresses, pod CIDR, source, health (--stored: Node objects)", cmd_node_list},
    {{"events"}, "runtime events: process exec/exit and TracingPolicy events, with pod and parent", cmd_events},
    {{"tracingpolicy", "list"}, "TracingPolicies: state, hooks, events, actions", cmd_tracingpolicy_list},
    {{"gpu", "list"}, "GPU use per process and pod (CUDA uprobes)", cmd_gpu_list},
    {{"bpf", "lb", "list"}, "the load-balancing maps: frontends, slots, backends", cmd_bpf_lb_list},
    {{"storage", "list"}, "block I/O per device and process: requests, bytes, latency", cmd_storage_list},
};

void usage(std::ostream& o) {
  o << "myelin: the Myelin command-line client\n\nUsage: myelin [--socket PATH] COMMAND [flags] [-o FORMAT]\n\nCommands:\n";
  for (const auto& c : kCommands) {
    std::string words;
    for (const auto& w : c.words) words += (words.empty() ? "" : " ") + w;
    o << "  " << words << std::string(words.size() < 20 ? 20 - words.size() : 1, ' ') << c.help << "\n";
  }
  o << "\nGlobal flags:\n  --socket PATH   agent socket (default /var/run/myelin/myelin.sock)\n"
       "  -o, --output    output format (per command)\n  --help          help (also after a command)\n";
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Global g;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& flag) -> std::optional<std::string> {
      if (a.rfind(flag + "=", 0) == 0) return a.substr(flag.size() + 1);
      if (a == flag) {
        if (i + 1 >= argc) return std::nullopt;
        return std::string(argv[++i]);
      }
      return std::nullopt;
    };
    if (a == "--socket" || a.rfind("--socket=", 0) == 0) {
      auto v = value("--socket");
      if (!v) return std::cerr << "myelin: --socket needs a path\n", 2;
      g.socket = *v;
    } else if (a == "-o" || a == "--output" || a.rfind("--output=", 0) == 0 || a.rfind("-o=", 0) == 0) {
      auto v = a[1] == 'o' ? value("-o") : value("--output");
      if (!v) return std::cerr << "myelin: " << a << " needs a format\n", 2;
      g.output = *v;
    } else if (a == "--help" || a == "-h") {
      g.help = true;
    } else {
      words.push_back(a);
    }
  }
  for (const auto& c : kCommands) {
    if (words.size() < c.words.size() || !std::equal(c.words.begin(), c.words.end(), words.begin())) continue;
    return c.run(g, std::vector<std::string>(words.begin() + static_cast<long>(c.words.size()), words.end()));
  }
  if (words.empty() || g.help) {
    usage(std::cout);
    return words.empty() && !g.help ? 2 : 0;
  }
  std::cerr << "myelin: unknown command '" << words[0] << "'\n\n";
  usage(std::cerr);
  return 2;
}
