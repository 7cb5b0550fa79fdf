// SPDX-License-Identifier: Apache-2.0
// The enums the ABI mirrors from flow.proto, and the C++ names of ABI codes.
// Enumerator names come from abi_layout.bpf.o's BTF, which holds every enum
// the ABI lists, so an enumerator added on one side only fails here:
//  - every MYELIN_<PREFIX>_<NAME> = v of a mirrored enum is flow.proto's
//    value v, named <NAME> (0 is each side's unknown value), and fits the
//    __u8 the flow event and the metrics key carry it in;
//  - the companions' names (abi/net.hpp, abi/tracing.hpp) exist for every
//    enumerator and follow its name (Cilium's monitor event types, which
//    flow.proto does not enumerate, by the CLI's --type names).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "btf_file.hpp"
#include "flow.pb.h"
#include "myelin/abi/net.hpp"
#include "myelin/abi/tracing.hpp"

namespace {

using myelin::test::BtfFile;
namespace abi = myelin::abi;

using Enumerators = std::vector<std::pair<std::string, int64_t>>;

Enumerators enumerators(const std::string& name) {
  BtfFile b(MYELIN_ABI_LAYOUT_OBJECT);
  EXPECT_TRUE(b.ok()) << "cannot read BTF from " << MYELIN_ABI_LAYOUT_OBJECT;
  if (!b.ok()) return {};
  auto e = b.enumerators(name);
  EXPECT_FALSE(e.empty()) << name << " is not in the BTF";
  return e;
}

std::string strip(const std::string& name, const std::string& prefix) {
  EXPECT_EQ(name.rfind(prefix, 0), 0u) << name << " does not start with " << prefix;
  return name.substr(prefix.size());
}

std::string lower(std::string s, char underscore = '_') {
  for (char& c : s) c = c == '_' ? underscore : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// NOT_PREFIX -> NotPrefix, PID_FOR_CHILDREN -> PidForChildren.
std::string camel(const std::string& s) {
  std::string out;
  bool up = true;
  for (char c : s) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up ? c : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    up = false;
  }
  return out;
}

struct Mirror {
  const char* abi_enum;
  const char* prefix;
  const google::protobuf::EnumDescriptor* proto;
};

TEST(AbiEnum, MirrorsFlowProto) {
  const Mirror mirrors[] = {
      {"myelin_drop_reason", "MYELIN_DROP_", flow::DropReason_descriptor()},
      {"myelin_verdict", "MYELIN_VERDICT_", flow::Verdict_descriptor()},
      {"myelin_direction", "MYELIN_DIR_", flow::TrafficDirection_descriptor()},
      {"myelin_obs_point", "MYELIN_OBS_", flow::TraceObservationPoint_descriptor()},
      {"myelin_trace_reason", "MYELIN_TRACE_REASON_", flow::TraceReason_descriptor()},
      {"myelin_sock_xlate_point", "MYELIN_", flow::SocketTranslationPoint_descriptor()},
  };
  for (const auto& m : mirrors) {
    SCOPED_TRACE(std::string(m.abi_enum) + " vs flow." + m.proto->name());
    const auto values = enumerators(m.abi_enum);
    EXPECT_GE(values.size(), 3u);
    bool zero = false;
    for (const auto& [name, v] : values) {
      SCOPED_TRACE(name);
      EXPECT_GE(v, 0);
      EXPECT_LT(v, 256) << "carried in a __u8";
      const auto* pv = m.proto->FindValueByNumber(static_cast<int>(v));
      ASSERT_NE(pv, nullptr) << "flow.proto's " << m.proto->name() << " has no value " << v;
      if (v == 0) {
        zero = true;
        EXPECT_NE(pv->name().find("UNKNOWN"), std::string::npos) << "0 is the unknown value on both sides";
        continue;
      }
      EXPECT_EQ(strip(name, m.prefix), pv->name()) << "value " << v << " is named differently in flow.proto";
    }
    EXPECT_TRUE(zero) << "no unknown (0) value";
  }
}

// Positive control of the check above: renaming a value on either side is seen.
TEST(AbiEnum, AMisnamedValueWouldBeCaught) {
  const auto* d = flow::DropReason_descriptor();
  ASSERT_NE(d->FindValueByNumber(MYELIN_DROP_POLICY_DENIED), nullptr);
  EXPECT_EQ(d->FindValueByNumber(MYELIN_DROP_POLICY_DENIED)->name(), "POLICY_DENIED");
  EXPECT_NE(d->FindValueByNumber(MYELIN_DROP_POLICY_DENIED)->name(), strip("MYELIN_DROP_POLICY_DENY", "MYELIN_DROP_"));
}

TEST(AbiEnum, DirectionNamesAreFlowProtos) {
  for (const auto& [name, v] : enumerators("myelin_direction")) {
    if (v == 0) {
      EXPECT_STREQ(abi::direction_name(static_cast<uint8_t>(v)), "UNKNOWN");
      continue;
    }
    EXPECT_EQ(abi::direction_name(static_cast<uint8_t>(v)), flow::TrafficDirection_Name(static_cast<flow::TrafficDirection>(v)));
  }
  EXPECT_STREQ(abi::direction_name(77), "UNKNOWN");
}

TEST(AbiEnum, ReservedIdentityNamesFollowTheEnum) {
  size_t reserved = 0;
  for (const auto& [name, v] : enumerators("myelin_identity")) {
    SCOPED_TRACE(name);
    if (v == MYELIN_IDENTITY_ANY) {
      EXPECT_STREQ(abi::reserved_identity_name(static_cast<uint32_t>(v)), "") << "any is no identity";
      continue;
    }
    ++reserved;
    EXPECT_EQ(abi::reserved_identity_name(static_cast<uint32_t>(v)), lower(strip(name, "MYELIN_IDENTITY_"), '-'));
  }
  EXPECT_EQ(std::size(abi::kReservedIdentities), reserved);
  EXPECT_STREQ(abi::reserved_identity_name(256), "");
  EXPECT_STREQ(abi::reserved_identity_name(MYELIN_IDENTITY_REMOTE_NODE), "remote-node");
}

TEST(AbiEnum, EventTypeNamesFollowTheEnum) {
  const auto types = enumerators("myelin_event_type");
  EXPECT_EQ(std::size(abi::kEventTypes), types.size());
  for (const auto& [name, v] : types) {
    SCOPED_TRACE(name);
    const auto* t = std::find_if(std::begin(abi::kEventTypes), std::end(abi::kEventTypes), [v = v](const auto& e) { return e.type == v; });
    ASSERT_NE(t, std::end(abi::kEventTypes)) << "no name";
    EXPECT_EQ(t->name, lower(strip(name, "MYELIN_EVENT_"), '-'));
  }
}

TEST(AbiEnum, ConntrackStateNamesFollowTheEnum) {
  for (const auto& [name, v] : enumerators("myelin_ct_state")) {
    SCOPED_TRACE(name);
    if (v == MYELIN_CT_STATE_MAX) {
      EXPECT_STREQ(abi::ct_state_name(static_cast<size_t>(v)), "unknown");
      continue;
    }
    EXPECT_EQ(abi::ct_state_name(static_cast<size_t>(v)), lower(strip(name, "MYELIN_CT_")));
  }
}

TEST(AbiEnum, TracingNamesFollowTheEnums) {
  for (const auto& [name, v] : enumerators("myelin_hook_action"))
    EXPECT_EQ(abi::action_name(static_cast<uint8_t>(v)), "KPROBE_ACTION_" + strip(name, "MYELIN_HOOK_ACT_")) << name;
  const auto ns = enumerators("myelin_hook_ns_type");
  EXPECT_EQ(std::size(abi::kNamespaces), ns.size());
  for (const auto& [name, v] : ns) {
    SCOPED_TRACE(name);
    const std::string suffix = strip(name, "MYELIN_NS_");
    EXPECT_EQ(abi::namespace_type(camel(suffix)), v);
    ASSERT_NE(abi::namespace_proc_name(static_cast<uint8_t>(v)), nullptr);
    EXPECT_EQ(abi::namespace_proc_name(static_cast<uint8_t>(v)), lower(suffix));
  }
  EXPECT_EQ(abi::namespace_type("Mount"), 0);
  EXPECT_EQ(abi::namespace_proc_name(0), nullptr);
}

}  // namespace
