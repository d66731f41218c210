// Private: a response body collected by libcurl's write callback, bounded, a callback that never lets an
// exception unwind through libcurl's C code, and one transfer performed with them. Used by the REST client
// and by `gracedb-kafka check`.
#pragma once

#include <curl/curl.h>

#include <cstddef>
#include <exception>
#include <string>

namespace gracedb::detail {

/// 64 MiB: far above any GraceDB answer (an API root, an event's JSON are kilobytes), low enough that a
/// server that answers without end cannot exhaust this process's memory.
inline constexpr std::size_t default_max_response_bytes = std::size_t{64} << 20;

/// Where write_body puts the body (CURLOPT_WRITEDATA). After curl_easy_perform returns, call
/// rethrow_failure(), then look at too_large: either one made the transfer end with CURLE_WRITE_ERROR.
struct BodySink {
    std::string body;
    std::size_t limit = default_max_response_bytes;
    bool too_large = false;       // the answer went past `limit`: the transfer was aborted, `body` is partial
    std::exception_ptr failure;   // what the callback caught (std::bad_alloc, ...), rethrown outside libcurl

    void rethrow_failure() const {
        if (failure) std::rethrow_exception(failure);
    }
};

/// CURLOPT_WRITEFUNCTION with a BodySink as its data. Never throws: a failure is kept in the sink and the
/// transfer aborted (it returns 0, which libcurl turns into CURLE_WRITE_ERROR), as is a body past the limit.
std::size_t write_body(char* data, std::size_t size, std::size_t n, void* sink) noexcept;

/// How one transfer ended: libcurl's code; when not CURLE_OK its most specific message (the error buffer's
/// text, else curl_easy_strerror); else the HTTP status.
struct TransferResult {
    CURLcode code = CURLE_OK;
    std::string error;
    long status = 0;
};

/// Performs the transfer `curl` is set up for (URL, method, headers, TLS), the body into `sink` (this sets
/// CURLOPT_WRITEFUNCTION, WRITEDATA and ERRORBUFFER). Rethrows what the write callback caught; a body past
/// the sink's limit leaves `sink.too_large` set (and the code CURLE_WRITE_ERROR).
TransferResult perform_transfer(CURL* curl, BodySink& sink);

}  // namespace gracedb::detail
