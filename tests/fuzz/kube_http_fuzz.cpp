// SPDX-License-Identifier: Apache-2.0
// An API server's HTTP response, byte for byte: status line, headers, then a
// body by Content-Length, chunked transfer encoding or until close, read in
// pieces of a size derived from the input (as a socket would hand them out)
// and decoded as the reflector decodes a watch: each piece fed to the watch
// decoder as it arrives. Invariants: the body is never longer than what was
// received, and the events do not depend on how the bytes were cut (the same
// body decoded whole gives the same events, and the same error, if any).
#include <algorithm>
#include <cstdint>

#include "fuzz_check.hpp"
#include "myelin/kube/http.hpp"
#include "myelin/kube/list_watch.hpp"

using namespace myelin::kube;

namespace {

const Resource kPods{"pods", "/api/v1/pods", "Pod", "v1"};

// What the reflector keeps of each event, until the first bad line ("!").
void drain(WatchDecoder& d, std::vector<std::string>& out, bool& failed) {
  while (!failed) {
    auto ev = d.next();
    if (!ev) {
      failed = true;
      out.push_back("!");
      return;
    }
    if (!*ev) return;
    out.push_back((*ev)->type + " " + (*ev)->resource_version + " " + std::to_string((*ev)->code) + " " + object_key((*ev)->object));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t step = 1 + size % 61;
  size_t pos = 0;
  ResponseReader reader([&](char* buf, size_t len, std::chrono::milliseconds) -> myelin::Result<size_t> {
    const size_t n = std::min({len, step, size - pos});
    std::copy_n(data + pos, n, buf);
    pos += n;
    return n;
  });
  if (!reader.read_head(std::chrono::seconds(1))) return 0;

  std::string body;
  WatchDecoder pieces(kPods);
  std::vector<std::string> seen;
  bool failed = false;
  for (;;) {
    std::string piece;
    auto more = reader.read_some(piece, std::chrono::seconds(1));
    if (!more) break;
    body += piece;
    FUZZ_CHECK(body.size() <= size, "a body longer than the response");
    pieces.feed(piece);
    drain(pieces, seen, failed);
    if (!*more) break;
  }
  WatchDecoder whole(kPods);
  whole.feed(body);
  std::vector<std::string> again;
  bool failed_again = false;
  drain(whole, again, failed_again);
  FUZZ_CHECK(seen == again, "watch events depend on where the body was cut");

  if (auto page = decode_list_page(body, kPods))
    for (const auto& item : page->items) (void)object_key(item);
  return 0;
}
