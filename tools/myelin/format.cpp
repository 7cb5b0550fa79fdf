// SPDX-License-Identifier: Apache-2.0
#include "format.hpp"
#include "node_format.hpp"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <sstream>

#include "myelin/abi/net.hpp"

namespace myelin::cli {
namespace {

std::string short_time(const google::protobuf::Timestamp& ts) {
  std::time_t t = ts.seconds();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%b %e %H:%M:%S", &tm);
  char out[80];
  std::snprintf(out, sizeof out, "%s.%03d", buf, ts.nanos() / 1000000);
  return out;
}

uint32_t port(const flow::Flow& f, bool source) {
  if (f.l4().has_tcp()) return source ? f.l4().tcp().source_port() : f.l4().tcp().destination_port();
  if (f.l4().has_udp()) return source ? f.l4().udp().source_port() : f.l4().udp().destination_port();
  if (f.l4().has_sctp()) return source ? f.l4().sctp().source_port() : f.l4().sctp().destination_port();
  return 0;
}

// "ns/svc", or "" when the flow names no Service on that side.
std::string service_text(const flow::Flow& f, bool source) {
  if (!(source ? f.has_source_service() : f.has_destination_service())) return "";
  const flow::Service& s = source ? f.source_service() : f.destination_service();
  if (s.name().empty()) return "";
  return s.namespace_().empty() ? s.name() : s.namespace_() + "/" + s.name();
}

// "ns/pod:port (ID:identity)", "ns/svc:port" or "ip:port (world)": the pod
// if known, else the Service, else the address (Hubble's Hostname).
std::string endpoint_text(const flow::Flow& f, bool source) {
  const flow::Endpoint& ep = source ? f.source() : f.destination();
  if (f.ip().source().empty())  // not IP: the link-layer addresses are all there is
    return source ? f.ethernet().source() : f.ethernet().destination();
  const std::string svc = service_text(f, source);
  std::string who = !ep.pod_name().empty() ? ep.namespace_() + "/" + ep.pod_name()
                    : !svc.empty()         ? svc
                                           : (source ? f.ip().source() : f.ip().destination());
  uint32_t p = port(f, source);
  if (p) who += ":" + std::to_string(p);
  std::string id;
  if (ep.identity() == MYELIN_IDENTITY_HOST || ep.identity() == MYELIN_IDENTITY_WORLD) id = abi::reserved_identity_name(ep.identity());
  else if (ep.identity()) id = "ID:" + std::to_string(ep.identity());
  return id.empty() ? who : who + " (" + id + ")";
}

std::string obs_point_text(flow::TraceObservationPoint p) {
  std::string n = flow::TraceObservationPoint_Name(p);
  std::transform(n.begin(), n.end(), n.begin(), [](char c) { return c == '_' ? '-' : static_cast<char>(::tolower(c)); });
  return n;
}

std::string lost_text(const flow::LostEvent& l) {
  return "EVENTS LOST: " + flow::LostEventSource_Name(l.source()) + " " + std::to_string(l.num_events_lost());
}

}  // namespace

std::string to_json(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

std::string flow_compact(const flow::GetFlowsResponse& r) {
  if (r.has_lost_events()) return short_time(r.time()) + ": " + lost_text(r.lost_events());
  const flow::Flow& f = r.flow();
  const bool reply = f.has_is_reply() && f.is_reply().value();
  // Replies read right to left, as hubble prints them: the client stays on the left.
  std::string left = endpoint_text(f, !reply), right = endpoint_text(f, reply);
  std::string line = short_time(f.time()) + ": " + left + (reply ? " <- " : " -> ") + right;
  if (f.verdict() == flow::DROPPED) {
    line += " DROPPED (" + f.summary() + ", " + flow::DropReason_Name(f.drop_reason_desc()) + ")";
  } else {
    if (f.trace_observation_point() != flow::UNKNOWN_POINT) line += " " + obs_point_text(f.trace_observation_point());
    line += " " + flow::Verdict_Name(f.verdict()) + " (" + f.summary() + ")";
  }
  return line;
}

std::string flow_dict(const flow::GetFlowsResponse& r) {
  std::ostringstream o;
  o << "------------\n";
  if (r.has_lost_events()) {
    o << "         TIMESTAMP: " << google::protobuf::util::TimeUtil::ToString(r.time()) << "\n"
      << "       EVENTS LOST: " << r.lost_events().num_events_lost() << "\n"
      << "            SOURCE: " << flow::LostEventSource_Name(r.lost_events().source()) << "\n";
    return o.str();
  }
  const flow::Flow& f = r.flow();
  o << "         TIMESTAMP: " << google::protobuf::util::TimeUtil::ToString(f.time()) << "\n"
    << "            SOURCE: " << endpoint_text(f, true) << "\n"
    << "       DESTINATION: " << endpoint_text(f, false) << "\n";
  if (auto svc = service_text(f, true); !svc.empty()) o << "    SOURCE SERVICE: " << svc << "\n";
  if (auto svc = service_text(f, false); !svc.empty()) o << "      DEST SERVICE: " << svc << "\n";
  o << "              TYPE: " << (f.event_type().type() == MYELIN_EVENT_DROP ? "drop" : obs_point_text(f.trace_observation_point())) << "\n"
    << "           VERDICT: " << flow::Verdict_Name(f.verdict()) << "\n";
  if (f.verdict() == flow::DROPPED) o << "       DROP REASON: " << flow::DropReason_Name(f.drop_reason_desc()) << "\n";
  o << "         DIRECTION: " << flow::TrafficDirection_Name(f.traffic_direction()) << "\n"
    << "           SUMMARY: " << f.summary() << "\n"
    << "              NODE: " << f.node_name() << "\n";
  return o.str();
}

std::string flow_table_header() {
  char buf[200];
  std::snprintf(buf, sizeof buf, "%-24s %-36s %-36s %-13s %-10s %s", "TIMESTAMP", "SOURCE", "DESTINATION", "TYPE",
                "VERDICT", "SUMMARY");
  return buf;
}

std::string flow_table_row(const flow::GetFlowsResponse& r) {
  char buf[512];
  if (r.has_lost_events()) {
    std::snprintf(buf, sizeof buf, "%-24s %s", short_time(r.time()).c_str(), lost_text(r.lost_events()).c_str());
    return buf;
  }
  const flow::Flow& f = r.flow();
  std::string type = f.event_type().type() == MYELIN_EVENT_DROP ? "drop" : obs_point_text(f.trace_observation_point());
  std::string summary = f.summary();
  if (f.verdict() == flow::DROPPED) summary += " (" + flow::DropReason_Name(f.drop_reason_desc()) + ")";
  std::snprintf(buf, sizeof buf, "%-24s %-36s %-36s %-13s %-10s %s", short_time(f.time()).c_str(),
                endpoint_text(f, true).c_str(), endpoint_text(f, false).c_str(), type.c_str(),
                flow::Verdict_Name(f.verdict()).c_str(), summary.c_str());
  return buf;
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  std::ostringstream o;
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      o << r[i];
      if (i + 1 < r.size()) o << std::string(w[i] - r[i].size() + 2, ' ');
    }
    o << "\n";
  }
  return o.str();
}

