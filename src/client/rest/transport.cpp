// GraceDb::Impl: the libcurl transport (the one place libcurl codes become exceptions), retries, the API root
// and its vocabularies, and where the token may go.
#include <cstdlib>

#include "client/event/http_answer.hpp"
#include "common/text.hpp"
#include "client/rest/impl.hpp"

namespace gracedb {

namespace rest_detail {

void throw_transport_error(CURLcode rc, const std::string& what, const char* curl_detail, bool sent_unsafe) {
    Errc code = Errc::unknown;
    bool retriable = false;
    switch (rc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            code = Errc::connection_failed;
            retriable = true;
            break;
        case CURLE_OPERATION_TIMEDOUT:
            code = Errc::timed_out;
            retriable = true;
            break;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_USE_SSL_FAILED:
            code = Errc::tls_failed;  // a certificate or handshake problem: retrying cannot help
            break;
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
            code = Errc::invalid_configuration;
            break;
        default:
            break;
    }
    std::string msg = what + " failed without an HTTP answer: " + curl_easy_strerror(rc);
    if (curl_detail && *curl_detail) msg += std::string{" ("} + curl_detail + ")";
    if (code == Errc::tls_failed)
        msg += "; check the server's certificate, ca_cert_path, and your X.509 credential";
    else if (code == Errc::connection_failed || code == Errc::timed_out)
        msg += "; is the GraceDB server reachable?";
    // After these the request may have reached the server and been processed; only the answer is missing.
    const bool outcome_unknown = rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
                                 rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE;
    if (sent_unsafe && outcome_unknown) {
        msg += ". The request may have been processed (the event created, the graceid reserved) although no answer "
               "arrived: check before sending it again (GraceDb::event(graceid) if you know it, or the latest "
               "events of your pipeline on GraceDB), or it may exist twice";
        retriable = false;
    }
    throw TransportError(msg, code, {}, false, retriable);
}

}  // namespace rest_detail

namespace {

// Keeps the Retry-After header (seconds form) of the final answer, in the Exchange. Runs inside libcurl:
// never throws (a failure is kept in the Exchange, the transfer aborted, and perform rethrows it).
std::size_t on_header(char* data, std::size_t size, std::size_t n, void* out) noexcept {
    auto* x = static_cast<Exchange*>(out);
    try {
        const std::string_view line{data, size * n};
        constexpr std::string_view name = "retry-after:";
        if (line.size() > name.size() && lower(std::string{line.substr(0, name.size())}) == name) {
            std::string value{line.substr(name.size())};
            value.erase(0, value.find_first_not_of(" \t"));
            char* end = nullptr;
            const long s = std::strtol(value.c_str(), &end, 10);
            if (end != value.c_str() && s >= 0) x->retry_after = std::chrono::seconds{s};
        } else if (line.rfind("HTTP/", 0) == 0) {
            x->retry_after.reset();  // a new response (after a 100 Continue): forget the previous headers
        }
        return size * n;
    } catch (...) {
        x->header_failure = std::current_exception();
        return 0;
    }
}

bool retryable_status(long s) { return event_detail::retryable_status(s); }  // 408, 429, 5xx

constexpr auto kMaxRetryAfter = std::chrono::seconds{60};

}  // namespace

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
            throw std::invalid_argument("api_version must be \"v1\", \"v2\" or \"default\" (no version in the URL), not \"" +
                                        *options.api_version + "\"");
        url += *options.api_version + "/";
    }
    shown_url = detail::redact_url(url);
    if (options.user_agent.find("gracedb-client") != std::string::npos)
        throw std::invalid_argument("user_agent \"" + options.user_agent +
                                    "\" contains \"gracedb-client\": GraceDB checks such a User-Agent against its own "
                                    "client's versions and refuses it; choose another name");
    user_agent = options.user_agent.empty() ? std::string{"gracedb-cpp/"} + gracedb::version + " (libcurl)"
                                            : options.user_agent;
    audience = options.token_audience ? *options.token_audience : gracedb_token_audience(service_url);
    if (options.cred_cert.has_value() != options.cred_key.has_value())
        throw std::invalid_argument("give both cred_cert and cred_key for X.509 authentication, or neither");
    if (options.cred_cert) {
        for (const auto* f : {&*options.cred_cert, &*options.cred_key})
            if (!std::ifstream{*f})
                throw CredentialError("cannot read the X.509 credential file \"" + *f + "\"", Errc::credential_unusable);
    } else if (!options.force_noauth) {
        try {
            tokens = std::make_shared<detail::TokenProvider>(TokenRequirements{audience, options.token_scope},
                                                             options.reload_buffer, options.reload_cred,
                                                             "GraceDB " + origin.host);
        } catch (const detail::NoUsableToken& e) {
            detail::log_warning(std::string{"GraceDB client: no SciToken, requests go without credentials ("} +
                                e.what() + ")");
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
            throw CredentialError("GraceDB service URL " + shown_url + " is not https://: the SciToken found would " +
                                      "travel in clear text. Use https://; or force_noauth to send no credentials; or, " +
                                      "for a stand-in on this machine only, GraceDbOptions::allow_token_over_http " +
                                      "(or GRACEDB_ALLOW_TOKEN_OVER_HTTP=1)",
                                  Errc::insecure_transport);
        detail::log_warning("GraceDB client: THE SCITOKEN IS SENT IN CLEAR TEXT to " + shown_url +
                            " (allow_token_over_http): anyone who can read this traffic can use it. Only for a "
                            "stand-in on this machine; never for a real GraceDB.");
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
        detail::log_info("GraceDB client: the service refused an anonymous request; a SciToken found now is used");
    } catch (const detail::NoUsableToken&) {
    }
}

