// Fuzz target: topic namespacing. The input is split at its first NUL byte into two names.
// Properties: only std::invalid_argument escapes; make_topic_name and parse_topic_name are inverses of each
// other on everything they accept; what they accept is a legal Kafka topic name.
#include <gracedb/kafka/topics.hpp>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

using namespace gracedb::kafka;

namespace {

bool legal(std::string_view t) {
    try {
        validate_topic_name(t);
        return true;
    } catch (const std::invalid_argument&) {
        return false;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view all{reinterpret_cast<const char*>(data), size};
    const auto nul = all.find('\0');
    const auto a = all.substr(0, nul);
    const auto b = nul == std::string_view::npos ? std::string_view{} : all.substr(nul + 1);

    try {  // a whole topic
        const auto [instance, pipeline] = parse_topic_name(all);
        if (!legal(all) || instance.empty() || pipeline.empty() || instance.find('.') != std::string::npos)
            std::abort();
        if (make_topic_name(instance, pipeline) != all) std::abort();
    } catch (const std::invalid_argument&) {
    }
    try {  // instance and pipeline
        const auto topic = make_topic_name(a, b);
        if (!legal(topic) || topic.size() > max_topic_name_length) std::abort();
        const auto [instance, pipeline] = parse_topic_name(topic);
        if (instance != a || pipeline != b) std::abort();
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
