// Fuzz target: the claims of a compact JWT (parse_token_claims) and what is derived from them.
// Properties: only std::invalid_argument escapes; its message never quotes the input's signature part; time
// claims are within [1970, 2200]; describe() works; has_audience/has_scope never throw.
#include <gracedb/scitoken.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

void check_time(const std::optional<std::chrono::system_clock::time_point>& t) {
    using namespace std::chrono;
    if (t && (*t < system_clock::time_point{} || *t > system_clock::time_point{seconds{7258118400}})) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    try {
        const auto claims = gracedb::parse_token_claims(text);
        check_time(claims.exp);
        check_time(claims.iat);
        check_time(claims.nbf);
        (void)claims.describe();
        (void)claims.has_audience(claims.sub);
        (void)claims.has_scope(claims.iss);
        (void)claims.has_scope("");
        (void)gracedb::token_fingerprint(text);
    } catch (const std::invalid_argument& e) {
        // The signature is the secret part: a message may name what is wrong, never quote it. (Only a
        // signature-like part counts: 16+ base64url characters; else the fuzzer spells the message itself.)
        const auto dot = text.rfind('.');
        if (dot != std::string_view::npos) {
            const auto signature = text.substr(dot + 1);
            if (signature.size() >= 16 &&
                signature.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                    std::string_view::npos &&
                std::string_view{e.what()}.find(signature) != std::string_view::npos)
                std::abort();
        }
    }
    return 0;
}
