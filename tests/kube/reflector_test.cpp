// SPDX-License-Identifier: Apache-2.0
// The Kubernetes list/watch client against the stand-in API server, over
// TLS with a bearer token: initial list (paged), watch events in order,
// bookmarks, a dropped connection resumed from its resourceVersion without a
// re-list, 410 Gone answered by a re-list that reports what vanished, and
// clear errors for a wrong token, an unknown CA and a missing CRD.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "myelin/kube/reflector.hpp"
#include "standin.hpp"

namespace myelin::test {
namespace {

using namespace std::chrono_literals;
const kube::Resource kPods{"pods", "/api/v1/pods", "Pod", "v1"};
const kube::Resource kNamespaces{"namespaces", "/api/v1/namespaces", "Namespace", "v1"};
const kube::Resource kCnps{"ciliumnetworkpolicies", "/apis/cilium.io/v2/ciliumnetworkpolicies", "CiliumNetworkPolicy", "cilium.io/v2"};

// Records what a reflector reports; waits on conditions with a bound.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, nlohmann::json> objects;  // ns/name -> object
  std::vector<std::string> log;                   // "+ns/name@rv", "-ns/name"
  std::vector<std::string> errors;
  int synced = 0;

  kube::Reflector::Handler handler() {
    auto key = [](const nlohmann::json& o) {
      return o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "");
    };
    return {[this, key](const nlohmann::json& o) {
              std::lock_guard lk(mu);
              objects[key(o)] = o;
              log.push_back("+" + key(o) + "@" + o["metadata"].value("resourceVersion", ""));
              cv.notify_all();
            },
            [this, key](const nlohmann::json& o) {
              std::lock_guard lk(mu);
              objects.erase(key(o));
              log.push_back("-" + key(o));
              cv.notify_all();
            },
            [this] {
              std::lock_guard lk(mu);
              ++synced;
              cv.notify_all();
            },
            nullptr,
            [this](const std::string& e) {
              std::lock_guard lk(mu);
              errors.push_back(e);
              cv.notify_all();
            }};
  }
  // Some conditions (a resourceVersion) change without a callback: poll too.
  template <typename Pred>
  bool wait(Pred pred, std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::unique_lock lk(mu);
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      cv.wait_for(lk, 20ms);
    }
    return true;
  }
};

nlohmann::json pod(const std::string& ns, const std::string& name, const std::string& app) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", app}}}}},
          {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
}

kube::ReflectorOptions fast() {
  kube::ReflectorOptions o;
  o.backoff_min = 50ms;
  o.backoff_max = 500ms;
  o.page_size = 1;  // every list is paged
  return o;
}

class Reflector : public ::testing::Test {
 protected:
  StandinApiServer api{{{MYELIN_KUBE_TESTDATA}, {}, 0.2}};
  Recorder rec;
  std::unique_ptr<kube::Reflector> start(const kube::Resource& r, const std::string& kubeconfig = "") {
    auto cfg = kube::load_kubeconfig(kubeconfig.empty() ? api.kubeconfig() : kubeconfig);
    EXPECT_TRUE(cfg) << cfg.error().message;
    auto refl = std::make_unique<kube::Reflector>(*cfg, r, rec.handler(), fast());
    refl->start();
    return refl;
  }
  // The server streams at least n pod watches (it counts them once established).
  bool watching(int n) {
    return rec.wait([&] { return api.stats().value("established watch pods", 0) >= n; });
  }
};

TEST_F(Reflector, ListsInPagesThenWatchesInOrder) {
  auto ns = start(kNamespaces);
  ASSERT_TRUE(rec.wait([&] { return rec.synced >= 1; }));
  {
    std::lock_guard lk(rec.mu);
    ASSERT_EQ(rec.objects.size(), 2u);
    const auto& shop = rec.objects.at("/shop");
    EXPECT_EQ(shop["kind"], "Namespace") << "list items get their kind back";
    EXPECT_EQ(shop["metadata"]["labels"]["team"], "payments");
  }
  EXPECT_EQ(api.stats()["list namespaces"], 2) << "two pages of one";
  EXPECT_FALSE(ns->resource_version().empty());

  auto pods = start(kPods);
  ASSERT_TRUE(rec.wait([&] { return rec.objects.count("shop/frontend-7c9d8b6f5d-x2x4k"); }));
  api.control("apply", pod("shop", "cart", "cart"));
  auto modified = pod("shop", "cart", "cart");
  modified["metadata"]["labels"]["tier"] = "backend";
  api.control("apply", modified);
  api.control("delete", {{"kind", "Pod"}, {"namespace", "shop"}, {"name", "cart"}});
  ASSERT_TRUE(rec.wait([&] { return rec.log.size() >= 6 && rec.log.back() == "-shop/cart"; }));
  std::lock_guard lk(rec.mu);
  std::vector<std::string> cart;
  for (const auto& l : rec.log)
    if (l.find("/cart") != std::string::npos) cart.push_back(l.substr(0, l.find('@')));
  EXPECT_EQ(cart, (std::vector<std::string>{"+shop/cart", "+shop/cart", "-shop/cart"}));
  EXPECT_TRUE(rec.errors.empty()) << rec.errors.front();
}

TEST_F(Reflector, BookmarksMoveTheResourceVersionOn) {
  auto pods = start(kPods);
  ASSERT_TRUE(rec.wait([&] { return rec.synced >= 1; }));
  const std::string before = pods->resource_version();
  // Changes to another resource move the server's version; only a bookmark
  // can tell the pod watch about it.
  api.control("apply", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "quiet"}}}});
  const std::string server_rv = api.stats()["resourceVersion"];
  ASSERT_TRUE(rec.wait([&] { return std::stoll(pods->resource_version()) >= std::stoll(server_rv); }))
      << "still at " << pods->resource_version() << ", server at " << server_rv;
  EXPECT_LT(std::stoll(before), std::stoll(server_rv));
  EXPECT_GE(pods->stats().bookmarks, 1u);
}

