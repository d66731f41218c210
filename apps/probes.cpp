// gracedb-kafka check's probes: TCP, TLS (OpenSSL) and one HTTP request (libcurl), each bounded by a timeout.
// The C handles are owned through the library's private deleters (common/curl.hpp, common/openssl.hpp); the
// transfer and its bounded body are the library's own (common/curl_sink.hpp).
#include "probes.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <gracedb/version.hpp>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "common/curl.hpp"
#include "common/curl_sink.hpp"
#include "common/deadline.hpp"
#include "common/openssl.hpp"

namespace gracedb::app {

using std::chrono::milliseconds;

// --- Kafka brokers: addresses, TCP, TLS ------------------------------------------------------------------


std::vector<Broker> parse_bootstrap(const std::string& list) {
    std::vector<Broker> out;
    std::stringstream in{list};
    std::string item;
    while (std::getline(in, item, ',')) {
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (item.empty()) continue;
        if (auto p = item.find("://"); p != std::string::npos) item = item.substr(p + 3);
        Broker b;
        if (item.front() == '[') {
            const auto close = item.find(']');
            if (close == std::string::npos) throw std::invalid_argument("bad broker address \"" + item + "\"");
            b.host = item.substr(1, close - 1);
            b.port = close + 1 < item.size() && item[close + 1] == ':' ? item.substr(close + 2) : "9092";
        } else if (auto colon = item.rfind(':'); colon != std::string::npos) {
            b.host = item.substr(0, colon);
            b.port = item.substr(colon + 1);
        } else {
            b.host = item;
            b.port = "9092";
        }
        out.push_back(b);
    }
    if (out.empty()) throw std::invalid_argument("no broker in --bootstrap \"" + list + "\"");
    return out;
}


// A connected TCP socket (blocking, with send/receive timeouts), or the reason there is none.
Fd connect_tcp(const Broker& b, milliseconds timeout, std::string& error) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = ::getaddrinfo(b.host.c_str(), b.port.c_str(), &hints, &found); rc != 0) {
        error = "cannot resolve " + b.host + ": " + gai_strerror(rc);
        return {};
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list{found, &::freeaddrinfo};
    const auto deadline = detail::Deadline::after(timeout);
    for (auto* ai = found; ai; ai = ai->ai_next) {
        Fd s{::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol)};
        if (s.fd < 0) {
            error = std::strerror(errno);
            continue;
        }
        int rc = ::connect(s.fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{s.fd, POLLOUT, 0};
            rc = ::poll(&p, 1, deadline.rd_timeout_ms());
            if (rc == 0) {
                error = "no answer within " + std::to_string(timeout.count()) + " ms (a firewall dropping packets?)";
                continue;
            }
            int so_error = 0;
            socklen_t len = sizeof so_error;
            ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
            rc = so_error == 0 ? 0 : -1;
            errno = so_error;
        }
        if (rc != 0) {
            error = std::strerror(errno);
            continue;
        }
        const int flags = ::fcntl(s.fd, F_GETFL);
        ::fcntl(s.fd, F_SETFL, flags & ~O_NONBLOCK);
        timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
        ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(s.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        return s;
    }
    return {};
}

namespace {

std::string name_text(const X509_NAME* name) {
    detail::Bio bio{BIO_new(BIO_s_mem())};
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    return detail::bio_text(bio.get());
}

std::string time_text(const ASN1_TIME* t) {
    detail::Bio bio{BIO_new(BIO_s_mem())};
    ASN1_TIME_print(bio.get(), t);
    return detail::bio_text(bio.get());
}

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}


}  // namespace

