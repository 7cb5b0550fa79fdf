// SPDX-License-Identifier: Apache-2.0
// Reading a file someone else controls (a manifest in a watched directory):
// only a regular file (a FIFO would block, a device never end), at most
// max_bytes of it, never blocking on open, and re-read when it changed or was
// replaced while being read, so a reader gets one version of it or a clear
// error, never a torn mix or an unbounded buffer.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>

#include "myelin/result.hpp"

namespace myelin {

// nullopt when `path` does not exist (it was removed); an Error that says why
// it was not read otherwise (not a regular file, a symlink loop, too large,
// kept changing).
// `between_reads` (tests) runs after each chunk read: where a writer can
// truncate, rewrite or rename over the file.
Result<std::optional<std::string>> read_regular_file(const std::string& path, size_t max_bytes,
                                                     const std::function<void()>& between_reads = {});

}  // namespace myelin
