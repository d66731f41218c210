// A pipeline's whole submission: the specification's create_event over Kafka, then at once the follow-ups
// a search pipeline sends (as PyCBC Live does): p_astro.json attached with a log entry and the label
// PASTRO_READY; then the event read back with its logs and labels. The follow-ups need no waiting loop of
// their own: right after create_event GraceDB has the event only once the supervisor uploaded it, and the
// client waits for that (GraceDbOptions::reservation_wait, default 60 s). See docs/followups.md.
//   pipeline_followups [event file] [p_astro.json]
// Where: $GRACEDB_KAFKA_BOOTSTRAP, $GRACEDB_SERVICE_URL, $GRACEDB_KAFKA_PROTOCOL (as `gracedb-kafka sandbox`
// exports them), else the specification's gracedb-test.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::string read_file(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    if (!in) throw std::runtime_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

int main(int argc, char** argv) try {
    using namespace gracedb;
    const std::string event_file = argc > 1 ? argv[1] : "coinc.xml";
    const std::string pastro_file = argc > 2 ? argv[2] : "p_astro.json";
    const std::string bootstrap = env_or("GRACEDB_KAFKA_BOOTSTRAP", "kafka-dev.ligo.org:9092");
    const std::string service_url = env_or("GRACEDB_SERVICE_URL", "https://gracedb-test.ligo.org/api/");
    std::map<std::string, std::string> kafka_config;
    if (const char* protocol = std::getenv("GRACEDB_KAFKA_PROTOCOL"))
        kafka_config["security.protocol"] = protocol;

    // A stand-in on this machine (the sandbox) has no authentication; a real GraceDB uses your SciToken.
    const bool local = service_url.rfind("http://", 0) == 0;
    GraceDb client{service_url, {.force_noauth = local}};
    kafka::Producer producer = client.create_kafka_producer({.bootstrap_servers = bootstrap,
                                                             .kafka_config = kafka_config});

    // The specification's example: reserve over HTTP, publish over Kafka.
    Response created =
        client.create_event("CBC", "gstlal", event_file, {.search = "AllSky", .kafka = &producer});
    const std::string graceid = created.json()["graceid"];
    std::cout << "created " << graceid << " over Kafka (status " << created.status << ")\n";

    // The follow-ups, at once: p_astro.json with a log entry and its tag, then the label.
    Response log = client.write_log(graceid, "Source classification",
                                    {.filename = pastro_file, .tag_name = "p_astro"});
    std::cout << "log entry " << log.json()["N"] << " with " << log.json()["filename"].get<std::string>();
    if (const auto waited = log.timing("reservation_wait"))  // GraceDB had the event only after this wait
        std::cout << " (waited " << waited->count() / 1000 << " ms for the upload)";
    std::cout << "\n";
    client.write_label(graceid, "PASTRO_READY");

    // Read the event back, with its logs and labels.
    const auto event = client.event(graceid).json();
    std::cout << "event " << event["graceid"].get<std::string>() << ": pipeline " << event["pipeline"]
              << ", labels " << event["labels"] << "\n";
    const auto log_entries = client.logs(graceid).json();  // kept: a loop over a temporary's member dangles
    for (const auto& entry : log_entries["log"])
        std::cout << "  log " << entry["N"] << ": " << entry["comment"].get<std::string>()
                  << (entry["filename"] != "" ? " [" + entry["filename"].get<std::string>() + "]" : "")
                  << "\n";
    bool labelled = false;
    const auto labels = client.labels(graceid).json();
    for (const auto& label : labels["labels"])
        labelled = labelled || label["name"] == "PASTRO_READY";
    const bool same_bytes = client.files(graceid, "p_astro.json").body == read_file(pastro_file);
    if (!labelled || !same_bytes) {
        std::cerr << "pipeline_followups: " << (labelled ? "" : "no PASTRO_READY label; ")
                  << (same_bytes ? "" : "p_astro.json differs from what was sent") << "\n";
        return 1;
    }
    std::cout << "pipeline_followups: ok (p_astro.json byte-exact, PASTRO_READY applied)\n";
    return 0;
} catch (const std::exception& e) {
    std::cerr << "pipeline_followups: " << e.what() << "\n";
    return 1;
}
