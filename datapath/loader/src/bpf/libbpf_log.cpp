// SPDX-License-Identifier: Apache-2.0
#include "myelin/bpf/libbpf_log.hpp"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdlib>
#include <sstream>

#include "myelin/log.hpp"

namespace myelin::bpf {
namespace {

// libbpf's print hook is process-wide; what is kept, and whether to log, is
// per thread, so one thread's capture never takes another's messages.
thread_local LibbpfMessages* t_capture = nullptr;
thread_local bool t_quiet = false;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && log::level() > log::Level::debug) return 0;
  char* text = nullptr;
  int n = vasprintf(&text, fmt, args);  // verifier logs run to many KiB: no fixed buffer
  if (n < 0 || !text) return n;
  std::string line(text);
  free(text);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.empty()) return n;
  if (level != LIBBPF_DEBUG && t_capture) t_capture->add(line);
  if (!t_quiet) log::write(level == LIBBPF_WARN ? log::Level::warn : log::Level::debug, "libbpf", line);
  return n;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

// A verifier log ("-- BEGIN PROG LOAD LOG --" ... "-- END PROG LOAD LOG --")
// says why at its end: its last two lines before the END marker.
std::string shorten(const std::string& message) {
  auto lines = lines_of(message);
  if (lines.empty()) return "";
  if (message.find("BEGIN PROG LOAD LOG") == std::string::npos) return lines.front();
  std::vector<std::string> body;
  for (const auto& l : lines)
    if (l.find("PROG LOAD LOG") == std::string::npos) body.push_back(l);
  std::string out = lines.front().substr(0, lines.front().find("-- BEGIN"));
  for (size_t i = body.size() > 2 ? body.size() - 2 : 0; i < body.size(); ++i) out += (i ? " | " : "") + body[i];
  return out;
}

}  // namespace

void route_libbpf_log() { libbpf_set_print(libbpf_print); }

LibbpfMessages::LibbpfMessages() : outer_(t_capture) { t_capture = this; }

LibbpfMessages::~LibbpfMessages() {
  t_capture = outer_;
  if (outer_)
    for (auto& m : messages_) outer_->add(std::move(m));
}

std::string LibbpfMessages::summary() const {
  constexpr size_t kKeep = 3, kMaxLine = 300;
  std::string out;
  for (size_t i = messages_.size() > kKeep ? messages_.size() - kKeep : 0; i < messages_.size(); ++i) {
    std::string s = shorten(messages_[i]);
    if (s.size() > kMaxLine) s = s.substr(0, kMaxLine) + "...";
    if (s.rfind("libbpf: ", 0) == 0) s = s.substr(8);
    if (!s.empty()) out += (out.empty() ? "" : "; ") + s;
  }
  return out;
}

Error LibbpfMessages::error(const std::string& what, int err) const {
  if (err < 0) err = -err;
  if (err == 0) err = EINVAL;
  Error e = Error::from_errno(what, err);
  if (auto s = summary(); !s.empty()) e.message += " (libbpf: " + s + ")";
  return e;
}

QuietLibbpf::QuietLibbpf() : outer_(t_quiet) { t_quiet = true; }
QuietLibbpf::~QuietLibbpf() { t_quiet = outer_; }

}  // namespace myelin::bpf
