// Private: what an HTTP answer of GraceDB means, the one rule for the publisher (its retries, its fallback,
// the outbox) and the supervisor (retry, or dead-letter). Why this rule: see http_answer.cpp.
#pragma once

#include <string_view>

namespace gracedb::event_detail {

enum class Answer {
    done,              // 2xx
    already_done,      // 409: a reserved upload completed before (idempotent by graceid)
    not_found,         // 404: never reserved, or something in front of GraceDB; the caller decides
    retryable,         // the server busy, failing or unreachable: 408, 429, 5xx
    rejected,          // GraceDB judged the request's fields: a 400 in its own JSON error shape
    refused,           // anything else (1xx, 3xx, 401, 403, other 4xx, a 400 not in GraceDB's shape)
};

const char* to_string(Answer a) noexcept;

/// Trying the same request again later may succeed: 408, 429 and every 5xx.
bool retryable_status(long status) noexcept;

/// A request that is not idempotent may have been applied although it failed with `status` (every 5xx: a
/// gateway's 502/504 too), so it must not be sent again blindly.
bool may_have_been_applied(long status) noexcept;

/// The meaning of one answer (status and body). Never throws.
Answer classify_answer(long status, std::string_view body) noexcept;

}  // namespace gracedb::event_detail
