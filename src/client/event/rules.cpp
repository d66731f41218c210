// The rules of an event message's fields, topic and key (see rules.hpp).
#include "client/event/rules.hpp"

#include "common/base64.hpp"
#include "common/text.hpp"

namespace gracedb::event_detail {
namespace {

bool has_control_character(std::string_view s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == 0x7f) return true;
    return false;
}

bool is_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t n = detail::utf8_sequence(s.substr(i));
        if (n == 0) return false;
        i += n;
    }
    return true;
}

bool is_letter_or_digit(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

}  // namespace

std::optional<std::string> graceid_problem(std::string_view id) {
    if (id.empty()) return "graceid is empty";
    if (id.size() > kMaxGraceidLength) return "graceid is " + std::to_string(id.size()) + " bytes long";
    for (char c : id)
        if (!is_letter_or_digit(c)) return "graceid contains a character other than a letter or digit";
    return std::nullopt;
}

std::optional<std::string> name_problem(std::string_view value, std::string_view field) {
    const std::string f{field};
    if (value.empty()) return f + " is empty";
    if (value.size() > kMaxNameLength)
        return f + " is " + std::to_string(value.size()) + " bytes long (at most " +
               std::to_string(kMaxNameLength) + ")";
    if (has_control_character(value)) return f + " contains a control character";
    if (!is_utf8(value)) return f + " is not valid UTF-8";
    return std::nullopt;
}

std::optional<std::string> fields_problem(std::string_view group, std::string_view pipeline,
                                          const std::optional<std::string>& search,
                                          const std::vector<std::string>& labels, std::string_view filename) {
    if (auto p = name_problem(group, "group")) return p;
    if (auto p = name_problem(pipeline, "pipeline")) return p;
    if (search)
        if (auto p = name_problem(*search, "search")) return p;
    if (labels.size() > kMaxLabels)
        return "labels has " + std::to_string(labels.size()) + " entries (at most " +
               std::to_string(kMaxLabels) + ")";
    for (const auto& l : labels)
        if (auto p = name_problem(l, "a label")) return p;
    return name_problem(filename, "eventFile's filename");
}

std::string bound_topic(std::string_view group, std::string_view pipeline) {
    return group == "Test" ? std::string{"test"} : detail::lower(pipeline);
}

std::optional<std::string> binding_problem(std::string_view group, std::string_view pipeline,
                                           std::string_view graceid, std::string_view topic,
                                           const std::optional<std::string>& key, std::string_view instance) {
    const std::string g{group}, id{graceid};
    const std::string expected = std::string{instance} + "." + bound_topic(group, pipeline);
    if (topic != expected)
        return "group \"" + g + "\", pipeline \"" + std::string{pipeline} + "\" may only be published on " +
               expected + ", not on " + std::string{topic} + " (a topic decides what its messages may claim)";
    // GraceDB gives every event of group Test, and only those, a graceid starting with T: the open test topic
    // can never name another group's reservation, whatever the server's reserved-upload view checks.
    const bool test_id = !id.empty() && id.front() == 'T';
    if (test_id != (group == "Test"))
        return "graceid " + id + (test_id ? " is a Test event's, but the group is \"" + g + "\""
                                          : " is not a Test event's (T...), but the group is Test");
    if (!key) return "the message has no key; an event's key must be its graceid " + id;
    if (*key != id)
        return "the message's key \"" + key->substr(0, kMaxGraceidLength) + "\" is not its graceid " + id;
    return std::nullopt;
}

std::optional<std::string> decode_base64_lenient(std::string_view text) {
    std::string compact;
    compact.reserve(text.size());
    for (char c : text)
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') compact += c;
    return detail::base64_decode(compact);
}

}  // namespace gracedb::event_detail
