// SPDX-License-Identifier: Apache-2.0
// Kubernetes JSON from the API server: the input as a list response body and
// as a watch stream (one event per line), each object then taken as the kube
// source takes it (its JSON through the object store's decoders into the store). The reflector is the one for the object's kind (a
// list: its "kind" minus "List"), pods when no kind names one.
// Invariants: a refusal names the object's source; a decoded object's key and
// source name can always be formed.
#include <cstdint>

#include "fuzz_check.hpp"
#include "myelin/kube/list_watch.hpp"
#include "myelin/log.hpp"
#include "sources/kube_source.hpp"

using namespace myelin;
using nlohmann::json;

namespace {

const std::vector<kube::Resource>& kResources = sources::resources();

const kube::Resource& resource_of(const json& j, const std::string& suffix) {
  if (j.is_object())
    if (auto k = j.find("kind"); k != j.end() && k->is_string())
      for (const auto& r : kResources)
        if (r.kind + suffix == k->get<std::string>()) return r;
  return kResources[1];
}

// Every refusal (either part) names the object's source and can be carried by the API.
objects::ObjectStore& store() {
  static objects::ObjectStore s;
  static const auto id = s.subscribe({{}, nullptr, [](objects::Part, const std::string& name, const policy::Refusal* refusal) {
    if (!refusal) return;
    const std::string error = refusal->message();
    FUZZ_CHECK(refusal->source == name, "a refusal that does not name " + name + ": " + error);
    FUZZ_CHECK(is_utf8(error) && is_utf8(refusal->kind) && is_utf8(refusal->ns) && is_utf8(refusal->name),
               "a refusal the API cannot carry: " + error);
  }, nullptr, nullptr});
  (void)id;
  return s;
}

void take(const kube::Resource& r, const json& obj) {
  FUZZ_CHECK(obj.is_object(), "a decoded object that is not an object");
  (void)kube::object_key(obj);
  FUZZ_CHECK(starts_with(sources::source_name(r, obj), "k8s:" + r.name + "/"), "source name");
  const auto name = sources::source_name(r, obj);
  sources::upsert_object(r, obj, store());
  store().remove(name);  // the store stays small
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  log::set_level(log::Level::error);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    const auto& r = resource_of(json::parse(text, nullptr, false), "List");
    if (auto page = kube::decode_list_page(text, r))
      for (const auto& item : page->items) take(r, item);
  }
  kube::WatchDecoder events(kResources[1]);
  events.feed(text);
  for (int n = 0; n < 64; ++n) {
    auto ev = events.next();
    if (!ev || !*ev) break;
    const auto& e = **ev;
    if (e.type == "ADDED" || e.type == "MODIFIED") take(resource_of(e.object, ""), e.object);
  }
  return 0;
}
