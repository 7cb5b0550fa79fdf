// SPDX-License-Identifier: Apache-2.0
// How the CLI prints things. Pure functions from messages to text, so the
// output shapes are unit-tested: json is Hubble's (proto field names kept),
// compact/dict/table are for people.
#pragma once

#include <string>
#include <vector>

#include "flow.pb.h"
#include "myelin.pb.h"

namespace myelin::cli {

std::string to_json(const google::protobuf::Message& m);  // one line, proto field names
std::string flow_compact(const flow::GetFlowsResponse& r);
std::string flow_dict(const flow::GetFlowsResponse& r);
std::string flow_table_header();
std::string flow_table_row(const flow::GetFlowsResponse& r);
std::string status_table(const api::StatusResponse& s);
std::string endpoints_table(const api::EndpointList& l);
std::string endpoint_detail(const api::Endpoint& e);
std::string policies_table(const api::PolicyList& l);
std::string policy_detail(const api::PolicyInfo& p);
std::string tracing_policies_table(const api::TracingPolicyList& l);
// A refused policy in one line: what is wrong, and what stays in force
// (with_source: led by source:line and the document's kind and name).
std::string refusal_text(const api::PolicyError& r, bool with_source);
// Services, EndpointSlices or Nodes (kind), then the sources refused for one.
std::string objects_table(const api::ObjectList& l, const std::string& kind);
// myelin service list: each Service as stored and as translated (where its
// endpoints come from, frontends, backends taking new connections, why not
// proxied), then the sources refused for one; service get: one in full.
std::string services_table(const api::ObjectList& l);
std::string service_detail(const api::ServiceInfo& s);
std::string identities_table(const api::IdentityList& l);
std::string trace_text(const api::PolicyTraceResponse& t);

// Aligns rows of cells into columns (first row is the header).
std::string render_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace myelin::cli
