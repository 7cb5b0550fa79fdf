// SPDX-License-Identifier: Apache-2.0
// Crash-safe state files: write to a temp file in the same directory, fsync,
// rename over the old one, fsync the directory. A reader sees the old or the
// new content, never a torn one, even after SIGKILL or power loss.
#pragma once

#include <optional>
#include <string>

#include "myelin/result.hpp"

namespace myelin {

Status write_file_atomic(const std::string& path, const std::string& content);
// nullopt when the file does not exist; an Error when it exists but cannot be read.
Result<std::optional<std::string>> read_file(const std::string& path);

}  // namespace myelin
