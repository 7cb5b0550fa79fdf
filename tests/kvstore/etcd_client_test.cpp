// SPDX-License-Identifier: Apache-2.0
// kvstore::Etcd, Session and Watcher against a real etcd (3.4, /usr/bin/etcd)
// in the test's private network namespace: CRUD and compare-and-swap, lists
// larger than a page, lease expiry and renewal, a session across a lost
// lease and an etcd restart, watch across kill -9, relist after compaction,
// TLS with client certificates, failover across the members of a cluster.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>

#include "kvstore_test.hpp"

using namespace std::chrono_literals;
using myelin::kvstore::Etcd;
using myelin::kvstore::EtcdOptions;
using myelin::kvstore::KeyValue;
using myelin::kvstore::Session;
using myelin::kvstore::Watcher;
using myelin::kvstore::WatchEvent;
using myelin::testing::eventually;
using myelin::testing::EtcdServer;
using myelin::testing::EtcdTest;

namespace {

TEST(EtcdEndpoints, ParsesAndRejectsWithTheUrlNamed) {
  auto ok = myelin::kvstore::parse_endpoints(" http://10.0.0.1:2379, https://[fd00::1]:2379/ ,https://etcd.local:443");
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, (std::vector<std::string>{"http://10.0.0.1:2379", "https://[fd00::1]:2379", "https://etcd.local:443"}));
  for (const char* bad : {"10.0.0.1:2379", "ftp://10.0.0.1:2379", "http://10.0.0.1", "http://10.0.0.1:0", "http://10.0.0.1:99999",
                          "http://:2379", "http://10.0.0.1:2379/v3", "http://fd00::1:2379"}) {
    auto r = myelin::kvstore::parse_endpoints(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(myelin::kvstore::parse_endpoints(" , "));
  EXPECT_EQ(myelin::kvstore::key_prefix("c1"), "myelin/v1/c1/");
}

TEST_F(EtcdTest, CrudAndCompareAndSwap) {
  auto& e = *etcd_;
  ASSERT_TRUE(e.put("t/a", "1"));
  auto a = e.get("t/a");
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->value, "1");
  EXPECT_GT((*a)->mod_revision, 0);
  EXPECT_EQ((*a)->version, 1);
  EXPECT_TRUE(e.reachable());
  EXPECT_EQ(e.endpoint(), server_->url());

  auto missing = e.get("t/none");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  // create: only when absent.
  auto c1 = e.create("t/b", "first");
  ASSERT_TRUE(c1);
  EXPECT_TRUE(*c1);
  auto c2 = e.create("t/b", "second");
  ASSERT_TRUE(c2);
  EXPECT_FALSE(*c2);
  EXPECT_EQ((*e.get("t/b"))->value, "first");

  // update_if / delete_if: only at the revision read.
  int64_t rev = (*e.get("t/b"))->mod_revision;
  EXPECT_FALSE(*e.update_if("t/b", rev - 1, "stale"));
  EXPECT_EQ((*e.get("t/b"))->value, "first");
  EXPECT_TRUE(*e.update_if("t/b", rev, "third"));
  EXPECT_EQ((*e.get("t/b"))->value, "third");
  EXPECT_FALSE(*e.delete_if("t/b", rev));  // rev is no longer the key's
  EXPECT_TRUE((*e.get("t/b")).has_value());
  EXPECT_TRUE(*e.delete_if("t/b", (*e.get("t/b"))->mod_revision));
  EXPECT_FALSE((*e.get("t/b")).has_value());

  // list: exactly the prefix, with the revision it was read at.
  ASSERT_TRUE(e.put("t/c", "3"));
  ASSERT_TRUE(e.put("t0", "outside"));  // the byte after '/' : not under "t/"
  ASSERT_TRUE(e.put("s/x", "outside"));
  auto l = e.list("t/");
  ASSERT_TRUE(l) << l.error().message;
  ASSERT_EQ(l->first.size(), 2u);
  EXPECT_EQ(l->first[0].key, "t/a");
  EXPECT_EQ(l->first[1].key, "t/c");
  EXPECT_GE(l->second, l->first[1].mod_revision);

  ASSERT_TRUE(e.del("t/a"));
  ASSERT_TRUE(e.del("t/a"));  // absent: still fine
  EXPECT_EQ(e.list("t/")->first.size(), 1u);

  // The same data as etcdctl sees it (the wire format is etcd's own).
  std::string out;
  ASSERT_EQ(server_->etcdctl("get t/c --print-value-only", &out), 0) << out;
  EXPECT_EQ(out, "3\n");
}

TEST_F(EtcdTest, ListLargerThanAPageIsOneSnapshot) {
  // 5,000 keys: three pages of 2,000, read at one revision.
  for (int i = 0; i < 5000; ++i) {
    char k[32];
    std::snprintf(k, sizeof k, "p/k%04d", i);
    ASSERT_TRUE(etcd_->put(k, std::string("v") + std::to_string(i)));
  }
  auto l = etcd_->list("p/");
  ASSERT_TRUE(l) << l.error().message;
  ASSERT_EQ(l->first.size(), 5000u);
  for (int i = 0; i < 5000; ++i) {
    char k[32];
    std::snprintf(k, sizeof k, "p/k%04d", i);
    ASSERT_EQ(l->first[i].key, k);
    ASSERT_EQ(l->first[i].value, "v" + std::to_string(i));
  }
}

TEST_F(EtcdTest, LeaseKeysGoWhenTheLeaseExpires) {
  auto lease = etcd_->grant(2s);
  ASSERT_TRUE(lease) << lease.error().message;
  ASSERT_TRUE(etcd_->put("l/a", "x", *lease));
  auto kv = etcd_->get("l/a");
  ASSERT_TRUE(kv && kv->has_value());
  EXPECT_EQ((*kv)->lease, *lease);
  // Kept alive past its TTL: still there.
  for (int i = 0; i < 6; ++i) {
    auto ttl = etcd_->keepalive(*lease);
    ASSERT_TRUE(ttl) << ttl.error().message;
    EXPECT_GT(*ttl, 0);
    std::this_thread::sleep_for(500ms);
  }
  EXPECT_TRUE(etcd_->get("l/a")->has_value());
  // Then left alone: gone within TTL + a few seconds.
  EXPECT_TRUE(eventually([&] { return !etcd_->get("l/a")->has_value(); }, 10s));
  auto after = etcd_->keepalive(*lease);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, 0);
  EXPECT_FALSE(etcd_->put("l/b", "x", *lease));  // a gone lease cannot hold keys

