// Topic namespacing: every Kafka topic is "<instance>.<pipeline>", the instance being the first label of
// the GraceDB service URL's host ("https://gracedb-dev.ligo.org/api/" -> "gracedb-dev").
#pragma once

#include <gracedb/export.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace gracedb::kafka {

/// Kafka's own limit on the length of a topic name.
inline constexpr std::size_t max_topic_name_length = 249;

/// The instance name of a GraceDB service URL: the first label of its host, lower-cased.
/// Scheme, user info, port, path and query are ignored.
/// Throws std::invalid_argument (naming the input) when the URL has no scheme or no host, or when that
/// label cannot start a Kafka topic name (e.g. an IPv6 literal): then pass an instance name explicitly.
GRACEDB_EXPORT std::string derive_instance_name(std::string_view service_url);

/// "<instance>.<pipeline>". Throws std::invalid_argument at once when the result would not be a legal,
/// namespaced Kafka topic: an empty part, a dot in the instance, a character outside [A-Za-z0-9._-], or
/// more than max_topic_name_length characters.
GRACEDB_EXPORT std::string make_topic_name(std::string_view instance, std::string_view pipeline);

/// Splits a namespaced topic at its first dot: "gracedb-dev.gstlal" -> {"gracedb-dev", "gstlal"}.
/// Throws std::invalid_argument when there is no dot, a part is empty, or the name is not a legal topic.
GRACEDB_EXPORT std::pair<std::string, std::string> parse_topic_name(std::string_view namespaced_topic);

/// Throws std::invalid_argument, saying what is wrong, unless `topic` is a legal Kafka topic name
/// (1 to 249 characters from [A-Za-z0-9._-], and neither "." nor "..").
GRACEDB_EXPORT void validate_topic_name(std::string_view topic);

}  // namespace gracedb::kafka
