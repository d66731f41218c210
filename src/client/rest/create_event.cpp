// GraceDb::create_event: the two-step upload (reserve a graceid over HTTP, publish the event over Kafka),
// its fallbacks to HTTP, and its per-step timings.
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/rest/client.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/event/event_message.hpp"
#include "client/event/http_answer.hpp"
#include "client/event/rules.hpp"
#include "client/kafka/error_map.hpp"
#include "common/log.hpp"
#include "client/rest/impl.hpp"
#include "client/rest/outbox.hpp"

namespace gracedb {
namespace {

// Refuses a producer of another instance than the client's service (whose supervisor alone knows the
// reservations), before anything is reserved. A service URL from which no instance can be derived is not
// checked.
void check_instance(const kafka::Producer& producer, const std::string& api_root,
                    const std::string& shown_url) {
    std::string service_instance;
    try {
        service_instance = kafka::derive_instance_name(api_root);
    } catch (const std::invalid_argument&) {
        return;
    }
    const std::string& instance = producer.instance_name();
    if (instance == service_instance) return;
    throw kafka::KafkaProducerError(
        "create_event: the Kafka producer publishes to instance \"" + instance + "\" (topics \"" + instance +
            ".<pipeline>\"), but this client's GraceDB service " + shown_url + " is instance \"" +
            service_instance + "\": that instance's supervisor alone knows its reservations, so the event "
            "would never be uploaded. Nothing was reserved. Make the producer for this service (client."
            "create_kafka_producer, or ProducerOptions service_url = the client's URL, or instance_name = "
            "\"" +
            service_instance + "\")",
        Errc::invalid_configuration);
}

// The publish step's failure: its text and cause, and whether the message may still be delivered.
struct PublishFailure {
    std::string what;
    Errc code = Errc::unknown;
    std::string rdkafka_error{};
    bool fatal = false;
    bool retriable = false;
    bool may_still_be_delivered = false;

