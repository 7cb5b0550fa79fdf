// SPDX-License-Identifier: Apache-2.0
#include "manifest_source.hpp"

#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "myelin/bounded_read.hpp"
#include "myelin/log.hpp"

namespace myelin::sources {
namespace {
bool created_regular_file(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool is_manifest(const std::string& name) {
  if (name.empty() || name[0] == '.') return false;  // editor swap files and hidden files
  auto ext = std::filesystem::path(name).extension().string();
  return ext == ".yaml" || ext == ".yml";
}
}  // namespace

ManifestSource::ManifestSource(std::string dir, objects::ObjectStore& store, Limits limits)
    : dir_(std::move(dir)), store_(store), store_source_(store.add_source("manifests " + dir_)), limits_(limits) {}

ManifestSource::~ManifestSource() { stop(); }

void ManifestSource::load(const std::string& name) {
  const std::string path = dir_ + "/" + name;
  auto text = read_regular_file(path, limits_.max_file_bytes);
  dangling_.erase(name);
  if (text && !*text) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(path, ec);
    if (ec) {  // gone
      if (known_.count(name)) forget(name);
      return;
    }
    // A symlink to nothing (yet): said so, and tried again after every
    // change here, since its target appearing is not an event on its name.
    dangling_.insert(name);
    known_.insert(name);
    return store_.refuse(path, policy::Refusal{path, 0, "", "a symlink to " + target.string() + ", which does not exist: not read"});
  }
  known_.insert(name);
  if (!text) return store_.refuse(path, policy::Refusal{path, 0, "", text.error().message});
  if (auto r = policy::check_yaml_limits(**text, path, limits_.yaml)) return store_.refuse(path, std::move(*r));
  // A decoder that throws what it should have returned (a bug) refuses this
  // file; it must not end the agent.
  try {
    auto decoded = objects::decode(**text, path);
    if (const auto* list = std::get_if<std::vector<objects::Object>>(&decoded.objects))
      log::info("manifests", "applied " + path + " (" + std::to_string(list->size()) + " objects)");
    store_.apply(path, std::move(decoded));
  } catch (const std::exception& e) {
    store_.refuse(path, policy::Refusal{path, 0, "", std::string("cannot be decoded: the decoder failed on a value it should have refused (") +
                                                        e.what() + "), a bug in Myelin: please report it"});
  }
}

Status ManifestSource::start() {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) return Error{"--manifests " + dir_ + " is not a directory"};
  inotify_.reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify_) return Error::from_errno("inotify");
  if (inotify_add_watch(inotify_.get(), dir_.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE) < 0)
    return Error::from_errno("watch " + dir_);
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  // Watch first, then read: a file written in between is seen twice, never missed.
  // Every name that looks like a manifest, whatever it is: load() refuses
  // what it cannot read (a FIFO, a directory, a symlink loop) and says why.
  if (auto s = rescan(); !s) return s;
  store_.synced(store_source_);
  store_.changed();
  thread_ = std::thread([this] { run(); });
  return {};
}

Status ManifestSource::rescan() {
  std::error_code ec;
  std::set<std::string> names;
  for (std::filesystem::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec))
    if (is_manifest(it->path().filename().string())) names.insert(it->path().filename().string());
  if (ec) return Error{"--manifests " + dir_ + ": " + ec.message()};
  for (const auto& n : names) load(n);
  for (const auto& n : std::set<std::string>(known_))
    if (!names.count(n)) forget(n);
  return {};
}

void ManifestSource::forget(const std::string& name) {
  log::info("manifests", "removed " + dir_ + "/" + name);
  known_.erase(name);
  store_.remove(dir_ + "/" + name);
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
        if (ev->mask & IN_Q_OVERFLOW) {
          // The kernel dropped events (a burst of files): read the directory again.
          log::warn("manifests", "too many file events at once: reading " + dir_ + " again");
          if (auto s = rescan(); !s) log::error("manifests", s.error().message);
          any = true;
        } else if (name.rfind("..", 0) == 0 && (ev->mask & (IN_MOVED_TO | IN_CREATE))) {
          // A Kubernetes volume (ConfigMap, Secret) swaps its "..data" link
          // to update every file at once: no event names the files.
          if (auto s = rescan(); !s) log::error("manifests", s.error().message);
          any = true;
        } else if (is_manifest(name)) {
          if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
            forget(name);
            any = true;
          } else if (!(ev->mask & IN_CREATE) || !created_regular_file(dir_ + "/" + name)) {
            // A regular file is read once its writer closes it (never half
            // written); a symlink, FIFO or directory made here has no close.
            load(name);
            any = true;
          }
        }
        p += sizeof(inotify_event) + ev->len;
      }
    }
    if (any) {
      for (const auto& n : std::set<std::string>(dangling_)) load(n);
      store_.changed();
      malloc_trim(0);  // what a big file's text and tree took goes back to the system
    }
  }
}

}  // namespace myelin::sources
