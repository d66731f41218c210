#include "heartbeat_check.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "common/deadline.hpp"
#include "common/gps_time.hpp"

namespace gracedb::app {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kNoSupervisorAdvice =
    "events published over Kafka are completed only by a running supervisor: ask GraceDB's operators, or use "
    "create-event --fallback (HTTP)";

double unix_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string delay_text(const nlohmann::json& d) {
    std::ostringstream out;
    out.setf(std::ios::fixed);
    out.precision(1);
    if (!d.is_object() || !d.value("p50", nlohmann::json{}).is_number())
        return "p50 delay - (no event uploaded yet)";
    out << "p50 delay " << d["p50"].get<double>() << " ms, p99 " << d.value("p99", 0.0)
        << " ms over the last " << d.value("events", 0) << " event(s)";
    return out.str();
}

}  // namespace

HeartbeatFinding find_heartbeat(const Connection& conn, std::chrono::seconds bound,
                                std::chrono::milliseconds wait) {
    HeartbeatFinding f;
    const auto deadline = detail::Deadline::after(wait);
    std::string topic = "gracedb-heartbeat";
    try {
        auto o = consumer_options(conn);
        const auto instance =
            o.instance_name ? *o.instance_name : kafka::derive_instance_name(*o.service_url);
        topic = kafka::make_topic_name("gracedb-heartbeat", instance);
        o.instance_name = "gracedb-heartbeat";
        o.service_url.reset();
        o.topics = {instance};
        // The window [now - bound, now]: the replay ends by itself once every partition was read to now.
        const double now = unix_now();
        o.since_gps = detail::unix_to_gps(now - static_cast<double>(bound.count()));
        o.until_gps = detail::unix_to_gps(now + 0.5);
        kafka::Consumer c{o};
        std::optional<nlohmann::json> newest;
        // A topic that does not exist is never assigned: no supervisor ever ran for this instance.
        const auto join = deadline.slice(std::chrono::milliseconds{5000});
        if (!c.wait_for_assignment(join)) {
            f.detail = "no heartbeat: " + topic + " has no partition to read (none assigned within " +
                       std::to_string(join.count() / 1000) +
                       " s): no supervisor has run for this instance (or it is older than this tool)";
            f.advice = kNoSupervisorAdvice;
            return f;
        }
        while (!deadline.expired() && !c.replay_finished()) {
            auto m = c.poll(250ms);
            if (!m) continue;
            try {
                auto j = m->json();
                if (j.value("type", "") != "heartbeat" || !j["time"].is_number()) continue;
                if (!newest || j["time"].get<double>() > (*newest)["time"].get<double>())
                    newest = std::move(j);
            } catch (const std::exception&) {
                // not a heartbeat: ignored
            }
        }
        c.close(500ms);  // an ephemeral group: nothing to commit, no need to wait for a clean leave
        const double age = newest ? now - (*newest)["time"].get<double>() : 0;  // when the step began
        if (!newest || age > static_cast<double>(bound.count())) {
            f.detail = "no heartbeat on " + topic + " in the last " + std::to_string(bound.count()) +
                       " s: no supervisor runs for this instance (or it is older than this tool)";
            f.advice = std::string{kNoSupervisorAdvice} +
                       "; gracedb-kafka listen --heartbeat shows heartbeats";
            return f;
        }
        const auto& h = *newest;
        std::ostringstream d;
        d << "last heartbeat " << static_cast<long long>(std::llround(std::max(0.0, age))) << " s ago, "
          << delay_text(h.value("delay_ms", nlohmann::json{})) << " (host " << h.value("host", "?")
          << ", pid " << h.value("pid", 0) << ", version " << h.value("version", "?") << ", up "
          << static_cast<long long>(h.value("uptime_s", 0.0)) << " s, uploaded "
          << h.value("counters", nlohmann::json::object()).value("uploaded", 0) << ")";
        if (h.value("blocked", false)) {
            f.detail = "supervisor BLOCKED: " + h.value("blocked_reason", std::string{"?"}) + "; " + d.str();
            f.advice = "the supervisor cannot upload (its token, or GraceDB): tell GraceDB's operators";
            return f;
        }
        f.alive = true;
        f.detail = "supervisor alive: " + d.str();
    } catch (const std::exception& e) {
        f.detail = "could not read " + topic + ": " + e.what();
        f.advice = "reading the heartbeat needs read access to " + topic + " (a token with kafka.consume)";
    }
    return f;
}

}  // namespace gracedb::app
