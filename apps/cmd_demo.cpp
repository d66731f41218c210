// gracedb-kafka demo: the whole create-event flow on the embedded sandbox, then exit.
#include <gracedb/testing/sandbox.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "common/deadline.hpp"
#include "sample_event.hpp"
#include "tool.hpp"

using namespace std::chrono_literals;

namespace gracedb::app {
namespace {

using Clock = std::chrono::steady_clock;

std::string format_timings(const Response& r) {
    std::ostringstream out;
    for (const auto& [step, d] : r.timings) out << "  " << step << ": " << static_cast<double>(d.count()) / 1000.0 << " ms\n";
    return out.str();
}

int run(const std::string& event_file) {
    std::cout << "gracedb-kafka demo: the whole create-event flow on the embedded sandbox\n";
    const auto t0 = Clock::now();
    gracedb::testing::Sandbox sandbox;
    std::cout << "1. sandbox up in " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()
              << " ms: Kafka (librdkafka mock cluster) " << sandbox.bootstrap_servers() << ", GraceDB stand-in "
              << sandbox.service_url() << ", supervisor consuming \"" << sandbox.instance() << ".*\"\n";

    std::string contents, filename;
    if (!event_file.empty() && std::ifstream{event_file}) {
        std::ifstream in{event_file, std::ios::binary};
        contents = read_all(in);
        filename = std::filesystem::path{event_file}.filename().string();
        std::cout << "2. event file: " << event_file << " (" << contents.size() << " bytes)\n";
    } else {
        contents = app::sample_event;
        filename = "sample-coinc.xml";
        std::cout << "2. event file: the project's own sample LIGO_LW coinc (" << contents.size() << " bytes)"
                  << (event_file.empty() ? "" : "; " + event_file + " was not found") << "\n";
    }

    kafka::Consumer follower{{.bootstrap_servers = sandbox.bootstrap_servers(),
                              .topics = {"gstlal"},
                              .instance_name = sandbox.instance(),
                              .kafka_config = gracedb::testing::Sandbox::kafka_config()}};
    if (!follower.wait_for_assignment(20s)) throw std::runtime_error("the follow-up consumer got no partition");

    GraceDb client{sandbox.service_url(), {.force_noauth = true}};
    auto producer = client.create_kafka_producer({.bootstrap_servers = sandbox.bootstrap_servers(),
                                                  .instance_name = sandbox.instance(),
                                                  .kafka_config = gracedb::testing::Sandbox::kafka_config()});
    auto r = client.create_event("CBC", "gstlal", filename,
                                 {.search = "AllSky", .filecontents = contents, .labels = {"EM_READY"}, .kafka = &producer});
    const auto body = r.json();
    const std::string graceid = body["graceid"];
    std::cout << "3. create_event over Kafka: graceid " << graceid << " reserved, message on " << body["topic"].get<std::string>()
              << "[" << body["partition"] << "]@" << body["offset"] << "\n"
              << format_timings(r);

    std::optional<kafka::Message> seen;
    for (int i = 0; i < 40 && !seen; ++i) seen = follower.poll(250ms);
    if (!seen) throw std::runtime_error("the follow-up consumer did not receive the event");
    const auto msg = seen->json();
    std::cout << "4. a follow-up consumer received it: key " << seen->key.value_or("-") << ", type " << msg["type"]
              << ", eventFile " << msg["eventFile"][0] << " (" << msg["eventFile"][1].get<std::string>().size()
              << " base64 characters)\n";

    const auto deadline = detail::Deadline::after(20s);
    auto stats = sandbox.supervisor().stats();
    while (stats.uploaded == 0 && !deadline.expired()) {
        if (!sandbox.failure().empty()) throw std::runtime_error("supervisor failed: " + sandbox.failure());
        std::this_thread::sleep_for(20ms);
        stats = sandbox.supervisor().stats();
    }
    if (stats.uploaded == 0 || !sandbox.standin().event(graceid))
        throw std::runtime_error("the supervisor did not complete the upload of " + graceid);
    std::cout << "5. the supervisor completed the upload";
    if (!stats.delays_s.empty()) std::cout << " " << stats.delays_s.back() * 1000 << " ms after the produce";
    std::cout << "\n";

    const auto fetched = client.event(graceid).json();
    const auto file = client.get(fetched["links"]["files"].get<std::string>() + filename);
    const bool exact = file.body == contents;
    std::cout << "6. fetched back from GraceDB: " << fetched["graceid"].get<std::string>() << ", group "
              << fetched["group"].get<std::string>() << ", pipeline " << fetched["pipeline"].get<std::string>()
              << ", submitter " << fetched["submitter"].get<std::string>() << ", event file "
              << (exact ? "byte-exact" : "DIFFERENT") << "; " << sandbox.standin().alerts().size()
              << " \"new\" alert sent (topic " << sandbox.alerts_topic() << ")\n";
    std::cout << "graceid: " << graceid << "\n";
    return exact ? 0 : 1;
}

}  // namespace

Command add_demo(CLI::App& parent) {
    auto event_file = std::make_shared<std::string>();
    auto* sub = parent.add_subcommand("demo", "the whole create-event flow on the embedded sandbox, then exit");
    sub->add_option("--event-file", *event_file, "event file to submit (default: the project's sample)");
    return {sub, [event_file] { return run(*event_file); }};
}

}  // namespace gracedb::app
