// Private: what the producer and the consumer share. Building librdkafka's configuration from our options,
// the OAUTHBEARER refresh (fed by TokenProvider), the error callback, the log callback (tokens redacted),
// and the error state that turns librdkafka's asynchronous errors into exceptions on the next call.
#pragma once

#include <gracedb/kafka/errors.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "detail/rdkafka.hpp"
#include "detail/token_provider.hpp"

namespace gracedb::kafka::detail_client {

/// The options the producer and the consumer have in common.
struct CommonOptions {
    std::string bootstrap_servers;
    std::optional<std::string> instance_name;
    std::optional<std::string> service_url;
    bool use_ssl = true;
    std::optional<std::string> ca_cert_path;
    bool skip_hostname_verification = false;
    std::string token_scope;
    std::optional<std::string> token_audience;
    bool reload_cred = true;
    std::chrono::milliseconds reload_buffer{};
    std::map<std::string, std::string> kafka_config;
};

/// A duration as librdkafka's int milliseconds (negative: 0; clamped to INT32_MAX).
inline int to_ms(std::chrono::milliseconds d) {
    if (d.count() < 0) return 0;
    return d.count() > INT32_MAX ? INT32_MAX : static_cast<int>(d.count());
}

/// The common part of ProducerOptions or ConsumerOptions (the same member names).
template <class Options>
CommonOptions common_options(const Options& o) {
    return {o.bootstrap_servers, o.instance_name, o.service_url, o.use_ssl, o.ca_cert_path,
            o.skip_hostname_verification, o.token_scope, o.token_audience, o.reload_cred, o.reload_buffer,
            o.kafka_config};
}

/// "exactly one of instance_name / service_url" -> the instance name. Throws std::invalid_argument.
std::string resolve_instance(const std::optional<std::string>& instance_name,
                             const std::optional<std::string>& service_url);

/// Replaces every JWT-looking substring ("eyJ....") by "[token redacted]".
std::string redact_tokens(std::string text);

/// State shared with librdkafka's callbacks. The address handed to librdkafka as opaque is a ClientCore*.
class ClientCore {
public:
    virtual ~ClientCore() = default;

    /// Builds the configuration: our defaults, then `role_defaults`, then the user's kafka_config (which
    /// wins). Creates the token provider when the protocol is SASL with OAUTHBEARER (throws KafkaTokenError
    /// when no token exists) and installs the callbacks. Throws std::invalid_argument for a bad key/value.
    detail::KafkaConf configure(const CommonOptions& options, const std::map<std::string, std::string>& role_defaults,
                                const char* role);

    /// Creates the client from `conf` (taken over on success; std::invalid_argument with librdkafka's reason
    /// otherwise) and moves OAUTHBEARER refreshes to librdkafka's background thread, so a token is refreshed
    /// even when the application calls nothing for hours.
    detail::KafkaHandle create(rd_kafka_type_t type, detail::KafkaConf conf);

    /// Raises what librdkafka reported since the last call: a sticky fatal error (as `Fatal`), or an
    /// authentication failure (KafkaAuthenticationError, once).
    template <class Fatal>
    void raise_pending() {
        std::string fatal, auth;
        {
            std::lock_guard lock{mutex_};
            fatal = fatal_;
            auth.swap(pending_auth_);
        }
        if (!fatal.empty()) throw Fatal(fatal);
        if (!auth.empty()) throw KafkaAuthenticationError(auth);
    }

    bool all_brokers_down() const { return all_brokers_down_.load(); }
    void brokers_reachable() { all_brokers_down_.store(false); }
    std::string last_error() const;
    std::string protocol() const { return protocol_; }
    const std::shared_ptr<gracedb::detail::TokenProvider>& tokens() const { return tokens_; }
    const std::string& bootstrap() const { return bootstrap_; }
    const char* role() const { return role_; }

private:
    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
    static void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf);
    static void on_token_refresh(rd_kafka_t* rk, const char* config, void* opaque);

    std::shared_ptr<gracedb::detail::TokenProvider> tokens_;
    std::string protocol_;
    std::string bootstrap_;
    const char* role_ = "client";
    mutable std::mutex mutex_;
    std::string fatal_;
    std::string pending_auth_;
    std::string last_error_;
    std::atomic<bool> all_brokers_down_{false};
};

}  // namespace gracedb::kafka::detail_client
