// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/yaml_limits.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <istream>
#include <string_view>
#include <streambuf>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace myelin::policy {
namespace {

struct Exceeded {
  int line;
  std::string why;
};

// Counts every node a decoder walking the tree would meet: a container is one
// node plus what it holds, an alias as many as the node it names. Throws
// Exceeded at the first bound passed, which also stops the parser before its
// own recursion goes deep.
class Counter : public YAML::EventHandler {
 public:
  explicit Counter(const YamlLimits& l) : limits_(l) {}

  void OnDocumentStart(const YAML::Mark&) override {
    sizes_.clear();
    open_.clear();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t a) override { leaf(m, a); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t a, const std::string&) override { leaf(m, a); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t a) override {
    if (open_.count(a)) throw Exceeded{m.line + 1, "a YAML alias refers to a node that contains it (a cycle)"};
    auto it = sizes_.find(a);
    add(m, it == sizes_.end() ? 1 : it->second);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a, YAML::EmitterStyle::value) override { open(m, a); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t a, YAML::EmitterStyle::value) override { open(m, a); }
  void OnSequenceEnd() override { close(); }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    YAML::anchor_t anchor;
    size_t nodes_before;
  };
  void add(const YAML::Mark& m, size_t n) {
    nodes_ += n;
    if (nodes_ > limits_.max_nodes)
      throw Exceeded{m.line + 1, "more than " + std::to_string(limits_.max_nodes) +
                                     " YAML nodes (aliases expanded): split the file, or it is a YAML bomb"};
  }
  void leaf(const YAML::Mark& m, YAML::anchor_t a) {
    add(m, 1);
    if (a) sizes_[a] = 1;
  }
  void open(const YAML::Mark& m, YAML::anchor_t a) {
    if (stack_.size() >= limits_.max_depth)
      throw Exceeded{m.line + 1, "nested deeper than " + std::to_string(limits_.max_depth) + " levels"};
    stack_.push_back({a, nodes_});
    if (a) open_.insert(a);
    add(m, 1);
  }
  void close() {
    if (stack_.empty()) return;
    Frame f = stack_.back();
    stack_.pop_back();
    if (f.anchor) {
      open_.erase(f.anchor);
      sizes_[f.anchor] = nodes_ - f.nodes_before;
    }
  }

  const YamlLimits& limits_;
  size_t nodes_ = 0;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, size_t> sizes_;  // anchor -> nodes it stands for
  std::unordered_set<YAML::anchor_t> open_;           // anchors whose node is not finished
};

// Reads the text in place: no copy of a file that may be many MiB.
class TextBuf : public std::streambuf {
 public:
  explicit TextBuf(const std::string& s) {
    char* p = const_cast<char*>(s.data());  // read-only use: get area only
    setg(p, p, p + s.size());
  }
};

// yaml-cpp's scanner reads a run of flow openers ("[[[[...") whole before
// the parser sees the first one (each may start a key), ~270 bytes a level:
// 2 MB of '[' cost 270 MB before any event could stop it. A byte-level count
// of open brackets outside quotes and comments catches such runs first; its
// bound is generous (brackets inside plain scalars count too) and the exact
// depth is the event check's.
size_t flow_run_line(const std::string& text, size_t bound) {
  size_t depth = 0, line = 1;
  char quote = 0;
  bool comment = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch == '\n') {
      ++line;
      comment = false;
      continue;
    }
    if (comment) continue;
    if (quote) {
      if (ch == quote && !(quote == '"' && i > 0 && text[i - 1] == '\\')) quote = 0;
      continue;
    }
    switch (ch) {
      case '#':
        if (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t' || text[i - 1] == '\n') comment = true;
        break;
      case '"':
      case '\'':
        // A quote opens a quoted scalar only where a scalar starts.
        if (i == 0 || std::string_view(" \t\n[{,:-").find(text[i - 1]) != std::string_view::npos) quote = ch;
        break;
      case '[':
      case '{':
        if (++depth > bound) return line;
        break;
      case ']':
      case '}':
        if (depth) --depth;
        break;
    }
  }
  return 0;
}

}  // namespace

std::optional<Refusal> check_yaml_limits(const std::string& text, const std::string& file, const YamlLimits& limits) {
  if (size_t line = flow_run_line(text, std::max<size_t>(256, 4 * limits.max_depth)))
    return Refusal{file, static_cast<int>(line), "", "nested deeper than " + std::to_string(limits.max_depth) + " levels (brackets)"};
  TextBuf buf(text);
  std::istream in(&buf);
  Counter counter(limits);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const Exceeded& e) {
    return Refusal{file, e.line, "", e.why};
  } catch (const YAML::Exception&) {
    // A syntax error is the decoders' to report, as they do for every
    // consumer of the text: up to it the text was within bounds, and so is
    // any tree they build before they meet it.
  }
  return std::nullopt;
}

}  // namespace myelin::policy
