#include <gracedb/kafka/topics.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "common/url.hpp"

namespace gracedb::kafka {
namespace {

bool legal_topic_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

// Built by appending: GCC 12 at -O3 reports a false -Wrestrict for "\"" + std::string + "\"" (GCC bug 105651).
std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out.append(s);
    out += '"';
    return out;
}

// Says what is wrong with a topic name, or returns an empty string when it is legal.
std::string topic_name_problem(std::string_view topic) {
    if (topic.empty()) return "it is empty";
    if (topic == "." || topic == "..") return "\".\" and \"..\" are reserved by Kafka";
    if (topic.size() > max_topic_name_length)
        return "it has " + std::to_string(topic.size()) + " characters, more than Kafka's limit of " +
               std::to_string(max_topic_name_length);
    auto bad = std::find_if_not(topic.begin(), topic.end(), legal_topic_char);
    if (bad != topic.end())
        return "character " + quoted(std::string_view{&*bad, 1}) + " at position " +
               std::to_string(bad - topic.begin()) + " is not allowed (only A-Z, a-z, 0-9, '.', '_', '-')";
    return {};
}

}  // namespace

void validate_topic_name(std::string_view topic) {
    if (auto problem = topic_name_problem(topic); !problem.empty())
        throw std::invalid_argument("illegal Kafka topic name " + quoted(topic) + ": " + problem);
}

std::string derive_instance_name(std::string_view service_url) {
    const std::string url = detail::redact_url(service_url);  // a user:password@ is never echoed
    auto fail = [&](const std::string& why) -> std::invalid_argument {
        return std::invalid_argument("cannot derive a GraceDB instance name from service URL " + quoted(url) +
                                     ": " + why);
    };
    std::string host;
    try {
        host = detail::parse_url(service_url).host;  // lower-cased, as Python's urlparse(...).hostname
    } catch (const std::invalid_argument& e) {
        throw fail(e.what());
    }
    std::string instance = host.substr(0, host.find('.'));
    if (instance.empty()) throw fail("its host " + quoted(host) + " starts with a dot");
    if (auto problem = topic_name_problem(instance); !problem.empty())
        throw fail("the first label of its host, " + quoted(instance) + ", cannot name a topic (" + problem +
                   "); pass instance_name explicitly");
    return instance;
}

std::string make_topic_name(std::string_view instance, std::string_view pipeline) {
    if (instance.empty()) throw std::invalid_argument("cannot make a topic name: the instance name is empty");
    if (pipeline.empty())
        throw std::invalid_argument("cannot make a topic name for instance " + quoted(instance) +
                                    ": the pipeline name is empty");
    // "." and ".." are no pipelines: "<instance>.." would be a legal topic, but not of any pipeline.
    if (pipeline == "." || pipeline == "..")
        throw std::invalid_argument("illegal pipeline name " + quoted(pipeline) + " for instance " + quoted(instance) +
                                    ": \".\" and \"..\" are reserved names; give the pipeline's name, e.g. \"gstlal\"");
    if (instance.find('.') != std::string_view::npos)
        throw std::invalid_argument("instance name " + quoted(instance) +
                                    " contains a dot; the dot separates instance and pipeline in a topic name");
    std::string topic;
    topic.reserve(instance.size() + 1 + pipeline.size());
    topic.append(instance).append(".").append(pipeline);
    validate_topic_name(topic);
    return topic;
}

std::pair<std::string, std::string> parse_topic_name(std::string_view namespaced_topic) {
    validate_topic_name(namespaced_topic);
    const auto dot = namespaced_topic.find('.');
    if (dot == std::string_view::npos)
        throw std::invalid_argument("topic " + quoted(namespaced_topic) +
                                    " is not namespaced: expected \"<instance>.<pipeline>\"");
    std::string instance{namespaced_topic.substr(0, dot)};
    std::string pipeline{namespaced_topic.substr(dot + 1)};
    if (instance.empty() || pipeline.empty())
        throw std::invalid_argument("topic " + quoted(namespaced_topic) +
                                    " has an empty instance or pipeline part: expected \"<instance>.<pipeline>\"");
    return {std::move(instance), std::move(pipeline)};
}

}  // namespace gracedb::kafka
