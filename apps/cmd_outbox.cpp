// gracedb-kafka outbox status|resume --outbox DIR: what a publisher's crash-safe outbox holds, and completing
// what crashed publishers left unfinished (the idempotent reserved upload). See docs/outbox.md.
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>

#include "output.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

struct OutboxArgs {
    std::string dir, service_url, gracedb_ca;
    bool no_auth = false;
};

int status(const OutboxArgs& a) {
    const auto entries = read_outbox(a.dir);
    std::map<std::string, std::size_t> by_state;
    std::size_t unknown = 0;
    for (const auto& e : entries) {
        ++by_state[e.state];
        const bool flagged = e.may_hold_unknown_reservation();
        unknown += flagged ? 1 : 0;
        if (e.finished() && !flagged && e.state != "creating" && e.state != "failed") continue;
        std::cout << "entry " << e.id << "  " << std::left << std::setw(12) << e.state << " "
                  << e.graceid.value_or("-") << "  " << e.group << " " << e.pipeline << " " << e.filename
                  << "  " << e.service;
        if (flagged)
            std::cout << "  MAY HOLD AN UNKNOWN RESERVATION"
                      << (e.unknown_reservations
                              ? " (" + std::to_string(e.unknown_reservations) + " attempt(s))"
                              : std::string{" (reservation in flight or crashed)"});
        if (!e.last_error.empty()) std::cout << "\n    last error: " << repair_utf8(e.last_error);
        std::cout << "\n";
    }
    std::cout << entries.size() << " entries";
    for (const auto& [state, n] : by_state) std::cout << ", " << n << " " << state;
    std::cout << "; " << unknown
              << " may hold a reservation no journal knows (never uploaded: GraceDB sends no alert for a "
                 "reservation)\n";
    return 0;
}

int resume(const OutboxArgs& a) {
    GraceDb client{a.service_url, {.force_noauth = a.no_auth, .ca_cert_path = opt(a.gracedb_ca),
                                   .outbox = a.dir, .resume_outbox_on_start = false}};
    const auto r = client.resume_outbox();
    for (const auto& e : r.errors) std::cerr << "gracedb-kafka outbox resume: " << repair_utf8(e) << "\n";
    std::cout << "completed " << r.completed << ", failed " << r.failed
              << " (kept for the next resume), busy " << r.busy << " (another live process holds them), for another service " << r.other_service
              << "\n";
    return r.failed ? 1 : 0;
}

}  // namespace

Command add_outbox(CLI::App& parent) {
    auto a = std::make_shared<OutboxArgs>();
    auto* sub =
        parent.add_subcommand("outbox", "a publisher's crash-safe outbox (create-event --outbox DIR)");
    sub->require_subcommand(1);
    auto* st = sub->add_subcommand("status", "list unfinished entries and those that may hold an unknown "
                                             "reservation, and count every state");
    auto* rs =
        sub->add_subcommand("resume", "complete unfinished entries over HTTP (idempotent reserved upload)");
    for (auto* s : {st, rs})
        s->add_option("--outbox", a->dir, "the outbox directory")->required()->envname("GRACEDB_OUTBOX");
    rs->add_option("--service-url", a->service_url, "GraceDB's API URL")
        ->required()
        ->envname("GRACEDB_SERVICE_URL");
    add_gracedb_ca_option(*rs, a->gracedb_ca);
    rs->add_flag("--no-auth", a->no_auth, "send no credentials to GraceDB");
    return {sub, [a, st] { return st->parsed() ? status(*a) : resume(*a); }};
}

}  // namespace gracedb::app