std::string status_table(const api::StatusResponse& s) {
  std::ostringstream o;
  auto row = [&](const std::string& k, const std::string& v) { o << k << std::string(k.size() < 22 ? 22 - k.size() : 1, ' ') << v << "\n"; };
  row("Node:", s.node_name());
  row("Version:", s.version());
  row("Ready:", s.ready() ? "yes" : "no");
  row("Started:", google::protobuf::util::TimeUtil::ToString(s.started()));
  row("State:", s.adopted() ? "adopted pinned datapath from a previous run" : "fresh datapath");
  row("BPF pins:", s.bpffs_root());
  row("Pod CIDR:", s.pod_cidr() + " (gateway " + s.gateway() + ")");
  row("IPAM:", std::to_string(s.ipam_used()) + "/" + std::to_string(s.ipam_capacity()) + " addresses in use");
  row("Endpoints:", std::to_string(s.endpoints()));
  row("Flows:", std::to_string(s.flows_stored()) + "/" + std::to_string(s.flows_capacity()) + " stored, " +
                    std::to_string(s.flows_seen()) + " seen");
  row("Lost events:", std::to_string(s.events_lost_datapath()) + " in the datapath ring buffer, " +
                          std::to_string(s.events_lost_store()) + " evicted from the flow store");
  row("Forwarded packets:", std::to_string(s.forward_packets_egress()) + " egress, " +
                                std::to_string(s.forward_packets_ingress()) + " ingress");
  row("Policy:", std::to_string(s.policies()) + " policies, " + std::to_string(s.policy_entries()) +
                     " datapath entries, revision " + std::to_string(s.policy_revision()));
  row("Refused policies:", std::to_string(s.refused_size() ? s.refused_size() : s.policy_errors_size()) +
                               (s.refused_size() + s.policy_errors_size() ? " (myelin policy list, myelin tracingpolicy list)" : ""));
  for (const auto& r : s.refused()) o << "  " << refusal_text(r, true) << "\n";
  if (!s.refused_size())
    for (const auto& e : s.policy_errors()) o << "  " << e << "\n";  // an agent without refusals by parts
  for (const auto& e : s.policy_failures()) row("  not in place:", e);
  row("Conntrack:", std::to_string(s.conntrack_entries()) + " entries, " + std::to_string(s.conntrack_gc_runs()) +
                        " GC runs");
  if (s.has_services()) {
    const auto& v = s.services();
    std::string not_proxied;
    for (const auto& [why, n] : std::map<std::string, uint32_t>(v.not_proxied().begin(), v.not_proxied().end()))
      not_proxied += (not_proxied.empty() ? "" : ", ") + std::to_string(n) + " " + why;
    row("Services:", std::to_string(v.proxied()) + "/" + std::to_string(v.services()) + " proxied" +
                         (not_proxied.empty() ? "" : " (not: " + not_proxied + ")") + ", " + std::to_string(v.frontends()) + " frontends, " +
                         std::to_string(v.backends_active()) + " active + " + std::to_string(v.backends_terminating()) + " terminating backends" +
                         (v.synced() ? "" : ", sources not synced yet") + (v.warnings() ? ", " + std::to_string(v.warnings()) + " with warnings" : ""));
  }
  if (s.has_kvstore()) {
    const auto& k = s.kvstore();
    row("Kvstore:", k.backend() + " " + k.endpoint() + ": " + k.state() + ", lease " + std::to_string(k.lease_id()) +
                        (k.lease_alive() ? "" : " (not alive)") + ", " + std::to_string(k.node_records() + k.endpoint_records()) +
                        " records published, " + std::to_string(k.remote_nodes()) + " remote nodes with " +
                        std::to_string(k.remote_endpoints()) + " endpoints, " + std::to_string(k.errors()) + " errors since start");
    if (!k.reason().empty()) row("  degraded:", k.reason());
    for (const auto& r : k.refused()) row("  refused:", r);
  }
  o << cluster_status_text(s);
  if (s.runtime_enabled()) {
    uint64_t total = 0;
    for (const auto& [type, n] : s.runtime_events()) total += n;
    row("Runtime:", std::to_string(total) + " events, " + std::to_string(s.runtime_processes()) + " processes, " +
                        std::to_string(s.runtime_lost()) + " lost");
  } else {
    row("Runtime:", "off" + (s.runtime_error().empty() ? std::string() : ": " + s.runtime_error()));
  }
  if (s.runtime_enforcement_size()) {
    o << "Enforcement on this kernel:\n";
    for (const auto& e : s.runtime_enforcement()) o << "  " << e << "\n";
  }
  if (s.drops_size()) {
    o << "Drops:\n";
    std::vector<std::vector<std::string>> rows{{"  REASON", "DIRECTION", "PACKETS", "BYTES"}};
    for (const auto& d : s.drops())
      rows.push_back({"  " + d.reason(), d.direction(), std::to_string(d.packets()), std::to_string(d.bytes())});
    o << render_table(rows);
  } else {
    row("Drops:", "none");
  }
  o << "Kernel features:\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : s.features()) rows.push_back({"  " + f.name(), f.available() ? "yes" : "no", f.detail()});
  o << render_table(rows);
  return o.str();
}

