// SPDX-License-Identifier: Apache-2.0
// ManifestSource on a real directory (inotify needs no root): what reaches
// the object store when files are added, edited, renamed, removed, refused, or
// swapped at once as a Kubernetes volume does, and that only manifests count.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "sources/manifest_source.hpp"

namespace myelin::sources {
namespace {

namespace fs = std::filesystem;

std::string ns_yaml(const std::string& name) { return "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name + "\n"; }

// What the object store heard from the source, in order: "apply <file> <n
// objects in force>" (once per change), "refuse <file>", "remove <file>"
// (its last object gone with it), "changed".
class Recorder {
 public:
  explicit Recorder(objects::ObjectStore& store) : store_(store) {
    objects::ObjectStore::Subscriber sub;
    for (const auto& k : objects::kinds()) sub.kinds.insert(k.kind);
    sub.on_event = [this](const objects::Event& e) {
      size_t n = 0;
      bool known = false;
      for (const auto& st : store_.sources())
        if (st.file == e.key.source) known = true, n = st.objects;
      add(known ? "apply " + e.key.source + " " + std::to_string(n) : "remove " + e.key.source);
    };
    sub.on_refusal = [this](objects::Part, const std::string& f, const policy::Refusal* r) {
      if (!r) return;
      {
        std::lock_guard lk(mu_);
        last_refusal_ = r->message();  // before the event that wakes the test
      }
      add("refuse " + f);
    };
    sub.on_changed = [this] { add("changed"); };
    id_ = store_.subscribe(std::move(sub));
  }
  ~Recorder() { store_.unsubscribe(id_); }
  // Waits (bounded) until `line` was seen after position `from`; returns the events since `from`.
  std::vector<std::string> wait_for(const std::string& line, size_t from) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::seconds(20), [&] { return std::find(seen_.begin() + from, seen_.end(), line) != seen_.end(); });
    return {seen_.begin() + static_cast<long>(std::min(from, seen_.size())), seen_.end()};
  }
  // The same, until any of `lines` was seen.
  std::vector<std::string> wait_for_any(const std::vector<std::string>& lines, size_t from) {
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, std::chrono::seconds(20), [&] {
      for (const auto& l : lines)
        if (std::find(seen_.begin() + from, seen_.end(), l) != seen_.end()) return true;
      return false;
    });
    return {seen_.begin() + static_cast<long>(std::min(from, seen_.size())), seen_.end()};
  }
  size_t size() {
    std::lock_guard lk(mu_);
    return seen_.size();
  }
  std::string last_refusal() {
    std::lock_guard lk(mu_);
    return last_refusal_;
  }

 private:
  void add(std::string s) {
    std::lock_guard lk(mu_);
    if (!seen_.empty() && seen_.back() == s) return;  // one line per change, not per object
    seen_.push_back(std::move(s));
    cv_.notify_all();
  }
  objects::ObjectStore& store_;
  objects::ObjectStore::SubscriptionId id_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
  std::string last_refusal_;
};

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

