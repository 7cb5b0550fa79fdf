// SPDX-License-Identifier: Apache-2.0
#include "sources/node_pod_cidr.hpp"

#include <filesystem>
#include <thread>

#include "myelin/atomic_file.hpp"
#include "myelin/kube/client.hpp"
#include "myelin/objects/decode.hpp"

namespace myelin::sources {
namespace {

// The first IPv4 pod CIDR of a decoded Node, or why there is none.
Result<net::Cidr4> first_v4(const objects::Node& n, const std::string& where) {
  for (const auto& c : n.pod_cidrs)
    if (auto cidr = net::parse_cidr4(c)) return *cidr;
  return Error{"Node " + n.name + " (" + where + ") has no IPv4 spec.podCIDRs yet"};
}

Result<net::Cidr4> from_api(const kube::Client& client, const std::string& node) {
  auto obj = client.get("/api/v1/nodes/" + node);
  if (!obj) {
    if (obj.error().code == kube::kNotFound) return Error{"no Node " + node + " in the API server yet"};
    return obj.error();
  }
  (*obj)["kind"] = "Node";
  (*obj)["apiVersion"] = "v1";
  auto d = objects::decode(obj->dump(2), "k8s:nodes/" + node);
  if (auto* r = std::get_if<policy::Refusal>(&d.objects)) return Error{"Node " + node + ": " + r->field + ": " + r->reason};
  for (const auto& o : std::get<std::vector<objects::Object>>(d.objects))
    if (const auto* n = std::get_if<objects::Node>(&o)) return first_v4(*n, "API");
  return Error{"Node " + node + ": not decoded"};
}

Result<net::Cidr4> from_manifests(const std::string& dir, const std::string& node) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto ext = e.path().extension();
    if (ext != ".yaml" && ext != ".yml" && ext != ".json") continue;
    auto text = read_file(e.path().string());
    if (!text || !*text) continue;
    auto d = objects::decode(**text, e.path().string());
    auto* objs = std::get_if<std::vector<objects::Object>>(&d.objects);
    if (!objs) continue;  // a refused file: the manifests source says why
    for (const auto& o : *objs)
      if (const auto* n = std::get_if<objects::Node>(&o); n && n->name == node) return first_v4(*n, n->source);
  }
  if (ec) return Error{"read " + dir + ": " + ec.message()};
  return Error{"no Node " + node + " in " + dir};
}

}  // namespace

Result<net::Cidr4> node_pod_cidr(const PodCidrFrom& from, const std::string& node, std::chrono::milliseconds timeout,
                                 const std::function<void(const std::string&)>& progress) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::optional<kube::Client> client;
  if (from.api) client.emplace(*from.api, std::chrono::seconds(5));
  std::string last;
  auto wait = std::chrono::milliseconds(100);
  for (;;) {
    auto r = client ? from_api(*client, node) : from_manifests(from.manifests_dir, node);
    if (r) return r;
    if (r.error().message != last && progress) progress(r.error().message + "; waiting");
    last = r.error().message;
    if (r.error().code == 401 || r.error().code == 403) return r.error();  // waiting will not help
    if (std::chrono::steady_clock::now() + wait > deadline)
      return Error{"--ipam kubernetes: " + last + " (waited " + std::to_string(timeout.count() / 1000) + " s)"};
    std::this_thread::sleep_for(wait);
    wait = std::min(wait * 2, std::chrono::milliseconds(2000));
  }
}

}  // namespace myelin::sources
