// SPDX-License-Identifier: Apache-2.0
#include "myelin/policy/yaml_documents.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

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

}  // namespace

Result<std::vector<YAML::Node>> load_yaml_documents(const std::string& text, const std::string& file) {
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
    return Error{file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg};
  }
}

}  // namespace myelin::policy