TEST_F(Reflector, ADroppedWatchResumesFromItsVersionWithoutAList) {
  auto pods = start(kPods);
  ASSERT_TRUE(rec.wait([&] { return rec.synced >= 1; }));
  ASSERT_TRUE(watching(1)) << "a drop only cuts a watch the server has established";
  api.control("drop?hold=1");  // cut the watch; the next one waits
  api.control("apply", pod("shop", "while-away", "x"));
  api.control("release");
  ASSERT_TRUE(rec.wait([&] { return rec.objects.count("shop/while-away"); })) << "the change made while disconnected arrives";
  EXPECT_EQ(pods->stats().lists, 1u) << "no re-list: the watch resumed from its resourceVersion";
  EXPECT_EQ(pods->stats().relists_gone, 0u);
  EXPECT_GE(api.stats()["watch pods"].get<int>(), 2);
  std::lock_guard lk(rec.mu);
  EXPECT_EQ(std::count(rec.log.begin(), rec.log.end(), "+shop/while-away@" + rec.objects["shop/while-away"]["metadata"]["resourceVersion"].get<std::string>()), 1)
      << "delivered once";
}

TEST_F(Reflector, GoneMeansListAgainAndWhatVanishedIsReportedDeleted) {
  auto pods = start(kPods);
  ASSERT_TRUE(rec.wait([&] { return rec.objects.count("shop/frontend-7c9d8b6f5d-x2x4k"); }));
  ASSERT_TRUE(watching(1));
  api.control("drop?hold=1");
  api.control("delete", {{"kind", "Pod"}, {"namespace", "shop"}, {"name", "frontend-7c9d8b6f5d-x2x4k"}});
  api.control("apply", pod("shop", "newcomer", "y"));
  api.control("compact");  // the versions the client knows are gone: 410
  api.control("release");
  ASSERT_TRUE(rec.wait([&] { return rec.objects.count("shop/newcomer") && !rec.objects.count("shop/frontend-7c9d8b6f5d-x2x4k"); }));
  EXPECT_EQ(pods->stats().relists_gone, 1u);
  EXPECT_EQ(pods->stats().lists, 2u);
  std::lock_guard lk(rec.mu);
  EXPECT_NE(std::find(rec.log.begin(), rec.log.end(), "-shop/frontend-7c9d8b6f5d-x2x4k"), rec.log.end())
      << "a pod deleted during the gap is reported deleted by the re-list";
}

TEST_F(Reflector, WrongTokenIsAClearError) {
  auto pods = start(kPods, api.kubeconfig_with_token("wrong"));
  ASSERT_TRUE(rec.wait([&] { return !rec.errors.empty(); }));
  std::lock_guard lk(rec.mu);
  EXPECT_NE(rec.errors[0].find("401"), std::string::npos) << rec.errors[0];
  EXPECT_NE(rec.errors[0].find("check the credentials in kubeconfig"), std::string::npos) << rec.errors[0];
  EXPECT_TRUE(rec.objects.empty());
}

TEST_F(Reflector, UnknownCertificateAuthorityIsAClearError) {
  auto pods = start(kPods, api.kubeconfig_with_other_ca());
  ASSERT_TRUE(rec.wait([&] { return !rec.errors.empty(); }));
  std::lock_guard lk(rec.mu);
  EXPECT_NE(rec.errors[0].find("certificate verification failed"), std::string::npos) << rec.errors[0];
  EXPECT_TRUE(rec.objects.empty());
}

TEST(ReflectorMissingCrd, NotServedIsAClearErrorAndRetried) {
  StandinApiServer api{{{}, {"CiliumNetworkPolicy"}, 0.2}};
  Recorder rec;
  auto cfg = kube::load_kubeconfig(api.kubeconfig());
  ASSERT_TRUE(cfg);
  kube::Reflector r(*cfg, kCnps, rec.handler(), fast());
  r.start();
  ASSERT_TRUE(rec.wait([&] { return rec.errors.size() >= 2; })) << "retried";
  std::lock_guard lk(rec.mu);
  EXPECT_NE(rec.errors[0].find("is the CRD installed"), std::string::npos) << rec.errors[0];
}

TEST(Kubeconfig, BadFilesNameWhatIsWrong) {
  char tmpl[] = "/tmp/myelin-kubeconfig-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  auto write = [&](const std::string& text) {
    std::ofstream(dir + "/config") << text;
    return kube::load_kubeconfig(dir + "/config");
  };
  auto r = write("apiVersion: v1\nkind: Config\nclusters: []\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no current-context"), std::string::npos);
  r = write("current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: https://10.0.0.1:6443}}]\n"
            "users: [{name: u, user: {exec: {command: aws}}}]\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("users[u].user.exec: is not supported"), std::string::npos) << r.error().message;
  r = write("current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 10.0.0.1}}]\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("must start with https://"), std::string::npos) << r.error().message;
  r = write("current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
            "clusters: [{name: c, cluster: {server: 'https://[fd00::1]:6443', certificate-authority-data: bm90IGEgY2VydA==}}]\n"
            "users: [{name: u, user: {tokenFile: tok}}]\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->server.host, "fd00::1");
  EXPECT_EQ(r->server.port, 6443);
  EXPECT_EQ(r->tls.ca_pem, "not a cert");
  EXPECT_EQ(r->token_file, dir + "/tok") << "relative to the kubeconfig";
  std::ofstream(dir + "/tok") << "abc\n";
  EXPECT_EQ(*r->bearer(), "Bearer abc");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace myelin::test
