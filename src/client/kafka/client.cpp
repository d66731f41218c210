#include "client/kafka/client.hpp"

#include <gracedb/kafka/auth.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/version.hpp>

#include <algorithm>
#include <cctype>

#include "common/log.hpp"
#include "common/text.hpp"

namespace gracedb::kafka::detail_client {
using gracedb::detail::lower;
namespace {

std::string conf_get(rd_kafka_conf_t* conf, const char* name) {
    char buf[512];
    size_t size = sizeof buf;
    if (rd_kafka_conf_get(conf, name, buf, &size) != RD_KAFKA_CONF_OK) return {};
    return buf;
}

bool base64url_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

}  // namespace

std::string resolve_instance(const std::optional<std::string>& instance_name,
                             const std::optional<std::string>& service_url) {
    if (instance_name && service_url)
        throw std::invalid_argument("give exactly one of instance_name and service_url, not both (instance_name \"" +
                                    *instance_name + "\", service_url \"" + *service_url + "\")");
    if (!instance_name && !service_url)
        throw std::invalid_argument(
            "give exactly one of instance_name (e.g. \"gracedb-dev\") and service_url (e.g. "
            "\"https://gracedb-dev.ligo.org/api/\"): topics are namespaced with the GraceDB instance");
    if (service_url) return derive_instance_name(*service_url);
    make_topic_name(*instance_name, "test");  // validates the instance name at once
    return *instance_name;
}

std::string redact_tokens(std::string text) {
    std::size_t pos = 0;
    while ((pos = text.find("eyJ", pos)) != std::string::npos) {
        std::size_t end = pos;
        int dots = 0;
        while (end < text.size() && base64url_char(text[end])) dots += text[end++] == '.';
        if (dots >= 2) {
            text.replace(pos, end - pos, "[token redacted]");
            pos += 16;
        } else {
            pos = end;
        }
    }
    return text;
}

detail::KafkaConf ClientCore::configure(const CommonOptions& o, const std::map<std::string, std::string>& role_defaults,
                                        const char* role) {
    role_ = role;
    is_consumer_ = std::string_view{role} == "consumer";
    if (o.bootstrap_servers.empty())
        throw std::invalid_argument("bootstrap_servers is empty: give the Kafka brokers, e.g. \"kafka.example.org:9092\"");
    bootstrap_ = o.bootstrap_servers;
    detail::KafkaConf conf{rd_kafka_conf_new()};
    char errstr[512];
    auto set = [&](const std::string& key, const std::string& value, bool from_user) {
        if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            throw std::invalid_argument(std::string{from_user ? "kafka_config rejected by librdkafka: " : ""} +
                                        errstr);
    };
    set("bootstrap.servers", o.bootstrap_servers, false);
    set("client.id", std::string{"gracedb-cpp/"} + gracedb::version, false);
    // Nagle's algorithm against the broker's delayed ACKs costs ~40 ms per small request (measured here:
    // produce+flush p50 44 ms with it, see bench/): events are small and latency-critical.
    set("socket.nagle.disable", "true", false);
    set("security.protocol", o.use_ssl ? "sasl_ssl" : "sasl_plaintext", false);
    const bool user_protocol_without_sasl = [&] {
        auto it = o.kafka_config.find("security.protocol");
        return it != o.kafka_config.end() && lower(it->second).rfind("sasl", 0) != 0;
    }();
    if (!user_protocol_without_sasl) set("sasl.mechanisms", "OAUTHBEARER", false);
    if (o.ca_cert_path) set("ssl.ca.location", *o.ca_cert_path, false);
    set("ssl.endpoint.identification.algorithm", o.skip_hostname_verification ? "none" : "https", false);
    for (const auto& [k, v] : role_defaults) set(k, v, false);
    for (const auto& [k, v] : o.kafka_config) set(k, v, true);

    protocol_ = lower(conf_get(conf.get(), "security.protocol"));
    const bool sasl = protocol_.rfind("sasl", 0) == 0;
    const bool tls = protocol_.find("ssl") != std::string::npos;
    const bool oauth = sasl && lower(conf_get(conf.get(), "sasl.mechanisms")) == "oauthbearer";
    if (tls && o.skip_hostname_verification)
        gracedb::detail::log_warning(std::string{"Kafka "} + role +
                                     ": TLS hostname verification is OFF (skip_hostname_verification=true): a "
                                     "server with any certificate from a trusted CA is accepted. Use only for testing.");
    if (tls && lower(conf_get(conf.get(), "enable.ssl.certificate.verification")) == "false")
        gracedb::detail::log_warning(std::string{"Kafka "} + role +
                                     ": TLS CERTIFICATE VERIFICATION IS OFF (enable.ssl.certificate.verification="
                                     "false): the connection can be intercepted. Never do this in production.");
    if (oauth) {
        if (!tls)
            gracedb::detail::log_warning(std::string{"Kafka "} + role + ": security.protocol " + protocol_ +
                                         ": the SciToken travels to the broker in CLEAR TEXT; use TLS (use_ssl=true)");
        TokenRequirements req{o.token_audience ? *o.token_audience : default_kafka_audience(o.bootstrap_servers),
                              o.token_scope.value_or("")};
        try {
            tokens_ = std::make_shared<gracedb::detail::TokenProvider>(req, o.reload_buffer, o.reload_cred,
                                                                       std::string{"Kafka "} + role);
        } catch (const gracedb::detail::NoUsableToken& e) {
            throw KafkaTokenError(e.what(), e.code());
        }
        rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf.get(), &ClientCore::on_token_refresh);
        rd_kafka_conf_enable_sasl_queue(conf.get(), 1);
    }
    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_error_cb(conf.get(), &ClientCore::on_error);
    rd_kafka_conf_set_log_cb(conf.get(), &ClientCore::on_log);
    return conf;
}

