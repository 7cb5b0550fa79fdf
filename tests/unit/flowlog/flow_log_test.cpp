// SPDX-License-Identifier: Apache-2.0
// The flow log as a log pipeline reads it: one JSON object per line in the
// `myelin observe -o json` shape (Hubble's field names), only the flows its
// filters let through, every line whole across rotations.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "flowlog/flow_log.hpp"

namespace myelin::flowlog {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

flow::Flow a_flow(flow::Verdict v, const std::string& pod) {
  flow::Flow f;
  f.set_verdict(v);
  f.mutable_source()->set_namespace_("prod");
  f.mutable_source()->set_pod_name(pod);
  f.mutable_destination()->set_pod_name("db");
  return f;
}

std::vector<nlohmann::json> lines_of(const fs::path& p) {
  std::vector<nlohmann::json> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not one whole JSON object: " << line;
    out.push_back(std::move(j));
  }
  return out;
}

class FlowLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mln-libs-flowlog-" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  static bool wait_written(const FlowLog& log, uint64_t n) {
    for (int i = 0; i < 500 && log.written() < n; ++i) std::this_thread::sleep_for(20ms);
    return log.written() >= n;
  }
  fs::path dir_;
};

TEST_F(FlowLogTest, OneObserveJsonLinePerFlowTheFiltersLetThrough) {
  flows::FlowStore store(64);
  google::protobuf::RepeatedPtrField<flow::FlowFilter> allow, deny;
  deny.Add()->add_verdict(flow::DROPPED);  // --flow-log-deny '{"verdict":["DROPPED"]}'
  auto filters = flows::FilterSet::compile(allow, deny);
  ASSERT_TRUE(filters) << filters.error().message;
  FlowLog log({(dir_ / "flows.log").string(), 1 << 20, 1, "node-a"}, store, std::move(*filters));
  ASSERT_TRUE(log.start());
  store.push(a_flow(flow::FORWARDED, "web-1"));
  store.push(a_flow(flow::DROPPED, "web-2"));
  store.push(a_flow(flow::FORWARDED, "web-3"));
  ASSERT_TRUE(wait_written(log, 2));
  log.stop();
  EXPECT_EQ(log.written(), 2u) << "the dropped flow is filtered out";
  auto lines = lines_of(dir_ / "flows.log");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["flow"]["source"]["pod_name"], "web-1") << lines[0].dump() << ": Hubble's field names (snake_case)";
  EXPECT_EQ(lines[0]["flow"]["verdict"], "FORWARDED") << "enums by name";
  EXPECT_EQ(lines[0]["node_name"], "node-a");
  EXPECT_EQ(lines[1]["flow"]["source"]["pod_name"], "web-3") << "in order";
  EXPECT_EQ(log.write_errors(), 0u);
}

TEST_F(FlowLogTest, RotationKeepsEveryLineWhole) {
  flows::FlowStore store(256);
  google::protobuf::RepeatedPtrField<flow::FlowFilter> none;
  auto filters = flows::FilterSet::compile(none, none);
  ASSERT_TRUE(filters);
  FlowLog log({(dir_ / "flows.log").string(), 600, 2, "n"}, store, std::move(*filters));
  ASSERT_TRUE(log.start());
  for (int i = 0; i < 20; ++i) store.push(a_flow(flow::FORWARDED, "web-" + std::to_string(i)));
  ASSERT_TRUE(wait_written(log, 20));
  log.stop();
  EXPECT_GT(log.rotations(), 0u);
  ASSERT_TRUE(fs::exists(dir_ / "flows.log.1"));
  EXPECT_FALSE(fs::exists(dir_ / "flows.log.3")) << "two backups kept";
  size_t kept = 0;
  for (const char* name : {"flows.log", "flows.log.1", "flows.log.2"}) {
    if (!fs::exists(dir_ / name)) continue;
    EXPECT_LE(fs::file_size(dir_ / name), 600u) << name;
    kept += lines_of(dir_ / name).size();
  }
  EXPECT_GT(kept, 0u);
  auto newest = lines_of(dir_ / "flows.log");
  ASSERT_FALSE(newest.empty());
  EXPECT_EQ(newest.back()["flow"]["source"]["pod_name"], "web-19") << "the newest flow is in the current file";
}

}  // namespace
}  // namespace myelin::flowlog
