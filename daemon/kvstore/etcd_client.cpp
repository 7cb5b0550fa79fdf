// SPDX-License-Identifier: Apache-2.0
// kvstore::Etcd over etcd's v3 gRPC API (KV, Lease), TLS as etcdctl takes
// it (CA, client certificate and key), failover across the endpoints.
#include "etcd_client.hpp"

#include <grpc/grpc.h>

#include <fstream>
#include <sstream>

namespace myelin::kvstore {

namespace {

KeyValue from_pb(const mvccpb::KeyValue& kv) {
  return KeyValue{kv.key(), kv.value(), kv.create_revision(), kv.mod_revision(), kv.version(), kv.lease()};
}

Result<std::string> slurp(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::from_errno(what + " " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().empty()) return Error{what + " " + path + " is empty"};
  return ss.str();
}

// "http://host:port" -> "host:port" (gRPC's target); the scheme says TLS.
std::string target_of(const std::string& url) { return url.substr(url.find("://") + 3); }

// A transaction's parts: what it compares, what it does when they hold.
void if_mod_revision(etcdserverpb::TxnRequest& req, const std::string& key, int64_t mod_revision) {
  auto* cmp = req.add_compare();
  cmp->set_key(key);
  cmp->set_target(etcdserverpb::Compare::MOD);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  cmp->set_mod_revision(mod_revision);
}

// Over a range (range_end set), etcd compares every key in it, and an empty
// range as one absent key: "create_revision == 0 over the range" holds
// exactly when nothing is in it.
void if_absent(etcdserverpb::TxnRequest& req, const std::string& key, const std::string& range_end = {}) {
  auto* cmp = req.add_compare();
  cmp->set_key(key);
  if (!range_end.empty()) cmp->set_range_end(range_end);
  cmp->set_target(etcdserverpb::Compare::CREATE);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  cmp->set_create_revision(0);
}

void then_put(etcdserverpb::TxnRequest& req, const std::string& key, const std::string& value, int64_t lease) {
  auto* put = req.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
}

void then_delete(etcdserverpb::TxnRequest& req, const std::string& key) { req.add_success()->mutable_request_delete_range()->set_key(key); }

}  // namespace

std::string key_prefix(const std::string& cluster) { return "myelin/v1/" + cluster + "/"; }

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Result<std::vector<std::string>> parse_endpoints(const std::string& csv) {
  std::vector<std::string> out;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    std::string url = item.substr(b, e - b + 1);
    while (url.size() > 1 && url.back() == '/') url.pop_back();
    auto bad = [&](const std::string& why) {
      return Error{"--kvstore-endpoints: '" + url + "' " + why + " (expected a URL like http://10.0.0.10:2379)"};
    };
    auto scheme = url.find("://");
    if (scheme == std::string::npos) return bad("has no scheme");
    std::string s = url.substr(0, scheme);
    if (s != "http" && s != "https") return bad("has scheme '" + s + "', not http or https");
    std::string hostport = url.substr(scheme + 3);
    if (hostport.find('/') != std::string::npos) return bad("has a path");
    std::string host, port;
    if (!hostport.empty() && hostport[0] == '[') {
      auto close = hostport.find(']');
      if (close == std::string::npos || close + 1 >= hostport.size() || hostport[close + 1] != ':') return bad("needs [v6 address]:port");
      host = hostport.substr(1, close - 1);
      port = hostport.substr(close + 2);
    } else {
      auto colon = hostport.rfind(':');
      if (colon == std::string::npos) return bad("has no port");
      host = hostport.substr(0, colon);
      port = hostport.substr(colon + 1);
      if (host.find(':') != std::string::npos) return bad("has an IPv6 address without brackets");
    }
    if (host.empty()) return bad("has no host");
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
        std::stoi(port) > 65535)
      return bad("has port '" + port + "', not a number from 1 to 65535");
    out.push_back(url);
  }
  if (out.empty()) return Error{"--kvstore-endpoints is empty (expected a URL like http://10.0.0.10:2379)"};
  return out;
}

