// SPDX-License-Identifier: Apache-2.0
#include "manifest_source.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "myelin/atomic_file.hpp"
#include "myelin/log.hpp"

namespace myelin::sources {
namespace {
bool is_manifest(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;  // editor swap files and hidden files
  auto ext = std::filesystem::path(name).extension().string();
  return ext == ".yaml" || ext == ".yml";
}
}  // namespace

ManifestSource::ManifestSource(std::string dir, Sink sink) : dir_(std::move(dir)), sink_(std::move(sink)) {}

ManifestSource::~ManifestSource() { stop(); }

void ManifestSource::load(const std::string& name) {
  const std::string path = dir_ + "/" + name;
  auto text = read_file(path);
  if (!text) return sink_.refuse(path, policy::Refusal{path, 0, "", text.error().message});
  if (!*text) {
    if (sink_.text) sink_.text(path, nullptr);
    return sink_.remove(path);
  }
  if (sink_.text) sink_.text(path, &**text);
  auto objs = policy::decode_manifest(**text, path);
  if (auto* r = std::get_if<policy::Refusal>(&objs)) return sink_.refuse(path, std::move(*r));
  auto& list = std::get<std::vector<policy::Object>>(objs);
  log::info("manifests", "applied " + path + " (" + std::to_string(list.size()) + " objects)");
  sink_.apply(path, std::move(list));
}

Status ManifestSource::start() {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) return Error{"--manifests " + dir_ + " is not a directory"};
  inotify_.reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify_) return Error::from_errno("inotify");
  if (inotify_add_watch(inotify_.get(), dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE) < 0)
    return Error::from_errno("watch " + dir_);
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  // Watch first, then read: a file written in between is seen twice, never missed.
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
    if (e.is_regular_file() && is_manifest(e.path().filename().string())) names.insert(e.path().filename().string());
  for (const auto& n : names) load(n);
  sink_.changed();
  thread_ = std::thread([this] { run(); });
  return {};
}

void ManifestSource::stop() {
  if (wake_) {
    uint64_t one = 1;
    ssize_t ignored = ::write(wake_.get(), &one, sizeof one);
    (void)ignored;
  }
  if (thread_.joinable()) thread_.join();
}

void ManifestSource::run() {
  alignas(inotify_event) char buf[16384];
  for (;;) {
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    bool any = false;
    for (;;) {
      ssize_t n = ::read(inotify_.get(), buf, sizeof buf);
      if (n <= 0) break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        std::string name = ev->len ? ev->name : "";
        if (is_manifest(name)) {
          if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
            log::info("manifests", "removed " + dir_ + "/" + name);
            if (sink_.text) sink_.text(dir_ + "/" + name, nullptr);
            sink_.remove(dir_ + "/" + name);
          } else {
            load(name);
          }
          any = true;
        }
        p += sizeof(inotify_event) + ev->len;
      }
    }
    if (any) sink_.changed();
  }
}

}  // namespace myelin::sources
