// SPDX-License-Identifier: Apache-2.0
// A small command-line flag parser shared by myelind, myelin and myelin-cni.
// Flags are declared as data (name, help, default); `--name value`,
// `--name=value` and boolean `--name` are accepted; unknown flags and missing
// values are errors that name the flag; `--help` text is generated. A flag
// may carry its validator and be required: parse() checks every value given
// with its flag's validator, so bad values fail where they are declared.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "myelin/result.hpp"

namespace myelin {

class Flags {
 public:
  // Checks one value given for the flag; the error is the whole message
  // (without the program name), e.g. "--ct-gc-interval must be a positive number".
  using Validator = std::function<Status(const std::string& value)>;

  explicit Flags(std::string usage) : usage_(std::move(usage)) {}

  // A flag taking a value. `repeatable` flags collect every occurrence.
  Flags& add(const std::string& name, const std::string& help, const std::string& def = "",
             bool repeatable = false);
  // A boolean switch (no value; `--name=false` also accepted).
  Flags& add_bool(const std::string& name, const std::string& help);
  // Attaches a validator to a declared flag (run by parse() on each value given).
  Flags& check(const std::string& name, Validator v);
  // Declares a flag required, with the message its absence gets; checked by
  // missing_required(), not parse(), so `--help` and modes that need no
  // configuration (myelind --probe) work without it.
  Flags& require(const std::string& name, std::string message);
  Status missing_required() const;

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
    Validator validate;
    std::string required;  // non-empty: the message when absent
  };
  std::string usage_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
  bool help_ = false;
};

}  // namespace myelin
