// Test support: a thin raw-librdkafka client, independent of the library under test, used to prove the
// rig (and later to cross-check the library). Test-only.
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/rdkafka.hpp"

namespace gracedb::testing {

struct RawMessage {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = -1;
    std::optional<std::string> key;
    std::string value;
    std::vector<std::pair<std::string, std::string>> headers;
};

struct RawDelivery {
    bool reported = false;  // false: no delivery report within the timeout
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    std::int64_t offset = -1;
};

class RawClient {
public:
    /// `token`, when set, is handed to librdkafka from its OAUTHBEARER refresh callback with
    /// `token_lifetime` from now as its lifetime (whatever the token's own exp says).
    RawClient(rd_kafka_type_t type, const std::map<std::string, std::string>& conf,
              std::optional<std::string> token = std::nullopt,
              std::chrono::seconds token_lifetime = std::chrono::minutes{10});
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;
    ~RawClient() = default;

    rd_kafka_t* get() const { return rk_.get(); }

    RawDelivery produce_sync(const std::string& topic, const std::string& value,
                             const std::optional<std::string>& key = std::nullopt,
                             const std::vector<std::pair<std::string, std::string>>& headers = {},
                             std::chrono::milliseconds timeout = std::chrono::seconds{30});

    /// Reads `count` messages of one partition of `topic` from its beginning (assign, no group).
    std::vector<RawMessage> consume_from_beginning(const std::string& topic, std::size_t count,
                                                   std::chrono::milliseconds timeout = std::chrono::seconds{30},
                                                   std::int32_t partition = 0);

    /// Polls until the error callback has reported an error satisfying `pred`, or the timeout passes.
    bool wait_for_error(rd_kafka_resp_err_t code, std::chrono::milliseconds timeout);

    /// Every error the error callback reported, one per line.
    std::string errors_text() const;

private:
    static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque);
    static void on_token_refresh(rd_kafka_t* rk, const char* config, void* opaque);
    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque);
    void serve(int timeout_ms);

    rd_kafka_type_t type_;
    std::optional<std::string> token_;
    std::chrono::seconds token_lifetime_;
    mutable std::mutex mutex_;
    std::vector<std::pair<rd_kafka_resp_err_t, std::string>> errors_;
    detail::KafkaHandle rk_;
};

}  // namespace gracedb::testing
