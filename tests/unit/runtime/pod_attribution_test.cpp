// SPDX-License-Identifier: Apache-2.0
// Cgroup attribution without a container runtime: a directory tree shaped as
// the kubelet's (a pod's cgroup holding its sandbox's and its containers'
// cgroups) stands in for cgroupfs, its directories' inodes for cgroup ids.
// CgroupIndex names the container of a cgroup id; PodIndex the pod, by the
// sandbox's container id the CNI plugin was given, else by network namespace.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/pod_index.hpp"

namespace myelin::runtime {
namespace {

namespace fs = std::filesystem;

const std::string kSandbox(64, 'a'), kApp(64, 'b'), kSidecar(64, 'c'), kOther(64, 'd');

uint64_t inode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(stat(p.c_str(), &st), 0) << p;
  return st.st_ino;
}

class Cgroups : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("mln-libs-cgroup-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    pod_ = root_ / "kubepods.slice" / "kubepods-besteffort.slice" / "kubepods-besteffort-pod1234.slice";
    fs::create_directories(pod_ / ("cri-containerd-" + kSandbox + ".scope"));
    fs::create_directories(pod_ / ("cri-containerd-" + kApp + ".scope"));
    fs::create_directories(pod_ / ("cri-containerd-" + kSidecar + ".scope"));
    fs::create_directories(root_ / "system.slice" / "ssh.service");
    // Another pod, whose sandbox no endpoint names (hostNetwork, or not ours).
    fs::create_directories(root_ / "kubepods.slice" / "pod999" / kOther);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path container(const std::string& id) const { return pod_ / ("cri-containerd-" + id + ".scope"); }

  fs::path root_, pod_;
};

TEST(CgroupName, ContainerIdOfEachRuntimesNaming) {
  EXPECT_EQ(CgroupIndex::container_id("cri-containerd-" + kApp + ".scope"), kApp);
  EXPECT_EQ(CgroupIndex::container_id("crio-" + kApp + ".scope"), kApp);
  EXPECT_EQ(CgroupIndex::container_id("docker-" + kApp + ".scope"), kApp);
  EXPECT_EQ(CgroupIndex::container_id(kApp), kApp) << "the cgroupfs driver: the bare id";
  EXPECT_EQ(CgroupIndex::container_id("cri-containerd-" + kApp.substr(1) + ".scope"), "") << "63 hex digits are no id";
  EXPECT_EQ(CgroupIndex::container_id(std::string(64, 'A')), "") << "runtimes write ids in lower case";
  EXPECT_EQ(CgroupIndex::container_id("ssh.service"), "");
  EXPECT_EQ(CgroupIndex::container_id("kubepods-besteffort-pod1234.slice"), "");
}

TEST_F(Cgroups, ContainerOfACgroupIdAndThePodsOtherContainers) {
  CgroupIndex index(root_.string());
  auto c = index.lookup(inode(container(kApp)));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->container_id, kApp);
  std::vector<std::string> siblings = c->pod_containers;
  std::sort(siblings.begin(), siblings.end());
  EXPECT_EQ(siblings, (std::vector<std::string>{kSandbox, kApp, kSidecar})) << "every container of the pod, its sandbox among them";
  EXPECT_FALSE(index.lookup(inode(root_ / "system.slice" / "ssh.service"))) << "a host cgroup is no container";
  EXPECT_FALSE(index.lookup(inode(pod_))) << "the pod's own cgroup is no container";
  EXPECT_FALSE(index.lookup(0));
}

TEST_F(Cgroups, ACgroupMadeAfterTheFirstWalkIsFound) {
  CgroupIndex index(root_.string());
  ASSERT_TRUE(index.lookup(inode(container(kApp))));
  const std::string late(64, 'e');
  fs::create_directories(container(late));
  auto c = index.lookup(inode(container(late)));
  ASSERT_TRUE(c) << "an id not seen before walks the tree again";
  EXPECT_EQ(c->container_id, late);
}

class Pods : public Cgroups {
 protected:
  void SetUp() override {
    Cgroups::SetUp();
    auto store = endpoints::EndpointStore::open((root_ / "endpoints.json").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    netns_file_ = root_ / "netns-web";
    std::ofstream(netns_file_.string()) << "";
    api::Endpoint ep;
    ep.set_id(store_->next_id());
    ep.set_container_id(kSandbox);  // the CNI plugin's CNI_CONTAINERID: the sandbox
    ep.set_ifname("eth0");
    ep.set_netns(netns_file_.string());
    ep.set_pod_namespace("prod");
    ep.set_pod_name("web");
    ep.set_ip("10.1.0.5");
    ASSERT_TRUE(store_->upsert(ep));
    id_ = ep.id();
  }
  std::unique_ptr<endpoints::EndpointStore> store_;
  fs::path netns_file_;
  uint32_t id_ = 0;
};

TEST_F(Pods, AContainersCgroupNamesItsPodAndContainer) {
  PodIndex index(root_.string());
  auto app = index.lookup(*store_, 0, inode(container(kApp)));
  ASSERT_TRUE(app) << "the app container's cgroup sits beside the sandbox the endpoint names";
  EXPECT_EQ(app->ns, "prod");
  EXPECT_EQ(app->name, "web");
  EXPECT_EQ(app->endpoint_id, id_);
  EXPECT_EQ(app->container_id, kApp) << "the container, not the sandbox";
  auto pause = index.lookup(*store_, 0, inode(container(kSandbox)));
  ASSERT_TRUE(pause);
  EXPECT_EQ(pause->container_id, kSandbox);
  EXPECT_FALSE(index.lookup(*store_, 0, inode(root_ / "kubepods.slice" / "pod999" / kOther))) << "a pod no endpoint names";
  EXPECT_FALSE(index.lookup(*store_, 0, inode(root_ / "system.slice" / "ssh.service")));
}

TEST_F(Pods, WithoutAContainerCgroupTheNetworkNamespaceNamesThePod) {
  PodIndex index(root_.string());
  const uint32_t netns = static_cast<uint32_t>(inode(netns_file_));
  auto by_netns = index.lookup(*store_, netns, inode(root_ / "system.slice" / "ssh.service"));
  ASSERT_TRUE(by_netns) << "nsenter into the pod from a host cgroup";
  EXPECT_EQ(by_netns->name, "web");
  EXPECT_EQ(by_netns->container_id, "") << "no container known";
  EXPECT_FALSE(index.lookup(*store_, netns + 1, 0));
}

TEST_F(Pods, AnEndpointRemovedNamesNoPodAnyMore) {
  PodIndex index(root_.string());
  const uint32_t netns = static_cast<uint32_t>(inode(netns_file_));
  ASSERT_TRUE(index.lookup(*store_, netns, inode(container(kApp))));
  ASSERT_TRUE(store_->remove(kSandbox, "eth0"));
  EXPECT_FALSE(index.lookup(*store_, netns, inode(container(kApp)))) << "the store's generation moved: the index is rebuilt";
}

}  // namespace
}  // namespace myelin::runtime
