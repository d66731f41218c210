// Private: the REST client's shared state (GraceDb::Impl: libcurl transport, retries, the API root and its
// vocabularies), for src/client/rest/client.cpp, src/client/rest/transport.cpp and src/client/rest/create_event.cpp.
#pragma once

#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/client.hpp>
#include <gracedb/version.hpp>

#include <curl/curl.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/base64.hpp"
#include "common/curl.hpp"
#include "common/curl_sink.hpp"
#include "common/log.hpp"
#include "client/auth/token_provider.hpp"
#include "common/url.hpp"
#include "client/rest/window.hpp"
#include "client/rest/outbox.hpp"

namespace gracedb {

namespace rest_detail {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using detail::lower;

inline std::string read_event_file(const std::string& filename, const CreateEventOptions& o) {
    if (o.filecontents) return *o.filecontents;
    std::ifstream in{filename, std::ios::binary};
    if (!in)
        throw std::invalid_argument("cannot read the event file \"" + filename +
                                    "\": check the path, or pass its bytes in CreateEventOptions::filecontents");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A graceid goes into a URL path: only letters and digits (G123, T45, S230101ab), so no message can make a
// caller (the supervisor uploads what a Kafka message names) reach another path such as "../../x".
inline std::string fill_template(std::string tmpl, const std::string& graceid) {
    const bool plain = !graceid.empty() && graceid.size() <= 64 &&
                       std::all_of(graceid.begin(), graceid.end(), [](char c) {
                           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
                       });
    if (!plain)
        throw std::invalid_argument("not a graceid: \"" + graceid.substr(0, 64) +
                                    "\" (a graceid is letters and digits, e.g. G123456 or T42)");
    const auto pos = tmpl.find("{graceid}");
    if (pos == std::string::npos) throw GraceDbError("the API template \"" + tmpl + "\" has no {graceid}");
    return tmpl.replace(pos, 9, graceid);
}

struct Field {
    std::string name;
    std::string value;
    std::optional<std::string> filename;  // set: a file part
};

inline std::chrono::microseconds since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

/// One HTTP exchange's answer, with what the retry logic needs beyond the public Response.
struct Exchange {
    Response response;
    std::optional<std::chrono::seconds> retry_after;  // from a Retry-After header in seconds
    std::exception_ptr header_failure;  // what the header callback caught (it never throws into libcurl)
};

/// The one place that turns a libcurl failure into an exception with its code (connection_failed, tls_failed,
/// timed_out, ...) and says whether trying again may help. `what` says which request failed (URL redacted);
/// `sent_unsafe`: a non-idempotent request, whose outcome the message then says is unknown when it may have
/// been processed.
[[noreturn]] void throw_transport_error(CURLcode rc, const std::string& what, const char* curl_detail,
                                        bool sent_unsafe);

}  // namespace rest_detail

using namespace rest_detail;

struct GRACEDB_NO_EXPORT GraceDb::Impl {
    std::string url;         // the API root, as given (possibly with credentials in it)
    std::string shown_url;   // the API root for messages and logs: any user:password@ redacted
    detail::UrlParts origin; // scheme, host and port of the service: the only place a token is sent
    bool token_over_http = false;  // allow_token_over_http (or GRACEDB_ALLOW_TOKEN_OVER_HTTP=1)
    GraceDbOptions options;
    std::string user_agent;
    std::string audience;
    std::shared_ptr<detail::TokenProvider> tokens;
    std::unique_ptr<Outbox> outbox;  // GraceDbOptions::outbox, when set

    std::mutex curl_mutex;  // one request at a time on the handle; also guards `tokens` once built
    Clock::time_point next_discovery{};  // credentials_refused(): token discovery again, at most every 5 s
    detail::CurlEasy curl;

    // The API root. The first one fetched is kept for the client's life (api_root() hands out references to
    // it); a newer one replaces `root` when a name is not in the vocabularies (GraceDB gained a pipeline, a
    // search or a label since), at most every kRootRefresh. One fetch at a time.
    static constexpr std::chrono::seconds kRootRefresh{5};
    std::mutex root_mutex;
    std::shared_ptr<const nlohmann::json> first_root;
    std::shared_ptr<const nlohmann::json> root;
    Clock::time_point root_fetched{};

    Impl(std::string service_url, GraceDbOptions o);

    /// Graceids published over Kafka by create_event and not yet seen to exist (the reservation window).
    PendingEvents pending;
    /// Sends a follow-up on `graceid` (`call` names it in messages), waiting out the reservation window
    /// when `graceid` is pending (window.cpp).
    Response followup(const std::string& graceid, const char* call, const std::function<Response()>& send);

    /// One HTTP exchange. Throws TransportError when there is no HTTP answer; returns any HTTP status.
    /// `with_token`: send the bearer token (only ever true for the service's own origin).
    Exchange perform(const char* method, const std::string& target, const std::vector<Field>* form, bool multipart,
                     bool with_token, bool unsafe);

    /// With retries when `safe` (idempotent), and after a 429 also when not (a throttled request was not
    /// processed); raises HTTPError for a final 4xx/5xx except `accepted` ones.
    Response request(const char* method, const std::string& target, const std::vector<Field>* form, bool multipart,
                     bool safe, std::initializer_list<long> accepted = {});

    /// The service answered 401/403 to a request that could carry our token: GraceDB treats a refused or
    /// missing token as anonymous. Re-read the token from disk before the next request; with no token at all,
    /// look for one again (at most every 5 s), so that a token put in place later is used.
    void credentials_refused();

    /// True when the token may go to `target`: detail::token_refusal, the library's one rule (the service's
    /// own scheme, host and port; https unless allow_token_over_http).
    bool may_send_token(const std::string& target) const;

    const nlohmann::json& get_root();
    /// Fetches the API root (root_mutex held).
    std::shared_ptr<const nlohmann::json> fetch_root();
    /// The newest API root (fetched first if none yet).
    std::shared_ptr<const nlohmann::json> current_root();
    /// Fetches the API root again unless it was fetched less than kRootRefresh ago; the newest either way.
    std::shared_ptr<const nlohmann::json> fresh_root();
    std::string link(const char* name);
    std::string templated(const char* name, const std::string& graceid);

    /// Python's client checks these against the API root before sending: std::invalid_argument naming the
    /// value and the allowed ones. A root without a vocabulary (an old server) is not checked for it.
    void check_vocabulary(const std::string& group, const std::string& pipeline,
                          const std::optional<std::string>& search, const std::vector<std::string>& labels);

    /// The same check for one label (write_label), against the root's `labels`.
    void check_label(const std::string& label);
    /// A template with {graceid} and one more placeholder (e.g. "{label}") filled in, the latter
    /// percent-encoded.
    std::string templated(const char* name, const std::string& graceid, const char* placeholder,
                          const std::string& value);

    static std::vector<Field> event_form(const std::string& group, const std::string& pipeline,
                                         const std::string& filename, const std::string& contents,
                                         const CreateEventOptions& o) {
        std::vector<Field> f = {{"group", group, {}}, {"pipeline", pipeline, {}}};
        if (o.search) f.push_back({"search", *o.search, {}});
        f.push_back({"offline", o.offline ? "True" : "False", {}});
        for (const auto& l : o.labels) f.push_back({"labels", l, {}});
        f.push_back({"eventFile", contents, std::filesystem::path{filename}.filename().string()});
        return f;
    }
};

}  // namespace gracedb
