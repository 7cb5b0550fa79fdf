// SPDX-License-Identifier: Apache-2.0
#include "node_format.hpp"

#include <google/protobuf/util/time_util.h>

#include <sstream>

#include "format.hpp"

namespace myelin::cli {
namespace {

std::string joined(const google::protobuf::RepeatedPtrField<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out.empty() ? "-" : out;
}

}  // namespace

std::string nodes_table(const api::NodeList& l) {
  std::ostringstream o;
  o << "Mode: " << l.mode() << "\n";
  std::vector<std::vector<std::string>> rows{{"NAME", "ADDRESSES", "POD CIDRS", "SOURCE", "HEALTH", "PODS", "LAST UPDATE"}};
  for (const auto& n : l.nodes())
    rows.push_back({n.name() + (n.local() ? " (local)" : ""), joined(n.addresses()), joined(n.pod_cidrs()), n.source(), n.health(),
                    n.local() ? "-" : std::to_string(n.endpoints()),
                    n.has_last_update() ? google::protobuf::util::TimeUtil::ToString(n.last_update()) : "-"});
  o << render_table(rows);
  for (const auto& n : l.nodes())
    if (!n.problem().empty()) o << "  " << n.name() << ": " << n.problem() << "\n";
  return o.str();
}

std::string cluster_status_text(const api::StatusResponse& s) {
  if (!s.has_cluster()) return "";
  const auto& c = s.cluster();
  std::ostringstream o;
  std::string sources;
  for (const auto& src : c.sources()) sources += (sources.empty() ? "" : ", ") + src;
  o << "Cluster:              " << c.mode();
  if (!sources.empty())
    o << " (" << sources << (c.synced() ? ", synced" : ", not synced yet: nothing pruned") << "), routing " << c.routing_mode() << ", "
      << c.nodes() << " nodes, " << c.remote_endpoints() << " remote pods";
  o << "\n";
  if (!sources.empty() || c.ipcache_entries())
    o << "  node datapath:      " << c.ipcache_entries() << " ipcache entries, " << c.routes() << " routes, " << c.pruned() << " pruned"
      << (c.endpoints_without_node() ? ", " + std::to_string(c.endpoints_without_node()) + " pods of unknown nodes" : "") << "\n";
  for (const auto& p : c.problems()) o << "  node problem:       " << p << "\n";
  if (!c.error().empty()) o << "  not in place:       " << c.error() << "\n";
  return o.str();
}

}  // namespace myelin::cli
