// SPDX-License-Identifier: Apache-2.0
// Shared by the kvstore tests: the private namespace's state, a fixture
// with one etcd member, and bounded waits.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "etcd_server.hpp"
#include "myelin/kvstore/etcd.hpp"

namespace myelin::testing {

extern std::string g_netns_error;  // set by main when the namespace could not be made

// Polls `cond` every 20 ms until it holds or `timeout` passed.
inline bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

inline std::unique_ptr<kvstore::Etcd> connect_or_die(const std::string& url) {
  kvstore::EtcdOptions o;
  o.endpoints = {url};
  auto e = kvstore::Etcd::connect(o);
  if (!e) {
    ADD_FAILURE() << e.error().message;
    return nullptr;
  }
  return std::move(*e);
}

// One etcd member on 127.0.0.1:2379 of the private namespace, and a client.
class EtcdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_netns_error.empty()) GTEST_SKIP() << "SKIP: " << g_netns_error;
    server_ = std::make_unique<EtcdServer>();
    ASSERT_TRUE(server_->start()) << "etcd did not become healthy:\n" << server_->log_tail();
    etcd_ = connect_or_die(server_->url());
    ASSERT_TRUE(etcd_);
  }
  std::unique_ptr<EtcdServer> server_;
  std::unique_ptr<kvstore::Etcd> etcd_;
};

}  // namespace myelin::testing