detail::KafkaHandle ClientCore::create(rd_kafka_type_t type, detail::KafkaConf conf) {
    char errstr[512];
    detail::KafkaHandle handle{rd_kafka_new(type, conf.get(), errstr, sizeof errstr)};
    if (!handle) throw std::invalid_argument(std::string{"cannot create the Kafka "} + role_ + ": " + errstr);
    conf.release();  // rd_kafka_new took it
    rd_kafka_t* rk = handle.get();
    if (!tokens_) return handle;
    if (rd_kafka_error_t* e = rd_kafka_sasl_background_callbacks_enable(rk)) {
        detail::KafkaErrorObject owned{e};
        gracedb::detail::log_warning(std::string{"Kafka "} + role_ +
                                     ": cannot refresh tokens in the background (" + rd_kafka_error_string(e) +
                                     "); they are refreshed when the application polls");
    }
    return handle;
}

std::string ClientCore::last_error() const {
    std::lock_guard lock{mutex_};
    return last_error_;
}

void ClientCore::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    try {
        auto* self = static_cast<ClientCore*>(opaque);
        const auto code = static_cast<rd_kafka_resp_err_t>(err);
        std::string text = redact_tokens(std::string{rd_kafka_err2name(code)} + ": " + (reason ? reason : ""));
        if (code == RD_KAFKA_RESP_ERR__FATAL) {
            char buf[512];
            const auto orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
            // The producer heals (producer_heal.cpp): it reports what the handle held as failed and replaces
            // the handle, outside this callback. The dispatcher returns now, so that the call serving this
            // error can do so before the reports of the purged messages are served.
            const bool heals = !self->is_consumer_;
            text = redact_tokens(std::string{"fatal error of the Kafka "} + self->role_ + " (" +
                                 rd_kafka_err2name(orig) + "): " + buf +
                                 (heals ? ". The producer reports the messages it held as failed and "
                                          "rebuilds itself, unless a new one would meet the same error"
                                        : ". The client is unusable: destroy it and create a new one"));
            if (heals) rd_kafka_yield(rk);
            gracedb::detail::log_error(text);
            auto e = detail_errors::make_kafka_error(orig, text, self->op(), true);
            std::lock_guard lock{self->mutex_};
            if (!self->fatal_) self->fatal_ = e;
            self->pending_.store(true, std::memory_order_release);
            self->last_error_ = text;
            return;
        }
        if (detail_errors::is_authentication(code)) {
            gracedb::detail::log_warning(std::string{"Kafka "} + self->role_ + " authentication failed: " + text);
            self->refused_.store(true, std::memory_order_relaxed);
            auto e = detail_errors::make_kafka_error(
                code, "Kafka authentication failed: " + text + " (check that the SciToken is valid, from the issuer "
                      "the broker trusts, and for this broker's audience)", self->op());
            std::lock_guard lock{self->mutex_};
            self->pending_error_ = e;
            self->pending_.store(true, std::memory_order_release);
            self->last_error_ = text;
            return;
        }
        if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__SSL) {
            // Typed at once, for calls that wait on the brokers (flush, ping, poll) to raise while they wait.
            const bool tls = code == RD_KAFKA_RESP_ERR__SSL;
            if (!tls) self->all_brokers_down_.store(true);
            if (tls) self->refused_.store(true, std::memory_order_relaxed);
            // librdkafka reports the connection failure before "all brokers down" (as _TRANSPORT, also a TLS
            // handshake that failed when the broker's close is seen first): named, so the message says why.
            std::string cause;
            if (!tls) {
                std::lock_guard lock{self->mutex_};
                // Only a failure of this outage: an idle disconnect of hours ago is not its cause.
                if (!self->last_transport_.empty() &&
                    std::chrono::steady_clock::now() - self->last_transport_at_ < std::chrono::seconds{60})
                    cause = "; the last connection failure: " + self->last_transport_;
            }
            const std::string hint =
                tls ? " (TLS failed: check ca_cert_path, the broker's host name against its certificate, and that "
                      "the port is the broker's TLS listener)"
                    : cause + " (no broker of " + self->bootstrap_ +
                          " is reachable: check the address, that the broker runs, the port's protocol: " +
                          self->protocol_ + ", and for TLS ca_cert_path and the broker's host name)";
            auto e = detail_errors::make_kafka_error(code, "Kafka " + std::string{self->role_} + ": " + text + hint,
                                                     self->op());
            std::lock_guard lock{self->mutex_};
            const auto n = self->conn_events_.load(std::memory_order_relaxed) + 1;
            self->last_conn_ = e;
            self->conn_seq_ = n;
            if (tls) {
                self->last_tls_ = e;
                self->tls_seq_ = n;
            }
            self->conn_events_.store(n, std::memory_order_release);
        }
        gracedb::log(code == RD_KAFKA_RESP_ERR__TRANSPORT ? LogLevel::info : LogLevel::warning,
                             std::string{"Kafka "} + self->role_ + ": " + text);
        std::lock_guard lock{self->mutex_};
        self->last_error_ = text;
        if (code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__RESOLVE) {
            self->last_transport_ = reason ? redact_tokens(reason) : "";
            self->last_transport_at_ = std::chrono::steady_clock::now();
        }
    } catch (...) {
        // Nothing may unwind into librdkafka.
    }
}

