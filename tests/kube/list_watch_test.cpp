// SPDX-License-Identifier: Apache-2.0
// The reflector's decoding without an API server: HTTP response framing
// (chunked bodies), list pages and watch events, including the shapes a
// broken or hostile server sends (which once threw out of the reflector's
// thread and ended the agent).
#include <gtest/gtest.h>

#include "myelin/kube/http.hpp"
#include "myelin/kube/list_watch.hpp"

using namespace myelin::kube;
using namespace std::chrono_literals;

namespace {

// A source that hands out `bytes` in pieces of at most `step` bytes.
ResponseReader reader_of(std::string bytes, size_t step = 1 << 20) {
  auto data = std::make_shared<std::string>(std::move(bytes));
  auto pos = std::make_shared<size_t>(0);
  return ResponseReader([data, pos, step](char* buf, size_t len, std::chrono::milliseconds) -> myelin::Result<size_t> {
    size_t n = std::min({len, step, data->size() - *pos});
    std::copy_n(data->data() + *pos, n, buf);
    *pos += n;
    return n;
  });
}

myelin::Result<std::string> body_of(const std::string& response, size_t step = 1 << 20) {
  auto r = reader_of(response, step);
  if (auto h = r.read_head(1s); !h) return h.error();
  return r.read_all(1 << 20, 1s);
}

const Resource kPods{"pods", "/api/v1/pods", "Pod", "v1"};

}  // namespace

TEST(ResponseReader, ChunkedBodyInAnyPieces) {
  const std::string resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n";
  for (size_t step : {1, 2, 7, 100}) {
    auto b = body_of(resp, step);
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(*b, "hello world") << "step " << step;
  }
  auto b = body_of("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "abc");
  b = body_of("HTTP/1.1 200 OK\r\n\r\nuntil close");
  ASSERT_TRUE(b);
  EXPECT_EQ(*b, "until close");
}

// strtoull took blanks, signs and the CRLF itself: "\r\n5\r\n" read as a
// chunk of 5 and the stream was misframed from there on.
TEST(ResponseReader, ChunkSizeLineIsHexDigitsOnly) {
  for (const char* bad : {"\r\n5\r\nhello\r\n0\r\n\r\n", " 5\r\nhello\r\n0\r\n\r\n", "-5\r\nhello\r\n0\r\n\r\n",
                          "+5\r\nhello\r\n0\r\n\r\n", "5x\r\nhello\r\n0\r\n\r\n", "11111111111111111\r\nhello\r\n"}) {
    auto b = body_of(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") + bad);
    EXPECT_FALSE(b) << "accepted chunk size line in " << bad;
  }
}

TEST(ResponseReader, HeadErrors) {
  auto r = reader_of("SSH-2.0-OpenSSH\r\n\r\n");
  EXPECT_FALSE(r.read_head(1s));
  r = reader_of("HTTP/1.1 200 OK\r\n");  // the peer closed inside the head
  EXPECT_FALSE(r.read_head(1s));
}

TEST(WatchDecoder, EventsSplitAcrossReads) {
  WatchDecoder d(kPods);
  d.feed(R"({"type":"ADDED","object":{"metadata":{"name":"a","namespace":"x","resourceVersion":"7"}}})" "\n" R"({"type":"BOOK)");
  auto e = d.next();
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->type, "ADDED");
  EXPECT_EQ((*e)->resource_version, "7");
  EXPECT_EQ((*e)->object["kind"], "Pod");
  EXPECT_EQ(object_key((*e)->object), "x/a");
  e = d.next();
  ASSERT_TRUE(e);
  EXPECT_FALSE(*e);  // the second line is not complete yet
  d.feed(R"(MARK","object":{"metadata":{"resourceVersion":"9"}}})" "\r\n\n");
  e = d.next();
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->type, "BOOKMARK");
  EXPECT_EQ((*e)->resource_version, "9");
}

TEST(WatchDecoder, ErrorEventCarriesTheStatus) {
  WatchDecoder d(kPods);
  d.feed(R"({"type":"ERROR","object":{"kind":"Status","code":410,"message":"too old"}})" "\n"
         R"({"type":"ERROR","object":{"code":"410"}})" "\n");
  auto e = d.next();
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->code, 410);
  EXPECT_EQ((*e)->message, "too old");
  e = d.next();  // a code that is not a number is no code
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->code, 0);
}

// Each of these threw nlohmann::json::type_error in the reflector's thread.
TEST(WatchDecoder, WrongShapesAreErrors) {
  for (const char* line : {R"({"type":1,"object":{}})", R"({"type":"ADDED","object":"x"})",
                           R"({"type":"ADDED","object":{"metadata":null}})", R"({"type":"ADDED","object":{"metadata":{"name":5}}})",
                           R"({"type":"MODIFIED","object":{"metadata":{"resourceVersion":12}}})",
                           R"({"type":"BOOKMARK","object":{"metadata":[]}})", "not json", "[1,2]"}) {
    WatchDecoder d(kPods);
    d.feed(std::string(line) + "\n");
    EXPECT_FALSE(d.next()) << line;
  }
}

// The kube source dumps each object, recursively: 30,000 levels overflowed
// the reflector thread's stack. Nothing Kubernetes serves nests 256 deep.
TEST(WatchDecoder, DeepNestingIsAnError) {
  auto event = [](int depth) {
    return R"({"type":"ADDED","object":{"metadata":{"name":"a"},"spec":)" + std::string(depth, '[') + std::string(depth, ']') + "}}\n";
  };
  WatchDecoder ok(kPods);
  ok.feed(event(100));
  auto e = ok.next();
  ASSERT_TRUE(e && *e) << (e ? "" : e.error().message);
  WatchDecoder deep(kPods);
  deep.feed(event(30000));
  EXPECT_FALSE(deep.next());
  EXPECT_FALSE(decode_list_page(R"({"items":[)" + std::string(300, '[') + std::string(300, ']') + "]}", kPods));
}

TEST(ListPage, ItemsGetKindAndVersions) {
  auto p = decode_list_page(R"({"metadata":{"resourceVersion":"5","continue":"c"},"items":[{"metadata":{"name":"a"}},7,{}]})", kPods);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->resource_version, "5");
  EXPECT_EQ(p->cont, "c");
  ASSERT_EQ(p->items.size(), 2u);  // a non-object item is skipped
  EXPECT_EQ(p->items[0]["apiVersion"], "v1");
  EXPECT_EQ(object_key(p->items[1]), "/");  // no metadata: the decoder downstream says what is missing
}

TEST(ListPage, WrongShapesAreErrors) {
  for (const char* body : {R"({"items":{}})", R"({"metadata":[],"items":[]})", R"({"metadata":{"resourceVersion":5},"items":[]})",
                           R"({"metadata":{"continue":null},"items":[]})", R"({"items":[{"metadata":"x"}]})",
                           R"({"items":[{"metadata":{"namespace":["a"]}}]})", "", "{"}) {
    EXPECT_FALSE(decode_list_page(body, kPods)) << body;
  }
}
