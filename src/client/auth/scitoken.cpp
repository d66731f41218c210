#include <gracedb/scitoken.hpp>

#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/base64.hpp"
#include "common/log.hpp"
#include "common/text.hpp"

namespace gracedb {
namespace {

using Clock = std::chrono::system_clock;
constexpr std::string_view wlcg_any_audience = "https://wlcg.cern.ch/jwt/v1/any";

std::string base64url_decode(std::string_view in, const char* what) {
    auto out = detail::base64_decode(in, true);
    if (!out) throw std::invalid_argument(std::string{"its "} + what + " is not valid base64url");
    return *out;
}

std::optional<Clock::time_point> time_claim(const nlohmann::json& payload, const char* name) {
    auto it = payload.find(name);
    if (it == payload.end() || it->is_null()) return std::nullopt;
    if (!it->is_number())
        throw std::invalid_argument(std::string{"its \""} + name + "\" claim is not a number of seconds");
    const double seconds = it->get<double>();
    if (!std::isfinite(seconds)) throw std::invalid_argument(std::string{"its \""} + name + "\" claim is not finite");
    // The clock counts nanoseconds in 64 bits (up to 2262): exp=9999999999, a common "never", overflowed the
    // conversion (undefined behaviour; it read as expired in 1677). Saturate to [1970, 2200]: 2200 is "never"
    // for any token, and leaves room for the arithmetic done on an expiry (refresh due times, lifetimes).
    constexpr double latest = 7258118400.0;  // 2200-01-01T00:00:00Z
    const double clamped = std::clamp(seconds, 0.0, latest);
    const double whole = std::floor(clamped);  // whole seconds exactly, then the fraction (no 512 ns drift)
    return Clock::time_point{std::chrono::seconds{static_cast<std::int64_t>(whole)}} +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>{clamped - whole});
}

std::string string_claim(const nlohmann::json& payload, const char* name) {
    auto it = payload.find(name);
    return it != payload.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

std::string trim(std::string_view s) {
    const char* ws = " \t\r\n\v\f";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    const auto e = s.find_last_not_of(ws);
    return std::string{s.substr(b, e - b + 1)};
}

struct Place {
    std::string name;
    std::optional<std::string> path;   // a file to read
    std::optional<std::string> value;  // the token itself
    std::string absent;                // the finding when there is nothing to read
};

std::vector<Place> places_to_look() {
    std::vector<Place> places;
    const auto uid = std::to_string(::geteuid());
    if (const char* v = std::getenv("BEARER_TOKEN"))
        places.push_back({"$BEARER_TOKEN", std::nullopt, std::string{v}, ""});
    else
        places.push_back({"$BEARER_TOKEN", std::nullopt, std::nullopt, "unset"});
    if (const char* v = std::getenv("BEARER_TOKEN_FILE"); v && *v)
        places.push_back({"$BEARER_TOKEN_FILE=" + std::string{v}, std::string{v}, std::nullopt, ""});
    else
        places.push_back({"$BEARER_TOKEN_FILE", std::nullopt, std::nullopt, v ? "empty" : "unset"});
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg) {
        std::string p = std::string{xdg} + "/bt_u" + uid;
        places.push_back({p, p, std::nullopt, ""});
    } else {
        std::string p = "/tmp/bt_u" + uid;
        places.push_back({p, p, std::nullopt, ""});
    }
    return places;
}

struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// Why a token file must not be used, as OpenSSH judges a private key: it must be a regular file of this
// process's user (another user could have planted it: /tmp/bt_u<uid> without $XDG_RUNTIME_DIR), and give no
// permission to group or others (they could read the secret, or replace it). Empty: it may be used.
std::string refusal(const std::string& path, const struct stat& st) {
    const auto uid = ::geteuid();
    if (!S_ISREG(st.st_mode)) return "refused: not a regular file";
    if (st.st_uid != uid)
        return "refused: owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
               std::to_string(uid) + "); another user may have put it there: remove it, or if it is yours, " +
               "chown it to yourself and chmod 600 it";
    if ((st.st_mode & 077) != 0)
        return "refused: mode " + octal_mode(st.st_mode) + " lets group or others read or change it; a " +
               "token is a secret: chmod 600 " + path;
    return {};
}

// Reads a token file: nullopt and a finding when it cannot be read or must not be used (see refusal).
std::optional<std::string> read_token_file(const std::string& path, std::string& finding) {
    // O_NONBLOCK: a FIFO put in its place must not block discovery (it is refused as not a regular file).
    const Fd in{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
    struct stat st {};
    if (in.fd < 0 || ::fstat(in.fd, &st) != 0) {
        finding = errno == ENOENT ? "missing" : std::string{"unreadable: "} + std::strerror(errno);
        return std::nullopt;
    }
    if (auto why = refusal(path, st); !why.empty()) {
        finding = std::move(why);
        detail::log_warning("SciToken discovery: " + path + " " + finding);
        return std::nullopt;
    }
    std::string text;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(in.fd, buf, sizeof buf);
        if (n > 0) {
            text.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
            return text;
        } else if (errno != EINTR) {
            finding = std::string{"unreadable: "} + std::strerror(errno);
            return std::nullopt;
        }
    }
}

}  // namespace

