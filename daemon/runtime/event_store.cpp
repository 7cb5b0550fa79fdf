// SPDX-License-Identifier: Apache-2.0
#include "event_store.hpp"

#include <signal.h>
#include <string.h>

#include <google/protobuf/util/time_util.h>

namespace myelin::runtime {
namespace {

std::string rfc3339(int64_t ns) {
  return google::protobuf::util::TimeUtil::ToString(google::protobuf::util::TimeUtil::NanosecondsToTimestamp(ns));
}

nlohmann::json process_json(const Process& p, int64_t mono_to_wall_ns) {
  nlohmann::json j{{"exec_id", p.exec_id},
                   {"pid", p.pid},
                   {"uid", p.uid},
                   {"cwd", p.cwd},
                   {"binary", p.binary},
                   {"arguments", p.arguments},
                   {"flags", p.flags},
                   {"start_time", rfc3339(static_cast<int64_t>(p.start_mono_ns) + mono_to_wall_ns)},
                   {"auid", p.auid},
                   {"parent_exec_id", p.parent_exec_id},
                   {"tid", p.tid ? p.tid : p.pid}};
  if (p.pod) {
    j["pod"] = {{"namespace", p.pod->ns}, {"name", p.pod->name}, {"endpoint_id", p.pod->endpoint_id}};
    if (!p.pod->container_id.empty()) j["pod"]["container"] = {{"id", p.pod->container_id}};
  }
  if (p.cgroup_id) j["cgroup_id"] = std::to_string(p.cgroup_id);
  return j;
}

// A kprobe's return value as its returnArg type shows it (the arg types' names).
nlohmann::json return_arg(const Event& e) {
  switch (e.return_arg) {
    case Event::ReturnArg::long_arg: return {{"long_arg", e.return_value}};
    case Event::ReturnArg::size_arg: return {{"size_arg", std::to_string(static_cast<uint64_t>(e.return_value))}};
    case Event::ReturnArg::int_arg: break;
  }
  return {{"int_arg", e.return_value}};
}

}  // namespace

nlohmann::json to_json(const Event& e, const std::string& node_name, int64_t mono_to_wall_ns) {
  nlohmann::json body{{"process", process_json(e.process, mono_to_wall_ns)}};
  if (e.parent) body["parent"] = process_json(*e.parent, mono_to_wall_ns);
  // A hook's event: where it fired, its args, the policy and what it did.
  if (e.type == Event::Type::tracepoint || e.type == Event::Type::uprobe || e.type == Event::Type::kprobe || e.type == Event::Type::usdt) {
    if (e.type == Event::Type::tracepoint) body["subsys"] = e.subsys, body["event"] = e.event;
    if (e.type == Event::Type::usdt) {  // Tetragon's ProcessUsdt: path, provider, name
      const auto colon = e.event.find(':');
      body["path"] = e.subsys, body["provider"] = e.event.substr(0, colon);
      body["name"] = colon == std::string::npos ? "" : e.event.substr(colon + 1);
    }
    if (e.type == Event::Type::uprobe) body["path"] = e.subsys, body["symbol"] = e.event;
    if (e.type == Event::Type::kprobe) body["function_name"] = e.event;
    body["args"] = e.args;
    if (!e.policy.empty()) body["policy_name"] = e.policy;  // the TCP sensor's have none
    body["action"] = e.action_name();
    // connect(2)'s result (0, -115 in progress, -111 refused), what an Override made the function return, or a return probe's value.
    if (e.has_return) body["return"] = e.return_json.is_null() ? return_arg(e) : e.return_json;
    if (e.return_action) body["return_action"] = abi::action_name(*e.return_action);
  }
  if (e.type == Event::Type::loader) {  // Tetragon's ProcessLoader: path, buildid (bytes: base64 in JSON)
    body["path"] = e.subsys;
    if (!e.event.empty()) body["buildid"] = e.event;
  }
  if (e.type == Event::Type::lsm) {
    body["function_name"] = e.event;
    body["args"] = e.args;
    body["policy_name"] = e.policy;
    body["action"] = e.action_name();
    body["return_value"] = e.return_value;  // -1 (EPERM): the operation did not happen
  }
  if (!e.message.empty()) body["message"] = e.message;
  if (!e.tags.empty()) body["tags"] = e.tags;
  if (e.type == Event::Type::exit) {
    if (!e.signal.empty()) body["signal"] = e.signal;
    body["status"] = e.status;
    body["time"] = rfc3339(e.time_ns);
  }
  return {{e.type_name(), body}, {"node_name", node_name}, {"time", rfc3339(e.time_ns)}};
}

std::string to_compact(const Event& e) {
  std::string where = e.process.pod ? e.process.pod->ns + "/" + e.process.pod->name : "host";
  std::string cmd = e.process.binary + (e.process.arguments.empty() ? "" : " " + e.process.arguments);
  if (e.type == Event::Type::exec) return "🚀 process " + where + " " + cmd;
  if (e.type == Event::Type::loader) return "📚 loader  " + where + " " + e.process.binary + " " + e.subsys;
  if (e.type == Event::Type::lsm) {
    std::string path = e.args.empty() || e.args[0].empty() ? "" : e.args[0].begin()->value("path", "");
    return std::string(e.return_value ? "🔒 denied  " : e.action == MYELIN_HOOK_ACT_SIGKILL ? "💀 killed  " : "🔐 lsm     ") + where +
           " " + e.process.binary + " " + e.event + " " + path + " (" + e.policy + ")";
  }
  if (e.type == Event::Type::kprobe && !e.args.empty() && e.args[0].contains("sock_arg")) {
    const auto& s = e.args[0]["sock_arg"];
    auto ep = [](const nlohmann::json& addr, const nlohmann::json& port) {
      const std::string a = addr.get<std::string>();
      return (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(port.get<int>());
    };
    const std::string conn = "tcp " + ep(s["saddr"], s["sport"]) + " -> " + ep(s["daddr"], s["dport"]);
    const std::string head = e.event == "tcp_connect" ? "🔌 connect " : e.event == "inet_csk_accept" ? "📥 accept  " : "🧹 close   ";
    return head + where + " " + e.process.binary + " " + conn +
           (e.event == "tcp_connect" && e.return_value && e.return_value != -115 ? " (failed: " + std::to_string(e.return_value) + ")" : "");
  }
  if (e.type == Event::Type::tracepoint || e.type == Event::Type::uprobe || e.type == Event::Type::kprobe || e.type == Event::Type::usdt) {
    std::string args;
    for (const auto& a : e.args)
      for (const auto& [k, v] : a.items()) {
        const auto& shown = v.is_object() && v.contains("path") ? v["path"] : v;
        args += " " + (shown.is_string() ? shown.get<std::string>() : shown.dump());
      }
    const bool killed = e.action == MYELIN_HOOK_ACT_SIGKILL;
    const bool denied = e.action == MYELIN_HOOK_ACT_OVERRIDE;
    const std::string hook = e.type == Event::Type::uprobe || e.type == Event::Type::usdt ? e.subsys + ":" + e.event
                             : e.type == Event::Type::kprobe ? e.event
                                                             : e.subsys + "/" + e.event;
    const char* head = killed                           ? "💀 killed  "
                       : denied                         ? "🔒 denied  "
                       : e.type == Event::Type::uprobe  ? "🔍 uprobe  "
                       : e.type == Event::Type::usdt    ? "📍 usdt    "
                       : e.type == Event::Type::kprobe  ? "🔧 kprobe  "
                                                        : "🔌 syscall ";
    return head + where + " " + e.process.binary + " " + hook + args + (e.has_return && !denied ? " = " + std::to_string(e.return_value) : "") +
           " (" + e.policy + (killed ? "; killed, the call may have completed)" : denied ? "; returned " + std::to_string(e.return_value) + ")" : ")");
  }
  return "💥 exit    " + where + " " + cmd + " " + (e.signal.empty() ? std::to_string(e.status) : e.signal);
}

bool EventFilter::matches(const Event& e) const {
  if (!types.empty() && std::find(types.begin(), types.end(), e.type_name()) == types.end()) return false;
  if (!policy.empty() && e.policy != policy) return false;
  const auto& pod = e.process.pod;
  if (!ns.empty() && (!pod || pod->ns != ns)) return false;
  if (!this->pod.empty()) {
    if (!pod) return false;
    auto slash = this->pod.find('/');
    if (slash == std::string::npos) {
      if (pod->name.rfind(this->pod, 0) != 0) return false;
    } else if (pod->ns != this->pod.substr(0, slash) || pod->name.rfind(this->pod.substr(slash + 1), 0) != 0) {
      return false;
    }
  }
  if (!binary.empty() && e.process.binary.find(binary) == std::string::npos) return false;
  return true;
}

EventStore::EventStore(size_t capacity) : capacity_(capacity ? capacity : 1) {}

void EventStore::push(Event e) {
  {
    std::lock_guard lk(mu_);
    e.seq = next_seq_++;
    events_.push_back(std::move(e));
    if (events_.size() > capacity_) {
      events_.pop_front();
      ++overwritten_;
    }
  }
  cv_.notify_all();
}

std::vector<Event> EventStore::snapshot(const EventFilter& f, size_t last, uint64_t* next_seq) const {
  std::lock_guard lk(mu_);
  std::vector<Event> out;
  for (const auto& e : events_)
    if (f.matches(e)) out.push_back(e);
  if (last && out.size() > last) out.erase(out.begin(), out.end() - static_cast<long>(last));
  if (next_seq) *next_seq = next_seq_;
  return out;
}

std::vector<Event> EventStore::wait_next(const EventFilter& f, uint64_t* next_seq, std::chrono::milliseconds wait) const {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, wait, [&] { return next_seq_ > *next_seq; });
  std::vector<Event> out;
  // Sequence numbers are contiguous: start where the reader left off, not at the front.
  size_t from = events_.empty() || *next_seq <= events_.front().seq ? 0 : static_cast<size_t>(*next_seq - events_.front().seq);
  for (size_t i = from; i < events_.size(); ++i)
    if (f.matches(events_[i])) out.push_back(events_[i]);
  *next_seq = next_seq_;
  return out;
}

uint64_t EventStore::total() const {
  std::lock_guard lk(mu_);
  return next_seq_ - 1;
}

uint64_t EventStore::overwritten() const {
  std::lock_guard lk(mu_);
  return overwritten_;
}

}  // namespace myelin::runtime