    // A report without delivery: librdkafka's (its persistence status), or produce_and_wait's own, made while
    // librdkafka still holds the message (a timeout, a wait ended early: possibly_persisted).
    static PublishFailure from(const kafka::DeliveryReport& r) {
        return {*r.error,
                r.error_code,
                r.rdkafka_error,
                false,
                r.error_code == Errc::timed_out || r.error_code == Errc::connection_failed,
                r.persistence != kafka::Persistence::not_persisted};
    }
    // produce_and_wait throws only before the message was queued: nothing can be delivered.
    static PublishFailure from(const std::exception_ptr& error) {
        try {
            std::rethrow_exception(error);
        } catch (const Error& e) {
            return {e.what(), e.code(), e.rdkafka_error(), e.fatal(), e.retriable(), false};
        } catch (const std::exception& e) {
            return {e.what(), Errc::unknown, {}, false, false, false};
        } catch (...) {
            return {"unknown exception", Errc::unknown, {}, false, false, false};
        }
    }
};

kafka::KafkaUnfinishedEventError unfinished_event_error(const std::string& id, const std::string& topic,
                                                        const PublishFailure& f,
                                                        const std::string& fallback_failure) {
    std::string what = "create_event, publish step (reserved " + id + "): topic " + topic + ": " + f.what;
    if (!fallback_failure.empty()) what += "; completing it over HTTP failed too: " + fallback_failure;
    if (f.may_still_be_delivered)
        what += ". " + id + " is reserved but not finished, and its message may still be delivered "
                "(librdkafka still holds it, or it may already be in the topic), when the supervisor uploads "
                "it: do NOT create the event again (that reserves a second graceid: a second event); "
                "finish " + id +
                " with upload_reserved_event(\"" + id + "\", ...) and the same arguments (idempotent: a 409 "
                "means it is done)";
    else
        what += ". " + id + " is reserved but not finished; its message was not delivered and will not be: "
                "finish " + id + " with upload_reserved_event(\"" + id + "\", ...) and the same arguments";
    return {what, id, f.may_still_be_delivered, f.code, f.rdkafka_error, f.fatal, f.retriable};
}

}  // namespace

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
    kafka::Producer& producer = *o.kafka;
    // Before anything is reserved: the producer must publish to this service's instance (another instance's
    // supervisor does not know the reservation), and the topic name must be legal (std::invalid_argument).
    check_instance(producer, service_url(), impl_->shown_url);
    // The topic the supervisor accepts this event from (it binds group and pipeline to the topic): a producer's
    // default topic is used only when it is that topic, or when no supervisor is to upload the message.
    const std::string bound = event_detail::bound_topic(group, pipeline);
    const bool supervised = o.gracedb_upload && !o.skip_supervisor;
    const std::string file_name = std::filesystem::path{filename}.filename().string();
    // The fields as the supervisor reads them: one it would dead-letter is refused before anything is
    // reserved.
    if (supervised)
        if (auto problem = event_detail::fields_problem(group, pipeline, o.search, o.labels, file_name))
            throw std::invalid_argument("create_event: " + *problem +
                                        ": GraceDB's supervisor would refuse this event message. Nothing was "
                                        "reserved. Use a name of 1 to " +
                                        std::to_string(event_detail::kMaxNameLength) +
                                        " bytes of UTF-8 without control characters, at most " +
                                        std::to_string(event_detail::kMaxLabels) + " labels");
    if (supervised && producer.default_topic() && producer.topic_for(*producer.default_topic()) != producer.topic_for(bound))
        throw std::invalid_argument(
            "create_event: the Kafka producer's default topic is " + producer.topic_for(*producer.default_topic()) +
            ", but GraceDB's supervisor accepts an event of group \"" + group + "\", pipeline \"" + pipeline +
            "\" only from " + producer.topic_for(bound) +
            " (a topic decides what its messages may claim). Nothing was reserved. Use a producer without a "
            "default topic (create_event then picks the topic), or one whose topic is \"" + bound + "\"");
    const std::string topic_pipeline = producer.default_topic() ? *producer.default_topic() : bound;
    const std::string topic = producer.topic_for(topic_pipeline);

    // The outbox: the event is journaled durably before anything is reserved (from here on it is accepted:
    // a crash is completed by a later resume_outbox), and each step after it.
    // Only an event meant to be uploaded (skip_supervisor: nobody uploads it, so neither may a resume).
    std::optional<OutboxClaim> journal;
    if (impl_->outbox && supervised)
        journal.emplace(*impl_->outbox, impl_->outbox->accept({.state = "reserving",
                                                               .service = impl_->shown_url,
                                                               .group = group,
                                                               .pipeline = pipeline,
                                                               .search = o.search,
                                                               .offline = o.offline,
                                                               .labels = o.labels,
                                                               .filename = filename,
                                                               .contents = contents}));
    // A step that a crash could not lose anything by missing: a journal failure is only logged.
    auto note_step = [&](const char* state, const std::optional<std::string>& id, const std::string& error) {
        if (!journal) return;
        try {
            journal->box().record(journal->id(), state, id, error);
        } catch (const std::exception& e) {
            detail::log_warning(std::string{"create_event: "} + e.what());
        }
    };

