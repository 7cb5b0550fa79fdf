// SPDX-License-Identifier: Apache-2.0
// Minimal leveled logging to stderr: "LEVEL component: message". One line per
// call, written with a single write(2) so concurrent threads do not interleave.
#pragma once

#include <string_view>

namespace myelin::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level);
Level level();
void write(Level level, std::string_view component, std::string_view message);

inline void debug(std::string_view c, std::string_view m) { write(Level::debug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(Level::info, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(Level::warn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(Level::error, c, m); }

}  // namespace myelin::log
