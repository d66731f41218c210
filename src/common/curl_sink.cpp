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

}  // namespace gracedb::detail
