// Private: the one URL parser of the library (service URLs of GraceDB: the REST client, the token audience,
// the instance name of topics), libcurl's parser with the same flags everywhere; and the one rule for where a
// GraceDB token may be sent. Built into the client library and into gracedb-kafka (gracedb_url_objects), so
// that `check` applies the very rule the REST client does.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/text.hpp"  // lower()

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

/// "scheme://host:port" (an IPv6 host in brackets): how messages name an origin.
std::string origin_text(const UrlParts& u);

/// The one rule for where a GraceDB bearer token may go, used by every path that sends one (the REST client
/// on each request, `gracedb-kafka check` for the API root's links): only to the service's own origin, the
/// same scheme, host and port as `service`; and only over https unless `allow_clear_text` (a stand-in on
/// this machine). nullopt: `target` may receive the token; else why not, naming the origin refused.
std::optional<std::string> token_refusal(const UrlParts& service, std::string_view target,
                                         bool allow_clear_text = false);

}  // namespace gracedb::detail
