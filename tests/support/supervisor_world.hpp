// Test support: one isolated GraceDB instance for the supervisor's tests on the real broker (integration) and
// on the 3-node cluster (chaos): its own stand-in, instance name, topic and tokens (a pipeline's and the
// supervisor's), and the command line of `gracedb-kafka supervise` that serves it.
#pragma once

#include <gracedb/testing/standin.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "itest.hpp"

namespace gracedb::testing {

struct SupervisorWorld {
    /// Makes the instance's topic `<instance>.<pipeline>` with 4 partitions through `create_topic` (the single
    /// broker's or the cluster's); tokens live `token_lifetime`.
    SupervisorWorld(std::string pipeline_name, std::chrono::seconds token_lifetime,
                    const std::function<void(const std::string& topic, int partitions)>& create_topic);

    std::string instance;
    std::string pipeline;
    std::unique_ptr<TokenEnv> env = std::make_unique<TokenEnv>();
    std::string supervisor_token_file;
    std::unique_ptr<StandIn> standin;

    /// `gracedb-kafka supervise` for this instance in consumer group `group` (short session timeouts).
    std::vector<std::string> supervisor_command(const std::string& kafka_tool, const std::string& group) const;
    /// Its environment: the supervisor's own token.
    std::map<std::string, std::string> supervisor_env() const;
    /// Waits until the stand-in counted `n` uploads, at most `timeout`.
    bool wait_uploads(std::size_t n, std::chrono::seconds timeout) const;
    /// Replaces the supervisor's token (on disk, as an operator renews it): the broker's audience and
    /// `gracedb_audience` (a wrong one makes GraceDB treat the supervisor as anonymous: 403).
    void write_supervisor_token(const std::string& gracedb_audience, std::chrono::seconds lifetime) const;
};

/// The port of `gracedb-kafka supervise --metrics` from its log ("metrics on port N"); 0 if none in `timeout`.
int metrics_port_from_log(const std::string& log, std::chrono::seconds timeout);
/// GET of the supervisor's metrics endpoint on 127.0.0.1: the status and the body.
std::pair<long, std::string> scrape(int port, const std::string& path);
/// A sample's value in the Prometheus text ("name{labels}"), -1 when absent.
double metric_value(const std::string& text, const std::string& sample);

/// The last 3,000 characters of a log file, for a failure message ("(no log)" when it cannot be read).
std::string log_tail(const std::string& path);

}  // namespace gracedb::testing
