// gracedb-kafka check: walks the path a publisher depends on, step by step with timings, and says where it
// first breaks and what to do. Steps: the Kafka token, the broker reachable (TCP), TLS verified, SASL
// accepted and the topic allowed (a ping), the GraceDB API root, the GraceDB token accepted for reservations.
// Exit status 0 only when every step passed. The token is never printed: only where it was found and its claims.
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

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "detail/text.hpp"
#include "output.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct CheckArgs {
    Connection conn;
    std::string gracedb_ca, topic = "test";
    bool no_auth = false;
};

enum class Status { ok, fail, skip };

// Prints each step as it ends, and counts.
class Report {
public:
    void step(const std::string& name, Status s, std::optional<double> ms, const std::string& detail,
              const std::string& advice = {}) {
        ++number_;
        std::ostringstream line;
        line << std::setw(2) << number_ << ". " << std::left << std::setw(13) << name << std::setw(5)
             << (s == Status::ok ? "ok" : s == Status::fail ? "FAIL" : "skip") << std::right << std::setw(10);
        if (ms) {
            line << std::fixed << std::setprecision(1) << *ms << " ms";
        } else {
            line << "" << "   ";
        }
        line << "  " << detail << "\n";
        if (!advice.empty()) line << "                                   what to do: " << advice << "\n";
        std::cout << repair_utf8(line.str());
        std::cout.flush();
        if (s == Status::fail) {
            ++failed_;
            if (first_failure_.empty()) first_failure_ = "step " + std::to_string(number_) + " (" + name + "): " + detail;
        }
    }
    int failed() const { return failed_; }
    int steps() const { return number_; }
    const std::string& first_failure() const { return first_failure_; }

private:
    int number_ = 0;
    int failed_ = 0;
    std::string first_failure_;
};

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string duration_words(std::chrono::seconds s) {
    const auto n = s.count();
    std::ostringstream out;
    if (n < 0) return "expired";
    if (n >= 86400) out << n / 86400 << " d ";
    if (n >= 3600) out << (n % 86400) / 3600 << " h ";
    out << (n % 3600) / 60 << " min " << n % 60 << " s";
    return out.str();
}

// --- Kafka brokers: addresses, TCP, TLS ------------------------------------------------------------------

