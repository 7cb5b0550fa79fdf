// SPDX-License-Identifier: Apache-2.0
// CgroupIndex: which container a cgroup (v2) is. Container runtimes give
// each container a cgroup named after its 64-hex id ("cri-containerd-<id>
// .scope", "crio-<id>.scope", "docker-<id>.scope", or the bare id under the
// cgroupfs driver), inside the pod's cgroup, where the pod sandbox's own
// cgroup sits beside it. The cgroup id a process record carries is the
// inode of that directory; the tree is walked again only for an id not seen
// before, so each new cgroup costs one walk and a known one a map lookup.
#pragma once

#include <ftw.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace myelin::runtime {

struct ContainerCgroup {
  std::string container_id;              // the 64-hex id in the cgroup's name
  std::vector<std::string> pod_containers;  // the ids of the cgroups beside it (the pod's containers, its sandbox among them)
};

class CgroupIndex {
 public:
  explicit CgroupIndex(std::string root = cgroup2_mount()) : root_(std::move(root)) {}

  // Where cgroup v2 is mounted ("" if nowhere): /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts.
  static std::string cgroup2_mount() {
    std::ifstream m("/proc/self/mounts");
    std::string dev, dir, type, rest;
    while (m >> dev >> dir >> type && std::getline(m, rest))
      if (type == "cgroup2") return dir;
    return "";
  }

  // The container of cgroup `id`, if its name carries a container id.
  std::optional<ContainerCgroup> lookup(uint64_t id) {
    if (id == 0 || root_.empty()) return std::nullopt;
    std::lock_guard lk(mu_);
    if (auto r = resolved_.find(id); r != resolved_.end()) return r->second;
    auto it = paths_.find(id);
    if (it == paths_.end() && !missed_.count(id)) {
      rescan_locked();
      it = paths_.find(id);
      if (it == paths_.end()) {
        if (missed_.size() > 4096) missed_.clear();
        missed_.insert(id);
      }
    }
    if (it == paths_.end()) return std::nullopt;
    auto id_of = [](const std::string& name) { return container_id(name); };
    const std::string& path = it->second;
    const auto slash = path.rfind('/');
    ContainerCgroup c;
    c.container_id = id_of(path.substr(slash + 1));
    if (c.container_id.empty()) return resolved_[id] = std::nullopt;  // a host cgroup: remembered too (looked up per exec)
    const std::string parent = path.substr(0, slash);
    for (const auto& [other_id, other] : paths_)
      if (other.size() > parent.size() && other.compare(0, parent.size() + 1, parent + "/") == 0 &&
          other.find('/', parent.size() + 1) == std::string::npos)
        if (auto sib = id_of(other.substr(parent.size() + 1)); !sib.empty()) c.pod_containers.push_back(sib);
    resolved_[id] = c;
    return c;
  }

  // The cgroup (v2) id of a process, from /proc (processes that ran before the agent).
  static uint64_t cgroup_of(const std::string& proc_dir, const std::string& root) {
    if (root.empty()) return 0;
    std::ifstream f(proc_dir + "/cgroup");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("0::", 0) == 0) {
        struct stat st {};
        return stat((root + line.substr(3)).c_str(), &st) == 0 ? st.st_ino : 0;
      }
    return 0;
  }

  // "cri-containerd-<64 hex>.scope" -> the hex id; "" when the name carries none.
  static std::string container_id(const std::string& name) {
    std::string s = name;
    if (s.size() > 6 && s.compare(s.size() - 6, 6, ".scope") == 0) s.resize(s.size() - 6);
    if (auto dash = s.rfind('-'); dash != std::string::npos) s = s.substr(dash + 1);
    if (s.size() != 64 || s.find_first_not_of("0123456789abcdef") != std::string::npos) return "";
    return s;
  }

 private:
  void rescan_locked() {
    paths_.clear();
    resolved_.clear();
    scanning_ = this;
    nftw(root_.c_str(), &CgroupIndex::visit, 32, FTW_PHYS | FTW_MOUNT);
    scanning_ = nullptr;
  }
  static int visit(const char* path, const struct stat* st, int type, FTW*) {
    if (type == FTW_D) scanning_->paths_[st->st_ino] = path;
    return 0;
  }

  std::string root_;
  std::mutex mu_;
  std::map<uint64_t, std::string> paths_;  // cgroup id -> directory
  std::map<uint64_t, std::optional<ContainerCgroup>> resolved_;  // what each known id is (nullopt: no container)
  std::set<uint64_t> missed_;              // ids the last walk did not find (gone): not walked again
  static inline thread_local CgroupIndex* scanning_ = nullptr;  // nftw takes no context
};

}  // namespace myelin::runtime
