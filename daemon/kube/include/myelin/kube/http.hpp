// SPDX-License-Identifier: Apache-2.0
// HttpStream: one HTTP/1.1 request to the Kubernetes API server over TLS (or
// plain TCP for a local proxy), with the response body read incrementally:
// a watch is a chunked body that never ends on its own. Small on purpose:
// the API server is the only peer, and every failure is an Error that names
// the server and what went wrong (connect, TLS verification, status).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "myelin/result.hpp"

namespace myelin::kube {

struct ServerEndpoint {
  std::string host;  // DNS name or IP address (verified against the certificate)
  uint16_t port = 443;
  bool tls = true;
  std::string str() const;
};

// Parses https://host[:port] (or http:// for a local, unauthenticated proxy).
Result<ServerEndpoint> parse_server_url(const std::string& url);

struct TlsConfig {
  std::string ca_pem;                 // trust only this CA; empty: the system's
  bool insecure_skip_verify = false;  // kubeconfig insecure-skip-tls-verify
  std::string client_cert_pem, client_key_pem;
};

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // names lower-cased
};

// The HTTP/1.1 response framing, apart from any socket: the status line and
// headers, then the body by Content-Length, by chunked transfer encoding, or
// until the peer closes. Bytes come from `source` (0 bytes: the peer closed);
// HttpStream gives it a socket, the fuzzer (tests/fuzz) plain bytes.
class ResponseReader {
 public:
  using Source = std::function<Result<size_t>(char* buf, size_t len, std::chrono::milliseconds idle)>;
  explicit ResponseReader(Source source) : source_(std::move(source)) {}

  // The status line and headers (at most 64 KiB of them).
  Status read_head(std::chrono::milliseconds idle);
  const HttpResponse& response() const { return response_; }
  // Appends the next body bytes to `out`; false once the body ended. A read
  // that sees nothing for `idle` is an error (a dead peer, not a slow one).
  Result<bool> read_some(std::string& out, std::chrono::milliseconds idle);
  // The whole body (a list), refusing bodies larger than `max` bytes.
  Result<std::string> read_all(size_t max, std::chrono::milliseconds idle);

 private:
  Status fill(std::chrono::milliseconds idle);

  Source source_;
  HttpResponse response_;
  std::string buf_;  // bytes read from the source, not yet consumed
  enum class Body { length, chunked, until_close } body_ = Body::until_close;
  uint64_t remaining_ = 0;  // of the content length, or of the current chunk
  bool chunk_crlf_ = false, done_ = false;
};

class HttpStream {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;
  static Result<std::unique_ptr<HttpStream>> open(const ServerEndpoint& server, const TlsConfig& tls, const std::string& target,
                                                  const Headers& headers, std::chrono::milliseconds timeout,
                                                  const std::string& method = "GET", const std::string& body = "");
  ~HttpStream();
  HttpStream(const HttpStream&) = delete;
  HttpStream& operator=(const HttpStream&) = delete;

  const HttpResponse& response() const { return reader_.response(); }
  // As ResponseReader's.
  Result<bool> read_some(std::string& out, std::chrono::milliseconds idle) { return reader_.read_some(out, idle); }
  Result<std::string> read_all(size_t max, std::chrono::milliseconds idle) { return reader_.read_all(max, idle); }
  // From another thread: makes a blocked read_some return an error now.
  void abort();

 private:
  struct Impl;
  explicit HttpStream(std::unique_ptr<Impl> impl);
  Result<size_t> read_raw(char* buf, size_t len, std::chrono::milliseconds idle);

  std::unique_ptr<Impl> impl_;
  ResponseReader reader_;
};

}  // namespace myelin::kube