std::string endpoints_table(const api::EndpointList& l) {
  std::vector<std::vector<std::string>> rows{{"ID", "IDENTITY", "NAMESPACE/POD", "IP", "MAC", "HOST-IF", "STATE"}};
  for (const auto& e : l.endpoints())
    rows.push_back({std::to_string(e.id()), std::to_string(e.identity()), e.pod_namespace() + "/" + e.pod_name(), e.ip(),
                    e.mac(), e.host_ifname(), e.state()});
  return render_table(rows);
}

std::string endpoint_detail(const api::Endpoint& e) {
  std::vector<std::vector<std::string>> rows{
      {"ID:", std::to_string(e.id())},
      {"Identity:", std::to_string(e.identity())},
      {"Pod:", e.pod_namespace() + "/" + e.pod_name()},
      {"Container:", e.container_id() + " (" + e.ifname() + ")"},
      {"Network namespace:", e.netns()},
      {"IP:", e.ip()},
      {"MAC:", e.mac()},
      {"Host interface:", e.host_ifname() + " (ifindex " + std::to_string(e.host_ifindex()) + ", " + e.host_mac() + ")"},
      {"State:", e.state()},
      {"Created:", google::protobuf::util::TimeUtil::ToString(e.created())},
  };
  std::string labels;
  for (const auto& l : e.labels()) labels += (labels.empty() ? "" : ", ") + l;
  rows.push_back({"Labels:", labels.empty() ? "(none)" : labels});
  std::string out = render_table(rows);
  if (e.has_policy()) {
    const auto& p = e.policy();
    out += "Policy:\n  ingress " + std::string(p.ingress_enforced() ? "enforced" : "not enforced") + ", egress " +
           (p.egress_enforced() ? "enforced" : "not enforced") + (p.audit() ? ", audit mode" : "") + "\n";
    for (const auto& s : p.selected_by()) out += "  selected by " + s + "\n";
    for (const auto& r : p.rules()) out += "  " + r + "\n";
  }
  return out;
}

