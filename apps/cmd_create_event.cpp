// gracedb-kafka create-event: create a GraceDB event, over Kafka (reserve, publish; the supervisor uploads)
// or over HTTP; --finish GRACEID completes the reserved event that a failed create-event named (the same
// event, never a second one).
#include <filesystem>
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
    std::string group, pipeline, file, search, transport = "kafka", finish, outbox;
    std::vector<std::string> labels;
    bool offline = false, fallback = false, no_upload = false, skip_supervisor = false, no_auth = false;
};

std::string format_timings(const Response& r) {
    std::ostringstream out;
    for (const auto& [step, d] : r.timings)
        out << "  " << step << ": " << static_cast<double>(d.count()) / 1000.0 << " ms\n";
    return out.str();
}

// A word for a POSIX shell: as it is when it has no special characters, else in single quotes.
std::string shell_word(const std::string& w) {
    if (!w.empty() && w.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                          "_-./:=@%+,") == std::string::npos)
        return w;
    std::string out = "'";
    for (char c : w) out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
    return out + "'";
}

// A service URL for a printed command: a user:password@ in it (never shown in messages) becomes
// USER:PASSWORD@.
std::string shown_service_url(std::string url) {
    const auto scheme = url.find("://");
    const auto host = scheme == std::string::npos ? 0 : scheme + 3;
    const auto at = url.find('@', host);
    if (at != std::string::npos && at < url.find('/', host)) url.replace(host, at - host, "USER:PASSWORD");
    return url;
}

// The command that finishes reserved event `graceid` with this invocation's event (over HTTP, idempotent).
std::string finish_command(const CreateArgs& a, const std::string& graceid) {
    namespace fs = std::filesystem;
    std::string c = "gracedb-kafka create-event --finish " + shell_word(graceid) + " " + shell_word(a.group) +
                    " " + shell_word(a.pipeline) + " " + shell_word(fs::absolute(a.file).string()) +
                    " --service-url " + shell_word(shown_service_url(a.conn.service_url));
    if (!a.search.empty()) c += " --search " + shell_word(a.search);
    for (const auto& l : a.labels) c += " --label " + shell_word(l);
    if (a.offline) c += " --offline";
    if (!a.gracedb_ca.empty()) c += " --gracedb-ca-cert " + shell_word(fs::absolute(a.gracedb_ca).string());
    if (a.no_auth) c += " --no-auth";
    return c;
}

// --finish: the reserved upload of an event a failed create-event named; a 409 means it is already done.
int finish(GraceDb& client, const CreateArgs& a, const CreateEventOptions& o) {
    const Response r = client.upload_reserved_event(a.finish, a.group, a.pipeline, a.file, o);
    const std::string how =
        r.status == 409 ? " (already uploaded: done)" : " (HTTP " + std::to_string(r.status) + ", completed)";
    std::cout << "graceid: " << a.finish << how << "\n" << format_timings(r);
    return 0;
}

int run(const CreateArgs& a) {
    GraceDb client{a.conn.service_url,
                   {.force_noauth = a.no_auth, .ca_cert_path = opt(a.gracedb_ca), .outbox = opt(a.outbox)}};
    CreateEventOptions o{.search = opt(a.search), .offline = a.offline, .labels = a.labels,
                         .http_fallback = a.fallback, .gracedb_upload = !a.no_upload,
                         .skip_supervisor = a.skip_supervisor};
    if (!a.finish.empty()) return finish(client, a, o);
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
    } catch (const kafka::KafkaUnfinishedEventError& e) {
        if (p) close_producer(*p, std::chrono::milliseconds{0});  // the publish step waited its timeout
        // The same event, never a second one: the exact command that finishes this graceid, at the end of the
        // line (the client's cause already in it, so that nothing is appended after the command).
        const std::string what =
            with_client_cause(e.what()) +
            (a.outbox.empty() ? ""
                              : "; the outbox " + a.outbox +
                                    " completes it at its next resume (`gracedb-kafka outbox resume --outbox "
                                    "DIR --service-url URL`), or") +
            "; to finish it: " + finish_command(a, e.graceid());
        throw kafka::KafkaUnfinishedEventError(what, e.graceid(), e.may_still_be_delivered(), e.code(),
                                               e.rdkafka_error(), e.fatal(), e.retriable());
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
    sub->add_option("--finish", a->finish,
                    "finish the reserved event GRACEID with this file over HTTP (idempotent), as a failed "
                    "create-event says; never reserves another graceid")
        ->option_text("GRACEID");
    sub->add_option("--outbox", a->outbox,
                    "journal the event in this crash-safe outbox directory first (SQLite, fsync'd); events "
                    "crashed runs left unfinished are completed at start (see `outbox status|resume`)")
        ->option_text("DIR")
        ->envname("GRACEDB_OUTBOX");
    sub->add_flag("--no-upload", a->no_upload, "publish without reserving a graceid (gracedb_upload=false)");
    sub->add_flag("--skip-supervisor", a->skip_supervisor, "ask the supervisor not to upload it");
    sub->add_flag("--no-auth", a->no_auth, "send no credentials to GraceDB");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
