// GraceDb::Impl's libcurl transport: one exchange (the request built, the answer read within its limit), the
// one place libcurl codes become exceptions, and the retries (what may be sent again, after how long).
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
            if (!retry) {
                // A request that is not idempotent (a plain creation) and may have been applied behind the
                // error must not be sent again blindly: not retriable(), and the message says so.
                const bool maybe_applied = !safe && event_detail::may_have_been_applied(r.status);
                throw HTTPError(r.status, r.body,
                                shown + " answered HTTP " + std::to_string(r.status) +
                                    (maybe_applied ? " (the request may have been processed: check before "
                                                     "sending it again)"
                                                   : "") +
                                    ": " + r.body.substr(0, 500),
                                Errc::http_status, !maybe_applied && retryable_status(r.status));
            }
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

}  // namespace gracedb