class Manifests : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("mln-libs-manifests-" + std::to_string(getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    source_.reset();
    fs::remove_all(dir_);
  }
  void write(const std::string& name, const std::string& text) {  // written elsewhere, renamed in: one close-or-move event
    const fs::path tmp = dir_.parent_path() / (dir_.filename().string() + "." + name + ".tmp");
    std::ofstream(tmp) << text;
    fs::rename(tmp, dir_ / name);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void start() {
    source_ = std::make_unique<ManifestSource>(dir_.string(), store_);
    ASSERT_TRUE(source_->start());
  }

  fs::path dir_;
  objects::ObjectStore store_;
  Recorder rec_{store_};
  std::unique_ptr<ManifestSource> source_;
};

TEST_F(Manifests, StartLoadsEveryManifestAndNothingElse) {
  write("a.yaml", ns_yaml("a"));
  write("b.yml", ns_yaml("b") + "---\n" + ns_yaml("b2"));
  write("notes.txt", ns_yaml("x"));
  write(".hidden.yaml", ns_yaml("x"));
  start();
  auto seen = rec_.wait_for("changed", 0);
  EXPECT_TRUE(has(seen, "apply " + path("a.yaml") + " 1"));
  EXPECT_TRUE(has(seen, "apply " + path("b.yml") + " 2"));
  EXPECT_EQ(std::count_if(seen.begin(), seen.end(), [](const std::string& s) { return s.rfind("apply ", 0) == 0; }), 2)
      << "not notes.txt nor a hidden file";
  EXPECT_EQ(seen.back(), "changed") << "one regeneration after the initial load";
}

TEST_F(Manifests, AddEditRenameRemoveReachTheStoreLive) {
  write("a.yaml", ns_yaml("a"));
  start();
  size_t from = rec_.size();
  write("c.yaml", ns_yaml("c"));
  auto seen = rec_.wait_for("apply " + path("c.yaml") + " 1", from);
  ASSERT_TRUE(has(seen, "apply " + path("c.yaml") + " 1")) << "a new file applies";
  rec_.wait_for("changed", from);

  from = rec_.size();
  write("c.yaml", ns_yaml("c") + "---\n" + ns_yaml("c2"));
  seen = rec_.wait_for("apply " + path("c.yaml") + " 2", from);
  ASSERT_TRUE(has(seen, "apply " + path("c.yaml") + " 2")) << "an edit applies the new version";

  from = rec_.size();
  fs::rename(dir_ / "c.yaml", dir_ / "d.yaml");
  seen = rec_.wait_for("apply " + path("d.yaml") + " 2", from);
  seen = rec_.wait_for("remove " + path("c.yaml"), from);
  EXPECT_TRUE(has(seen, "remove " + path("c.yaml"))) << "a rename removes the old name";
  EXPECT_TRUE(has(seen, "apply " + path("d.yaml") + " 2")) << "and applies the new one";

  from = rec_.size();
  fs::remove(dir_ / "d.yaml");
  seen = rec_.wait_for("remove " + path("d.yaml"), from);
  ASSERT_TRUE(has(seen, "remove " + path("d.yaml")));
  EXPECT_FALSE(has(seen, "remove " + path("a.yaml"))) << "positive control: the other file stays";
}

TEST_F(Manifests, AFileThatDoesNotDecodeIsRefusedAndNotRemoved) {
  write("a.yaml", ns_yaml("a"));
  start();
  size_t from = rec_.size();
  write("a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [broken\n");
  auto seen = rec_.wait_for("refuse " + path("a.yaml"), from);
  ASSERT_TRUE(has(seen, "refuse " + path("a.yaml")));
  EXPECT_FALSE(has(seen, "remove " + path("a.yaml"))) << "refused, not removed: its last good version stays in force";
  EXPECT_NE(rec_.last_refusal().find(path("a.yaml")), std::string::npos) << rec_.last_refusal();
}

// A ConfigMap volume: files are symlinks into ..data, which is swapped at once.
TEST_F(Manifests, AVolumeSwapOfDotDotDataRereadsTheDirectory) {
  fs::create_directories(dir_ / "..v1");
  std::ofstream(dir_ / "..v1" / "a.yaml") << ns_yaml("a");
  std::ofstream(dir_ / "..v1" / "b.yaml") << ns_yaml("b");
  fs::create_directory_symlink("..v1", dir_ / "..data");
  fs::create_symlink("..data/a.yaml", dir_ / "a.yaml");
  fs::create_symlink("..data/b.yaml", dir_ / "b.yaml");
  start();
  auto seen = rec_.wait_for("changed", 0);
  ASSERT_TRUE(has(seen, "apply " + path("b.yaml") + " 1"));

  // The next version: a.yaml edited, b.yaml gone; one rename makes it current.
  size_t from = rec_.size();
  fs::create_directories(dir_ / "..v2");
  std::ofstream(dir_ / "..v2" / "a.yaml") << ns_yaml("a") << "---\n" << ns_yaml("a2");
  fs::create_directory_symlink("..v2", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  seen = rec_.wait_for("apply " + path("a.yaml") + " 2", from);
  ASSERT_TRUE(has(seen, "apply " + path("a.yaml") + " 2")) << "no event names a.yaml: the swap rereads every file";
  // Waited for by name: the swap's first batch may be a.yaml's alone (its "changed" comes first).
  seen = rec_.wait_for_any({"refuse " + path("b.yaml"), "remove " + path("b.yaml")}, from);
  EXPECT_TRUE(has(seen, "refuse " + path("b.yaml")) || has(seen, "remove " + path("b.yaml")))
      << "b.yaml now points at nothing: it is said so";
}

}  // namespace
}  // namespace myelin::sources
