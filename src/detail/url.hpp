// Private: the one URL parser of the library (service URLs of GraceDB: the REST client, the token audience,
// the instance name of topics). libcurl's parser, with the same flags everywhere.
#pragma once

#include <string>
#include <string_view>

#include "detail/text.hpp"  // lower()

namespace gracedb::detail {

struct UrlParts {
    std::string scheme;  // lower case: "https", "http", ...
    std::string host;    // lower case, without brackets for IPv6; never empty
    int port = 0;        // the explicit port, else the scheme's default (80, 443), else 0
};

/// Parses an absolute URL. Like Python's urlparse, "gracedb.ligo.org/api/" (no scheme) and "https:///api/" have
/// no host. Throws std::invalid_argument whose message says why (without the URL: callers add it, redacted).
UrlParts parse_url(std::string_view url);

/// The URL with any "user:password@" replaced by "***@": for every message and log line that shows a URL.
std::string redact_url(std::string_view url);

}  // namespace gracedb::detail
