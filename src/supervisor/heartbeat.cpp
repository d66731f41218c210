#include "supervisor/heartbeat.hpp"

#include "common/text.hpp"

#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/log.hpp>
#include <gracedb/version.hpp>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace gracedb::supervisor_detail {
namespace {

using namespace std::chrono_literals;

double unix_s(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// The nearest-rank quantile of sorted values.
double quantile(const std::vector<double>& sorted, double q) {
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

nlohmann::json heartbeat_message(const HeartbeatIdentity& who, const SupervisorStats& s,
                                 std::chrono::system_clock::time_point started,
                                 std::chrono::system_clock::time_point now,
                                 std::chrono::milliseconds interval) {
    const auto n = std::min(s.delays_s.size(), kHeartbeatWindow);
    std::vector<double> recent(s.delays_s.end() - static_cast<std::ptrdiff_t>(n), s.delays_s.end());
    std::sort(recent.begin(), recent.end());
    auto ms = [&](double seconds) { return std::round(seconds * 1e4) / 10; };  // 0.1 ms
    nlohmann::json delay = {{"events", n}, {"p50", nullptr}, {"p99", nullptr}, {"max", nullptr}};
    if (n > 0) {
        delay["p50"] = ms(quantile(recent, 0.50));
        delay["p99"] = ms(quantile(recent, 0.99));
        delay["max"] = ms(recent.back());
    }
    return {{"type", "heartbeat"},
            {"instance", who.instance},
            {"group", who.group},
            {"host", who.host},
            {"pid", who.pid},
            {"version", who.version},
            {"time", unix_s(now)},
            {"started", unix_s(started)},
            {"uptime_s", std::round(std::chrono::duration<double>(now - started).count() * 1000) / 1000},
            {"interval_s", std::chrono::duration<double>(interval).count()},
            {"counters",
             {{"uploaded", s.uploaded},
              {"already_uploaded", s.already_uploaded},
              {"skipped", s.skipped},
              {"dead_lettered", s.dead_lettered},
              {"retries", s.retries},
              {"dropped", s.dropped},
              {"commits", s.commits},
              {"commit_failures", s.commit_failures},
              {"consumer_errors", s.consumer_errors}}},
            {"in_flight", s.in_flight},
            {"blocked", s.blocked},
            {"blocked_reason",
             s.blocked ? nlohmann::json(gracedb::detail::utf8_excerpt(s.blocked_reason, 400)) : nlohmann::json(nullptr)},
            {"last_upload", s.last_upload ? nlohmann::json(unix_s(*s.last_upload)) : nlohmann::json(nullptr)},
            {"delay_ms", delay}};
}

Heartbeat::Heartbeat(kafka::ProducerOptions options, std::string topic, std::chrono::milliseconds interval,
                     HeartbeatIdentity who)
    : options_{std::move(options)},
      producer_{std::make_unique<kafka::Producer>(options_)},
      topic_{std::move(topic)},
      interval_{interval},
      who_{std::move(who)} {}

Heartbeat::~Heartbeat() {
    try {
        if (producer_) producer_->close(1s);  // a heartbeat is worth no wait at shutdown
    } catch (...) {
    }
}

void Heartbeat::warn(const std::string& what) {
    if (!next_warning_.expired()) return;
    next_warning_ = detail::Deadline::after(60s);
    log(LogLevel::warning, "supervisor: heartbeat to " + topic_ + ": " + what + " (uploads go on)");
}

void Heartbeat::publish(const SupervisorStats& stats) {
    next_ = detail::Deadline::at(detail::Deadline::Clock::now() + interval_);
    try {
        if (!producer_) producer_ = std::make_unique<kafka::Producer>(options_);
        producer_->poll(0ms);  // the reports of earlier heartbeats
        kafka::ProduceOptions po;
        po.key = who_.host + ":" + std::to_string(who_.pid);
        po.on_delivery = [this](const kafka::DeliveryReport& r) {
            if (r.error) warn("not delivered: " + *r.error);
        };
        const auto now = std::chrono::system_clock::now();
        producer_->produce(heartbeat_message(who_, stats, started_, now, interval_), std::move(po));
    } catch (const kafka::KafkaError& e) {
        warn(e.what());
        if (e.fatal()) producer_.reset();  // rebuilt at the next heartbeat
    } catch (const std::exception& e) {  // e.g. text that is not UTF-8: a heartbeat never stops the uploads
        warn(e.what());
    }
}

std::unique_ptr<Heartbeat> make_heartbeat(const std::string& prefix, std::chrono::milliseconds interval,
                                          const std::string& instance, const std::string& group,
                                          kafka::ProducerOptions connection) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    connection.instance_name = prefix;
    connection.service_url.reset();
    connection.topic = instance;
    connection.flush_timeout = 1s;
    connection.guaranteed_delivery = false;  // a lost or repeated heartbeat is harmless; the next one comes
    // A heartbeat not delivered within two intervals is stale: dropped (and reported) rather than kept.
    connection.kafka_config["message.timeout.ms"] =
        std::to_string(std::max<long long>(2 * interval.count(), 5000));
    auto topic = kafka::make_topic_name(prefix, instance);
    return std::make_unique<Heartbeat>(std::move(connection), std::move(topic), interval,
                                       HeartbeatIdentity{.instance = instance,
                                                         .group = group,
                                                         .host = host[0] ? host : "unknown",
                                                         .version = gracedb::version,
                                                         .pid = static_cast<long>(::getpid())});
}

}  // namespace gracedb::supervisor_detail