struct Broker {
    std::string host, port;
    std::string text() const { return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" + port; }
};

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
    const auto deadline = Clock::now() + timeout;
    for (auto* ai = found; ai; ai = ai->ai_next) {
        Fd s{::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol)};
        if (s.fd < 0) {
            error = std::strerror(errno);
            continue;
        }
        int rc = ::connect(s.fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{s.fd, POLLOUT, 0};
            const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
            rc = ::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
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

struct SslCtxFree {
    void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};
struct SslFree {
    void operator()(SSL* p) const noexcept { SSL_free(p); }
};
struct X509Free {
    void operator()(X509* p) const noexcept { X509_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const noexcept { BIO_free(p); }
};

std::string name_text(const X509_NAME* name) {
    std::unique_ptr<BIO, BioFree> bio{BIO_new(BIO_s_mem())};
    X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string time_text(const ASN1_TIME* t) {
    std::unique_ptr<BIO, BioFree> bio{BIO_new(BIO_s_mem())};
    ASN1_TIME_print(bio.get(), t);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

struct TlsOutcome {
    bool ok = false;
    std::string detail, advice;
};

TlsOutcome check_tls(int fd, const Broker& b, const std::string& ca, bool skip_hostname) {
    TlsOutcome out;
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx{SSL_CTX_new(TLS_client_method())};
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
    std::unique_ptr<SSL, SslFree> ssl{SSL_new(ctx.get())};
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
    std::unique_ptr<X509, X509Free> cert{SSL_get1_peer_certificate(ssl.get())};
    out.ok = true;
    out.detail = std::string{SSL_get_version(ssl.get())} + ", certificate \"" +
                 (cert ? name_text(X509_get_subject_name(cert.get())) : std::string{"?"}) + "\" issued by \"" +
                 (cert ? name_text(X509_get_issuer_name(cert.get())) : std::string{"?"}) + "\", valid until " +
                 (cert ? time_text(X509_get0_notAfter(cert.get())) : std::string{"?"}) +
                 (skip_hostname ? "; host name NOT verified (--skip-hostname-verification)" : ", verified for " + b.host);
    SSL_shutdown(ssl.get());
    return out;
}

// --- token discovery ----------------------------------------------------------------------------------------

std::string describe_token(const FoundToken& t) {
    const auto& c = t.claims;
    std::string s = t.source + ": sub \"" + c.sub + "\", scope \"" + c.scope + "\", aud " + detail::join_quoted(c.aud);
    if (c.exp) {
        const auto left = std::chrono::duration_cast<std::chrono::seconds>(*c.exp - std::chrono::system_clock::now());
        s += ", expires in " + duration_words(left);
    }
    return s;
}

std::string places_text(const TokenSearch& s) {
    std::string out;
    for (const auto& p : s.places) out += (out.empty() ? "" : "; ") + p.place + ": " + p.finding;
    return out;
}

// --- GraceDB: is the token accepted for a reservation? -------------------------------------------------------

struct HttpAnswer {
    long status = 0;
    std::string body, error;
};

size_t collect(char* data, size_t size, size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

// POSTs an empty form: GraceDB checks the credentials first (an anonymous write is 403), then the form (400).
// A 400 thus means the token was accepted, and nothing was reserved.
HttpAnswer post_empty_form(const std::string& url, const std::string& token, const std::string& ca, milliseconds timeout) {
    HttpAnswer a;
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl{curl_easy_init(), &curl_easy_cleanup};
    if (!curl) throw std::bad_alloc();
    const std::string auth = "Authorization: Bearer " + token;
    curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
    headers = curl_slist_append(headers, "Accept: application/json");
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> owned{headers, &curl_slist_free_all};
    const std::string agent = std::string{"gracedb-cpp/"} + gracedb::version + " (gracedb-kafka check)";
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl.get(), CURLOPT_USERAGENT, agent.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);  // the token goes to this URL only
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &a.body);
    if (!ca.empty()) curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca.c_str());
    if (CURLcode rc = curl_easy_perform(curl.get()); rc != CURLE_OK) {
        a.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        return a;
    }
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &a.status);
    return a;
}

// --- the steps ----------------------------------------------------------------------------------------------

bool is_authorization(const Error& e) {
    if (e.code() == Errc::authorization_failed) return true;
    if (e.rdkafka_error().find("AUTHORIZATION") != std::string::npos) return true;
    // Until every Kafka error carries its code, the delivery report's text is the only witness.
    const std::string_view what = e.what();
    return e.code() == Errc::unknown && (what.find("uthorization failed") != std::string_view::npos ||
                                         what.find("AUTHORIZATION_FAILED") != std::string_view::npos);
}

int run(const CheckArgs& a) {
    Report report;
    const auto timeout = to_ms(a.conn.timeout_s);
    const std::string service_url = a.conn.service_url;
    std::cout << "gracedb-kafka check: the path from this machine to GraceDB over Kafka (each step at most "
              << a.conn.timeout_s << " s)\n";

    // 1. A token for the brokers.
    bool token_ok = true;
    if (!uses_sasl(a.conn)) {
        report.step("kafka-token", Status::skip, std::nullopt,
                    "--protocol " + a.conn.protocol + " sends no token");
    } else {
        const auto t0 = Clock::now();
        const TokenRequirements req{a.conn.audience.empty() ? kafka::default_kafka_audience(a.conn.bootstrap)
                                                            : a.conn.audience,
                                    a.conn.scope};
        const auto search = find_scitoken(req);
        const double ms = ms_since(t0);
        if (search.token && search.token->matches) {
            report.step("kafka-token", Status::ok, ms, describe_token(*search.token));
        } else if (search.token) {
            token_ok = false;
            report.step("kafka-token", Status::fail, ms,
                        "no token for audience \"" + req.audience + "\" and scope \"" + req.scope + "\"; found " +
                            describe_token(*search.token),
                        "get a token with that audience and scope (e.g. htgettoken --audience " + req.audience +
                            " --scopes " + req.scope + "), or say which the brokers expect with --token-audience/--token-scope");
        } else {
            token_ok = false;
            report.step("kafka-token", Status::fail, ms, "no usable SciToken: " + places_text(search),
                        "get one (e.g. htgettoken --audience " + req.audience + " --scopes " + req.scope +
                            ") or point $BEARER_TOKEN_FILE at it; an expired token must be renewed");
        }
    }

    // 2. The brokers reachable.
    const auto brokers = parse_bootstrap(a.conn.bootstrap);
    std::optional<Broker> reached;
    Fd socket;
    {
        const auto t0 = Clock::now();
        std::string failures;
        for (const auto& b : brokers) {
            std::string error;
            Fd s = connect_tcp(b, timeout, error);
            if (s.fd >= 0) {
                reached = b;
                socket = std::move(s);
                break;
            }
            failures += (failures.empty() ? "" : "; ") + b.text() + ": " + error;
        }
        const double ms = ms_since(t0);
        if (reached) {
            report.step("broker", Status::ok, ms,
                        reached->text() + " accepts TCP connections" + (failures.empty() ? "" : " (" + failures + ")"));
        } else {
            report.step("broker", Status::fail, ms, "no broker reachable: " + failures,
                        "check -b (host:port of the brokers' listener for your protocol), the network, a firewall; "
                        "is the broker up?");
        }
    }

    // 3. TLS verified.
    bool tls_ok = reached.has_value();
    if (!reached) {
        report.step("tls", Status::skip, std::nullopt, "not run: no broker reachable");
    } else if (!uses_tls(a.conn)) {
        report.step("tls", Status::skip, std::nullopt, "--protocol " + a.conn.protocol + " does not use TLS");
    } else {
        const auto t0 = Clock::now();
        const auto out = check_tls(socket.fd, *reached, a.conn.ca, a.conn.skip_hostname);
        tls_ok = out.ok;
        report.step("tls", out.ok ? Status::ok : Status::fail, ms_since(t0), out.detail, out.advice);
    }
    socket = Fd{};

    // 4 and 5. SASL accepted, the topic allowed: one ping tells both.
    if (!reached || !tls_ok || !token_ok) {
        const std::string why = !reached ? "no broker reachable" : !tls_ok ? "TLS failed" : "no usable token";
        if (uses_sasl(a.conn)) report.step("sasl", Status::skip, std::nullopt, "not run: " + why);
        report.step("topic", Status::skip, std::nullopt, "not run: " + why);
    } else {
        const auto t0 = Clock::now();
        std::string topic_name;
        try {
            auto options = producer_options(a.conn);
            kafka::Producer p{options};
            topic_name = p.topic_for(a.topic);
            try {
                const auto r = p.ping(a.topic, timeout);
                const double ms = ms_since(t0);
                close_producer(p, timeout);
                if (uses_sasl(a.conn)) {
                    const auto c = p.token_claims();
                    report.step("sasl", Status::ok, std::nullopt,
                                "the broker accepted the token (OAUTHBEARER" +
                                    (c ? ", principal User:" + c->sub : std::string{}) + "), as the ping shows");
                }
                report.step("topic", Status::ok, ms,
                            "ping delivered to " + r.topic + " partition " + std::to_string(r.partition) + " offset " +
                                std::to_string(r.offset));
            } catch (...) {
                close_producer(p, milliseconds{0});
                throw;
            }
        } catch (const kafka::KafkaTokenError& e) {
            report.step("sasl", Status::fail, ms_since(t0), e.what(), "get a usable token (see step 1)");
            report.step("topic", Status::skip, std::nullopt, "not run: no token");
        } catch (const Error& e) {
            const double ms = ms_since(t0);
            const std::string what = with_client_cause(e.what());
            if (is_authorization(e)) {
                if (uses_sasl(a.conn)) report.step("sasl", Status::ok, std::nullopt, "the broker accepted the token");
                report.step("topic", Status::fail, ms, "the broker refused the topic " + topic_name + ": " + what,
                            "this principal may not write " + topic_name +
                                ": check the pipeline (-t) and instance (--service-url/--instance), or ask the "
                                "Kafka administrators for write access to it");
            } else if (uses_sasl(a.conn) &&
                       (e.code() == Errc::authentication_failed || e.code() == Errc::token_unusable ||
                        dynamic_cast<const kafka::KafkaAuthenticationError*>(&e))) {
                report.step("sasl", Status::fail, ms, "the broker refused the token: " + what,
                            "the brokers check the token's signature, issuer, audience (--token-audience) and "
                            "expiry: get a fresh token for these brokers");
                report.step("topic", Status::skip, std::nullopt, "not run: SASL failed");
            } else {
                const std::string step = uses_sasl(a.conn) ? "sasl" : "topic";
                report.step(step, Status::fail, ms, what,
                            "the broker took the connection but the ping did not get through: see the message; "
                            "--log-level debug shows the Kafka client's log");
                if (step == "sasl") report.step("topic", Status::skip, std::nullopt, "not run: the ping failed");
            }
        } catch (const std::invalid_argument& e) {
            report.step("topic", Status::fail, ms_since(t0), e.what(), "fix the option it names");
        }
    }

    // 6. The GraceDB API root.
    nlohmann::json root;
    {
        const auto t0 = Clock::now();
        try {
            GraceDb client{service_url, {.force_noauth = true, .ca_cert_path = opt(a.gracedb_ca),
                                         .timeout = timeout, .max_retries = 0}};
            root = client.api_root();
            report.step("gracedb-api", Status::ok, ms_since(t0),
                        client.service_url() + " answered with its API root" +
                            (service_url.starts_with("http://") ? " (plain http: no token will be sent to it)" : ""));
        } catch (const HTTPError& e) {
            report.step("gracedb-api", Status::fail, ms_since(t0), e.what(),
                        "is --service-url GraceDB's API root (https://<host>/api/)?");
        } catch (const std::exception& e) {
            report.step("gracedb-api", Status::fail, ms_since(t0), e.what(),
                        "check --service-url, the network (proxy, firewall) and whether GraceDB is up; for HTTPS "
                        "with a private CA pass --gracedb-ca-cert");
        }
    }

    // 7. The GraceDB token, accepted for reservations.
    if (a.no_auth) {
        report.step("gracedb-token", Status::skip, std::nullopt, "--no-auth: no credentials are sent to GraceDB");
    } else if (root.is_null()) {
        report.step("gracedb-token", Status::skip, std::nullopt, "not run: GraceDB's API root is out of reach");
    } else {
        const auto t0 = Clock::now();
        const TokenRequirements req{gracedb_token_audience(service_url), "gracedb.read"};
        const auto search = find_scitoken(req);
        const auto link = root.contains("links") && root["links"].contains("reservations") &&
                                  root["links"]["reservations"].is_string()
                              ? root["links"]["reservations"].get<std::string>()
                              : std::string{};
        if (!search.token) {
            report.step("gracedb-token", Status::fail, ms_since(t0), "no usable SciToken for GraceDB: " + places_text(search),
                        "get one with audience " + req.audience + " and scope gracedb.read (e.g. htgettoken)");
        } else if (link.empty()) {
            report.step("gracedb-token", Status::fail, ms_since(t0),
                        "this GraceDB's API root has no \"reservations\" link: it cannot take events over Kafka",
                        "use --transport http with create-event, or a GraceDB that supports reservations");
        } else if (!link.starts_with("https://")) {
            report.step("gracedb-token", Status::fail, ms_since(t0),
                        "not sent: " + link + " is not https, the token would travel in clear text",
                        "use GraceDB's https:// service URL (or --no-auth for a server without authentication)");
        } else {
            const auto answer = post_empty_form(link, search.token->token, a.gracedb_ca, timeout);
            const double ms = ms_since(t0);
            const std::string who = describe_token(*search.token);
            if (!answer.error.empty()) {
                report.step("gracedb-token", Status::fail, ms, "POST " + link + " failed: " + answer.error,
                            "check the network and --gracedb-ca-cert");
            } else if (answer.status == 400 || answer.status == 201) {
                report.step("gracedb-token", Status::ok, ms,
                            "GraceDB accepted the token for reservations (" + who + ")" +
                                (answer.status == 400 ? "; the empty test request was refused as intended, nothing reserved"
                                                      : "; the server reserved a graceid for the empty request"));
            } else if (answer.status == 401 || answer.status == 403) {
                report.step("gracedb-token", Status::fail, ms,
                            "GraceDB did not accept the token (HTTP " + std::to_string(answer.status) + ": " +
                                answer.body.substr(0, 200) + "); token: " + who,
                            "GraceDB wants audience " + req.audience +
                                ", scope gracedb.read, a trusted issuer and a known user: get such a token");
            } else {
                report.step("gracedb-token", Status::fail, ms,
                            "POST " + link + " answered HTTP " + std::to_string(answer.status) + ": " +
                                answer.body.substr(0, 200),
                            "is this GraceDB's API root? tell its operators what it answered");
            }
        }
    }

    if (report.failed() == 0) {
        std::cout << "all " << report.steps() << " steps passed\n";
        return 0;
    }
    std::cout << report.failed() << " of " << report.steps() << " steps failed\n";
    std::cerr << "gracedb-kafka check: failed at " << repair_utf8(report.first_failure()) << "\n";
    return 1;
}

}  // namespace

Command add_check(CLI::App& parent) {
    auto a = std::make_shared<CheckArgs>();
    auto* sub = parent.add_subcommand(
        "check",
        "walk the whole publishing path (Kafka token, broker, TLS, SASL, topic, GraceDB, GraceDB token) step by "
        "step, with timings and what to do; exit status 0 only when every step passed. Run it first when "
        "something does not work");
    add_connection_options(*sub, a->conn,
                           {.scope = "kafka.produce", .service_url_required = true, .timeout = true});
    add_gracedb_ca_option(*sub, a->gracedb_ca);
    sub->add_option("-t,--topic", a->topic, "pipeline to ping (default: test)");
    sub->add_flag("--no-auth", a->no_auth, "GraceDB without credentials (skips the GraceDB token step)");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
