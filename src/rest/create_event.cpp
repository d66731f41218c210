// GraceDb::create_event: the two-step upload (reserve a graceid over HTTP, publish the event over Kafka),
// its fallbacks to HTTP, and its per-step timings.
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/client.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "detail/base64.hpp"
#include "detail/log.hpp"
#include "kafka/json_writer.hpp"
#include "rest/impl.hpp"

namespace gracedb {

Response GraceDb::create_event(const std::string& group, const std::string& pipeline, const std::string& filename,
                               const CreateEventOptions& o) {
    impl_->check_vocabulary(group, pipeline, o.search, o.labels);  // as the Python client, before anything
    const auto start = Clock::now();
    const auto contents = read_event_file(filename, o);
    auto http_create = [&](const char* why) {
        if (why) detail::log_warning(std::string{"create_event: "} + why + "; falling back to HTTP");
        const auto form = Impl::event_form(group, pipeline, filename, contents, o);
        const auto t = Clock::now();
        Response r = impl_->request("POST", impl_->link("events"), &form, true, false);
        r.timings.emplace_back("http", since(t));
        r.timings.emplace_back("total", since(start));
        return r;
    };
    if (!o.kafka) return http_create(nullptr);

    // Step 1: reserve a graceid (unless the message is not for GraceDB).
    nlohmann::json graceid = nullptr, submitter = nullptr;
    Response result;
    if (o.gracedb_upload) {
        const auto t = Clock::now();
        try {
            auto reservation = reserve_graceid(group, pipeline, o.search).json();
            graceid = reservation.at("graceid");
            submitter = reservation.value("submitter", nlohmann::json(nullptr));
        } catch (const std::exception& e) {
            if (o.http_fallback) return http_create(("reservation failed (" + std::string{e.what()} + ")").c_str());
            if (const auto* h = dynamic_cast<const HTTPError*>(&e))
                throw HTTPError(h->status(), h->body(), std::string{"create_event, reservation step: "} + e.what());
            if (dynamic_cast<const TransportError*>(&e))
                throw TransportError(std::string{"create_event, reservation step: "} + e.what());
            throw GraceDbError(std::string{"create_event, reservation step: "} + e.what());
        }
        result.timings.emplace_back("reserve", since(t));
    }

    // Step 2: publish the event message, keyed by graceid, and wait for its own delivery report.
    nlohmann::json message = {
        {"type", "event"},
        {"_producer_timestamp", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
        {"graceid", graceid},
        {"pipeline", pipeline},
        {"submitter", submitter},
        {"eventFile", {std::filesystem::path{filename}.filename().string(), detail::base64_encode(contents)}},
        {"group", group},
        {"search", o.search ? nlohmann::json(*o.search) : nlohmann::json(nullptr)},
        {"offline", o.offline},
        {"labels", o.labels},
        {"gracedb_upload", o.gracedb_upload},
        {"skip_supervisor", o.skip_supervisor}};
    kafka::Producer& producer = *o.kafka;
    const std::string topic_pipeline = producer.default_topic() ? *producer.default_topic()
                                       : lower(group) == "test"  ? std::string{"test"}
                                                                 : lower(pipeline);
    kafka::ProduceOptions po{.topic = topic_pipeline};
    if (graceid.is_string()) po.key = graceid.get<std::string>();
    kafka::DeliveryReport report;
    std::string failure;
    try {
        const std::string text = kafka::detail_client::to_json_text(message);
        auto delivered = std::make_shared<std::optional<kafka::DeliveryReport>>();  // outlives a timeout
        po.on_delivery = [delivered](const kafka::DeliveryReport& r) { *delivered = r; };
        const auto t_produce = Clock::now();
        producer.produce(std::string_view{text}, std::move(po));
        result.timings.emplace_back("produce", since(t_produce));
        const auto t_ack = Clock::now();
        const auto deadline = t_ack + producer.flush_timeout();
        while (!*delivered && Clock::now() < deadline)
            producer.poll(std::min<std::chrono::milliseconds>(
                50ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) + 1ms));
        result.timings.emplace_back("acknowledge", since(t_ack));
        if (!*delivered)
            failure = "no delivery report within the producer's flush_timeout of " +
                      std::to_string(producer.flush_timeout().count()) + " ms";
        else if ((report = **delivered).error)
            failure = *report.error;
    } catch (const kafka::KafkaError& e) {
        failure = e.what();
        if (!o.http_fallback || !graceid.is_string()) {
            const std::string where = std::string{"create_event, publish step"} +
                                      (graceid.is_string() ? " (reserved " + graceid.get<std::string>() + ")" : "") +
                                      ": ";
            if (dynamic_cast<const kafka::KafkaAuthenticationError*>(&e))
                throw kafka::KafkaAuthenticationError(where + e.what());
            if (dynamic_cast<const kafka::KafkaConnectionError*>(&e)) throw kafka::KafkaConnectionError(where + e.what());
            throw kafka::KafkaProducerError(where + e.what());
        }
    }
    if (!failure.empty()) {
        if (o.http_fallback && graceid.is_string()) {
            detail::log_warning("create_event: publishing " + graceid.get<std::string>() + " failed (" + failure +
                                "); completing the reserved event over HTTP");
            Response r = upload_reserved_event(graceid.get<std::string>(), group, pipeline, filename,
                                               [&] { auto c = o; c.filecontents = contents; return c; }());
            r.timings.insert(r.timings.begin(), result.timings.begin(), result.timings.end());
            r.timings.emplace_back("total", since(start));
            return r;
        }
        throw kafka::KafkaMessageDeliveryError(
            std::string{"create_event, publish step"} +
            (graceid.is_string() ? " (reserved " + graceid.get<std::string>() + ")" : "") + ": topic " +
            producer.topic_for(topic_pipeline) + ": " + failure);
    }
    result.timings.emplace_back("total", since(start));
    result.status = 202;
    nlohmann::json body = {{"graceid", graceid},          {"submitter", submitter},
                           {"topic", report.topic},        {"partition", report.partition},
                           {"offset", report.offset},      {"transport", "kafka"},
                           {"gracedb_upload", o.gracedb_upload}, {"skip_supervisor", o.skip_supervisor}};
    nlohmann::json timings = nlohmann::json::object();
    for (const auto& [name, d] : result.timings) timings[name + "_ms"] = static_cast<double>(d.count()) / 1000.0;
    body["timings"] = timings;
    result.body = body.dump();
    return result;
}

}  // namespace gracedb
