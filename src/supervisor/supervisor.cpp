#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/log.hpp>
#include <gracedb/signals.hpp>
#include <gracedb/supervisor.hpp>


#include <deque>
#include <map>
#include <mutex>

#include "detail/base64.hpp"

namespace gracedb {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

enum class Outcome { uploaded, already_uploaded, skipped, dead, transient };

struct Attempt {
    Outcome outcome;
    std::string detail;
    std::optional<std::string> graceid;
    std::optional<std::chrono::duration<double>> delay;
};

const char* name(Outcome o) {
    switch (o) {
        case Outcome::uploaded: return "uploaded";
        case Outcome::already_uploaded: return "already-uploaded";
        case Outcome::skipped: return "skipped";
        case Outcome::dead: return "dead-lettered";
        case Outcome::transient: return "retrying";
    }
    return "?";
}

// Only the settings that say how to reach and authenticate to the brokers carry over to the producer.
std::map<std::string, std::string> connection_settings(const std::map<std::string, std::string>& cfg) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : cfg)
        for (const char* prefix : {"security.", "ssl.", "sasl.", "socket.", "reconnect.", "broker.", "client."})
            if (k.rfind(prefix, 0) == 0) out[k] = v;
    return out;
}

}  // namespace

struct GRACEDB_SUPERVISOR_NO_EXPORT Supervisor::Impl {
    SupervisorOptions options;
    std::string instance;
    std::string dead_letter;
    std::unique_ptr<GraceDb> rest;
    std::unique_ptr<kafka::Producer> dlq;
    std::unique_ptr<kafka::Consumer> consumer;
    std::atomic<bool> stopping{false};

    struct Pending {
        kafka::Message message;
        Clock::time_point due;
        std::chrono::milliseconds backoff;
        std::deque<kafka::Message> backlog;  // later messages of the same partition, held until it succeeds
    };
    std::map<std::pair<std::string, std::int32_t>, Pending> pending;
    mutable std::mutex stats_mutex;
    SupervisorStats stats;

    explicit Impl(SupervisorOptions o) : options{std::move(o)} {
        auto& c = options.consumer;
        c.topics.clear();
        if (!c.group_id) {
            const auto inst = c.instance_name ? *c.instance_name
                                              : c.service_url ? kafka::derive_instance_name(*c.service_url)
                                                              : std::string{};
            c.group_id = "gracedb-supervisor-" + inst;
        }
        c.auto_offset_reset = "earliest";
        c.kafka_config["enable.auto.commit"] = "false";
        if (options.service_url.empty()) throw std::invalid_argument("the supervisor needs the GraceDB service_url");
        options.rest.max_retries = 0;  // retried here, without blocking the other partitions
        rest = std::make_unique<GraceDb>(options.service_url, options.rest);
        consumer = std::make_unique<kafka::Consumer>(c);
        instance = consumer->instance_name();
        dead_letter = kafka::make_topic_name(options.dead_letter_prefix, instance);
        kafka::ProducerOptions p{.bootstrap_servers = c.bootstrap_servers,
                                 .topic = instance,
                                 .instance_name = options.dead_letter_prefix,
                                 .use_ssl = c.use_ssl,
                                 .ca_cert_path = c.ca_cert_path,
                                 .skip_hostname_verification = c.skip_hostname_verification,
                                 .token_audience = c.token_audience,
                                 .reload_cred = c.reload_cred,
                                 .reload_buffer = c.reload_buffer,
                                 .kafka_config = connection_settings(c.kafka_config)};
        dlq = std::make_unique<kafka::Producer>(std::move(p));
        consumer->subscribe_all();
        log(LogLevel::info, "supervisor: consuming every topic of instance \"" + instance + "\" as group \"" + *c.group_id +
                         "\", uploading to " + rest->service_url() + ", dead letters to " + dead_letter);
    }