  // revoke: keys go at once.
  auto l2 = etcd_->grant(60s);
  ASSERT_TRUE(l2);
  ASSERT_TRUE(etcd_->put("l/c", "x", *l2));
  ASSERT_TRUE(etcd_->revoke(*l2));
  EXPECT_FALSE(etcd_->get("l/c")->has_value());
}

TEST_F(EtcdTest, SessionKeepsItsLeaseAndReplacesALostOne) {
  std::mutex mu;
  std::vector<int64_t> leases;
  auto s = Session::open(*etcd_, 2s, [&](int64_t l) {
    std::lock_guard lk(mu);
    leases.push_back(l);
  });
  ASSERT_TRUE(s) << s.error().message;
  auto& session = **s;
  const int64_t first = session.lease();
  ASSERT_NE(first, 0);
  EXPECT_TRUE(session.alive());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return leases.size() == 1;
  }));
  EXPECT_EQ(leases[0], first);  // the first lease is announced too
  ASSERT_TRUE(etcd_->put("s/node", "x", first));

  // Three TTLs later the key is still there: the thread renews it.
  std::this_thread::sleep_for(6s);
  EXPECT_TRUE(etcd_->get("s/node")->has_value());
  EXPECT_EQ(session.lease(), first);

  // The lease is lost (revoked behind the session's back): a new one, announced.
  ASSERT_TRUE(etcd_->revoke(first));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return leases.size() == 2;
  }));
  EXPECT_NE(leases[1], first);
  EXPECT_EQ(session.lease(), leases[1]);
  EXPECT_TRUE(eventually([&] { return session.alive(); }));
}

