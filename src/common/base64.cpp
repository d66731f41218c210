#include "common/base64.hpp"

#include <openssl/evp.h>

namespace gracedb::detail {

std::string base64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text, bool url) {
    std::string std64;
    std64.reserve(text.size() + 3);
    std::size_t pad = 0;
    for (char c : text) {
        if (c == '=') {
            ++pad;
            continue;
        }
        if (pad) return std::nullopt;  // padding only at the end
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            std64 += c;
        else if (url && c == '-')
            std64 += '+';
        else if (url && c == '_')
            std64 += '/';
        else if (!url && (c == '+' || c == '/'))
            std64 += c;
        else
            return std::nullopt;
    }
    if (pad > 2 || std64.size() % 4 == 1) return std::nullopt;
    if (!url && (std64.size() + pad) % 4 != 0) return std::nullopt;
    const std::size_t fill = (4 - std64.size() % 4) % 4;
    std64.append(fill, '=');
    std::string out(std64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(std64.data()), static_cast<int>(std64.size()));
    if (n < 0) return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - fill);
    return out;
}

}  // namespace gracedb::detail
