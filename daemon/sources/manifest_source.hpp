// SPDX-License-Identifier: Apache-2.0
// ManifestSource: Kubernetes objects from a directory of YAML files, the
// standalone alternative to the API server. Every *.yaml/*.yml file is
// decoded; inotify makes adding, editing, renaming or deleting a file apply
// live, as kubectl apply/delete would. A file that does not decode (or
// cannot be read) is refused, by parts (file, line, field, reason, the
// document's kind), and its last good version stays in force.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "myelin/fd.hpp"
#include "myelin/policy/decode.hpp"
#include "myelin/result.hpp"

namespace myelin::sources {

class ManifestSource {
 public:
  struct Sink {
    std::function<void(const std::string& file, std::vector<policy::Object>)> apply;
    std::function<void(const std::string& file, policy::Refusal why)> refuse;
    std::function<void(const std::string& file)> remove;
    std::function<void()> changed;  // after a batch of file events: time to regenerate
    // Optional: every file's text as read (null when it was removed), for
    // consumers of kinds the network decoder passes over (TracingPolicy).
    std::function<void(const std::string& file, const std::string* text)> text;
  };
  ManifestSource(std::string dir, Sink sink);
  ~ManifestSource();
  ManifestSource(const ManifestSource&) = delete;
  ManifestSource& operator=(const ManifestSource&) = delete;

  Status start();  // loads every file now (synchronously), then watches
  void stop();

 private:
  void load(const std::string& name);
  void run();

  std::string dir_;
  Sink sink_;
  UniqueFd inotify_;
  UniqueFd wake_;
  std::thread thread_;
};

}  // namespace myelin::sources