TEST_F(EtcdTest, SessionSurvivesAnEtcdRestart) {
  std::atomic<int> announced{0};
  auto s = Session::open(*etcd_, 3s, [&](int64_t) { ++announced; });
  ASSERT_TRUE(s);
  const int64_t lease = (*s)->lease();
  ASSERT_NE(lease, 0);
  ASSERT_TRUE(etcd_->put("s/k", "x", lease));
  server_->kill9();
  EXPECT_TRUE(eventually([&] { return !(*s)->alive(); }, 10s));
  EXPECT_FALSE(etcd_->get("s/k"));  // unreachable: an error, not "absent"
  EXPECT_FALSE(etcd_->reachable());
  ASSERT_TRUE(server_->start()) << server_->log_tail();
  // etcd gives leases a fresh TTL when it starts: the same lease, the key kept.
  EXPECT_TRUE(eventually([&] { return (*s)->alive(); }, 15s)) << server_->log_tail();
  EXPECT_EQ((*s)->lease(), lease);
  auto k = etcd_->get("s/k");
  ASSERT_TRUE(k) << k.error().message;
  EXPECT_TRUE(k->has_value());
  EXPECT_TRUE(etcd_->reachable());
  EXPECT_EQ(announced.load(), 1);
}

// What a Watcher delivered, replayed into a map (the consumer's view).
struct View {
  std::mutex mu;
  std::map<std::string, std::string> kv;
  int relists = 0, events = 0, ups = 0, downs = 0;
  std::vector<int64_t> revs;
  Watcher::Callbacks callbacks() {
    Watcher::Callbacks cb;
    cb.relist = [this](std::vector<KeyValue> all, int64_t) {
      std::lock_guard lk(mu);
      kv.clear();
      for (auto& e : all) kv[e.key] = e.value;
      ++relists;
    };
    cb.event = [this](const WatchEvent& ev) {
      std::lock_guard lk(mu);
      if (ev.type == WatchEvent::Type::put)
        kv[ev.kv.key] = ev.kv.value;
      else
        kv.erase(ev.kv.key);
      revs.push_back(ev.kv.mod_revision);
      ++events;
    };
    cb.connection = [this](bool up) {
      std::lock_guard lk(mu);
      ++(up ? ups : downs);
    };
    return cb;
  }
  std::map<std::string, std::string> snapshot() {
    std::lock_guard lk(mu);
    return kv;
  }
};

std::map<std::string, std::string> as_map(const std::vector<KeyValue>& l) {
  std::map<std::string, std::string> m;
  for (const auto& e : l) m[e.key] = e.value;
  return m;
}

TEST_F(EtcdTest, WatcherListsThenFollows) {
  ASSERT_TRUE(etcd_->put("w/a", "1"));
  ASSERT_TRUE(etcd_->put("w/b", "2"));
  ASSERT_TRUE(etcd_->put("x/outside", "0"));
  View v;
  auto w = Watcher::start(*etcd_, "w/", v.callbacks());
  ASSERT_TRUE(eventually([&] { return v.snapshot() == std::map<std::string, std::string>{{"w/a", "1"}, {"w/b", "2"}}; }));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(v.mu);
    return v.ups == 1;
  }));
  ASSERT_TRUE(etcd_->put("w/c", "3"));
  ASSERT_TRUE(etcd_->del("w/a"));
  ASSERT_TRUE(etcd_->put("w/b", "22"));
  ASSERT_TRUE(etcd_->put("x/outside", "1"));
  EXPECT_TRUE(eventually([&] { return v.snapshot() == std::map<std::string, std::string>{{"w/b", "22"}, {"w/c", "3"}}; }));
  std::lock_guard lk(v.mu);
  EXPECT_EQ(v.relists, 1);
  EXPECT_EQ(v.events, 3);  // x/outside is not ours
  EXPECT_TRUE(std::is_sorted(v.revs.begin(), v.revs.end()));
}

