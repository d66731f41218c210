#include "common/url.hpp"

#include <algorithm>
#include <mutex>
#include <stdexcept>

#include "common/curl.hpp"

namespace gracedb::detail {

// A function-local static is initialised once, thread-safely. Not std::call_once: its lambda's template
// instantiation would be exported from libgracedb.so (the package test checks).
void curl_global_init_once() {
    static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    (void)initialised;
}

namespace {

std::string get_part(CURLU* u, CURLUPart part) {
    char* raw = nullptr;
    if (curl_url_get(u, part, &raw, 0) != CURLUE_OK || !raw) return {};
    CurlString owned{raw};
    return std::string{raw};
}

}  // namespace

UrlParts parse_url(std::string_view url_view) {
    const std::string url{url_view};
    // libcurl reads "https:///api/" as host "api"; Python's urlparse (and we) see no host there.
    if (auto sep = url.find("://"); sep != std::string::npos && (sep + 3 == url.size() || url[sep + 3] == '/'))
        throw std::invalid_argument("it has no host");
    curl_global_init_once();
    CurlUrl handle{curl_url()};
    if (!handle) throw std::bad_alloc();
    // No CURLU_DEFAULT_SCHEME: like Python's urlparse, "gracedb.ligo.org/api/" has no host.
    if (CURLUcode rc = curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME);
        rc != CURLUE_OK)
        throw std::invalid_argument(std::string{curl_url_strerror(rc)} +
                                    "; give a full URL such as \"https://gracedb.ligo.org/api/\"");
    UrlParts out;
    out.scheme = lower(get_part(handle.get(), CURLUPART_SCHEME));
    out.host = lower(get_part(handle.get(), CURLUPART_HOST));
    if (out.host.empty()) throw std::invalid_argument("it has no host");
    if (out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
    const std::string port = get_part(handle.get(), CURLUPART_PORT);
    if (!port.empty()) out.port = std::stoi(port);  // libcurl checked it is a number in range
    else if (out.scheme == "https") out.port = 443;
    else if (out.scheme == "http") out.port = 80;
    return out;
}

std::string redact_url(std::string_view url) {
    std::string s{url};
    const auto sep = s.find("://");
    const auto start = sep == std::string::npos ? 0 : sep + 3;
    const auto end = s.find_first_of("/?#", start);
    const auto at = s.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at == std::string::npos || at < start) return s;
    return s.replace(start, at - start, "***");
}

std::string origin_text(const UrlParts& u) {
    const bool v6 = u.host.find(':') != std::string::npos;
    const std::string host = v6 ? "[" + u.host + "]" : u.host;
    return u.scheme + "://" + host + (u.port ? ":" + std::to_string(u.port) : "");
}

std::optional<std::string> token_refusal(const UrlParts& service, std::string_view target,
                                         bool allow_clear_text) {
    UrlParts t;
    try {
        t = parse_url(target);
    } catch (const std::invalid_argument& e) {
        return "the URL \"" + redact_url(target) + "\" cannot be parsed (" + e.what() + ")";
    }
    if (t.scheme != service.scheme || t.host != service.host || t.port != service.port)
        return "the token is sent only to the service's own origin " + origin_text(service) + ", and " +
               redact_url(target) + " is at another origin, " + origin_text(t);
    if (t.scheme != "https" && !allow_clear_text)
        return redact_url(target) + " is not https: the token would travel in clear text";
    return std::nullopt;
}

}  // namespace gracedb::detail
