// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/yaml_documents.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
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

// The offset of the first byte that is not well-formed UTF-8, npos if none.
size_t invalid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xe ? 3 : (b >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return i;
    uint32_t cp = n == 1 ? b : b & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 0x2) return i;
      cp = cp << 6 | (c & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;  // overlong, too large, surrogate
    i += n;
  }
  return std::string::npos;
}

// `s` with each byte that starts no well-formed UTF-8 sequence as U+FFFD.
std::string utf8(std::string s) {
  for (size_t bad; (bad = invalid_utf8(s)) != std::string::npos;) s.replace(bad, 1, "\xef\xbf\xbd");
  return s;
}

bool utf16_or_32(const std::string& s) {  // by its byte order mark: yaml-cpp converts these itself
  auto starts = [&](const char* bom, size_t n) { return s.size() >= n && s.compare(0, n, bom, n) == 0; };
  return starts("\xfe\xff", 2) || starts("\xff\xfe", 2) || starts("\x00\x00\xfe\xff", 4);
}

}  // namespace

Result<std::vector<YAML::Node>> load_yaml_documents(const std::string& text, const std::string& file) {
  // YAML is Unicode. yaml-cpp passes other bytes through into values, and
  // from there into errors the API could not send (proto3 strings are UTF-8:
  // the CLI failed to decode the whole status, refusal and all).
  if (const size_t bad = utf16_or_32(text) ? std::string::npos : invalid_utf8(text); bad != std::string::npos) {
    const size_t nl = bad == 0 ? std::string::npos : text.rfind('\n', bad - 1);
    const size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n'));
    const size_t column = bad - (nl == std::string::npos ? 0 : nl + 1) + 1;
    return Error{file + ":" + std::to_string(line) + ": invalid YAML: not UTF-8 at column " + std::to_string(column)};
  }
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    ProgressCheck check;
    while (parser.HandleNextDocument(check))
      if (check.stuck())
        return Error{file + ":" + std::to_string(check.mark().line + 1) + ": invalid YAML: unexpected token at column " +
                     std::to_string(check.mark().column + 1)};
    return YAML::LoadAll(text);  // the same parse, now known to end
  } catch (const YAML::Exception& e) {
    // yaml-cpp quotes a byte of the input ("unknown escape character: \xc3" of "\é").
    return Error{file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + utf8(e.msg)};
  }
}

}  // namespace myelin::policy
