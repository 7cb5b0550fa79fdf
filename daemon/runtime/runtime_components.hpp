// SPDX-License-Identifier: Apache-2.0
// The runtime sensors as components: process events (`myelin events`), the
// GPU and block I/O probes, the per-process TCP sensor and the events log.
// Each owns its monitor, built at start(); one whose probes do not load here
// stays in the list, off, and answers its API with why.
#pragma once

#include <memory>
#include <string>

#include "component/component.hpp"
#include "myelin/pseudo_fs.hpp"
#include "myelin/rotating_file.hpp"
#include "runtime/events_log.hpp"
#include "runtime/gpu_monitor.hpp"
#include "runtime/runtime_monitor.hpp"
#include "runtime/socket_monitor.hpp"
#include "runtime/storage_monitor.hpp"

namespace myelin::runtime {

class RuntimeComponent : public component::Component {
 public:
  RuntimeComponent(bool enabled, std::string node_name, ProcessCache::PodResolver pods, size_t store_size)
      : enabled_(enabled), node_name_(std::move(node_name)), pods_(std::move(pods)), store_size_(store_size) {}
  std::string name() const override { return "runtime"; }
  Status start() override;  // probes that do not load leave it off (error() says why), never stop the agent
  void stop() override {
    if (monitor_) monitor_->stop();
  }
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;
  void status(component::StatusBuilder& b) const override;

  RuntimeMonitor* monitor() const { return monitor_.get(); }
  // Why the monitor is off: "--runtime-events=false" when so started.
  std::string off_reason() const { return error_.empty() ? "--runtime-events=false" : error_; }

 private:
  bool enabled_;
  std::string node_name_;
  ProcessCache::PodResolver pods_;
  size_t store_size_;
  std::unique_ptr<RuntimeMonitor> monitor_;
  std::string error_;
};

class GpuComponent : public component::Component {
 public:
  // libs: --gpu-libs (paths, auto or none).
  GpuComponent(std::string libs, const RuntimeComponent& runtime, ProcessCache::PodResolver pods)
      : libs_(std::move(libs)), runtime_(runtime), pods_(std::move(pods)) {}
  std::string name() const override { return "gpu"; }
  Status start() override;
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;

 private:
  std::string libs_;
  const RuntimeComponent& runtime_;
  ProcessCache::PodResolver pods_;
  std::unique_ptr<GpuMonitor> gpu_;
};

class StorageComponent : public component::Component {
 public:
  StorageComponent(bool enabled, const RuntimeComponent& runtime, ProcessCache::PodResolver pods)
      : enabled_(enabled), runtime_(runtime), pods_(std::move(pods)) {}
  std::string name() const override { return "storage"; }
  Status start() override;
  void routes(server::Router& r) override;
  void collect(metrics::MetricSink& sink) const override;

 private:
  bool enabled_;
  const RuntimeComponent& runtime_;
  ProcessCache::PodResolver pods_;
  std::unique_ptr<StorageMonitor> storage_;
};

// --network-events: asked for, it must load (start-up fails otherwise).
class SocketComponent : public component::Component {
 public:
  SocketComponent(RuntimeComponent& runtime, const pseudofs::Mounts& mounts) : runtime_(runtime), mounts_(mounts) {}
  std::string name() const override { return "network-events"; }
  Status start() override;
  void collect(metrics::MetricSink& sink) const override;

 private:
  RuntimeComponent& runtime_;
  const pseudofs::Mounts& mounts_;
  std::unique_ptr<SocketMonitor> sockets_;
};

// --events-log: asked for, it must open (start-up fails otherwise).
class EventsLogComponent : public component::Component {
 public:
  EventsLogComponent(const RuntimeComponent& runtime, RotatingFile::Options o) : runtime_(runtime), options_(std::move(o)) {}
  std::string name() const override { return "events-log"; }
  Status start() override;
  void stop() override {
    if (log_) log_->stop();
  }

 private:
  const RuntimeComponent& runtime_;
  RotatingFile::Options options_;
  std::unique_ptr<EventsLog> log_;
};

}  // namespace myelin::runtime