std::string refusal_text(const api::PolicyError& r, bool with_source) {
  std::string out;
  if (with_source) {
    out = r.source() + (r.line() ? ":" + std::to_string(r.line()) : "") + " ";
    out += r.kind().empty() ? "(kind unknown)" : "(" + r.kind() + " " + (r.namespace_().empty() ? "" : r.namespace_() + "/") + r.name() + ")";
    out += ": ";
  } else if (r.kind().empty()) {
    out = "kind unknown: ";
  }
  if (r.cause() == "kernel") out += "rejected by this kernel: ";
  out += (r.field().empty() ? "" : r.field() + ": ") + r.reason();
  if (r.cause() != "kernel")
    out += r.last_good_in_force() ? "; the last good version of " + r.source() + " stays in force" : "; nothing of " + r.source() + " is in force";
  return out;
}

namespace {
// Rows aligned as a table, each followed by its indented notes (an error, a mode).
std::string table_with_notes(const std::vector<std::vector<std::string>>& rows, const std::vector<std::vector<std::string>>& notes) {
  std::istringstream lines(render_table(rows));
  std::string out, line;
  for (size_t i = 0; std::getline(lines, line); ++i) {
    out += line + "\n";
    if (i > 0 && i - 1 < notes.size())
      for (const auto& n : notes[i - 1]) out += "    " + n + "\n";
  }
  return out;
}
}  // namespace

std::string policies_table(const api::PolicyList& l) {
  std::vector<std::vector<std::string>> rows{{"KIND", "NAMESPACE", "NAME", "STATE", "ENFORCES", "RULES (IN/OUT)", "ENDPOINTS", "SOURCE"}};
  std::vector<std::vector<std::string>> notes;
  for (const auto& p : l.policies()) {
    const bool error = p.state() == "error";
    std::string enf = std::string(p.ingress() ? "ingress" : "") + (p.ingress() && p.egress() ? "," : "") + (p.egress() ? "egress" : "");
    if (p.audit()) enf += " (audit)";
    std::string eps;
    for (uint32_t e : p.endpoints()) eps += (eps.empty() ? "" : ",") + std::to_string(e);
    rows.push_back({p.kind().empty() ? "(unknown)" : p.kind(), p.namespace_().empty() ? "-" : p.namespace_(), p.name().empty() ? "-" : p.name(),
                    p.state().empty() ? "enabled" : p.state(), enf.empty() ? "-" : enf,
                    error ? "-" : std::to_string(p.ingress_rules()) + "/" + std::to_string(p.egress_rules()), eps.empty() ? "-" : eps,
                    p.source()});
    notes.push_back(error ? std::vector<std::string>{"error: " + refusal_text(p.refusal(), false)} : std::vector<std::string>{});
  }
  return table_with_notes(rows, notes);
}

