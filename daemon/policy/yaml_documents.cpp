// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/yaml_documents.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <sstream>

namespace myelin::policy {
namespace {

// Watches the parser's progress: a document that starts where the previous
// one started consumed nothing, and LoadAll would repeat it without end.
class ProgressCheck : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    stuck_ = started_ && mark.pos == last_.pos;
    started_ = true;
    last_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  bool stuck() const { return stuck_; }
  const YAML::Mark& mark() const { return last_; }

 private:
  bool started_ = false, stuck_ = false;
  YAML::Mark last_;
};

// The first character of `s` that is not well-formed UTF-8 (`cp` -1), or
// with `no_nul`, a NUL, which yaml-cpp mangles (into a lone 0xa0 inside a
// value). Other control characters pass through yaml-cpp intact, and the
// kube source's JSON may hold them (DEL, C1): they stay accepted.
struct Unreadable {
  size_t at = std::string::npos;
  long cp = -1;
};
Unreadable first_unreadable(const std::string& s, bool no_nul) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return {i, -1};
    uint32_t cp = n == 1 ? b : b & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 0x2) return {i, -1};
      cp = cp << 6 | (c & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return {i, -1};  // overlong, too large, surrogate
    if (no_nul && cp == 0) return {i, 0};
    i += n;
  }
  return {};
}

// `s` with each byte that starts no well-formed UTF-8 sequence as U+FFFD.
std::string utf8(std::string s) {
  for (size_t bad; (bad = first_unreadable(s, false).at) != std::string::npos;) s.replace(bad, 1, "\xef\xbf\xbd");
  return s;
}

bool utf16_or_32(const std::string& s) {  // by its byte order mark: yaml-cpp converts these itself
  auto starts = [&](const char* bom, size_t n) { return s.size() >= n && s.compare(0, n, bom, n) == 0; };
  return starts("\xfe\xff", 2) || starts("\xff\xfe", 2) || starts("\x00\x00\xfe\xff", 4);
}

}  // namespace

Decoded<std::vector<YAML::Node>> load_yaml_documents(const std::string& text, const std::string& file) {
  // YAML is Unicode. yaml-cpp passes other bytes through into values, and
  // from there into errors the API could not send (proto3 strings are UTF-8:
  // the CLI failed to decode the whole status, refusal and all).
  if (const auto bad = utf16_or_32(text) ? Unreadable{} : first_unreadable(text, true); bad.at != std::string::npos) {
    const size_t nl = bad.at == 0 ? std::string::npos : text.rfind('\n', bad.at - 1);
    const size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(bad.at), '\n'));
    const size_t column = bad.at - (nl == std::string::npos ? 0 : nl + 1) + 1;
    char what[48];
    if (bad.cp < 0) std::snprintf(what, sizeof what, "not UTF-8");
    else std::snprintf(what, sizeof what, "a NUL character");
    return Refusal{file, static_cast<int>(line), "", std::string("invalid YAML: ") + what + " at column " + std::to_string(column)};
  }
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    ProgressCheck check;
    while (parser.HandleNextDocument(check))
      if (check.stuck())
        return Refusal{file, check.mark().line + 1, "", "invalid YAML: unexpected token at column " + std::to_string(check.mark().column + 1)};
    return YAML::LoadAll(text);  // the same parse, now known to end
  } catch (const YAML::Exception& e) {
    // yaml-cpp quotes a byte of the input ("unknown escape character: \xc3" of "\é").
    return Refusal{file, e.mark.line + 1, "", "invalid YAML: " + utf8(e.msg)};  // the kind is unknown
  }
}

}  // namespace myelin::policy
