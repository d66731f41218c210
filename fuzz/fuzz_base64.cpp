// Fuzz target: base64 and base64url (the event file in a create_event message; the parts of a JWT).
// Properties: encode then decode gives the bytes back, in both alphabets, padded or not for base64url; any text
// that decodes holds exactly floor(6 * symbols / 8) bytes and re-encodes to text that decodes the same.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "common/base64.hpp"

using gracedb::detail::base64_decode;
using gracedb::detail::base64_encode;

namespace {

std::string to_url(std::string s, bool keep_padding) {
    for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    if (!keep_padding) s.erase(s.find_last_not_of('=') + 1);
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string bytes{reinterpret_cast<const char*>(data), size};

    const auto encoded = base64_encode(bytes);
    if (encoded.size() != 4 * ((size + 2) / 3)) std::abort();
    if (base64_decode(encoded) != bytes) std::abort();
    if (base64_decode(to_url(encoded, true), true) != bytes) std::abort();
    if (base64_decode(to_url(encoded, false), true) != bytes) std::abort();

    for (bool url : {false, true}) {  // the input as text
        const auto decoded = base64_decode(bytes, url);
        if (!decoded) continue;
        const auto symbols = bytes.find_last_not_of('=') + 1;  // npos + 1 == 0 for all '=' (or empty)
        if (decoded->size() != symbols * 6 / 8) std::abort();
        const auto again = base64_encode(*decoded);
        if (base64_decode(url ? to_url(again, false) : again, url) != decoded) std::abort();
    }
    return 0;
}
