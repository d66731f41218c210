// gracedb-kafka check's parts: the report it prints (check_report.cpp) and its steps (check_steps.cpp), each
// one check of the path a publisher depends on; cmd_check.cpp runs them in order.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>

#include "probes.hpp"
#include "tool.hpp"

namespace gracedb::app::check {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct CheckArgs {
    Connection conn;
    std::string gracedb_ca, topic = "test";
    bool no_auth = false;
};

enum class Status { ok, fail, skip, warn };

// Prints each step as it ends, and counts.
class Report {
public:
    void step(const std::string& name, Status s, std::optional<double> ms, const std::string& detail,
              const std::string& advice = {});
    int failed() const { return failed_; }
    int warned() const { return warned_; }
    int steps() const { return number_; }
    const std::string& first_failure() const { return first_failure_; }

private:
    int number_ = 0;
    int failed_ = 0;
    int warned_ = 0;
    std::string first_failure_;
};

double ms_since(Clock::time_point t0);
/// "3 h 2 min 1 s", or "expired" when negative.
std::string duration_words(std::chrono::seconds s);
/// Where a token was found and its claims (never the token).
std::string describe_token(const FoundToken& t);
/// Every place a token search looked, with what it found there.
std::string places_text(const TokenSearch& s);

// One run of the check: what the earlier steps found, which the later ones need, and the steps in order.
struct Run {
    explicit Run(const CheckArgs& args);

    void kafka_token();    // 1. a token for the brokers
    void broker();         // 2. the brokers reachable (TCP)
    void tls();            // 3. TLS verified
    void ping();           // 4 and 5. SASL accepted, the topic allowed: one ping tells both
    void gracedb_api();    // 6. the GraceDB API root
    void gracedb_token();  // 7. the GraceDB token, accepted for reservations
    void supervisor();     // 8. a supervisor completing this instance's events (a warning when none)

    const CheckArgs& a;
    const milliseconds timeout;
    const std::string service_url;
    Report report;
    bool token_ok = true;
    std::optional<Broker> reached;
    Fd socket;
    bool tls_ok = false;
    nlohmann::json root;
};

}  // namespace gracedb::app::check