TlsOutcome check_tls(int fd, const Broker& b, const std::string& ca, bool skip_hostname) {
    TlsOutcome out;
    detail::SslCtx ctx{SSL_CTX_new(TLS_client_method())};
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    if (!ca.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), ca.c_str(), nullptr) != 1) {
            out.detail = "cannot load the CA bundle " + ca;
            out.advice = "--ca-cert (or $GRACEDB_KAFKA_CA) must name a readable PEM file of CA certificates";
            return out;
        }
    } else {
        SSL_CTX_set_default_verify_paths(ctx.get());
    }
    detail::Ssl ssl{SSL_new(ctx.get())};
    if (!skip_hostname) {
        if (is_ip_literal(b.host)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), b.host.c_str());
        } else {
            SSL_set1_host(ssl.get(), b.host.c_str());
        }
    }
    if (!is_ip_literal(b.host)) SSL_set_tlsext_host_name(ssl.get(), b.host.c_str());
    SSL_set_fd(ssl.get(), fd);
    ERR_clear_error();
    errno = 0;
    if (SSL_connect(ssl.get()) != 1) {
        const long verify = SSL_get_verify_result(ssl.get());
        if (verify != X509_V_OK) {
            out.detail = std::string{"certificate verify failed: "} + X509_verify_cert_error_string(verify);
            switch (verify) {
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
            case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
            case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
                out.advice = std::string{"the broker's certificate is not signed by a CA "} +
                             (ca.empty() ? "this machine trusts: pass --ca-cert <the CA bundle of the brokers>"
                                         : "in " + ca + ": pass the CA that signed the brokers' certificates") +
                             " (or set $GRACEDB_KAFKA_CA)";
                break;
            case X509_V_ERR_HOSTNAME_MISMATCH:
            case X509_V_ERR_IP_ADDRESS_MISMATCH:
                out.advice = "the certificate is not for " + b.host +
                             ": connect by a name the certificate carries, or --skip-hostname-verification (testing only)";
                break;
            case X509_V_ERR_CERT_HAS_EXPIRED:
            case X509_V_ERR_CERT_NOT_YET_VALID:
                out.advice = "the broker's certificate is outside its validity (or this machine's clock is wrong): "
                             "check the clock, else tell the broker's operators";
                break;
            default:
                out.advice = "tell the broker's operators what this says; --ca-cert names the CA to trust";
            }
            return out;
        }
        const unsigned long e = ERR_get_error();
        char buf[256] = {};
        if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
        out.detail = "TLS handshake with " + b.text() + " failed: " +
                     (e != 0 ? std::string{buf}
                      : errno == EAGAIN || errno == EWOULDBLOCK ? std::string{"no answer (timed out)"}
                      : errno != 0 ? std::string{std::strerror(errno)}
                                   : std::string{"the broker closed the connection"});
        out.advice = "is " + b.text() + " the brokers' TLS listener? A plaintext port needs --protocol "
                     "sasl_plaintext or plaintext";
        return out;
    }
    detail::X509Ptr cert{SSL_get1_peer_certificate(ssl.get())};
    out.ok = true;
    out.detail = std::string{SSL_get_version(ssl.get())} + ", certificate \"" +
                 (cert ? name_text(X509_get_subject_name(cert.get())) : std::string{"?"}) + "\" issued by \"" +
                 (cert ? name_text(X509_get_issuer_name(cert.get())) : std::string{"?"}) + "\", valid until " +
                 (cert ? time_text(X509_get0_notAfter(cert.get())) : std::string{"?"}) +
                 (skip_hostname ? "; host name NOT verified (--skip-hostname-verification)" : ", verified for " + b.host);
    SSL_shutdown(ssl.get());
    return out;
}

// --- GraceDB: is the token accepted for a reservation? -------------------------------------------------------


// POSTs an empty form: GraceDB checks the credentials first (an anonymous write is 403), then the form (400).
// A 400 thus means the token was accepted, and nothing was reserved.
HttpAnswer post_empty_form(const std::string& url, const std::string& token, const std::string& ca, milliseconds timeout) {
    HttpAnswer a;
    detail::curl_global_init_once();
    detail::CurlEasy curl{curl_easy_init()};
    if (!curl) throw std::bad_alloc();
    std::string auth = "Authorization: Bearer " + token;
    detail::CurlList headers{curl_slist_append(nullptr, auth.c_str())};
    std::fill(auth.begin(), auth.end(), '\0');
    headers.reset(curl_slist_append(headers.release(), "Accept: application/json"));
    detail::BodySink body;  // bounded, and its callback never throws into libcurl
    const std::string agent = std::string{"gracedb-cpp/"} + gracedb::version + " (gracedb-kafka check)";
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);  // the token goes to this URL only
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "https");
    if (!ca.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca.c_str());
    const auto done = detail::perform_transfer(curl.get(), body);
    if (body.too_large) {
        a.error = "the answer is larger than " + std::to_string(body.limit) + " bytes: not read further";
        return a;
    }
    if (done.code != CURLE_OK) {
        a.error = done.error;
        return a;
    }
    a.status = done.status;
    a.body = std::move(body.body);
    return a;
}

}  // namespace gracedb::app
