// GraceDb::Impl's setup: the service URL and API version, the User-Agent, the credentials (X.509 or a
// SciToken, found now or after a refusal), and the one rule for where the token may go.
#include <cstdlib>

#include "client/rest/impl.hpp"

namespace gracedb {

GraceDb::Impl::Impl(std::string service_url, GraceDbOptions o) : options{std::move(o)} {
    detail::curl_global_init_once();
    if (service_url.empty()) throw std::invalid_argument("the GraceDB service URL is empty");
    try {
        origin = detail::parse_url(service_url);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("malformed GraceDB service URL \"" + detail::redact_url(service_url) +
                                    "\": " + e.what());
    }
    url = service_url;
    if (url.back() != '/') url += '/';
    if (options.api_version && *options.api_version != "default") {
        if (*options.api_version != "v1" && *options.api_version != "v2")
            throw std::invalid_argument(
                "api_version must be \"v1\", \"v2\" or \"default\" (no version in the URL), not \"" +
                *options.api_version + "\"");
        url += *options.api_version + "/";
    }
    shown_url = detail::redact_url(url);
    if (options.user_agent.find("gracedb-client") != std::string::npos)
        throw std::invalid_argument("user_agent \"" + options.user_agent +
                                    "\" contains \"gracedb-client\": GraceDB checks such a User-Agent "
                                    "against its own client's versions and refuses it; choose another name");
    user_agent = options.user_agent.empty() ? std::string{"gracedb-cpp/"} + gracedb::version + " (libcurl)"
                                            : options.user_agent;
    audience = options.token_audience ? *options.token_audience : gracedb_token_audience(service_url);
    if (options.cred_cert.has_value() != options.cred_key.has_value())
        throw std::invalid_argument("give both cred_cert and cred_key for X.509 authentication, or neither");
    if (options.cred_cert) {
        for (const auto* f : {&*options.cred_cert, &*options.cred_key})
            if (!std::ifstream{*f})
                throw CredentialError("cannot read the X.509 credential file \"" + *f + "\"",
                                      Errc::credential_unusable);
    } else if (!options.force_noauth) {
        try {
            tokens = std::make_shared<detail::TokenProvider>(TokenRequirements{audience, options.token_scope},
                                                             options.reload_buffer, options.reload_cred,
                                                             "GraceDB " + origin.host);
        } catch (const detail::NoUsableToken& e) {
            detail::log_warning("GraceDB client: no SciToken, requests go without credentials (" +
                                std::string{e.what()} + ")");
        }
    }
    if (options.reservation_wait.count() < 0)
        throw std::invalid_argument("reservation_wait must not be negative (0: follow-ups never wait)");
    if (options.max_response_bytes == 0)
        throw std::invalid_argument("max_response_bytes must be at least 1 (the default is 64 MiB)");
    if (origin.scheme != "https") {  // the allowance, also for a token found later (credentials_refused)
        const char* env = std::getenv("GRACEDB_ALLOW_TOKEN_OVER_HTTP");
        token_over_http = options.allow_token_over_http || (env && std::string_view{env} == "1");
    }
    if (tokens && origin.scheme != "https") {
        if (!token_over_http)
            throw CredentialError("GraceDB service URL " + shown_url +
                                      " is not https://: the SciToken found would travel in clear text. "
                                      "Use https://; or force_noauth to send no credentials; or, for a "
                                      "stand-in on this machine only, GraceDbOptions::allow_token_over_http "
                                      "(or GRACEDB_ALLOW_TOKEN_OVER_HTTP=1)",
                                  Errc::insecure_transport);
        detail::log_warning("GraceDB client: THE SCITOKEN IS SENT IN CLEAR TEXT to " + shown_url +
                            " (allow_token_over_http): anyone who can read this traffic can use it. Only for "
                            "a stand-in on this machine; never for a real GraceDB.");
    }
    if (!options.verify_tls)
        detail::log_warning("GraceDB client: TLS VERIFICATION IS OFF (verify_tls=false) for " + shown_url +
                            ": the connection can be intercepted. Never do this in production.");
    curl.reset(curl_easy_init());
    if (!curl) throw std::bad_alloc();
}

void GraceDb::Impl::credentials_refused() {
    if (options.force_noauth || options.cred_cert) return;
    std::lock_guard lock{curl_mutex};
    if (tokens) {
        tokens->recheck_soon();
        return;
    }
    const auto now = Clock::now();
    if (now < next_discovery) return;
    next_discovery = now + 5s;
    try {
        auto found = std::make_shared<detail::TokenProvider>(TokenRequirements{audience, options.token_scope},
                                                             options.reload_buffer, options.reload_cred,
                                                             "GraceDB " + origin.host);
        if (origin.scheme != "https" && !token_over_http) {
            detail::log_warning("GraceDB client: a SciToken appeared, but " + shown_url +
                                " is not https://: it is not used (see allow_token_over_http)");
            return;
        }
        tokens = std::move(found);
        detail::log_info(
            "GraceDB client: the service refused an anonymous request; a SciToken found now is used");
    } catch (const detail::NoUsableToken&) {
    }
}

bool GraceDb::Impl::may_send_token(const std::string& target) const {
    return !detail::token_refusal(origin, target, token_over_http);
}

}  // namespace gracedb
