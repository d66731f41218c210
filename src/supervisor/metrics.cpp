#include "supervisor/metrics.hpp"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <sstream>
#include <stdexcept>

namespace gracedb::supervisor_detail {

namespace {

// Seconds, from 0.5 ms to 60 s: produce-to-upload delays and upload durations.
prometheus::Histogram::BucketBoundaries latency_buckets() {
    return {0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60};
}

}  // namespace

Metrics::Metrics() : registry_{std::make_shared<prometheus::Registry>()} {
    using prometheus::BuildCounter;
    using prometheus::BuildGauge;
    using prometheus::BuildHistogram;
    auto& r = *registry_;
    messages_ = &BuildCounter()
                     .Name("gracedb_supervisor_messages_total")
                     .Help("Messages by what happened to them (a retry counts each failed attempt)")
                     .Register(r);
    for (const char* o : {"uploaded", "already-uploaded", "skipped", "dead-lettered", "dropped", "retrying"})
        outcome_counters_[o] = &messages_->Add({{"outcome", o}});
    auto& commits = BuildCounter().Name("gracedb_supervisor_commits_total").Help("Offset commits").Register(r);
    commits_ = &commits.Add({{"result", "ok"}});
    commit_failures_ = &commits.Add({{"result", "failed"}});
    consumer_errors_ = &BuildCounter()
                            .Name("gracedb_supervisor_consumer_errors_total")
                            .Help("Errors of the Kafka consumer (poll, pause, resume), logged and survived")
                            .Register(r)
                            .Add({});
    in_flight_ = &BuildGauge()
                      .Name("gracedb_supervisor_in_flight")
                      .Help("Messages taken and not done yet (uploading, waiting for a retry, dead letter)")
                      .Register(r)
                      .Add({});
    blocked_ = &BuildGauge()
                    .Name("gracedb_supervisor_blocked")
                    .Help("1 while every recent upload failed for a reason not the messages' own: fetching stopped")
                    .Register(r)
                    .Add({});
    paused_ = &BuildGauge()
                   .Name("gracedb_supervisor_paused_partitions")
                   .Help("Partitions whose fetching is paused (window full, or blocked)")
                   .Register(r)
                   .Add({});
    last_upload_ = &BuildGauge()
                        .Name("gracedb_supervisor_last_upload_timestamp_seconds")
                        .Help("When the last upload succeeded (Unix time; 0 before the first)")
                        .Register(r)
                        .Add({});
    delay_ = &BuildHistogram()
                  .Name("gracedb_supervisor_produce_to_upload_seconds")
                  .Help("From the pipeline's _producer_timestamp to GraceDB's answer to the upload")
                  .Register(r)
                  .Add({}, latency_buckets());
    upload_duration_ = &BuildHistogram()
                            .Name("gracedb_supervisor_upload_duration_seconds")
                            .Help("One HTTP upload attempt, whatever its answer")
                            .Register(r)
                            .Add({}, latency_buckets());
    lag_ = &BuildGauge()
                .Name("gracedb_supervisor_consumer_lag")
                .Help("Messages of a partition not yet fetched (high watermark minus position)")
                .Register(r);
}

Metrics::~Metrics() = default;

void Metrics::outcome(const std::string& name) {
    auto it = outcome_counters_.find(name);
    if (it != outcome_counters_.end()) it->second->Increment();
}

void Metrics::delay(double seconds) { delay_->Observe(seconds); }
void Metrics::upload_duration(double seconds) { upload_duration_->Observe(seconds); }
void Metrics::commit(bool ok) { (ok ? commits_ : commit_failures_)->Increment(); }
void Metrics::consumer_error() { consumer_errors_->Increment(); }

void Metrics::gauges(std::size_t in_flight, bool blocked, std::size_t paused, double last_upload_unix_s) {
    in_flight_->Set(static_cast<double>(in_flight));
    blocked_->Set(blocked ? 1 : 0);
    paused_->Set(static_cast<double>(paused));
    last_upload_->Set(last_upload_unix_s);
}

void Metrics::lags(const std::map<kafka::TopicPartition, std::int64_t>& lag) {
    for (auto it = lag_gauges_.begin(); it != lag_gauges_.end();) {
        if (lag.count(it->first)) {
            ++it;
            continue;
        }
        lag_->Remove(it->second);
        it = lag_gauges_.erase(it);
    }
    for (const auto& [tp, n] : lag) {
        auto& g = lag_gauges_[tp];
        if (!g) g = &lag_->Add({{"topic", tp.topic}, {"partition", std::to_string(tp.partition)}});
        g->Set(static_cast<double>(n));
    }
}

std::string Metrics::text() const {
    std::ostringstream out;
    prometheus::TextSerializer{}.Serialize(out, registry_->Collect());
    return out.str();
}

MetricsServer::MetricsServer(const std::string& address, const Metrics& metrics, std::function<Health()> health)
    : server_{std::make_unique<httplib::Server>()} {
    const auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == address.size())
        throw std::invalid_argument("the metrics address \"" + address +
                                    "\" is not HOST:PORT (e.g. 127.0.0.1:9464, or port 0 for a free one)");
    std::string host = address.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = -1;
    try {
        std::size_t used = 0;
        port = std::stoi(address.substr(colon + 1), &used);
        if (used != address.size() - colon - 1) port = -1;
    } catch (const std::exception&) {
    }
    if (port < 0 || port > 65535)
        throw std::invalid_argument("the metrics address \"" + address + "\" has no valid port (0 to 65535)");
    server_->Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics.text(), "text/plain; version=0.0.4; charset=utf-8");
    });
    server_->Get("/healthz", [health](const httplib::Request&, httplib::Response& res) {
        const auto h = health();
        res.status = h.alive ? 200 : 503;
        res.set_content(h.alive ? "ok\n" : "the supervisor's loop has not run for 30 s\n", "text/plain");
    });
    server_->Get("/readyz", [health](const httplib::Request&, httplib::Response& res) {
        const auto h = health();
        res.status = h.ready ? 200 : 503;
        res.set_content(h.ready ? "ready\n" : "not ready: " + h.reason + "\n", "text/plain");
    });
    port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
    if (port_ <= 0) throw std::runtime_error("the supervisor cannot serve its metrics on " + address + ": cannot listen");
    thread_ = std::thread{[this] { server_->listen_after_bind(); }};
}

MetricsServer::~MetricsServer() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
}

}  // namespace gracedb::supervisor_detail
