// SPDX-License-Identifier: Apache-2.0
#include "lb_format.hpp"

#include "format.hpp"

namespace myelin::cli {

std::string lb_table(const api::LbList& l) {
  std::string out = "Load balancing: " + std::string(l.enabled() ? "enabled" : "disabled") + ", algorithm " + l.algorithm() +
                    " (Maglev table size " + std::to_string(l.maglev_table_size()) + "), NodePort range " + l.node_port_range() +
                    (l.synced() ? "" : ", sources not all synced yet: restored entries kept") + "\n\n";
  std::vector<std::vector<std::string>> rows = {{"FRONTEND", "SCOPE", "REVNAT", "SERVICE", "FLAGS", "SLOT", "BACKEND"}};
  for (const auto& f : l.frontends()) {
    std::string flags;
    for (const auto& x : f.flags()) flags += (flags.empty() ? "" : ",") + x;
    if (f.affinity_timeout()) flags += " (" + std::to_string(f.affinity_timeout()) + "s)";
    if (f.maglev_table_size()) flags += " [maglev " + std::to_string(f.maglev_table_size()) + "]";
    const std::string svc = !f.service().empty() ? f.service() : f.restored() ? "(restored)" : "-";
    rows.push_back({f.address() + ":" + std::to_string(f.port()) + "/" + f.protocol(), f.scope(), std::to_string(f.rev_nat_index()), svc,
                    flags.empty() ? "-" : flags, "0", std::to_string(f.slots_size()) + " backends"});
    for (const auto& s : f.slots())
      rows.push_back({"", "", "", "", "", std::to_string(s.slot()),
                      s.backend_id() == 0 ? "(missing)"
                                          : (s.backend().empty() ? "?" : s.backend()) + " (id " + std::to_string(s.backend_id()) + ")"});
  }
  out += render_table(rows);
  std::vector<std::vector<std::string>> be = {{"BACKEND-ID", "ADDRESS", "STATE", "LOCAL"}};
  for (const auto& b : l.backends())
    be.push_back({std::to_string(b.id()), b.address() + ":" + std::to_string(b.port()) + "/" + b.protocol(), b.state(), b.local() ? "yes" : "no"});
  out += "\n" + render_table(be);
  if (l.errors_size()) {
    out += "\nNot installed:\n";
    for (const auto& e : l.errors())
      out += "  " + e.service() + " " + e.frontend() + ": " + e.message() +
             (e.kept_previous() ? " (its previous version stays)" : " (not served)") + "\n";
  }
  return out;
}

}  // namespace myelin::cli
