// Private: base64 (RFC 4648) through OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock, in one place.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gracedb::detail {

/// Standard base64 with padding (what create_event puts in "eventFile").
std::string base64_encode(std::string_view bytes);

/// Decodes standard base64 (strict: only A-Z a-z 0-9 + / and final padding) or, with `url`, base64url
/// (- and _, padding optional). nullopt when `text` is not valid.
std::optional<std::string> base64_decode(std::string_view text, bool url = false);

}  // namespace gracedb::detail
