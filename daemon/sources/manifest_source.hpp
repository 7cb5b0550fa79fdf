// SPDX-License-Identifier: Apache-2.0
// daemon/sources (myelin_sources): Kubernetes objects from a manifests directory or the API server, into the object store.
// ManifestSource: Kubernetes objects from a directory of YAML files, the
// standalone alternative to the API server, into the object store. Every
// *.yaml/*.yml file is decoded (objects::decode); inotify makes adding, editing, renaming or deleting a file apply
// live, as kubectl apply/delete would. A file that does not decode (or
// cannot be read) is refused, by parts (file, line, field, reason, the
// document's kind), and its last good version stays in force.
// The directory is outside input: a file is read only if it is a regular
// file (symlinks followed) within the size limit, its YAML is bounded in
// depth and nodes before any decoder sees it, and whatever a decoder throws
// is a refusal of that file, never the agent's end.
#pragma once

#include <atomic>
#include <functional>
#include <set>
#include <string>
#include <thread>

#include "myelin/fd.hpp"
#include "myelin/objects/object_store.hpp"
#include "myelin/policy/yaml_limits.hpp"
#include "myelin/result.hpp"

namespace myelin::sources {

struct ManifestLimits {
  size_t max_file_bytes = 16u << 20;  // myelind --manifest-max-size
  policy::YamlLimits yaml;
};

class ManifestSource {
 public:
  using Limits = ManifestLimits;
  // The store hears each file as a source named by its path, "changed"
  // after each batch of file events, and "synced" once the first read is
  // done. Registered with the store here, before any source starts.
  ManifestSource(std::string dir, objects::ObjectStore& store, Limits limits = {});
  ~ManifestSource();
  ManifestSource(const ManifestSource&) = delete;
  ManifestSource& operator=(const ManifestSource&) = delete;

  Status start();  // loads every file now (synchronously), then watches
  void stop();

 private:
  void load(const std::string& name);
  Status rescan();                        // every manifest in the directory, and forget the ones gone
  void forget(const std::string& name);
  void run();

  std::string dir_;
  objects::ObjectStore& store_;
  size_t store_source_ = 0;
  Limits limits_;
  std::set<std::string> known_;     // names loaded or refused (only the watcher thread, after start)
  std::set<std::string> dangling_;  // symlinks whose target does not exist
  UniqueFd inotify_;
  UniqueFd wake_;
  std::thread thread_;
};

}  // namespace myelin::sources