    Attempt attempt(const kafka::Message& m) {
        auto body = nlohmann::json::parse(m.value, nullptr, false);
        if (body.is_discarded()) return {Outcome::dead, "the value is not JSON", std::nullopt, std::nullopt};
        if (!body.is_object()) return {Outcome::dead, "the value is not a JSON object", std::nullopt, std::nullopt};
        Attempt a{Outcome::skipped, "", std::nullopt, std::nullopt};
        if (auto ts = body.find("_producer_timestamp"); ts != body.end() && ts->is_number()) {
            const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
            a.delay = std::chrono::duration<double>(now - ts->get<double>());
        }
        if (body.value("type", "") != "event") return {Outcome::skipped, "type is not \"event\"", std::nullopt, a.delay};
        if (auto g = body.find("graceid"); g != body.end() && g->is_string()) a.graceid = g->get<std::string>();
        if (body.value("gracedb_upload", true) == false) return {Outcome::skipped, "gracedb_upload is false", a.graceid, a.delay};
        if (body.value("skip_supervisor", false) == true) return {Outcome::skipped, "skip_supervisor is true", a.graceid, a.delay};
        auto dead = [&](const std::string& why) { return Attempt{Outcome::dead, why, a.graceid, a.delay}; };
        if (!a.graceid) return dead("no graceid (a string) in an event to upload");
        if (!body.contains("group") || !body["group"].is_string()) return dead("no group");
        if (!body.contains("pipeline") || !body["pipeline"].is_string()) return dead("no pipeline");
        const auto& file = body.value("eventFile", nlohmann::json());
        if (!file.is_array() || file.size() != 2 || !file[0].is_string() || !file[1].is_string())
            return dead("eventFile is not [filename, base64 contents]");
        auto contents = detail::base64_decode(file[1].get<std::string>());
        if (!contents) return dead("eventFile contents are not valid base64");
        CreateEventOptions o{.filecontents = std::move(*contents)};
        if (body.contains("search") && body["search"].is_string()) o.search = body["search"].get<std::string>();
        o.offline = body.value("offline", false);
        if (body.contains("labels") && body["labels"].is_array())
            for (const auto& l : body["labels"])
                if (l.is_string()) o.labels.push_back(l.get<std::string>());
        try {
            auto r = rest->upload_reserved_event(*a.graceid, body["group"], body["pipeline"], file[0], o);
            if (r.status == 409) return {Outcome::already_uploaded, "HTTP 409", a.graceid, a.delay};
            return {Outcome::uploaded, "HTTP " + std::to_string(r.status), a.graceid, a.delay};
        } catch (const HTTPError& e) {
            const long s = e.status();
            if (s == 408 || s == 429 || s >= 500)
                return {Outcome::transient, "HTTP " + std::to_string(s), a.graceid, a.delay};
            return dead("HTTP " + std::to_string(s) + ": " + e.body().substr(0, 300));
        } catch (const GraceDbError& e) {  // transport or credentials: may heal
            return {Outcome::transient, e.what(), a.graceid, a.delay};
        }
    }

    // Copies the message with the reason to the dead-letter topic; false if that could not be delivered.
    bool send_dead_letter(const kafka::Message& m, const std::string& reason) {
        kafka::ProduceOptions po{.key = m.key,
                                 .headers = {{"dlq.reason", reason},
                                             {"dlq.topic", m.topic},
                                             {"dlq.partition", std::to_string(m.partition)},
                                             {"dlq.offset", std::to_string(m.offset)}}};
        try {
            auto report = dlq->produce_and_wait(m.value, po, dlq->flush_timeout());
            if (!report.error) return true;
            log(LogLevel::error, "supervisor: dead-letter delivery failed: " + *report.error);
        } catch (const std::exception& e) {
            log(LogLevel::error, std::string{"supervisor: dead-letter delivery failed: "} + e.what());
        }
        return false;
    }