std::string tracing_policies_table(const api::TracingPolicyList& l) {
  std::vector<std::vector<std::string>> rows{{"NAME", "STATE", "HOOKS", "EVENTS", "ACTIONS", "SOURCE"}};
  std::vector<std::vector<std::string>> notes;
  for (const auto& p : l.policies()) {
    std::string acts;
    for (const auto& [a, n] : p.actions()) acts += (acts.empty() ? "" : ",") + a.substr(a.rfind('_') + 1) + "=" + std::to_string(n);
    std::string name = p.name().empty() ? "-" : (p.namespace_().empty() ? "" : p.namespace_() + "/") + p.name();
    const bool refused_file = p.has_refusal() && p.refusal().cause() == "decode";
    rows.push_back({name, p.state(), refused_file ? "-" : std::to_string(p.hooks()), refused_file ? "-" : std::to_string(p.events()),
                    acts.empty() ? "-" : acts, p.source()});
    std::vector<std::string> n;
    if (p.has_refusal()) n.push_back("error: " + refusal_text(p.refusal(), false));
    else if (!p.error().empty()) n.push_back("error: " + p.error());
    if (!p.mode().empty()) n.push_back("mode: " + p.mode());
    for (const auto& w : p.warnings()) n.push_back("warning: " + w);
    notes.push_back(std::move(n));
  }
  return table_with_notes(rows, notes);
}

std::string policy_detail(const api::PolicyInfo& p) {
  if (p.state() == "error")
    return render_table({{"Kind:", p.kind().empty() ? "(unknown)" : p.kind()},
                         {"Name:", (p.namespace_().empty() ? "" : p.namespace_() + "/") + p.name()},
                         {"Source:", p.source()},
                         {"State:", "error"},
                         {"Error:", refusal_text(p.refusal(), false)}});
  std::string eps;
  for (uint32_t e : p.endpoints()) eps += (eps.empty() ? "" : ", ") + std::to_string(e);
  return render_table({{"Kind:", p.kind()},
                       {"Name:", (p.namespace_().empty() ? "" : p.namespace_() + "/") + p.name()},
                       {"Source:", p.source()},
                       {"Enforces:", std::string(p.ingress() ? "ingress " : "") + (p.egress() ? "egress" : "")},
                       {"Audit:", p.audit() ? "yes" : "no"},
                       {"Rules:", std::to_string(p.ingress_rules()) + " ingress, " + std::to_string(p.egress_rules()) + " egress"},
                       {"Endpoints:", eps.empty() ? "(none selected here)" : eps}});
}

std::string identities_table(const api::IdentityList& l) {
  std::vector<std::vector<std::string>> rows{{"ID", "KIND", "LABELS"}};
  for (const auto& i : l.identities()) {
    std::string labels;
    for (const auto& s : i.labels()) labels += (labels.empty() ? "" : " ") + s;
    rows.push_back({std::to_string(i.id()), i.kind(), labels});
  }
  return render_table(rows);
}

namespace {
std::string joined(const google::protobuf::RepeatedPtrField<std::string>& v, const char* sep = ",") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out.empty() ? "-" : out;
}
std::string joined(const google::protobuf::Map<std::string, std::string>& m) {
  std::map<std::string, std::string> sorted(m.begin(), m.end());
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "-" : out;
}
// The table, then each refused source on a line of its own.
std::string with_refused(std::string table, const api::ObjectList& l) {
  for (const auto& r : l.refused()) table += "refused: " + refusal_text(r, true) + "\n";
  return table;
}
}  // namespace

