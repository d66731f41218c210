// gracedb-kafka check's probes: a TCP connection, a TLS handshake (OpenSSL) and one HTTP request (libcurl),
// each bounded by a timeout and saying what went wrong.
#pragma once

#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace gracedb::app {

/// One broker of a bootstrap list.
struct Broker {
    std::string host, port;
    std::string text() const { return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port; }
};

/// "host:port,[v6]:port,SASL_SSL://host:port" -> brokers (port 9092 when none). std::invalid_argument if empty.
std::vector<Broker> parse_bootstrap(const std::string& list);

/// An owned file descriptor.
struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd{f} {}
    Fd(Fd&& o) noexcept : fd{std::exchange(o.fd, -1)} {}
    Fd& operator=(Fd&& o) noexcept {
        std::swap(fd, o.fd);
        return *this;
    }
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

/// A connected TCP socket (blocking, with send/receive timeouts), or fd -1 and the reason in `error`.
Fd connect_tcp(const Broker& b, std::chrono::milliseconds timeout, std::string& error);

struct TlsOutcome {
    bool ok = false;
    std::string detail, advice;
};

/// A TLS handshake on `fd` verifying the broker's certificate against `ca` (empty: the system's CAs) and, unless
/// `skip_hostname`, its name. On failure: what failed and what to do.
TlsOutcome check_tls(int fd, const Broker& b, const std::string& ca, bool skip_hostname);

struct HttpAnswer {
    long status = 0;
    std::string body, error;
};

/// POSTs an empty form with the bearer token to `url` (https only, no redirects). GraceDB checks credentials
/// first (an anonymous write is 403) and the form next (400): a 400 means the token was accepted and nothing
/// was reserved.
HttpAnswer post_empty_form(const std::string& url, const std::string& token, const std::string& ca,
                           std::chrono::milliseconds timeout);

}  // namespace gracedb::app
