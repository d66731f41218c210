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
#include "detail/text.hpp"
#include "kafka/error_map.hpp"
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
                                       : detail::lower(group) == "test" ? std::string{"test"}
                                                                        : detail::lower(pipeline);
    kafka::ProduceOptions po{.topic = topic_pipeline};
    if (graceid.is_string()) po.key = graceid.get<std::string>();
    const std::string reserved = graceid.is_string() ? " (reserved " + graceid.get<std::string>() + ")" : "";
    // The one own-report wait: sends at once whatever linger.ms, waits for this message's report only, and
    // leaves other messages' errors and callback exceptions to the producer's next call. Whatever happens
    // here, a reserved event ends published, completed over HTTP, or named in the exception.
    kafka::DeliveryReport report;
    std::exception_ptr error;
    try {
        const std::string text = kafka::detail_client::to_json_text(message);
        const auto t_publish = Clock::now();
        report = producer.produce_and_wait(text, std::move(po), producer.flush_timeout());
        result.timings.emplace_back("publish", since(t_publish));
    } catch (...) {
        error = std::current_exception();
    }
    if (error || report.error) {
        std::string failure;
        if (!error) {
            failure = *report.error;
        } else {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                failure = e.what();
            } catch (...) {
                failure = "unknown exception";
            }
        }
        if (o.http_fallback && graceid.is_string()) {
            detail::log_warning("create_event: publishing " + graceid.get<std::string>() + " failed (" + failure +
                                "); completing the reserved event over HTTP");
            Response r = upload_reserved_event(graceid.get<std::string>(), group, pipeline, filename,
                                               [&] { auto c = o; c.filecontents = contents; return c; }());
            r.timings.insert(r.timings.begin(), result.timings.begin(), result.timings.end());
            r.timings.emplace_back("total", since(start));
            return r;
        }
        const std::string where = "create_event, publish step" + reserved + ": ";
        if (!error)
            kafka::detail_errors::throw_kafka_error(
                report.error_code, where + "topic " + producer.topic_for(topic_pipeline) + ": " + failure,
                kafka::detail_errors::Op::deliver, report.rdkafka_error, false,
                report.error_code == Errc::timed_out || report.error_code == Errc::connection_failed);
        try {
            std::rethrow_exception(error);
        } catch (const kafka::KafkaError& e) {
            std::rethrow_exception(kafka::detail_errors::with_context(e, where));
        } catch (const std::invalid_argument&) {
            throw;  // a bad argument (topic name): nothing was reserved under a wrong name by us
        } catch (const std::exception& e) {
            throw kafka::KafkaProducerError(where + e.what());
        }
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