Result<std::unique_ptr<Etcd>> Etcd::connect(const EtcdOptions& o) {
  if (o.endpoints.empty()) return Error{"etcd: no endpoints"};
  bool tls = false, plain = false;
  for (const auto& url : o.endpoints) {
    auto urls = parse_endpoints(url);
    if (!urls) return urls.error();
    (url.rfind("https://", 0) == 0 ? tls : plain) = true;
  }
  if (tls && plain) return Error{"etcd: endpoints mix http:// and https://; use one scheme"};
  if (o.cert_file.empty() != o.key_file.empty()) return Error{"etcd: a client certificate needs its key (--kvstore-cert with --kvstore-key)"};
  if (!tls && (!o.ca_file.empty() || !o.cert_file.empty()))
    return Error{"etcd: TLS files are given but the endpoints are http://; use https:// endpoints"};

  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!o.ca_file.empty()) {
      auto ca = slurp("etcd CA file", o.ca_file);
      if (!ca) return ca.error();
      ssl.pem_root_certs = *ca;
    }
    if (!o.cert_file.empty()) {
      auto cert = slurp("etcd client certificate", o.cert_file);
      if (!cert) return cert.error();
      auto key = slurp("etcd client key", o.key_file);
      if (!key) return key.error();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  }

  grpc::ChannelArguments args;
  // Reconnect soon after a store restart (gRPC's default backoff grows to
  // 120 s). The "min" backoff is also gRPC's connect timeout (TCP + TLS +
  // HTTP/2 settings): not less than a loaded machine needs.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  // Notice a silent member (a partition) under a long watch. etcd's default
  // enforcement allows pings every 5 s, and only while a stream is open.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  // A list or watch batch of a large cluster is larger than gRPC's 4 MiB default.
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, -1);

  std::vector<EtcdClient::Endpoint> eps;
  for (const auto& url : o.endpoints) {
    EtcdClient::Endpoint ep;
    ep.url = url;
    ep.channel = grpc::CreateCustomChannel(target_of(url), creds, args);
    ep.kv = etcdserverpb::KV::NewStub(ep.channel);
    ep.lease = etcdserverpb::Lease::NewStub(ep.channel);
    ep.watch = etcdserverpb::Watch::NewStub(ep.channel);
    eps.push_back(std::move(ep));
  }
  return std::unique_ptr<Etcd>(new EtcdClient(o, std::move(eps)));
}

std::unique_ptr<grpc::ClientContext> EtcdClient::context(bool deadline) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (deadline) {
    ctx->set_deadline(std::chrono::system_clock::now() + opts_.timeout);
    // Wait (until the deadline) for a connection instead of failing at once
    // while the channel reconnects. Besides, gRPC's sync API only reads a
    // connecting socket from a thread that waits on a call: with fail-fast
    // calls nobody does, but a backup poller every 5 s, and a restarted
    // etcd's answer sits unread past the connect timeout (seen here).
    ctx->set_wait_for_ready(true);
  }
  // A member cut off from the others refuses instead of answering stale
  // (etcd's "require leader"): the request moves on to another member.
  ctx->AddMetadata("hasleader", "true");
  return ctx;
}

Error EtcdClient::error(const std::string& what, const grpc::Status& s) const {
  std::string where = eps_.size() == 1 ? eps_[0].url : std::to_string(eps_.size()) + " endpoints, last " + endpoint();
  return Error{"etcd " + what + " (" + where + "): " + s.error_message(), static_cast<int>(s.error_code())};
}

Result<std::optional<KeyValue>> EtcdClient::get(const std::string& key) {
  etcdserverpb::RangeRequest req;
  req.set_key(key);
  etcdserverpb::RangeResponse resp;
  auto s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) { return ep.kv->Range(&ctx, req, &resp); });
  if (!s.ok()) return error("get " + key, s);
  if (resp.kvs_size() == 0) return std::optional<KeyValue>{};
  return std::optional<KeyValue>{from_pb(resp.kvs(0))};
}

Result<std::pair<std::vector<KeyValue>, int64_t>> EtcdClient::list(const std::string& prefix) {
  // Pages of a bounded size, all read at the revision of the first page, so
  // that the whole list is one consistent snapshot. A compaction between two
  // pages makes the revision unreadable: start over (a few times).
  constexpr int64_t kPage = 2000;
  grpc::Status s;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<KeyValue> out;
    int64_t rev = 0;
    std::string from = prefix;
    const std::string end = prefix_end(prefix);
    for (;;) {
      etcdserverpb::RangeRequest req;
      req.set_key(from);
      req.set_range_end(end);
      req.set_limit(kPage);
      req.set_revision(rev);
      etcdserverpb::RangeResponse resp;
      s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) { return ep.kv->Range(&ctx, req, &resp); });
      if (!s.ok()) break;
      if (rev == 0) rev = resp.header().revision();
      for (const auto& kv : resp.kvs()) out.push_back(from_pb(kv));
      if (!resp.more() || resp.kvs_size() == 0) return std::make_pair(std::move(out), rev);
      from = resp.kvs(resp.kvs_size() - 1).key() + std::string(1, '\0');
    }
    if (s.error_code() != grpc::StatusCode::OUT_OF_RANGE) break;  // OUT_OF_RANGE: compacted
  }
  return error("list " + prefix, s);
}

