#include "client/auth/token_provider.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "common/text.hpp"

namespace gracedb::detail {
namespace {
using namespace std::chrono_literals;
constexpr std::chrono::milliseconds min_interval = 1s;  // never re-read more often than this
constexpr std::chrono::milliseconds max_backoff = 30s;
}  // namespace

TokenProvider::TokenProvider(TokenRequirements requirements, std::chrono::milliseconds refresh_buffer, bool reload,
                             std::string what_for)
    : requirements_{std::move(requirements)},
      buffer_{refresh_buffer},
      reload_{reload},
      what_for_{std::move(what_for)} {
    const auto now = Clock::now();
    auto search = find_scitoken(requirements_, now);
    if (!search.token) {
        // Nothing anywhere (unset, missing, empty) is "not found"; anything else was found and refused.
        const bool nothing = std::all_of(search.places.begin(), search.places.end(), [](const TokenPlace& p) {
            return p.finding == "unset" || p.finding == "missing" || p.finding == "empty";
        });
        throw NoUsableToken(no_token_message(search), nothing ? Errc::token_not_found : Errc::token_unusable);
    }
    std::lock_guard lock{mutex_};
    adopt(std::move(*search.token), now);
}

std::string TokenProvider::no_token_message(const TokenSearch& search) const {
    return "no usable SciToken for " + what_for_ + " (audience \"" + requirements_.audience + "\", scope \"" +
           requirements_.scope + "\"): " + search.describe_places() +
           ". Get a fresh token (e.g. htgettoken) or point $BEARER_TOKEN_FILE at one.";
}

void TokenProvider::adopt(FoundToken found, Clock::time_point now) {
    if (!found.matches)
        log_warning("SciToken for " + what_for_ + ": no token matches audience \"" + requirements_.audience +
                    "\" and scope \"" + requirements_.scope + "\"; falling back to the " + found.describe() +
                    "; the server may refuse it");
    else
        log_info("SciToken for " + what_for_ + ": using the " + found.describe());
    expiry_ = *found.claims.exp;  // discovery only returns tokens with an exp
    token_ = std::move(found);
    backoff_ = 0ms;
    if (!reload_) {
        next_due_ = Clock::time_point::max();
        return;
    }
    const auto lifetime = expiry_ - now;
    Clock::time_point due = lifetime <= buffer_ ? now + std::chrono::duration_cast<Clock::duration>(lifetime * 0.8)
                                                : expiry_ - buffer_;
    next_due_ = std::max(due, now + min_interval);
}

void TokenProvider::try_reload(Clock::time_point now) {
    auto search = find_scitoken(requirements_, now);
    // A renewed token expires no earlier than the current one; after a refusal by the server, any other usable
    // token is taken (e.g. a right one with a shorter life replacing a refused long-lived one).
    const bool renewed = search.token && search.token->token != token_.token &&
                         (*search.token->claims.exp >= expiry_ || refused_);
    if (renewed) {
        refused_ = false;
        ++refreshes_;
        adopt(std::move(*search.token), now);
        return;
    }
    // Nothing newer yet: keep the last good token, retry with back-off, but early enough to act before expiry.
    backoff_ = std::clamp(backoff_ * 2, min_interval, max_backoff);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(backoff_);
    if (expiry_ > now)
        wait = std::min(wait, std::max(min_interval, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                         (expiry_ - now) / 2)));
    next_due_ = now + wait;
    last_failure_ = search.token ? "found no token newer than the current one" : search.describe_places();
    log(expiry_ - now < buffer_ / 2 ? LogLevel::warning : LogLevel::debug,
        "SciToken for " + what_for_ + ": re-read found no renewed token (" + last_failure_ +
            "); keeping the current one (exp " + format_utc(expiry_) + "), next try in " +
            std::to_string(wait.count()) + " ms");
}

TokenProvider::Token TokenProvider::current() {
    std::lock_guard lock{mutex_};
    const auto now = Clock::now();
    if (reload_ && now >= next_due_) try_reload(now);
    if (now >= expiry_) {
        throw NoUsableToken("the SciToken for " + what_for_ + " (" + token_.claims.describe() + ", from " +
                            token_.source + ") expired at " + format_utc(expiry_) +
                            (reload_ ? " and no renewed token was found: " + last_failure_
                                     : " and reloading is off (reload_cred=false)") +
                            ". Renew it (e.g. htgettoken) where discovery looks.");
    }
    return {token_.token, token_.claims, expiry_};
}

void TokenProvider::recheck_soon() {
    if (!reload_) return;
    std::lock_guard lock{mutex_};
    refused_ = true;
    next_due_ = std::min(next_due_, Clock::now());
}

TokenProvider::Clock::time_point TokenProvider::next_refresh() const {
    std::lock_guard lock{mutex_};
    return next_due_;
}

TokenClaims TokenProvider::claims() const {
    std::lock_guard lock{mutex_};
    return token_.claims;
}

std::uint64_t TokenProvider::refresh_count() const {
    std::lock_guard lock{mutex_};
    return refreshes_;
}

}  // namespace gracedb::detail
