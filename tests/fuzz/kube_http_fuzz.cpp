// SPDX-License-Identifier: Apache-2.0
// An API server's HTTP response, byte for byte: status line, headers, then a
// body by Content-Length, chunked transfer encoding or until close, read in
// pieces of a size derived from the input (as a socket would hand them out),
// then decoded as a watch stream and as a list. Invariant: the body is never
// longer than what was received.
#include <algorithm>
#include <cstdint>

#include "fuzz_check.hpp"
#include "myelin/kube/http.hpp"
#include "myelin/kube/list_watch.hpp"

using namespace myelin::kube;

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
  auto body = reader.read_all(1 << 20, std::chrono::seconds(1));
  if (!body) return 0;
  FUZZ_CHECK(body->size() <= size, "a body longer than the response");

  const Resource pods{"pods", "/api/v1/pods", "Pod", "v1"};
  WatchDecoder events(pods);
  events.feed(*body);
  for (;;) {
    auto ev = events.next();
    if (!ev || !*ev) break;
    (void)object_key((*ev)->object);
  }
  if (auto page = decode_list_page(*body, pods))
    for (const auto& item : page->items) (void)object_key(item);
  return 0;
}
