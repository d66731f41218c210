// Fuzz target: the JSON writer (to_json_text, on every produce() of a JSON value) against nlohmann's dump().
// The first byte picks how the input becomes a value: parsed as JSON text (nlohmann), or built as a tree from
// the bytes (arbitrary byte strings as keys and values, so invalid UTF-8 too; any doubles and integers).
// Properties: dump() refuses (type_error, invalid UTF-8) exactly when to_json_text throws
// std::invalid_argument; otherwise our text is valid JSON that reads back to what dump()'s text reads back to
// (spelling may differ: \u00XX hex case, exponent form); the thread's reusable view says the same.
#include <fuzzer/FuzzedDataProvider.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common/json_writer.hpp"

using nlohmann::json;
using gracedb::detail::to_json_text;
using gracedb::detail::to_json_text_view;

namespace {

json build(FuzzedDataProvider& in, int depth) {
    switch (in.ConsumeIntegralInRange<int>(0, depth > 6 ? 6 : 8)) {
        case 0: return nullptr;
        case 1: return in.ConsumeBool();
        case 2: return in.ConsumeIntegral<std::int64_t>();
        case 3: return in.ConsumeIntegral<std::uint64_t>();
        case 4: return in.ConsumeFloatingPoint<double>();
        case 5: return in.ConsumeProbability<double>() * 1e6;
        case 6: return in.ConsumeRandomLengthString(64);
        case 7: {
            json a = json::array();
            for (int n = in.ConsumeIntegralInRange<int>(0, 5); n > 0 && in.remaining_bytes(); --n)
                a.push_back(build(in, depth + 1));
            return a;
        }
        default: {
            json o = json::object();
            for (int n = in.ConsumeIntegralInRange<int>(0, 5); n > 0 && in.remaining_bytes(); --n)
                o[in.ConsumeRandomLengthString(32)] = build(in, depth + 1);
            return o;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    json value;
    if (data[0] & 1) {
        value = json::parse(data + 1, data + size, nullptr, false);
        if (value.is_discarded()) return 0;
    } else {
        FuzzedDataProvider in{data + 1, size - 1};
        value = build(in, 0);
    }

    std::string expected;
    bool dump_refused = false;
    try {
        expected = value.dump();
    } catch (const json::type_error&) {
        dump_refused = true;
    }
    std::string ours;
    bool we_refused = false;
    try {
        ours = to_json_text(value);
    } catch (const std::invalid_argument&) {
        we_refused = true;
    }
    if (dump_refused != we_refused) std::abort();
    if (dump_refused) return 0;

    const json back = json::parse(ours, nullptr, false);
    if (back.is_discarded()) std::abort();            // not JSON text
    if (back != json::parse(expected)) std::abort();  // a different value
    if (to_json_text_view(value) != ours) std::abort();
    return 0;
}
