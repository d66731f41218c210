// The bounded body sink of libcurl transfers, and one transfer performed with it.
#include "common/curl_sink.hpp"

namespace gracedb::detail {

std::size_t write_body(char* data, std::size_t size, std::size_t n, void* out) noexcept {
    auto* sink = static_cast<BodySink*>(out);
    const std::size_t bytes = size * n;
    try {
        if (bytes > sink->limit || sink->body.size() > sink->limit - bytes) {
            sink->too_large = true;
            return 0;  // aborts the transfer: nothing past the limit is read
        }
        sink->body.append(data, bytes);
        return bytes;
    } catch (...) {
        sink->failure = std::current_exception();
        return 0;
    }
}

TransferResult perform_transfer(CURL* curl, BodySink& sink) {
    char errbuf[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &write_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    TransferResult r;
    r.code = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);  // errbuf ends here
    sink.rethrow_failure();
    if (r.code != CURLE_OK)
        r.error = errbuf[0] ? errbuf : curl_easy_strerror(r.code);
    else
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
}

}  // namespace gracedb::detail
