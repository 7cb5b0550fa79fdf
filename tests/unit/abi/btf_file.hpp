// SPDX-License-Identifier: Apache-2.0
// A parsed BTF (libbpf's btf__parse of a BPF object), owned, with the few
// lookups the ABI tests need. Reading BTF needs no privileges.
#pragma once

#include <bpf/btf.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace myelin::test {

class BtfFile {
 public:
  explicit BtfFile(const std::string& object) : btf_(btf__parse(object.c_str(), nullptr)) {}
  ~BtfFile() { btf__free(btf_); }
  BtfFile(const BtfFile&) = delete;
  BtfFile& operator=(const BtfFile&) = delete;

  bool ok() const { return btf_ != nullptr; }
  const btf* get() const { return btf_; }

  std::string name(uint32_t name_off) const { return btf__name_by_offset(btf_, name_off); }

  // The named struct, or nullptr.
  const btf_type* find_struct(const std::string& n) const {
    const int id = btf__find_by_name_kind(btf_, n.c_str(), BTF_KIND_STRUCT);
    return id > 0 ? btf__type_by_id(btf_, static_cast<uint32_t>(id)) : nullptr;
  }

  // The named enum's enumerators (name, value), in declaration order; empty if absent.
  std::vector<std::pair<std::string, int64_t>> enumerators(const std::string& n) const {
    std::vector<std::pair<std::string, int64_t>> out;
    const int id = btf__find_by_name_kind(btf_, n.c_str(), BTF_KIND_ENUM);
    if (id <= 0) return out;
    const btf_type* t = btf__type_by_id(btf_, static_cast<uint32_t>(id));
    const struct btf_enum* e = btf_enum(t);
    for (int i = 0; i < btf_vlen(t); ++i) out.emplace_back(name(e[i].name_off), e[i].val);
    return out;
  }

  // Every named struct in the BTF (kernel types from vmlinux.h included).
  std::vector<std::string> struct_names() const {
    std::vector<std::string> out;
    for (uint32_t id = 1; id < btf__type_cnt(btf_); ++id) {
      const btf_type* t = btf__type_by_id(btf_, id);
      if (btf_is_struct(t) && t->name_off) out.push_back(name(t->name_off));
    }
    return out;
  }

  // The structs that are a key or a value of a map in the object's .maps.
  std::vector<std::string> map_structs() const {
    std::vector<std::string> out;
    for (uint32_t id = 1; id < btf__type_cnt(btf_); ++id) {
      const btf_type* sec = btf__type_by_id(btf_, id);
      if (!btf_is_datasec(sec) || name(sec->name_off) != ".maps") continue;
      const btf_var_secinfo* vs = btf_var_secinfos(sec);
      for (int i = 0; i < btf_vlen(sec); ++i) {
        const btf_type* var = btf__type_by_id(btf_, vs[i].type);
        const btf_type* def = btf__type_by_id(btf_, var->type);
        if (!btf_is_struct(def)) continue;
        const btf_member* m = btf_members(def);
        for (int j = 0; j < btf_vlen(def); ++j) {
          const std::string field = name(m[j].name_off);
          if (field != "key" && field != "value") continue;
          const btf_type* ptr = btf__type_by_id(btf_, m[j].type);
          if (!btf_is_ptr(ptr)) continue;
          const int target = btf__resolve_type(btf_, ptr->type);
          if (target <= 0) continue;
          const btf_type* t = btf__type_by_id(btf_, static_cast<uint32_t>(target));
          if (btf_is_struct(t) && t->name_off) out.push_back(name(t->name_off));
        }
      }
    }
    return out;
  }

 private:
  btf* btf_;
};

}  // namespace myelin::test
