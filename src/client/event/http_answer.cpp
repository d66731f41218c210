// What an HTTP answer of GraceDB means (see http_answer.hpp), for the publisher and the supervisor alike.
//
// The rule, and why one rule serves both: "retryable" means the server did not judge the request, so the same
// request later may succeed. 408 and 429 say so explicitly; every 5xx is the server's (or its gateway's) own
// failure, not the request's (RFC 9110 15.6), and GraceDB answers 500 for a transient database error. The
// supervisor must never dead-letter the server's failure (it would lose the event), and the publisher must
// never give up for good on it (an outbox entry marked failed, an HTTPError said not retriable) for the same
// reason: both retry 408, 429 and 5xx. Safety is a separate question (may_have_been_applied): a plain POST is
// retried only when throttled (429), because a 5xx may hide a creation that happened.
#include "client/event/http_answer.hpp"

#include <nlohmann/json.hpp>

namespace gracedb::event_detail {
namespace {

// GraceDB's API exception handler flattens its errors into {"errors": [...]} or {"error": ...}
// (notes/gracedb-server.md): only such a 400 is the server's judgement of the event's fields. A proxy's 400
// is HTML, GraceDB's User-Agent check answers plain text: neither says anything about the event.
bool is_gracedb_error_body(std::string_view body) {
    auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
    return !j.is_discarded() && j.is_object() && (j.contains("errors") || j.contains("error"));
}

}  // namespace

const char* to_string(Answer a) noexcept {
    switch (a) {
        case Answer::done: return "done";
        case Answer::already_done: return "already done";
        case Answer::not_found: return "not found";
        case Answer::retryable: return "server busy or unreachable";
        case Answer::rejected: return "rejected";
        case Answer::refused: return "refused";
    }
    return "?";
}

bool retryable_status(long status) noexcept {
    return status == 408 || status == 429 || (status >= 500 && status < 600);
}

bool may_have_been_applied(long status) noexcept { return status >= 500 && status < 600; }

Answer classify_answer(long status, std::string_view body) noexcept {
    try {
        if (status == 409) return Answer::already_done;
        if (status >= 200 && status < 300) return Answer::done;
        if (status == 404) return Answer::not_found;
        if (retryable_status(status)) return Answer::retryable;
        if (status == 400 && is_gracedb_error_body(body)) return Answer::rejected;
        return Answer::refused;
    } catch (...) {
        return Answer::refused;
    }
}

}  // namespace gracedb::event_detail
