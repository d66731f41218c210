// Private: the rules an event message obeys, shared by its writer (create_event) and its reader (the
// supervisor): graceid syntax, field sizes, and which topic and key an event may be published with.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gracedb::event_detail {

/// Limits on the fields of an event message (larger is refused, not a reason to allocate without end).
inline constexpr std::size_t kMaxGraceidLength = 64;
inline constexpr std::size_t kMaxNameLength = 256;  // group, pipeline, search, file name, a label
inline constexpr std::size_t kMaxLabels = 128;

/// The graceid goes into the upload URL's path: 1..kMaxGraceidLength letters and digits ("G123456", "T42").
/// The reason when `id` breaks that, else nullopt.
std::optional<std::string> graceid_problem(std::string_view id);

/// A name that goes into a form field (`field` names it in the reason): 1..kMaxNameLength bytes of UTF-8
/// without control characters.
std::optional<std::string> name_problem(std::string_view value, std::string_view field);

/// Every field create_event writes, checked as the supervisor will read them (before anything is reserved).
std::optional<std::string> fields_problem(std::string_view group, std::string_view pipeline,
                                          const std::optional<std::string>& search,
                                          const std::vector<std::string>& labels, std::string_view filename);

/// The pipeline part of the one topic an event may be published on: "test" for group Test, else the
/// pipeline in lower case (per-pipeline topic ACLs are GraceDB's guard of what a message may claim).
std::string bound_topic(std::string_view group, std::string_view pipeline);

/// The topic/key binding the supervisor checks: the message read from `topic` ("<instance>.<bound_topic>")
/// with `key` (which must be the graceid), and a graceid starting with T exactly when the group is Test.
/// The reason when broken, else nullopt.
std::optional<std::string> binding_problem(std::string_view group, std::string_view pipeline,
                                           std::string_view graceid, std::string_view topic,
                                           const std::optional<std::string>& key, std::string_view instance);

/// Strict base64 after removing ASCII whitespace (line breaks every 76 characters and a final one, as
/// Python's base64.encodebytes writes). nullopt when not valid.
std::optional<std::string> decode_base64_lenient(std::string_view text);

}  // namespace gracedb::event_detail
