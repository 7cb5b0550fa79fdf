// SPDX-License-Identifier: Apache-2.0
// A small command-line flag parser shared by myelind, myelin and myelin-cni.
// Flags are declared as data (name, help, default); `--name value`,
// `--name=value` and boolean `--name` are accepted; unknown flags and missing
// values are errors that name the flag; `--help` text is generated.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "myelin/result.hpp"

namespace myelin {

class Flags {
 public:
  explicit Flags(std::string usage) : usage_(std::move(usage)) {}

  // A flag taking a value. `repeatable` flags collect every occurrence.
  Flags& add(const std::string& name, const std::string& help, const std::string& def = "",
             bool repeatable = false);
  // A boolean switch (no value; `--name=false` also accepted).
  Flags& add_bool(const std::string& name, const std::string& help);

  // Parses argv[first..]. Positional arguments are kept in positional().
  Status parse(int argc, char** argv, int first = 1);
  Status parse(const std::vector<std::string>& args);

  bool help_requested() const { return help_; }
  std::string help() const;

  std::string get(const std::string& name) const;
  std::vector<std::string> get_all(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  bool is_set(const std::string& name) const;
  Result<long long> get_int(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  struct Spec {
    std::string help;
    std::string def;
    bool is_bool = false;
    bool repeatable = false;
  };
  std::string usage_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace myelin
