// SPDX-License-Identifier: Apache-2.0
#include "myelin/bounded_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "myelin/fd.hpp"

namespace myelin {
namespace {

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

std::string size_str(size_t n) {
  if (n >= (1u << 20) && n % (1u << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= (1u << 10) && n % (1u << 10) == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

bool same_version(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

}  // namespace

Result<std::optional<std::string>> read_regular_file(const std::string& path, size_t max_bytes,
                                                     const std::function<void()>& between_reads) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (regular files ignore it).
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) return std::optional<std::string>{};
      if (errno == ELOOP) return Error{"a symlink loop (or more than 40 links to follow): not read", ELOOP};
      return Error::from_errno("cannot open it");
    }
    struct stat before{};
    if (::fstat(fd.get(), &before) != 0) return Error::from_errno("cannot stat it");
    if (!S_ISREG(before.st_mode)) return Error{std::string("is ") + kind_of(before.st_mode) + ", not a regular file: not read", EINVAL};
    if (static_cast<uint64_t>(before.st_size) > max_bytes)
      return Error{"is " + std::to_string(before.st_size) + " bytes, over the limit of " + size_str(max_bytes) +
                       " (myelind --manifest-max-size): not read",
                   EFBIG};
    // Read one byte past the limit: a file growing while read is caught too.
    std::string text(std::min<uint64_t>(static_cast<uint64_t>(before.st_size), max_bytes) + 1, '\0');
    size_t got = 0;
    for (;;) {
      if (got == text.size()) {
        if (text.size() > max_bytes) break;
        text.resize(std::min(text.size() * 2, max_bytes + 1));
      }
      ssize_t n = ::read(fd.get(), text.data() + got, std::min<size_t>(text.size() - got, 64u << 10));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("read failed");
      }
      if (n == 0) break;
      got += static_cast<size_t>(n);
      if (between_reads) between_reads();
    }
    if (got > max_bytes)
      return Error{"grew past the limit of " + size_str(max_bytes) + " (myelind --manifest-max-size) while read: not read", EFBIG};
    text.resize(got);
    // The same version start to end, and still the one the path names: else
    // it was written, truncated or renamed over meanwhile. Read it again.
    struct stat after{}, now{};
    if (::fstat(fd.get(), &after) != 0) return Error::from_errno("cannot stat it");
    if (::stat(path.c_str(), &now) != 0) {
      if (errno == ENOENT) return std::optional<std::string>{};
      continue;
    }
    if (same_version(before, after) && same_version(after, now) && static_cast<uint64_t>(after.st_size) == got)
      return std::optional<std::string>{std::move(text)};
  }
  return Error{"kept changing while it was read (3 attempts): not read; it is read again on its next change", EAGAIN};
}

}  // namespace myelin