std::string objects_table(const api::ObjectList& l, const std::string& kind) {
  std::vector<std::vector<std::string>> rows;
  if (kind == "Service") {
    rows.push_back({"NAMESPACE", "NAME", "TYPE", "CLUSTER-IPS", "PORTS", "SELECTOR", "AFFINITY", "EXTERNAL", "INTERNAL", "SOURCE"});
    for (const auto& s : l.services()) {
      std::string ports;
      for (const auto& p : s.ports())
        ports += (ports.empty() ? "" : ",") + (p.name().empty() ? "" : p.name() + ":") + std::to_string(p.port()) + "/" + p.protocol() +
                 "->" + p.target_port() + (p.node_port() ? ":" + std::to_string(p.node_port()) : "");
      rows.push_back({s.namespace_(), s.name(), s.type(), s.headless() ? "None" : joined(s.cluster_ips()), ports.empty() ? "-" : ports,
                      joined(s.selector()), s.session_affinity(), s.external_traffic_policy(), s.internal_traffic_policy(), s.source()});
    }
  } else if (kind == "EndpointSlice") {
    rows.push_back({"NAMESPACE", "NAME", "SERVICE", "TYPE", "ENDPOINTS", "PORTS", "SOURCE"});
    for (const auto& s : l.endpoint_slices()) {
      std::string eps, ports;
      for (const auto& e : s.endpoints())
        eps += (eps.empty() ? "" : ",") + joined(e.addresses(), "+") + (e.ready() ? "" : "(not ready)") + (e.terminating() ? "(terminating)" : "") +
               (e.node_name().empty() ? "" : "@" + e.node_name());
      for (const auto& p : s.ports())
        ports += (ports.empty() ? "" : ",") + (p.name().empty() ? "" : p.name() + ":") + (p.port() ? std::to_string(p.port()) : "*") + "/" + p.protocol();
      rows.push_back({s.namespace_(), s.name(), s.service().empty() ? "-" : s.service(), s.address_type(), eps.empty() ? "-" : eps,
                      ports.empty() ? "-" : ports, s.source()});
    }
  } else {
    rows.push_back({"NAME", "INTERNAL-IPS", "EXTERNAL-IPS", "POD-CIDRS", "SOURCE"});
    for (const auto& n : l.nodes()) rows.push_back({n.name(), joined(n.internal_ips()), joined(n.external_ips()), joined(n.pod_cidrs()), n.source()});
  }
  return with_refused(render_table(rows), l);
}

namespace {
std::string ports_text(const api::ServiceInfo& s) {
  std::string ports;
  for (const auto& p : s.ports())
    ports += (ports.empty() ? "" : ",") + (p.name().empty() ? "" : p.name() + ":") + std::to_string(p.port()) + "/" + p.protocol() + "->" +
             p.target_port() + (p.node_port() ? ":" + std::to_string(p.node_port()) : "");
  return ports.empty() ? "-" : ports;
}
std::string conditions(const api::ServiceBackend& b) {
  std::string c;
  for (auto [on, name] : {std::pair{b.ready(), "ready"}, std::pair{b.serving(), "serving"}, std::pair{b.terminating(), "terminating"}})
    if (on) c += (c.empty() ? "" : ",") + std::string(name);
  return c.empty() ? "not-ready" : c;
}
}  // namespace

std::string services_table(const api::ObjectList& l) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"NAMESPACE", "NAME", "TYPE", "CLUSTER-IPS", "PORTS", "SELECTOR", "ENDPOINTS", "FRONTENDS", "BACKENDS", "PROXIED", "SOURCE"});
  for (const auto& s : l.services()) {
    // Distinct backends of the Service, and how many take new connections.
    std::map<std::string, bool> backends;
    for (const auto& f : s.frontends())
      for (const auto& b : f.backends()) {
        bool& active = backends[b.address() + ":" + std::to_string(b.port()) + "/" + f.protocol()];
        active = active || b.state() == "active" || b.external_active();
      }
    size_t active = 0;
    for (const auto& [k, a] : backends) active += a;
    const bool proxied = s.not_proxied().empty();
    rows.push_back({s.namespace_(), s.name(), s.type(), s.headless() ? "None" : joined(s.cluster_ips()), ports_text(s), joined(s.selector()),
                    s.endpoints_from().empty() ? "-" : s.endpoints_from(), proxied ? std::to_string(s.frontends_size()) : "-",
                    proxied ? std::to_string(active) + "/" + std::to_string(backends.size()) + " active" : "-",
                    proxied ? (s.warnings().empty() ? "yes" : "yes (" + std::to_string(s.warnings_size()) + " warnings)") : "no: " + s.not_proxied(),
                    s.source()});
  }
  return with_refused(render_table(rows), l);
}

