// SPDX-License-Identifier: Apache-2.0
#include "myelin/flags.hpp"

#include <sstream>

namespace myelin {

Flags& Flags::add(const std::string& name, const std::string& help, const std::string& def, bool repeatable) {
  if (!specs_.count(name)) order_.push_back(name);
  specs_[name] = Spec{help, def, false, repeatable};
  return *this;
}

Flags& Flags::add_bool(const std::string& name, const std::string& help) {
  if (!specs_.count(name)) order_.push_back(name);
  specs_[name] = Spec{help, "false", true, false};
  return *this;
}

Flags& Flags::check(const std::string& name, Validator v) {
  specs_.at(name).validate = std::move(v);
  return *this;
}

Flags& Flags::require(const std::string& name, std::string message) {
  specs_.at(name).required = std::move(message);
  return *this;
}

Status Flags::missing_required() const {
  for (const auto& n : order_)
    if (!specs_.at(n).required.empty() && !is_set(n)) return Error{specs_.at(n).required};
  return {};
}

Status Flags::parse(int argc, char** argv, int first) {
  std::vector<std::string> args;
  for (int i = first; i < argc; ++i) args.emplace_back(argv[i]);
  return parse(args);
}

Status Flags::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      help_ = true;
      continue;
    }
    if (a == "--") {
      positional_.insert(positional_.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto it = specs_.find(name);
    if (it == specs_.end()) return Error{"unknown flag --" + name + " (see --help)"};
    const Spec& spec = it->second;
    if (spec.is_bool) {
      std::string v = value.value_or("true");
      if (v != "true" && v != "false") return Error{"flag --" + name + " takes true or false, not '" + v + "'"};
      values_[name] = {v};
      continue;
    }
    if (!value) {
      if (i + 1 >= args.size()) return Error{"flag --" + name + " needs a value"};
      value = args[++i];
    }
    if (spec.repeatable)
      values_[name].push_back(*value);
    else
      values_[name] = {*value};
  }
  // In declaration order, so the first bad flag of the table is the one named.
  for (const auto& n : order_) {
    const Spec& spec = specs_.at(n);
    auto v = values_.find(n);
    if (!spec.validate || v == values_.end()) continue;
    for (const auto& value : v->second)
      if (auto s = spec.validate(value); !s) return s;
  }
  return {};
}

std::string Flags::help() const {
  std::ostringstream o;
  o << usage_ << "\n";
  if (!order_.empty()) o << "\nFlags:\n";
  for (const auto& n : order_) {
    const Spec& s = specs_.at(n);
    std::string left = "  --" + n + (s.is_bool ? "" : " VALUE");
    o << left;
    if (left.size() < 30) o << std::string(30 - left.size(), ' ');
    else o << "\n" << std::string(30, ' ');
    o << s.help;
    if (!s.is_bool && !s.def.empty()) o << " (default " << s.def << ")";
    if (s.repeatable) o << " (repeatable)";
    if (!s.required.empty()) o << " (required)";
    o << "\n";
  }
  o << "  --help                      show this help\n";
  return o.str();
}

std::string Flags::get(const std::string& name) const {
  auto v = values_.find(name);
  if (v != values_.end() && !v->second.empty()) return v->second.back();
  auto s = specs_.find(name);
  return s == specs_.end() ? std::string() : s->second.def;
}

std::vector<std::string> Flags::get_all(const std::string& name) const {
  auto v = values_.find(name);
  return v == values_.end() ? std::vector<std::string>{} : v->second;
}

bool Flags::get_bool(const std::string& name) const { return get(name) == "true"; }

bool Flags::is_set(const std::string& name) const { return values_.count(name) != 0; }

Result<long long> Flags::get_int(const std::string& name) const {
  std::string v = get(name);
  try {
    size_t pos = 0;
    long long n = std::stoll(v, &pos, 10);
    if (pos != v.size()) throw std::invalid_argument(v);
    return n;
  } catch (...) {
    return Error{"flag --" + name + " needs a whole number, not '" + v + "'"};
  }
}

}  // namespace myelin
