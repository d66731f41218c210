// Test support: the check that a token's secret parts appear nowhere in a text (a log, an exception's
// message, a tool's output): not the token, its payload, its signature, nor any 32-character piece of it.
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace gracedb::testing {

/// Fails the test if `text` shows `token` (a JWT) or a part of it; `where` names the text in the message.
/// The payload counts: the claims as base64url say more than the log's sub/scope/exp summary and, with the
/// header, rebuild the signed text. A truncated line still leaks a piece of the signature.
inline void expect_no_token(const std::string& text, const std::string& token, const std::string& where) {
    const auto first = token.find('.'), last = token.rfind('.');
    ASSERT_TRUE(first != std::string::npos && last > first) << "not a JWT";
    const auto payload = token.substr(first + 1, last - first - 1);
    const auto signature = token.substr(last + 1);
    EXPECT_EQ(text.find(token), std::string::npos) << "the token appears in " << where;
    EXPECT_EQ(text.find(payload), std::string::npos) << "the token's payload appears in " << where;
    EXPECT_EQ(text.find(signature), std::string::npos) << "the token's signature appears in " << where;
    for (std::size_t i = 0; i + 32 <= signature.size(); i += 32)
        EXPECT_EQ(text.find(signature.substr(i, 32)), std::string::npos)
            << "a piece of the signature in " << where;
}

}  // namespace gracedb::testing
