// SPDX-License-Identifier: Apache-2.0
// daemon/kvstore (myelin_kvstore): the etcd v3 client (its gRPC API: KV,
// Watch, Lease), and the cluster's records in it.
//
// Keys (all under myelin/v1/<cluster-name>/; values are JSON):
//   nodes/<node>                    {name, ip, podCIDRs[]}           under the node's lease
//   endpoints/<ip>                  {ip, identity, node, namespace,
//                                    pod, namedPorts[{name,port,protocol}]}
//                                                                    under the node's lease
//   identities/id/<id>              {labels[]}                       no lease: created by CAS
//                                                                    (create_revision == 0)
//   identities/ref/<id>/<node>      ""                               under the node's lease
//   podcidrs/<a.b.c.d>_<len>        "<node>"                         no lease: claimed by CAS,
//                                                                    kept across restarts
// A node whose agent is gone loses its lease after --kvstore-lease-ttl:
// its node record, endpoints and identity references go with it. An agent
// never revokes its lease when it stops (a restart must drop nothing); the
// next start grants a new lease and writes its keys again under it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "myelin/result.hpp"

namespace myelin::kvstore {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // http://host:port or https://host:port
  std::string ca_file, cert_file, key_file;  // --kvstore-cacert, --kvstore-cert, --kvstore-key (as etcdctl's)
  std::chrono::milliseconds timeout{3000};   // per request
};
// "--kvstore-endpoints http://10.0.0.1:2379,http://..." -> endpoints; a bad
// URL is an error naming it.
Result<std::vector<std::string>> parse_endpoints(const std::string& csv);

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, version = 0, lease = 0;
};

struct WatchEvent {
  enum class Type { put, del } type = Type::put;
  KeyValue kv;  // del: key and mod_revision only
};

std::string key_prefix(const std::string& cluster);  // "myelin/v1/<cluster>/"

class Etcd {
 public:
  // Does not wait for a server: requests fail (errors as values) until one answers.
  // A request waits up to `timeout` for each endpoint in turn (starting with
  // the one that answered last) while it is unreachable.
  static Result<std::unique_ptr<Etcd>> connect(const EtcdOptions& o);
  virtual ~Etcd() = default;

  virtual Result<std::optional<KeyValue>> get(const std::string& key) = 0;
  // Every key under the prefix and the store revision it was read at.
  virtual Result<std::pair<std::vector<KeyValue>, int64_t>> list(const std::string& prefix) = 0;
  virtual Status put(const std::string& key, const std::string& value, int64_t lease = 0) = 0;
  // Only if absent (Txn: create_revision == 0). false: the key exists.
  virtual Result<bool> create(const std::string& key, const std::string& value, int64_t lease = 0) = 0;
  // Only if the key's mod_revision is still `mod_revision`. false: it changed.
  virtual Result<bool> update_if(const std::string& key, int64_t mod_revision, const std::string& value, int64_t lease = 0) = 0;
  virtual Result<bool> delete_if(const std::string& key, int64_t mod_revision) = 0;
  // delete_if, and only while no key exists under `unless_prefix`, in one
  // Txn: garbage collection that a concurrent new reference stops (an
  // identity is deleted only if no node references it at that revision).
  virtual Result<bool> delete_if_unreferenced(const std::string& key, int64_t mod_revision, const std::string& unless_prefix) {
    (void)key, (void)mod_revision, (void)unless_prefix;
    return Error{"delete_if_unreferenced: not supported by this client"};
  }
  virtual Status del(const std::string& key) = 0;
  virtual Result<int64_t> grant(std::chrono::seconds ttl) = 0;  // a lease id
  virtual Status revoke(int64_t lease) = 0;
  // One keep-alive: the TTL left, 0 when the lease is gone.
  virtual Result<int64_t> keepalive(int64_t lease) = 0;
  // The last request reached a server.
  virtual bool reachable() const = 0;
  virtual std::string endpoint() const = 0;  // the one in use, for status
};

// A lease kept alive by its own thread (every TTL/3). When it is lost (the
// store was unreachable for longer than the TTL) a new one is granted as
// soon as the store answers, and on_new_lease runs so that owners write
// their keys again. Not revoked when destroyed (see above).
// on_new_lease runs on the session's thread for every lease it gets, the
// first one included; open() tries the first grant itself (lease() is then
// set when it returns; 0 while the store did not answer yet).
class Session {
 public:
  static Result<std::unique_ptr<Session>> open(Etcd& etcd, std::chrono::seconds ttl, std::function<void(int64_t lease)> on_new_lease);
  virtual ~Session() = default;
  virtual int64_t lease() const = 0;
  virtual bool alive() const = 0;  // the last keep-alive succeeded
};

// List, then watch from the list's revision, reconnecting after errors and
// listing again when the revision was compacted, until destroyed.
// Callbacks run on the watcher's own thread, in store order; relist comes
// first, and again only after a compaction. Never destroy a Watcher from
// one of its callbacks.
class Watcher {
 public:
  struct Callbacks {
    std::function<void(std::vector<KeyValue> all, int64_t revision)> relist;  // replace everything under the prefix
    std::function<void(const WatchEvent&)> event;
    std::function<void(bool connected)> connection;  // optional: up/down, for status
  };
  static std::unique_ptr<Watcher> start(Etcd& etcd, std::string prefix, Callbacks cb);
  virtual ~Watcher() = default;
};

}  // namespace myelin::kvstore