    // Step 1: reserve a graceid (unless the message is not for GraceDB).
    nlohmann::json graceid = nullptr, submitter = nullptr;
    Response result;
    if (o.gracedb_upload) {
        const auto t = Clock::now();
        try {
            auto reservation = reserve_graceid(group, pipeline, o.search).json();
            graceid = reservation.at("graceid");
            submitter = reservation.value("submitter", nlohmann::json(nullptr));
            const auto problem = graceid.is_string()
                                     ? event_detail::graceid_problem(graceid.get<std::string>())
                                     : std::optional<std::string>{"graceid is not a string"};
            if (problem) {
                graceid = nullptr;
                throw GraceDbError("GraceDB's reservation answer is not usable (" + *problem + ")");
            }
        } catch (const std::exception& e) {
            if (journal && o.http_fallback) {
                // A plain creation is not idempotent: journaled as "creating" first (a crash during it leaves
                // an event that may exist, never repeated), so a failure to journal stops it here.
                journal->box().record(journal->id(), "creating", std::nullopt, e.what());
                try {
                    Response r = http_create(("reservation failed (" + std::string{e.what()} + ")").c_str());
                    auto id = r.json().value("graceid", nlohmann::json(nullptr));
                    note_step("completed", id.is_string() ? std::optional<std::string>{id.get<std::string>()}
                                                          : std::nullopt, "");
                    return r;
                } catch (const HTTPError& h) {
                    // 4xx: GraceDB refused it, nothing was created. 5xx (a gateway's 502/504 too): the POST may
                    // have been applied behind it, so it stays "creating" (may exist; never repeated).
                    const bool applied = event_detail::may_have_been_applied(h.status());
                    note_step(applied ? "creating" : "failed", std::nullopt, h.what());
                    throw;
                } catch (const std::exception& c) {
                    note_step("creating", std::nullopt, c.what());
                    throw;
                }
            }
            if (journal) {  // the caller is told; a reservation without an answer may exist all the same
                try {
                    if (!dynamic_cast<const HTTPError*>(&e))
                        journal->box().add_unknown_reservation(journal->id());
                } catch (const std::exception&) {  // only a count: the step below still says it failed
                }
                note_step("failed", std::nullopt, e.what());
            }
            if (o.http_fallback) return http_create(("reservation failed (" + std::string{e.what()} + ")").c_str());
            if (const auto* h = dynamic_cast<const HTTPError*>(&e))
                throw HTTPError(h->status(), h->body(), std::string{"create_event, reservation step: "} + e.what(),
                                h->code(), h->retriable());
            if (dynamic_cast<const TransportError*>(&e))
                throw TransportError(std::string{"create_event, reservation step: "} + e.what());
            throw GraceDbError(std::string{"create_event, reservation step: "} + e.what());
        }
        result.timings.emplace_back("reserve", since(t));
        // Must be journaled before the message can exist: an entry left "reserving" is completed by a resume
        // with a new graceid, which would make a second event of a message already published.
        if (journal) {
            try {
                journal->box().record(journal->id(), "reserved", graceid.get<std::string>());
            } catch (const std::exception& e) {
                throw GraceDbError("create_event: reserved " + graceid.get<std::string>() +
                                   " but could not journal it, so nothing was published: " + e.what() +
                                   ". The outbox completes the event at its next resume (with another "
                                   "graceid): do not create it again");
            }
        }
    }