bool GraceDb::Impl::may_send_token(const std::string& target) const {
    return !detail::token_refusal(origin, target, token_over_http);
}

Exchange GraceDb::Impl::perform(const char* method, const std::string& target, const std::vector<Field>* form,
                                bool multipart, bool with_token, bool unsafe) {
    std::lock_guard lock{curl_mutex};
    CURL* c = curl.get();
    curl_easy_reset(c);
    Exchange x;
    Response& r = x.response;
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_URL, target.c_str());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent.c_str());
    detail::BodySink body;
    body.limit = options.max_response_bytes;
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &detail::write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::min<std::int64_t>(options.timeout.count(), 10000)));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    if (options.ca_cert_path) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_cert_path->c_str());
    if (!options.verify_tls) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (options.cred_cert) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, options.cred_cert->c_str());
        curl_easy_setopt(c, CURLOPT_SSLKEY, options.cred_key->c_str());
    }
    detail::CurlList headers{curl_slist_append(nullptr, "Accept: application/json")};
    if (with_token && tokens) {
        std::string auth;
        try {
            auth = "Authorization: Bearer " + tokens->current().token;
        } catch (const detail::NoUsableToken& e) {
            throw CredentialError(e.what(), Errc::credential_unusable);
        }
        headers.reset(curl_slist_append(headers.release(), auth.c_str()));
        std::fill(auth.begin(), auth.end(), '\0');
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    detail::CurlMime mime;
    std::string encoded;
    if (form && multipart) {
        mime.reset(curl_mime_init(c));
        for (const auto& f : *form) {
            curl_mimepart* part = curl_mime_addpart(mime.get());
            curl_mime_name(part, f.name.c_str());
            curl_mime_data(part, f.value.data(), f.value.size());
            if (f.filename) {
                curl_mime_filename(part, f.filename->c_str());
                curl_mime_type(part, "application/octet-stream");
            }
        }
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
    } else if (form) {
        for (const auto& f : *form) {
            detail::CurlString k{curl_easy_escape(c, f.name.c_str(), static_cast<int>(f.name.size()))};
            detail::CurlString v{curl_easy_escape(c, f.value.c_str(), static_cast<int>(f.value.size()))};
            encoded += (encoded.empty() ? "" : "&") + std::string{k.get()} + "=" + v.get();
        }
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, encoded.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(encoded.size()));
    }
    if (std::string_view{method} == "POST" && !form) curl_easy_setopt(c, CURLOPT_POST, 1L);
    if (std::string_view{method} != "GET" && std::string_view{method} != "POST") {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);  // PUT, DELETE
        // No body: an empty one with Content-Length: 0, as Python's requests sends for PUT and DELETE.
        if (!form) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
        }
    }
    const CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);  // the list (with the token) dies here
    // What the callbacks caught, now outside libcurl; then an answer past the limit; then libcurl's codes.
    if (x.header_failure) std::rethrow_exception(x.header_failure);
    body.rethrow_failure();
    const std::string shown = std::string{method} + " " + detail::redact_url(target);
    if (body.too_large) {
        const char* advice = unsafe ? "; the request may have been processed: check before sending it again"
                                    : "; is this GraceDB's API? raise max_response_bytes if it should be";
        throw GraceDbError(shown + ": the answer is larger than " + std::to_string(body.limit) +
                               " bytes (GraceDbOptions::max_response_bytes), so it was not read further" +
                               advice,
                           Errc::message_too_large);
    }
    if (rc != CURLE_OK) throw_transport_error(rc, shown, errbuf, unsafe);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    r.body = std::move(body.body);
    return x;
}

