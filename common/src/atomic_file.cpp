// SPDX-License-Identifier: Apache-2.0
#include "myelin/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "myelin/fd.hpp"

namespace myelin {

Status write_file_atomic(const std::string& path, const std::string& content) {
  std::filesystem::path p(path);
  std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) return Error::from_errno("create " + tmp);
    const char* data = content.data();
    size_t left = content.size();
    while (left > 0) {
      ssize_t w = ::write(fd.get(), data, left);
      if (w < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::unlink(tmp.c_str());
        return Error::from_errno("write " + tmp, err);
      }
      data += w;
      left -= static_cast<size_t>(w);
    }
    if (::fsync(fd.get()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return Error::from_errno("fsync " + tmp, err);
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::from_errno("rename " + tmp + " to " + path, err);
  }
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d) ::fsync(d.get());
  return {};
}

Result<std::optional<std::string>> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return Error::from_errno("open " + path);
  }
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return Error{"read " + path + " failed"};
  return std::optional<std::string>{ss.str()};
}

}  // namespace myelin
