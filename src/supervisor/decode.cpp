// The supervisor's reading of a message and of an upload's answer, over the event-message module
// (client/event): which messages are uploads, skips or dead letters, and what an attempt's outcome means.
#include "supervisor/decode.hpp"

#include <gracedb/rest/errors.hpp>

#include "client/event/event_message.hpp"
#include "client/event/http_answer.hpp"
#include "common/text.hpp"

namespace gracedb::supervisor_detail {
namespace {

Decoded from_envelope(event_detail::ReadEnvelope r) {
    using EK = event_detail::ReadEnvelope::Kind;
    Decoded d;
    d.kind = r.kind == EK::upload ? Decoded::Kind::upload
             : r.kind == EK::skip ? Decoded::Kind::skip
                                  : Decoded::Kind::dead;
    d.reason = std::move(r.reason);
    d.graceid = std::move(r.graceid);
    d.producer_timestamp = r.producer_timestamp;
    if (r.event) {
        auto& e = *r.event;
        d.upload = Upload{.graceid = e.graceid.value_or(""),
                          .group = std::move(e.group),
                          .pipeline = std::move(e.pipeline),
                          .filename = std::move(e.filename),
                          .options = {.search = std::move(e.search),
                                      .filecontents = std::move(e.contents),
                                      .offline = e.offline,
                                      .labels = std::move(e.labels)}};
    }
    return d;
}

}  // namespace

Decoded decode_message(std::string_view value) noexcept {
    try {
        return from_envelope(event_detail::read_envelope(value));
    } catch (...) {  // bad_alloc moving what was read: still a dead letter
        Decoded d;
        d.reason = "the message cannot be decoded";
        return d;
    }
}

const char* to_string(AttemptResult::Kind kind) noexcept {
    using K = AttemptResult::Kind;
    switch (kind) {
        case K::uploaded: return "uploaded";
        case K::already_uploaded: return "already uploaded";
        case K::transient: return "server busy or unreachable";
        case K::refused: return "refused";
        case K::not_found: return "not found";
        case K::unknown_name: return "unknown name";
        case K::dead: return "bad message";
    }
    return "?";
}

AttemptResult::Kind classify_answer(long status, std::string_view body) noexcept {
    using K = AttemptResult::Kind;
    using A = event_detail::Answer;
    switch (event_detail::classify_answer(status, body)) {
        case A::done: return K::uploaded;
        case A::already_done: return K::already_uploaded;
        case A::not_found: return K::not_found;
        case A::retryable: return K::transient;
        case A::rejected: return K::dead;
        case A::refused: return K::refused;
    }
    return K::refused;
}

AttemptResult attempt_upload(const Upload& upload, const UploadCall& call) noexcept {
    using K = AttemptResult::Kind;
    auto answer = [](long s, const std::string& body) {
        const auto kind = classify_answer(s, body);
        std::string detail = "HTTP " + std::to_string(s);
        if (kind != K::uploaded && kind != K::already_uploaded && !body.empty())
            detail += ": " + gracedb::detail::utf8_excerpt(body, 300);  // a proxy's page may not be UTF-8
        return AttemptResult{kind, std::move(detail)};
    };
    try {
        const Response r = call(upload);
        return answer(r.status, r.body);  // upload_reserved_event returns 2xx, 409 and 3xx; a stub may return any
    } catch (const HTTPError& e) {
        return answer(e.status(), e.body());
    } catch (const TransportError& e) {
        // No HTTP answer: the server unreachable or slow is transient; a TLS failure is the supervisor's
        // configuration (its CA) or something in front of GraceDB.
        return {e.code() == Errc::tls_failed ? K::refused : K::transient, e.what()};
    } catch (const GraceDbError& e) {  // credentials, an API root that is not GraceDB's
        return {K::refused, e.what()};
    } catch (const std::invalid_argument& e) {  // the client refused the request itself (a name, see above)
        return {K::unknown_name, std::string{"the upload request was refused: "} + e.what()};
    } catch (const std::exception& e) {
        return {K::transient, e.what()};
    } catch (...) {
        return {K::transient, "unknown failure"};
    }
}

std::optional<std::string> binding_problem(const Upload& upload, std::string_view topic,
                                           const std::optional<std::string>& key, std::string_view instance) {
    return event_detail::binding_problem(upload.group, upload.pipeline, upload.graceid, topic, key, instance);
}

}  // namespace gracedb::supervisor_detail