Response GraceDb::Impl::request(const char* method, const std::string& target, const std::vector<Field>* form,
                                bool multipart, bool safe, std::initializer_list<long> accepted) {
    const bool with_token = may_send_token(target);  // never to another scheme, host or port
    const std::string shown = std::string{method} + " " + detail::redact_url(target);
    auto backoff = options.retry_backoff;
    for (int attempt = 0;; ++attempt) {
        const bool may_retry = attempt < options.max_retries;
        std::chrono::milliseconds wait = backoff;
        try {
            Exchange x = perform(method, target, form, multipart, with_token, !safe);
            Response& r = x.response;
            if ((r.status == 401 || r.status == 403) && with_token) credentials_refused();
            if (r.status < 400 || std::find(accepted.begin(), accepted.end(), r.status) != accepted.end()) return r;
            // 429: the server throttled the request and did not process it: retrying is safe, also for a POST.
            const bool throttled = r.status == 429;
            const bool retry = may_retry && (throttled || (safe && retryable_status(r.status)));
            if (retry && throttled && x.retry_after) {
                if (*x.retry_after > kMaxRetryAfter)
                    throw HTTPError(r.status, r.body,
                                    shown + " answered HTTP 429 (throttled) and asks to wait " +
                                        std::to_string(x.retry_after->count()) + " s: more than " +
                                        std::to_string(kMaxRetryAfter.count()) + " s, so not retried: " +
                                        r.body.substr(0, 500));
                wait = *x.retry_after;
            }
            if (!retry)
                throw HTTPError(r.status, r.body,
                                shown + " answered HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 500));
            detail::log_warning(shown + ": HTTP " + std::to_string(r.status) + ", retrying in " +
                                std::to_string(wait.count()) + " ms");
        } catch (const TransportError& e) {
            if (!safe || !may_retry || !e.retriable()) throw;
            detail::log_warning(std::string{e.what()} + "; retrying in " + std::to_string(wait.count()) + " ms");
        }
        std::this_thread::sleep_for(wait);
        backoff *= 2;
    }
}

std::shared_ptr<const nlohmann::json> GraceDb::Impl::fetch_root() {
    Response r = request("GET", url, nullptr, false, true);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("links") || !j["links"].is_object())
        throw GraceDbError("the API root " + shown_url + " did not answer with links and templates: " +
                           r.body.substr(0, 200));
    root_fetched = Clock::now();
    return std::make_shared<const nlohmann::json>(std::move(j));
}

