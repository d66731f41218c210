// What the outcome of an upload attempt leads to: done, a retry after its back-off, a dead letter (the 404
// rule, a name GraceDB keeps refusing), or the blocked state when uploads do not work at all (health.hpp).
#include <gracedb/log.hpp>

#include "supervisor/impl.hpp"

namespace gracedb {

using namespace std::chrono_literals;
namespace sd = supervisor_detail;
using sd::Clock;
using sd::JobPtr;
using sd::Outcome;
using Kind = sd::AttemptResult::Kind;

namespace {

std::string seconds_since(Clock::time_point since, Clock::time_point now) {
    return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - since).count());
}

}  // namespace

// A failed attempt: try again after the job's back-off, unless its partition is gone or we are stopping.
void Supervisor::Impl::retry_later(const JobPtr& job, const std::string& detail) {
    stats.report(*job, Outcome::transient, detail);
    if (stopping.load() || !ours(*job)) return;  // left uncommitted / for the new owner
    retries.schedule(job);
}

void Supervisor::Impl::start_due_retries() {
    for (const auto& j : retries.take_due()) {
        if (!j->dead_reason.empty()) dead_letters->send(j);
        else pool->submit(j);
    }
}

void Supervisor::Impl::dead_letter(const JobPtr& job, const std::string& reason) {
    job->dead_reason = reason;
    if (ours(*job)) dead_letters->send(job);
    else stats.report(*job, Outcome::dropped, reason + "; partition revoked, left to its new owner");
}

void Supervisor::Impl::serve_dead_letters() {
    for (auto& [job, error] : dead_letters->serve()) {
        if (error) {
            log(LogLevel::error, "supervisor: " + *error);
            retry_later(job, *error + " (" + job->dead_reason + ")");
            continue;
        }
        stats.report(*job, Outcome::dead, job->dead_reason);
        done(*job);
    }
}

// The 404 rule: a 404 is the event's own fault (never reserved) only once it has lasted never_reserved_after
// since the event's first 404 AND another upload succeeded after that first 404 (the path works for others).
// A proxy or deploy answering 404 to everything never meets the second condition. Both are when the answers
// came (AttemptResult::answered): a success handed over in the same batch as a first 404 but answered after
// it counts (stamped with the batch's time instead, the last 404s before a quiet spell were never judged).
bool Supervisor::Impl::never_reserved(sd::Job& job, Clock::time_point answered) {
    if (!job.not_found_since) job.not_found_since = answered;
    return answered - *job.not_found_since >= options.never_reserved_after &&
           health.last_success() > *job.not_found_since;
}

void Supervisor::Impl::handle_results() {
    const auto now = Clock::now();
    for (auto& [job, result] : pool->take_results()) {
        ++job->attempts;
        stats.upload_duration(result.took.count());
        switch (result.kind) {
            case Kind::uploaded:
            case Kind::already_uploaded:
                if (health.succeeded(result.answered))
                    log(LogLevel::warning, "supervisor: uploads succeed again: fetching resumes");
                stats.report(*job,
                             result.kind == Kind::uploaded ? Outcome::uploaded : Outcome::already_uploaded,
                             result.detail, result.finished);
                done(*job);
                break;
            case Kind::dead: dead_letter(job, result.detail); break;
            case Kind::unknown_name:
                if (!job->name_refused_since) job->name_refused_since = now;
                if (now - *job->name_refused_since >= sd::kNameRecheck) {
                    dead_letter(job, result.detail);
                    break;
                }
                retry_later(job, result.detail + " (judged again on a fresh API root)");
                break;
            case Kind::not_found:
                if (never_reserved(*job, result.answered)) {
                    dead_letter(job, result.detail + " for " +
                                         seconds_since(*job->not_found_since, result.answered) +
                                         " s while other uploads succeeded: never reserved");
                    break;
                }
                retry_later(job, result.detail);
                break;
            case Kind::transient:
            case Kind::refused:
                if (health.failed(result.kind, result.detail, now, job.get())) {
                    blocked_reminder = detail::Deadline::after(60s);
                    log(LogLevel::error, "supervisor: BLOCKED, fetching stopped: " + health.reason() +
                                             ". Nothing is dead-lettered or committed past; the " +
                                             std::to_string(partitions->pending()) +
                                             " message(s) held are retried, and fetching resumes by itself "
                                             "once an upload succeeds");
                }
                retry_later(job, result.detail);
                break;
        }
    }
    if (health.blocked() && blocked_reminder.expired()) {
        blocked_reminder = detail::Deadline::after(60s);
        log(LogLevel::error, "supervisor: still BLOCKED for " + seconds_since(health.blocked_since(), now) +
                                 " s: " + health.reason());
    }
}

}  // namespace gracedb