bool TokenClaims::has_audience(std::string_view audience) const {
    return std::any_of(aud.begin(), aud.end(),
                       [&](const std::string& a) { return a == audience || a == "ANY" || a == wlcg_any_audience; });
}

bool TokenClaims::has_scope(std::string_view wanted) const {
    std::istringstream words{scope};
    for (std::string w; words >> w;) {
        if (w == wanted) return true;
        if (w.size() > wanted.size() && w.compare(0, wanted.size(), wanted) == 0 && w[wanted.size()] == ':')
            return true;
    }
    return false;
}

std::string TokenClaims::describe() const {
    std::string out = "sub=" + (sub.empty() ? std::string{"(none)"} : sub);
    out += ", scope=\"" + scope + "\"";
    out += ", exp=" + (exp ? detail::format_utc(*exp) : std::string{"(none)"});
    return out;
}

TokenClaims parse_token_claims(std::string_view jwt) {
    const auto parts = static_cast<std::size_t>(std::count(jwt.begin(), jwt.end(), '.')) + 1;
    if (parts != 3)
        throw std::invalid_argument("not a JWT: it has " + std::to_string(parts) +
                                    " part(s) separated by '.', a JWT has 3");
    const auto first = jwt.find('.');
    const auto second = jwt.find('.', first + 1);
    const auto header_text = base64url_decode(jwt.substr(0, first), "header");
    const auto payload_text = base64url_decode(jwt.substr(first + 1, second - first - 1), "payload");
    auto header = nlohmann::json::parse(header_text, nullptr, false);
    if (header.is_discarded() || !header.is_object())
        throw std::invalid_argument("not a JWT: its header is not a JSON object");
    auto payload = nlohmann::json::parse(payload_text, nullptr, false);
    if (payload.is_discarded()) throw std::invalid_argument("not a JWT: its payload is not JSON");
    if (!payload.is_object()) throw std::invalid_argument("not a JWT: its payload is not a JSON object");

    TokenClaims c;
    c.iss = string_claim(payload, "iss");
    c.sub = string_claim(payload, "sub");
    c.scope = string_claim(payload, "scope");
    c.ver = string_claim(payload, "ver");
    if (auto it = payload.find("aud"); it != payload.end()) {
        if (it->is_string()) {
            c.aud.push_back(it->get<std::string>());
        } else if (it->is_array()) {
            for (const auto& a : *it)
                if (a.is_string()) c.aud.push_back(a.get<std::string>());
        }
    }
    c.exp = time_claim(payload, "exp");
    c.iat = time_claim(payload, "iat");
    c.nbf = time_claim(payload, "nbf");
    return c;
}

std::string token_fingerprint(std::string_view token) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(token.data(), token.size(), digest, &len, EVP_sha256(), nullptr);
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < 4 && i < len; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 15];
    }
    return out;
}

std::string FoundToken::describe() const {
    return "token from " + source + " (" + claims.describe() + ", fingerprint " + token_fingerprint(token) + ")";
}

std::string TokenSearch::describe_places() const {
    std::string out = "looked in ";
    for (std::size_t i = 0; i < places.size(); ++i) {
        if (i) out += ", ";
        out += places[i].place + " (" + places[i].finding + ")";
    }
    return out;
}

TokenSearch find_scitoken(const TokenRequirements& req, Clock::time_point now) {
    TokenSearch search;
    std::optional<FoundToken> fallback;
    for (const auto& place : places_to_look()) {
        TokenPlace report{place.name, place.absent};
        std::optional<std::string> raw = place.value;
        if (place.path) raw = read_token_file(*place.path, report.finding);
        if (!raw) {
            search.places.push_back(std::move(report));
            continue;
        }
        std::string token = trim(*raw);
        if (token.empty()) {
            report.finding = "empty";
            search.places.push_back(std::move(report));
            continue;
        }
        FoundToken found{token, {}, place.path && !place.value ? *place.path : place.name, false};
        try {
            found.claims = parse_token_claims(token);
        } catch (const std::invalid_argument& e) {
            report.finding = std::string{"malformed: "} + e.what();
            search.places.push_back(std::move(report));
            continue;
        }
        const auto& c = found.claims;
        if (!c.exp) {
            report.finding = "unusable: no numeric \"exp\" claim (its lifetime must be known)";
        } else if (*c.exp <= now) {
            report.finding = "expired at " + detail::format_utc(*c.exp) + " (sub=" + c.sub + ")";
        } else if (!req.audience.empty() && !c.has_audience(req.audience)) {
            report.finding = "audience " + detail::join_quoted(c.aud) + " lacks \"" + req.audience + "\" (" +
                             c.describe() + ")";
            if (!fallback) fallback = found;
        } else if (!req.scope.empty() && !c.has_scope(req.scope)) {
            report.finding = "scope \"" + c.scope + "\" lacks \"" + req.scope + "\" (" + c.describe() + ")";
            if (!fallback) fallback = found;
        } else {
            report.finding = "usable (" + c.describe() + ")";
            found.matches = true;
            search.token = std::move(found);
            search.places.push_back(std::move(report));
            return search;  // the places after this one were not looked at
        }
        search.places.push_back(std::move(report));
    }
    search.token = std::move(fallback);
    return search;
}

}  // namespace gracedb