void ClientCore::on_log(const rd_kafka_t*, int level, const char* fac, const char* buf) {
    try {
        // librdkafka logs transient connection failures at LOG_ERR (3): for us they are warnings.
        const LogLevel l = level <= 2 ? LogLevel::error : level <= 4 ? LogLevel::warning
                                                       : level <= 6 ? LogLevel::info
                                                                    : LogLevel::debug;
        if (!gracedb::detail::log_enabled(l)) return;
        gracedb::log(l, redact_tokens(std::string{"librdkafka "} + (fac ? fac : "") + ": " + (buf ? buf : "")));
    } catch (...) {
    }
}

void ClientCore::on_token_refresh(rd_kafka_t* rk, const char*, void* opaque) {
    using Clock = std::chrono::system_clock;
    try {
        auto* self = static_cast<ClientCore*>(opaque);
        const auto token = self->tokens_->current();
        const auto now = Clock::now();
        const auto due = self->tokens_->next_refresh();
        // librdkafka asks again at 80% of the lifetime it is given: give it the lifetime whose 80% point is
        // when our re-read is due (or the token's exp when reloading is off).
        Clock::time_point lifetime = token.expiry;
        if (due != Clock::time_point::max()) {
            const auto span = std::max<Clock::duration>(due - now, std::chrono::seconds{1});
            lifetime = now + std::chrono::duration_cast<Clock::duration>(span / 0.8);
        }
        const auto lifetime_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(lifetime.time_since_epoch()).count();
        const std::string principal = token.claims.sub.empty() ? std::string{"unknown"} : token.claims.sub;
        char errstr[512];
        if (rd_kafka_oauthbearer_set_token(rk, token.token.c_str(), lifetime_ms, principal.c_str(), nullptr, 0,
                                           errstr, sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_oauthbearer_set_token_failure(rk, redact_tokens(errstr).c_str());
        else
            gracedb::detail::log_debug(std::string{"Kafka "} + self->role_ + ": handed librdkafka the token (" +
                                       token.claims.describe() + ", fingerprint " + token_fingerprint(token.token) +
                                       ")");
    } catch (const std::exception& e) {
        rd_kafka_oauthbearer_set_token_failure(rk, redact_tokens(e.what()).c_str());
    } catch (...) {
        rd_kafka_oauthbearer_set_token_failure(rk, "unknown error while reading the SciToken");
    }
}

}  // namespace gracedb::kafka::detail_client