std::string service_detail(const api::ServiceInfo& s) {
  std::ostringstream o;
  auto row = [&](const std::string& k, const std::string& v) { o << k << std::string(k.size() < 14 ? 14 - k.size() : 1, ' ') << v << "\n"; };
  row("Service:", s.namespace_() + "/" + s.name() + " (" + s.type() + ")");
  row("Source:", s.source());
  row("Cluster IPs:", s.headless() ? "None" : joined(s.cluster_ips()));
  row("Ports:", ports_text(s));
  row("Selector:", joined(s.selector()));
  row("Endpoints:", s.endpoints_from() == "derived" ? "derived from the Pods (no EndpointSlice)"
                    : s.endpoints_from().empty()   ? "-"
                                                   : s.endpoints_from());
  row("Proxied:", s.not_proxied().empty() ? "yes" : "no: " + s.not_proxied());
  row("Affinity:", s.session_affinity() == "ClientIP" ? "ClientIP, " + std::to_string(s.affinity_timeout_seconds()) + "s" : "None");
  row("Traffic:", "external " + s.external_traffic_policy() + ", internal " + s.internal_traffic_policy());
  if (s.publish_not_ready_addresses()) row("Not ready:", "published (publishNotReadyAddresses)");
  if (!s.external_ips().empty()) row("External IPs:", joined(s.external_ips()));
  if (!s.load_balancer_ingress().empty()) row("LB ingress:", joined(s.load_balancer_ingress()));
  for (const auto& w : s.warnings()) row("Warning:", w);
  for (const auto& f : s.frontends()) {
    o << "\n" << f.kind() << " " << f.address() << ":" << f.port() << "/" << f.protocol() << (f.port_name().empty() ? "" : " (" + f.port_name() + ")")
      << (f.affinity() ? ", affinity " + std::to_string(f.affinity_timeout_seconds()) + "s" : "") << (f.external_local() ? ", externalTrafficPolicy Local" : "")
      << (f.internal_local() ? ", internalTrafficPolicy Local" : "") << (f.maglev() ? ", Maglev" : "") << (f.backends().empty() ? ": no backends (refused)" : "")
      << "\n";
    std::vector<std::vector<std::string>> rows{{"  BACKEND", "STATE", "OUTSIDE", "NODE", "POD", "CONDITIONS"}};
    for (const auto& b : f.backends())
      rows.push_back({"  " + b.address() + ":" + std::to_string(b.port()), b.state(), f.external_local() ? (b.external_active() ? "active" : "-") : "same",
                      b.local() ? "local" : "remote", b.pod().empty() ? "-" : b.pod(), conditions(b)});
    if (!f.backends().empty()) o << render_table(rows);
  }
  return o.str();
}

std::string trace_text(const api::PolicyTraceResponse& t) {
  if (t.service().empty()) return "Verdict: " + t.verdict() + "\n  " + t.egress() + "\n  " + t.ingress() + "\n";
  std::string out = "Service: " + t.service() + " via " + t.frontend() + "\nVerdict: " + t.verdict() + "\n";
  if (!t.note().empty()) out += "  " + t.note() + "\n";
  std::vector<std::vector<std::string>> rows = {{"BACKEND", "POD", "STATE", "VERDICT"}};
  for (const auto& b : t.backends()) rows.push_back({b.address(), b.pod().empty() ? "-" : b.pod(), b.state(), b.verdict()});
  if (t.backends_size()) out += "\n" + render_table(rows);
  for (const auto& b : t.backends()) {
    out += "\n" + b.address() + (b.pod().empty() ? "" : " (" + b.pod() + ")") + ": " + b.verdict() + "\n";
    if (!b.egress().empty()) out += "  " + b.egress() + "\n";
    if (!b.ingress().empty()) out += "  " + b.ingress() + "\n";
  }
  return out;
}

}  // namespace myelin::cli