std::shared_ptr<const nlohmann::json> GraceDb::Impl::current_root() {
    std::lock_guard lock{root_mutex};
    if (!root) {
        root = fetch_root();
        first_root = root;
    }
    return root;
}

std::shared_ptr<const nlohmann::json> GraceDb::Impl::fresh_root() {
    std::lock_guard lock{root_mutex};
    if (!root || Clock::now() - root_fetched >= kRootRefresh) {
        root = fetch_root();
        if (!first_root) first_root = root;
    }
    return root;
}

const nlohmann::json& GraceDb::Impl::get_root() {
    current_root();
    std::lock_guard lock{root_mutex};
    return *first_root;
}

std::string GraceDb::Impl::link(const char* name) {
    const auto snapshot = current_root();
    const auto& r = *snapshot;
    const auto& links = r.at("links");
    if (!links.contains(name) || !links.at(name).is_string())
        throw GraceDbError(std::string{"the API root of "} + shown_url + " has no link \"" + name + "\"");
    return links.at(name).get<std::string>();
}

std::string GraceDb::Impl::templated(const char* name, const std::string& graceid) {
    const auto snapshot = current_root();
    const auto& r = *snapshot;
    if (!r.contains("templates") || !r.at("templates").contains(name) || !r.at("templates").at(name).is_string())
        throw GraceDbError(std::string{"the API root of "} + shown_url + " has no template \"" + name + "\"");
    return fill_template(r.at("templates").at(name).get<std::string>(), graceid);
}

namespace {

// The message naming `value` and the allowed names when the root's list `key` lacks it; nullopt when it has it
// (or when the root has no such list: an old server is not checked for it).
std::optional<std::string> vocabulary_problem(const nlohmann::json& r, const char* key, const char* what,
                                              const std::string& value, const std::string& shown_url) {
    if (!r.contains(key) || !r.at(key).is_array()) return std::nullopt;
    std::vector<std::string> allowed;
    for (const auto& v : r.at(key))
        if (v.is_string()) {
            if (v.get_ref<const std::string&>() == value) return std::nullopt;
            allowed.push_back(v.get<std::string>());
        }
    return std::string{what} + " \"" + value + "\" is not one of the " + key + " of " + shown_url +
           " (exact, case-sensitive names): " + detail::join_quoted(allowed);
}

}  // namespace

void GraceDb::Impl::check_label(const std::string& label) {
    if (!vocabulary_problem(*current_root(), "labels", "label", label, shown_url)) return;
    // GraceDB may have gained the label since the root was read: judge it on a fresh root.
    if (auto p = vocabulary_problem(*fresh_root(), "labels", "label", label, shown_url))
        throw std::invalid_argument(*p);
}

void GraceDb::Impl::check_vocabulary(const std::string& group, const std::string& pipeline,
                                     const std::optional<std::string>& search,
                                     const std::vector<std::string>& labels) {
    // The first unknown name in `r`, as the message that names it and the allowed ones; nullopt if none.
    auto problem = [&](const nlohmann::json& r) -> std::optional<std::string> {
        auto check = [&](const char* key, const char* what, const std::string& value) {
            return vocabulary_problem(r, key, what, value, shown_url);
        };
        if (auto p = check("groups", "group", group)) return p;
        if (auto p = check("pipelines", "pipeline", pipeline)) return p;
        if (search)
            if (auto p = check("searches", "search", *search)) return p;
        for (const auto& l : labels)
            if (auto p = check("labels", "label", l)) return p;
        return std::nullopt;
    };
    if (!problem(*current_root())) return;
    // GraceDB may have gained the name since the root was read: judge it on a fresh root.
    if (auto p = problem(*fresh_root())) throw std::invalid_argument(*p);
}

}  // namespace gracedb
