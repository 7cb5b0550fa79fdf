// SPDX-License-Identifier: Apache-2.0
#include "myelin/kube/http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>

#include "myelin/fd.hpp"

namespace myelin::kube {
namespace {

std::string ssl_errors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s += "; ";
    s += buf;
  }
  return s.empty() ? "unknown TLS error" : s;
}

bool is_ip_literal(const std::string& host) {
  in6_addr a6;
  in_addr a4;
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};

Status add_pem_certs(SSL_CTX* ctx, const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    if (X509_STORE_add_cert(store, cert) == 1) ++added;
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (added == 0) return Error{"the cluster CA holds no PEM certificate"};
  return {};
}

Status use_client_cert(SSL_CTX* ctx, const std::string& cert_pem, const std::string& key_pem) {
  BIO* cb = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO_free(cb);
  BIO* kb = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  BIO_free(kb);
  bool ok = cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return Error{"client certificate/key: " + ssl_errors()};
  return {};
}

Result<UniqueFd> tcp_connect(const ServerEndpoint& s, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(s.port);
  if (int rc = getaddrinfo(s.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Error{"resolve " + s.host + ": " + gai_strerror(rc)};
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (!fd) continue;
    int rc = connect(fd.get(), ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd.get(), POLLOUT, 0};
      rc = poll(&p, 1, static_cast<int>(timeout.count()));
      int err = 0;
      socklen_t len = sizeof err;
      if (rc == 0) err = ETIMEDOUT;
      else if (rc > 0) getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      else err = errno;
      rc = err ? -1 : 0;
      errno = err;
    }
    if (rc != 0) {
      last = std::strerror(errno);
      continue;
    }
    int flags = fcntl(fd.get(), F_GETFL);
    fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);  // bounds the TLS handshake
    freeaddrinfo(res);
    return fd;
  }
  freeaddrinfo(res);
  return Error{"connect to " + s.str() + ": " + last};
}

}  // namespace

std::string ServerEndpoint::str() const { return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port); }

Result<ServerEndpoint> parse_server_url(const std::string& url) {
  ServerEndpoint e;
  std::string rest;
  if (url.rfind("https://", 0) == 0) rest = url.substr(8);
  else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
    e.tls = false;
    e.port = 80;
  } else
    return Error{"server '" + url + "': must start with https:// (or http:// for a local proxy)"};
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest[0] == '[') {  // [v6]:port
    auto close = rest.find(']');
    if (close == std::string::npos) return Error{"server '" + url + "': unterminated IPv6 address"};
    e.host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
  } else {
    auto colon = rest.find(':');
    e.host = rest.substr(0, colon);
    rest = colon == std::string::npos ? "" : rest.substr(colon);
  }
  if (!rest.empty()) {
    if (rest[0] != ':') return Error{"server '" + url + "': unexpected '" + rest + "'"};
    try {
      int p = std::stoi(rest.substr(1));
      if (p <= 0 || p > 65535) throw std::out_of_range("port");
      e.port = static_cast<uint16_t>(p);
    } catch (const std::exception&) {
      return Error{"server '" + url + "': bad port"};
    }
  }
  if (e.host.empty()) return Error{"server '" + url + "': no host"};
  return e;
}

struct HttpStream::Impl {
  UniqueFd fd;
  std::unique_ptr<SSL_CTX, SslCtxDeleter> ctx;
  std::unique_ptr<SSL, SslDeleter> ssl;
  std::atomic<bool> aborted{false};
};

HttpStream::HttpStream(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), reader_([this](char* buf, size_t len, std::chrono::milliseconds idle) { return read_raw(buf, len, idle); }) {}
HttpStream::~HttpStream() = default;

void HttpStream::abort() {
  impl_->aborted = true;
  ::shutdown(impl_->fd.get(), SHUT_RDWR);
}