    // Step 2: publish the event message, keyed by graceid, and wait for its own delivery report.
    auto string_or_none = [](const nlohmann::json& v) {
        return v.is_string() ? std::optional<std::string>{v.get<std::string>()} : std::nullopt;
    };
    // The envelope's fields: the outbox journals the same event with the file's path, the message its name.
    const event_detail::EventMessage message{
        .graceid = string_or_none(graceid), .submitter = string_or_none(submitter), .group = group,
        .pipeline = pipeline, .search = o.search, .offline = o.offline, .labels = o.labels,
        .filename = file_name, .contents = contents, .gracedb_upload = o.gracedb_upload,
        .skip_supervisor = o.skip_supervisor};
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    const double now = std::chrono::duration<double>(since_epoch).count();
    kafka::ProduceOptions po{.topic = topic_pipeline};
    if (graceid.is_string()) po.key = graceid.get<std::string>();
    // The one own-report wait: sends at once whatever linger.ms, waits for this message's report only, and
    // leaves other messages' errors and callback exceptions to the producer's next call. Whatever happens
    // here, a reserved event ends published, completed over HTTP, or named in a KafkaUnfinishedEventError
    // that says whether the message may still be delivered.
    kafka::DeliveryReport report;
    std::exception_ptr error;  // thrown by produce_and_wait: only before the message was queued
    try {
        const std::string text = event_detail::write_envelope(message, now);
        const auto t_publish = Clock::now();
        note_step("published", std::nullopt, "");
        report = producer.produce_and_wait(text, std::move(po), producer.flush_timeout());
        result.timings.emplace_back("publish", since(t_publish));
    } catch (const Error&) {  // ours (a KafkaError, ...): thrown before the message was queued
        error = std::current_exception();
    } catch (const std::invalid_argument&) {  // a bad key or topic: before it was queued
        error = std::current_exception();
    } catch (...) {
        // Anything else is the producer's interrupt hook (Python's Ctrl-C), thrown while the message waited
        // for its report: it is queued and may still be delivered, so it is neither failed nor completed over
        // HTTP; follow-ups wait for it, the outbox keeps it "published", and the caller gets the hook's
        // exception unchanged.
        if (supervised && graceid.is_string()) impl_->pending.add(graceid.get<std::string>());
        throw;
    }
    if (error || report.error) {
        PublishFailure failure = error ? PublishFailure::from(error) : PublishFailure::from(report);
        if (!graceid.is_string()) {  // nothing reserved, nothing to finish: the publish step's error as it is
            if (error) {
                try {
                    std::rethrow_exception(error);
                } catch (const kafka::KafkaError& e) {
                    std::rethrow_exception(
                        kafka::detail_errors::with_context(e, "create_event, publish step: "));
                } catch (const std::invalid_argument&) {
                    throw;
                } catch (const std::exception& e) {
                    throw kafka::KafkaProducerError(std::string{"create_event, publish step: "} + e.what());
                }
            }
            kafka::detail_errors::throw_kafka_error(
                report.error_code, "create_event, publish step: topic " + topic + ": " + failure.what,
                kafka::detail_errors::Op::deliver, report.rdkafka_error, false, failure.retriable);
        }
        const std::string id = graceid.get<std::string>();
        std::string fallback_failure;
        if (o.http_fallback) {
            // Safe whatever became of the message: the reserved upload is idempotent by graceid, so a Kafka
            // copy delivered later is answered 409 at the supervisor; one delivered first makes ours a 409.
            detail::log_warning("create_event: publishing " + id + " failed (" + failure.what +
                                "); completing the reserved event over HTTP");
            try {
                auto with_contents = o;
                with_contents.filecontents = contents;
                Response r = upload_reserved_event(id, group, pipeline, filename, with_contents);
                if (r.status == 409) {  // the Kafka copy arrived first and the supervisor uploaded it: done
                    try {
                        const auto t = Clock::now();
                        r = event(id);  // 200: the event as GraceDB has it
                        r.timings.emplace_back("http", since(t));
                    } catch (const std::exception&) {
                        r.body = nlohmann::json{{"graceid", id}, {"already_uploaded", true}}.dump();
                    }
                }
                note_step("completed", std::nullopt, "");
                r.timings.insert(r.timings.begin(), result.timings.begin(), result.timings.end());
                r.timings.emplace_back("total", since(start));
                return r;
            } catch (const std::exception& e) {
                fallback_failure = e.what();
            }
        }
        // The message may still reach the supervisor: follow-ups on the graceid wait for it meanwhile.
        if (supervised && failure.may_still_be_delivered) impl_->pending.add(id);
        auto unfinished = unfinished_event_error(id, topic, failure, fallback_failure);
        note_step("published", std::nullopt, unfinished.what());  // a resume completes it
        throw unfinished;
    }
    note_step("acknowledged", std::nullopt, "");
    result.timings.emplace_back("total", since(start));
    result.status = 202;
    // Reserved and published: GraceDB has the event once the supervisor uploaded it. Until a follow-up sees
    // it exist, follow-ups on it wait for it (the reservation window, window.cpp).
    if (supervised && graceid.is_string()) impl_->pending.add(graceid.get<std::string>());
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