Status EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  req.set_lease(lease);
  etcdserverpb::PutResponse resp;
  auto s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) { return ep.kv->Put(&ctx, req, &resp); });
  if (!s.ok()) return error("put " + key, s);
  return {};
}

Result<bool> EtcdClient::txn(const std::string& what, etcdserverpb::TxnRequest& req) {
  etcdserverpb::TxnResponse resp;
  auto s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) { return ep.kv->Txn(&ctx, req, &resp); });
  if (!s.ok()) return error(what, s);
  return resp.succeeded();
}

Result<bool> EtcdClient::create(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::TxnRequest req;
  if_absent(req, key);
  then_put(req, key, value, lease);
  return txn("create " + key, req);
}

Result<bool> EtcdClient::update_if(const std::string& key, int64_t mod_revision, const std::string& value, int64_t lease) {
  etcdserverpb::TxnRequest req;
  if_mod_revision(req, key, mod_revision);
  then_put(req, key, value, lease);
  return txn("update " + key, req);
}

Result<bool> EtcdClient::delete_if(const std::string& key, int64_t mod_revision) {
  etcdserverpb::TxnRequest req;
  if_mod_revision(req, key, mod_revision);
  then_delete(req, key);
  return txn("delete " + key, req);
}

Result<bool> EtcdClient::delete_if_unreferenced(const std::string& key, int64_t mod_revision, const std::string& unless_prefix) {
  etcdserverpb::TxnRequest req;
  if_mod_revision(req, key, mod_revision);
  if_absent(req, unless_prefix, prefix_end(unless_prefix));
  then_delete(req, key);
  return txn("delete " + key, req);
}

Result<bool> EtcdClient::put_if_unchanged(const std::string& key, const std::string& value, int64_t lease, const std::string& guard,
                                          int64_t guard_mod_revision) {
  etcdserverpb::TxnRequest req;
  if_mod_revision(req, guard, guard_mod_revision);
  then_put(req, key, value, lease);
  return txn("put " + key, req);
}

Status EtcdClient::del(const std::string& key) {
  etcdserverpb::DeleteRangeRequest req;
  req.set_key(key);
  etcdserverpb::DeleteRangeResponse resp;
  auto s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) { return ep.kv->DeleteRange(&ctx, req, &resp); });
  if (!s.ok()) return error("delete " + key, s);
  return {};
}

Result<int64_t> EtcdClient::grant(std::chrono::seconds ttl) {
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(ttl.count());
  etcdserverpb::LeaseGrantResponse resp;
  auto s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) { return ep.lease->LeaseGrant(&ctx, req, &resp); });
  if (!s.ok()) return error("lease grant", s);
  if (!resp.error().empty()) return Error{"etcd lease grant: " + resp.error()};
  return resp.id();
}

Status EtcdClient::revoke(int64_t lease) {
  etcdserverpb::LeaseRevokeRequest req;
  req.set_id(lease);
  etcdserverpb::LeaseRevokeResponse resp;
  auto s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) { return ep.lease->LeaseRevoke(&ctx, req, &resp); });
  if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) return error("lease revoke", s);
  return {};
}

Result<int64_t> EtcdClient::keepalive(int64_t lease) {
  // LeaseKeepAlive is a stream; one request and its answer per call keeps
  // the client simple (one every TTL/3).
  etcdserverpb::LeaseKeepAliveResponse resp;
  bool answered = false;
  auto s = call([&](const Endpoint& ep, grpc::ClientContext& ctx) {
    answered = false;
    auto stream = ep.lease->LeaseKeepAlive(&ctx);
    etcdserverpb::LeaseKeepAliveRequest req;
    req.set_id(lease);
    if (stream->Write(req) && stream->Read(&resp)) answered = true;
    stream->WritesDone();
    if (answered) ctx.TryCancel();  // we have our answer; do not wait for the server to close
    auto st = stream->Finish();
    return answered ? grpc::Status::OK : (st.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream closed") : st);
  });
  if (!s.ok()) return error("lease keep-alive", s);
  return resp.ttl() > 0 ? resp.ttl() : 0;
}

}  // namespace myelin::kvstore
