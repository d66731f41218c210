// gracedb-kafka create-event: create a GraceDB event, over Kafka (reserve, publish; the supervisor uploads)
// or over HTTP.
#include <iostream>
#include <memory>
#include <sstream>

#include "output.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

struct CreateArgs {
    Connection conn;
    std::string gracedb_ca;
    std::string group, pipeline, file, search, transport = "kafka";
    std::vector<std::string> labels;
    bool offline = false, fallback = false, no_upload = false, skip_supervisor = false, no_auth = false;
};

std::string format_timings(const Response& r) {
    std::ostringstream out;
    for (const auto& [step, d] : r.timings)
        out << "  " << step << ": " << static_cast<double>(d.count()) / 1000.0 << " ms\n";
    return out.str();
}

int run(const CreateArgs& a) {
    GraceDb client{a.conn.service_url, {.force_noauth = a.no_auth, .ca_cert_path = opt(a.gracedb_ca)}};
    CreateEventOptions o{.search = opt(a.search), .offline = a.offline, .labels = a.labels,
                         .http_fallback = a.fallback, .gracedb_upload = !a.no_upload,
                         .skip_supervisor = a.skip_supervisor};
    std::optional<kafka::Producer> p;
    if (a.transport == "kafka") {
        if (a.conn.bootstrap.empty())
            throw std::invalid_argument("--transport kafka needs --bootstrap (or $GRACEDB_KAFKA_BOOTSTRAP)");
        p.emplace(producer_options(a.conn));
        o.kafka = &*p;
    }
    Response r;
    try {
        r = client.create_event(a.group, a.pipeline, a.file, o);
    } catch (...) {
        if (p) close_producer(*p, std::chrono::milliseconds{0});  // the publish step already waited its timeout
        throw;
    }
    if (p) {
        // After an HTTP fallback the Kafka message may still be queued: the event is complete, withdraw it
        // rather than wait for it a second time.
        const bool withdrawn = p->pending_messages() > 0;
        const auto note = close_producer(*p, withdrawn ? std::chrono::milliseconds{0} : to_ms(a.conn.timeout_s));
        if (!note.empty())
            std::cerr << "gracedb-kafka create-event: note: " << repair_utf8(note)
                      << (withdrawn ? " (withdrawn: the event was completed over HTTP)" : "") << "\n";
    }
    const auto body = r.json();
    std::cout << "graceid: " << (body["graceid"].is_string() ? body["graceid"].get<std::string>() : "(none)")
              << " (HTTP " << r.status
              << (body.contains("topic") ? ", published to " + body["topic"].get<std::string>() : "") << ")\n"
              << format_timings(r);
    return 0;
}

}  // namespace

Command add_create_event(CLI::App& parent) {
    auto a = std::make_shared<CreateArgs>();
    auto* sub = parent.add_subcommand("create-event", "create a GraceDB event, over Kafka (default) or HTTP");
    sub->add_option("group", a->group, "CBC, Burst, Test, ...")->required();
    sub->add_option("pipeline", a->pipeline, "gstlal, MBTA, CWB, ...")->required();
    sub->add_option("file", a->file, "the event file")->required()->check(CLI::ExistingFile);
    add_connection_options(*sub, a->conn,
                           {.scope = "kafka.produce", .bootstrap_required = false, .service_url_required = true,
                            .timeout = true});
    add_gracedb_ca_option(*sub, a->gracedb_ca);
    sub->add_option("--search", a->search, "AllSky, EarlyWarning, MDC, ...");
    add_repeatable(*sub, "--label", a->labels, "label (repeatable)");
    sub->add_flag("--offline", a->offline, "an offline event");
    sub->add_option("--transport", a->transport, "kafka (default) or http")
        ->transform(CLI::IsMember({"kafka", "http"}, CLI::ignore_case));
    sub->add_flag("--fallback", a->fallback, "fall back to HTTP when the Kafka path fails");
    sub->add_flag("--no-upload", a->no_upload, "publish without reserving a graceid (gracedb_upload=false)");
    sub->add_flag("--skip-supervisor", a->skip_supervisor, "ask the supervisor not to upload it");
    sub->add_flag("--no-auth", a->no_auth, "send no credentials to GraceDB");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
