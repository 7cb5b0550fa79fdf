// SPDX-License-Identifier: Apache-2.0
// libbpf's messages: routed into the agent's log, and kept while a libbpf
// call runs so that its error can say what libbpf said (the map that did not
// fit, the verifier's last words) instead of a bare errno.
#pragma once

#include <string>
#include <vector>

#include "myelin/result.hpp"

namespace myelin::bpf {

// Installs the print hook that sends libbpf's warnings (and, at debug level,
// its debug lines) to the log. Idempotent; every owner here calls it.
void route_libbpf_log();

// While alive, libbpf's warnings on this thread are also kept here.
class LibbpfMessages {
 public:
  LibbpfMessages();
  ~LibbpfMessages();
  LibbpfMessages(const LibbpfMessages&) = delete;
  LibbpfMessages& operator=(const LibbpfMessages&) = delete;

  // The last few warnings, one line each: a verifier log is cut to its last
  // lines, where the reason is. "" when libbpf said nothing.
  std::string summary() const;
  // "<what>: <strerror(err)> (libbpf: <summary>)".
  Error error(const std::string& what, int err) const;
  void add(std::string message) { messages_.push_back(std::move(message)); }

 private:
  std::vector<std::string> messages_;
  LibbpfMessages* outer_;
};

// While alive, libbpf's messages on this thread are not logged (failures the
// caller expects, e.g. a symbol a library may lack); they are still kept by
// an enclosing LibbpfMessages.
class QuietLibbpf {
 public:
  QuietLibbpf();
  ~QuietLibbpf();
  QuietLibbpf(const QuietLibbpf&) = delete;
  QuietLibbpf& operator=(const QuietLibbpf&) = delete;

 private:
  bool outer_;
};

}  // namespace myelin::bpf