Result<std::unique_ptr<HttpStream>> HttpStream::open(const ServerEndpoint& server, const TlsConfig& tls, const std::string& target,
                                                     const Headers& headers, std::chrono::milliseconds timeout,
                                                     const std::string& method, const std::string& body) {
  auto impl = std::make_unique<Impl>();
  auto fd = tcp_connect(server, timeout);
  if (!fd) return fd.error();
  impl->fd = std::move(*fd);
  if (server.tls) {
    impl->ctx.reset(SSL_CTX_new(TLS_client_method()));
    if (!impl->ctx) return Error{"TLS: " + ssl_errors()};
    SSL_CTX* ctx = impl->ctx.get();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (tls.insecure_skip_verify) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
      if (!tls.ca_pem.empty()) {
        if (auto s = add_pem_certs(ctx, tls.ca_pem); !s) return s.error();
      } else {
        SSL_CTX_set_default_verify_paths(ctx);
      }
    }
    if (!tls.client_cert_pem.empty())
      if (auto s = use_client_cert(ctx, tls.client_cert_pem, tls.client_key_pem); !s) return s.error();
    impl->ssl.reset(SSL_new(ctx));
    SSL* ssl = impl->ssl.get();
    SSL_set_fd(ssl, impl->fd.get());
    if (!is_ip_literal(server.host)) SSL_set_tlsext_host_name(ssl, server.host.c_str());
    if (!tls.insecure_skip_verify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (is_ip_literal(server.host)) X509_VERIFY_PARAM_set1_ip_asc(param, server.host.c_str());
      else X509_VERIFY_PARAM_set1_host(param, server.host.c_str(), 0);
    }
    if (SSL_connect(ssl) != 1) {
      long v = SSL_get_verify_result(ssl);
      std::string why = v != X509_V_OK ? std::string("certificate verification failed: ") + X509_verify_cert_error_string(v)
                                       : ssl_errors();
      return Error{"TLS handshake with " + server.str() + ": " + why};
    }
  }

  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + server.host + ":" + std::to_string(server.port) +
                    "\r\nUser-Agent: myelind\r\nAccept: application/json\r\n";
  bool content_type = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    content_type = content_type || strcasecmp(k.c_str(), "Content-Type") == 0;
  }
  // A PATCH names its patch type (merge-patch+json); everything else sends JSON.
  if (method != "GET") {
    if (!content_type) req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    long n = impl->ssl ? SSL_write(impl->ssl.get(), req.data() + off, static_cast<int>(req.size() - off))
                       : ::send(impl->fd.get(), req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return Error{"send request to " + server.str() + ": " + (impl->ssl ? ssl_errors() : std::strerror(errno))};
    off += static_cast<size_t>(n);
  }

  std::unique_ptr<HttpStream> s(new HttpStream(std::move(impl)));
  if (auto h = s->reader_.read_head(timeout); !h) return Error{server.str() + ": " + h.error().message};
  return s;
}

Result<size_t> HttpStream::read_raw(char* buf, size_t len, std::chrono::milliseconds idle) {
  if (impl_->aborted) return Error{"aborted"};
  SSL* ssl = impl_->ssl.get();
  if (!ssl || SSL_pending(ssl) == 0) {
    pollfd p{impl_->fd.get(), POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(idle.count()));
    if (impl_->aborted) return Error{"aborted"};
    if (rc == 0) return Error{"no data for " + std::to_string(idle.count() / 1000) + " s"};
    if (rc < 0) return Error::from_errno("poll");
  }
  if (ssl) {
    int n = SSL_read(ssl, buf, static_cast<int>(len));
    if (n > 0) return static_cast<size_t>(n);
    int err = SSL_get_error(ssl, n);
    if (err == SSL_ERROR_ZERO_RETURN) return size_t{0};
    if ((err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
        (err == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      ERR_clear_error();
      return size_t{0};  // closed without close_notify: the caller knows whether the body was complete
    }
    return Error{"TLS read: " + ssl_errors()};
  }
  long n = ::recv(impl_->fd.get(), buf, len, 0);
  if (n < 0) return Error::from_errno("recv");
  return static_cast<size_t>(n);
}

Status ResponseReader::read_head(std::chrono::milliseconds idle) {
  size_t end;
  while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
    if (buf_.size() > 64 * 1024) return Error{"response headers too large"};
    if (auto f = fill(idle); !f) return Error{"read response: " + f.error().message};
  }
  std::string head = buf_.substr(0, end);
  buf_.erase(0, end + 4);
  size_t eol = head.find("\r\n");
  std::string status_line = head.substr(0, eol);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12)
    return Error{"not an HTTP response: '" + status_line.substr(0, 80) + "'"};
  response_.status = std::atoi(status_line.c_str() + 9);
  response_.reason = status_line.size() > 13 ? status_line.substr(13) : "";
  for (size_t pos = eol; pos != std::string::npos && pos < head.size();) {
    size_t next = head.find("\r\n", pos + 2);
    std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    pos = next;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    response_.headers[name] = value;
  }
  const auto& h = response_.headers;
  if (auto te = h.find("transfer-encoding"); te != h.end() && te->second.find("chunked") != std::string::npos) {
    body_ = Body::chunked;
  } else if (auto cl = h.find("content-length"); cl != h.end()) {
    body_ = Body::length;
    remaining_ = std::strtoull(cl->second.c_str(), nullptr, 10);
    done_ = remaining_ == 0;
  }
  return {};
}