    void report(const kafka::Message& m, const Attempt& a) {
        SupervisorEvent ev{m.topic, m.partition, m.offset, a.graceid, name(a.outcome), a.detail, a.delay};
        {
            std::lock_guard lock{stats_mutex};
            switch (a.outcome) {
                case Outcome::uploaded:
                    ++stats.uploaded;
                    if (a.delay) stats.delays_s.push_back(a.delay->count());
                    break;
                case Outcome::already_uploaded: ++stats.already_uploaded; break;
                case Outcome::skipped: ++stats.skipped; break;
                case Outcome::dead: ++stats.dead_lettered; break;
                case Outcome::transient: ++stats.retries; break;
            }
        }
        const auto line = "supervisor: " + m.topic + "[" + std::to_string(m.partition) + "]@" + std::to_string(m.offset) +
                          " " + a.graceid.value_or("-") + " " + name(a.outcome) + " (" + a.detail + ")" +
                          (a.delay ? ", delay " + std::to_string(a.delay->count()) + " s" : "");
        if (a.outcome == Outcome::dead) log(LogLevel::warning, line);
        else log(LogLevel::info, line);
        if (options.on_event) {
            try {
                options.on_event(ev);
            } catch (const std::exception& e) {
                log(LogLevel::error, std::string{"supervisor: on_event threw: "} + e.what());
            }
        }
    }

    // Handles one message; true when its partition may go on (committed), false when it waits for a retry.
    bool handle(const kafka::Message& m) {
        Attempt a = attempt(m);
        if (a.outcome == Outcome::dead && !send_dead_letter(m, a.detail))
            a = {Outcome::transient, "dead-letter topic unreachable (" + a.detail + ")", a.graceid, a.delay};
        report(m, a);
        if (a.outcome == Outcome::transient) return false;
        consumer->commit(m);
        return true;
    }

    void step() {
        const auto now = Clock::now();
        for (auto it = pending.begin(); it != pending.end();) {
            auto& p = it->second;
            if (p.due > now) {
                ++it;
                continue;
            }
            bool ok = handle(p.message);
            while (ok && !p.backlog.empty()) {  // the partition's later messages, in order
                p.message = std::move(p.backlog.front());
                p.backlog.pop_front();
                ok = handle(p.message);
            }
            if (ok) {
                consumer->resume(it->first.first, it->first.second);
                it = pending.erase(it);
            } else {
                p.backoff = std::min(p.backoff * 2, options.max_backoff);
                p.due = Clock::now() + p.backoff;
                ++it;
            }
        }
        auto m = consumer->poll(options.poll_timeout);
        if (!m) return;
        const auto key = std::make_pair(m->topic, m->partition);
        if (auto it = pending.find(key); it != pending.end()) {
            it->second.backlog.push_back(std::move(*m));  // fetched before the pause took effect
            return;
        }
        if (!handle(*m)) {
            consumer->pause(m->topic, m->partition);
            pending.emplace(key, Pending{*m, Clock::now() + options.initial_backoff, options.initial_backoff, {}});
        }
    }
};

Supervisor::Supervisor(SupervisorOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}
Supervisor::~Supervisor() = default;

void Supervisor::step() { impl_->step(); }

void Supervisor::run() {
    std::optional<StopSignals> signals;
    if (impl_->options.handle_signals) signals.emplace();
    while (!impl_->stopping.load() && !(signals && StopSignals::received())) impl_->step();
    log(LogLevel::info, "supervisor: stopping; " + std::to_string(impl_->pending.size()) +
                     " partition(s) with a pending retry stay uncommitted for the next supervisor");
    impl_->consumer->close();
}

void Supervisor::stop() noexcept { impl_->stopping.store(true); }

SupervisorStats Supervisor::stats() const {
    std::lock_guard lock{impl_->stats_mutex};
    return impl_->stats;
}

const std::string& Supervisor::dead_letter_topic() const { return impl_->dead_letter; }
const std::string& Supervisor::instance_name() const { return impl_->instance; }

}  // namespace gracedb