TEST_F(EtcdTest, WatcherReconnectsAfterKillNineWithoutLosingOrRepeating) {
  View v;
  auto w = Watcher::start(*etcd_, "w/", v.callbacks());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(v.mu);
    return v.ups == 1;
  }));
  ASSERT_TRUE(etcd_->put("w/before", "1"));
  ASSERT_TRUE(eventually([&] { return v.snapshot().count("w/before") == 1; }));
  server_->kill9();
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lk(v.mu);
    return v.downs == 1;
  }));
  ASSERT_TRUE(server_->start()) << server_->log_tail();
  // Written before the watcher is back: delivered once, from the revision it had.
  auto other = myelin::testing::connect_or_die(server_->url());
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->put("w/after", "2"));
  ASSERT_TRUE(other->del("w/before"));
  EXPECT_TRUE(eventually([&] { return v.snapshot() == std::map<std::string, std::string>{{"w/after", "2"}}; }, 20s));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lk(v.mu);
    return v.ups == 2;
  }));
  std::lock_guard lk(v.mu);
  EXPECT_EQ(v.relists, 1);  // resumed, not relisted
  EXPECT_EQ(v.events, 3);   // before, after, delete: none twice
  EXPECT_TRUE(std::adjacent_find(v.revs.begin(), v.revs.end(), std::greater_equal<int64_t>()) == v.revs.end());
}

TEST_F(EtcdTest, WatcherRelistsAfterItsRevisionWasCompacted) {
  ASSERT_TRUE(etcd_->put("w/a", "1"));
  // Hold the watcher in its first relist while the store moves on and
  // compacts: its watch then starts from a compacted revision.
  std::mutex gate;
  gate.lock();
  View v;
  auto cb = v.callbacks();
  auto inner = cb.relist;
  std::atomic<int> relists{0};
  cb.relist = [&](std::vector<KeyValue> all, int64_t rev) {
    if (relists++ == 0) {
      gate.lock();
      gate.unlock();
    }
    inner(std::move(all), rev);
  };
  auto w = Watcher::start(*etcd_, "w/", cb);
  ASSERT_TRUE(eventually([&] { return relists.load() == 1; }));
  ASSERT_TRUE(etcd_->put("w/b", "2"));
  ASSERT_TRUE(etcd_->del("w/a"));
  ASSERT_TRUE(etcd_->put("w/c", "3"));
  auto l = etcd_->list("w/");
  ASSERT_TRUE(l);
  std::string out;
  ASSERT_EQ(server_->etcdctl("compact " + std::to_string(l->second), &out), 0) << out;
  gate.unlock();
  EXPECT_TRUE(eventually([&] { return relists.load() == 2; }));
  EXPECT_TRUE(eventually([&] { return v.snapshot() == as_map(etcd_->list("w/")->first); }));
  EXPECT_EQ(v.snapshot(), (std::map<std::string, std::string>{{"w/b", "2"}, {"w/c", "3"}}));
  ASSERT_TRUE(etcd_->put("w/d", "4"));  // and it follows again
  EXPECT_TRUE(eventually([&] { return v.snapshot().count("w/d") == 1; }));
}

