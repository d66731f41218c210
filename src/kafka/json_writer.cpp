#include "kafka/json_writer.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <stdexcept>

namespace gracedb::kafka::detail_client {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer, rapidjson::UTF8<>, rapidjson::UTF8<>,
                                 rapidjson::CrtAllocator, rapidjson::kWriteValidateEncodingFlag>;

void write(Writer& w, const nlohmann::json& v) {
    using T = nlohmann::json::value_t;
    bool ok = true;
    switch (v.type()) {
        case T::null:
        case T::discarded: ok = w.Null(); break;
        case T::boolean: ok = w.Bool(v.get<bool>()); break;
        case T::number_integer: ok = w.Int64(v.get<std::int64_t>()); break;
        case T::number_unsigned: ok = w.Uint64(v.get<std::uint64_t>()); break;
        case T::number_float: {
            const double d = v.get<double>();
            ok = std::isfinite(d) ? w.Double(d) : w.Null();
            break;
        }
        case T::string: {
            const auto& s = v.get_ref<const std::string&>();
            ok = w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
            if (!ok) throw std::invalid_argument("cannot send a JSON string that is not valid UTF-8");
            break;
        }
        case T::array:
            w.StartArray();
            for (const auto& item : v) write(w, item);
            ok = w.EndArray();
            break;
        case T::object:
            w.StartObject();
            for (auto it = v.begin(); it != v.end(); ++it) {
                const auto& k = it.key();
                if (!w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())))
                    throw std::invalid_argument("cannot send a JSON key that is not valid UTF-8");
                write(w, it.value());
            }
            ok = w.EndObject();
            break;
        case T::binary: throw std::invalid_argument("a JSON binary value has no JSON text: send it as bytes");
    }
    if (!ok) throw std::invalid_argument("cannot write this JSON value as text");
}

}  // namespace

std::string to_json_text(const nlohmann::json& value) {
    rapidjson::StringBuffer buffer;
    Writer writer{buffer};
    write(writer, value);
    return std::string{buffer.GetString(), buffer.GetSize()};
}

}  // namespace gracedb::kafka::detail_client
