// Fuzz target: GraceDB service URLs (derive_instance_name, gracedb_token_audience) and the broker list parser
// (first_broker_host). The input is one URL (up to a NUL byte, as C strings reach libcurl).
// Properties: only std::invalid_argument escapes; an instance name is non-empty, lower-case, dot-free and
// starts a legal topic; an audience is "https://" + a host with no '/', '@' or whitespace.
#include <gracedb/kafka/topics.hpp>
#include <gracedb/rest.hpp>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view all{reinterpret_cast<const char*>(data), size};
    const std::string url{all.substr(0, all.find('\0'))};
    try {
        const auto instance = gracedb::kafka::derive_instance_name(url);
        if (instance.empty() || instance.find('.') != std::string::npos) std::abort();
        for (unsigned char c : instance)
            if (std::isupper(c)) std::abort();
        (void)gracedb::kafka::make_topic_name(instance, "gstlal");  // must not throw
    } catch (const std::invalid_argument&) {
    }
    try {
        const auto audience = gracedb::gracedb_token_audience(url);
        if (audience.rfind("https://", 0) != 0) std::abort();
        if (audience.find_first_of("/@ \t\r\n", 8) != std::string::npos) std::abort();
    } catch (const std::invalid_argument&) {
    }
    (void)gracedb::detail::first_broker_host(url);
    return 0;
}