TEST(EtcdTls, ClientCertificatesAndTheCaAreChecked) {
  if (!myelin::testing::g_netns_error.empty()) GTEST_SKIP() << "SKIP: " << myelin::testing::g_netns_error;
  auto tls = myelin::testing::make_tls({"127.0.0.1"});
  ASSERT_FALSE(tls.dir.empty());
  EtcdServer::Options so;
  so.tls = &tls;
  EtcdServer server(so);
  ASSERT_TRUE(server.start()) << server.log_tail();
  ASSERT_EQ(server.url(), "https://127.0.0.1:2379");

  EtcdOptions o;
  o.endpoints = {server.url()};
  o.ca_file = tls.ca();
  o.cert_file = tls.client_cert();
  o.key_file = tls.client_key();
  o.timeout = 2000ms;
  auto good = Etcd::connect(o);
  ASSERT_TRUE(good) << good.error().message;
  auto put = (*good)->put("tls/k", "v");
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ((*(*good)->get("tls/k"))->value, "v");

  auto no_cert = o;
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  auto c1 = Etcd::connect(no_cert);
  ASSERT_TRUE(c1);
  EXPECT_FALSE((*c1)->get("tls/k")) << "a client without a certificate was served";

  auto wrong_ca = o;
  wrong_ca.ca_file = tls.other_ca();
  auto c2 = Etcd::connect(wrong_ca);
  ASSERT_TRUE(c2);
  EXPECT_FALSE((*c2)->get("tls/k")) << "a server the CA did not sign was trusted";

  auto plain = o;
  plain.endpoints = {"http://127.0.0.1:2379"};
  EXPECT_FALSE(Etcd::connect(plain)) << "TLS files with an http:// endpoint";
  plain.ca_file = plain.cert_file = plain.key_file = "";
  auto c3 = Etcd::connect(plain);
  ASSERT_TRUE(c3);
  EXPECT_FALSE((*c3)->get("tls/k")) << "plain text was served by a TLS member";

  auto missing = o;
  missing.ca_file = tls.dir + "/nope.pem";
  auto c4 = Etcd::connect(missing);
  ASSERT_FALSE(c4);
  EXPECT_NE(c4.error().message.find("nope.pem"), std::string::npos);
  std::filesystem::remove_all(tls.dir);
}

TEST(EtcdFailover, RequestsAndWatchesMoveToAMemberThatAnswers) {
  if (!myelin::testing::g_netns_error.empty()) GTEST_SKIP() << "SKIP: " << myelin::testing::g_netns_error;
  // Three members on 127.0.0.1..3 of the private namespace.
  std::string cluster;
  for (int i = 1; i <= 3; ++i) cluster += std::string(i > 1 ? "," : "") + "m" + std::to_string(i) + "=http://127.0.0." + std::to_string(i) + ":2380";
  std::vector<std::unique_ptr<EtcdServer>> members;
  for (int i = 1; i <= 3; ++i) {
    EtcdServer::Options so;
    so.name = "m" + std::to_string(i);
    so.ip = "127.0.0." + std::to_string(i);
    so.initial_cluster = cluster;
    members.push_back(std::make_unique<EtcdServer>(so));
    ASSERT_TRUE(members.back()->start(false));
  }
  for (auto& m : members) ASSERT_TRUE(m->wait_healthy()) << m->log_tail();

  EtcdOptions o;
  for (auto& m : members) o.endpoints.push_back(m->url());
  o.timeout = 2000ms;
  auto c = Etcd::connect(o);
  ASSERT_TRUE(c);
  auto& e = **c;
  ASSERT_TRUE(e.put("f/a", "1"));
  EXPECT_EQ(e.endpoint(), members[0]->url());
  View v;
  auto w = Watcher::start(e, "f/", v.callbacks());
  ASSERT_TRUE(eventually([&] { return v.snapshot().count("f/a") == 1; }));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lk(v.mu);
    return v.ups == 1;
  }));

  members[0]->kill9();
  auto put = e.put("f/b", "2");
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_NE(e.endpoint(), members[0]->url());
  EXPECT_TRUE(e.reachable());
  EXPECT_TRUE(eventually([&] { return v.snapshot().count("f/b") == 1; }, 20s)) << "the watch did not move to another member";

  // A dead endpoint first in the list: the next one serves.
  EtcdOptions o2;
  o2.endpoints = {"http://127.0.0.9:2379", members[1]->url()};
  auto c2 = Etcd::connect(o2);
  ASSERT_TRUE(c2);
  auto g = (*c2)->get("f/b");
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ((*g)->value, "2");
  EXPECT_EQ((*c2)->endpoint(), members[1]->url());

  // Nothing answers: errors, not hangs, and reachable() says so.
  EtcdOptions o3;
  o3.endpoints = {"http://127.0.0.9:2379", "http://127.0.0.10:2379"};
  o3.timeout = 1000ms;
  auto c3 = Etcd::connect(o3);
  ASSERT_TRUE(c3);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE((*c3)->get("f/b"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_FALSE((*c3)->reachable());
}

}  // namespace