Status ResponseReader::fill(std::chrono::milliseconds idle) {
  char tmp[16384];
  auto n = source_(tmp, sizeof tmp, idle);
  if (!n) return n.error();
  if (*n == 0) return Error{"connection closed by the server"};
  buf_.append(tmp, *n);
  return {};
}

Result<bool> ResponseReader::read_some(std::string& out, std::chrono::milliseconds idle) {
  for (;;) {
    if (done_) return false;
    switch (body_) {
      case Body::until_close: {
        if (!buf_.empty()) {
          out += buf_;
          buf_.clear();
          return true;
        }
        char tmp[16384];
        auto n = source_(tmp, sizeof tmp, idle);
        if (!n) return n.error();
        if (*n == 0) {
          done_ = true;
          return false;
        }
        out.append(tmp, *n);
        return true;
      }
      case Body::length: {
        if (buf_.empty())
          if (auto f = fill(idle); !f) return Error{"body cut short: " + f.error().message};
        size_t take = std::min<uint64_t>(remaining_, buf_.size());
        out.append(buf_, 0, take);
        buf_.erase(0, take);
        remaining_ -= take;
        done_ = remaining_ == 0;
        return true;
      }
      case Body::chunked: {
        if (chunk_crlf_) {  // the CRLF after a chunk's data
          while (buf_.size() < 2)
            if (auto f = fill(idle); !f) return f.error();
          if (buf_.compare(0, 2, "\r\n") != 0) return Error{"malformed chunked body"};
          buf_.erase(0, 2);
          chunk_crlf_ = false;
        }
        if (remaining_ == 0) {  // a chunk-size line
          size_t eol;
          while ((eol = buf_.find("\r\n")) == std::string::npos) {
            if (buf_.size() > 1024) return Error{"malformed chunk size"};
            if (auto f = fill(idle); !f) return f.error();
          }
          // Hex digits, then the line's end or a ';' extension: strtoull would
          // also take blanks, a sign and the CRLF itself, and misread the stream.
          uint64_t size = 0;
          size_t digits = 0;
          for (; digits < eol && std::isxdigit(static_cast<unsigned char>(buf_[digits])); ++digits) {
            if (size >> 60) return Error{"malformed chunk size (too large)"};
            const char c = buf_[digits];
            size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
          }
          if (digits == 0 || (digits < eol && buf_[digits] != ';' && buf_[digits] != ' ' && buf_[digits] != '\t'))
            return Error{"malformed chunk size"};
          buf_.erase(0, eol + 2);
          if (size == 0) {
            done_ = true;  // trailers, if any, are not read: the stream is finished
            return false;
          }
          remaining_ = size;
        }
        if (buf_.empty())
          if (auto f = fill(idle); !f) return f.error();
        size_t take = std::min<uint64_t>(remaining_, buf_.size());
        out.append(buf_, 0, take);
        buf_.erase(0, take);
        remaining_ -= take;
        if (remaining_ == 0) chunk_crlf_ = true;
        return true;
      }
    }
  }
}

Result<std::string> ResponseReader::read_all(size_t max, std::chrono::milliseconds idle) {
  std::string body;
  for (;;) {
    auto more = read_some(body, idle);
    if (!more) return more.error();
    if (!*more) return body;
    if (body.size() > max) return Error{"response larger than " + std::to_string(max) + " bytes"};
  }
}

}  // namespace myelin::kube
