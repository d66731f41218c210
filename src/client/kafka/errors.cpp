// Out-of-line destructors are the key functions of the exception classes: their vtables and type_info
// live in libgracedb once, so a type thrown by the library is caught by the same type in a program.
#include <gracedb/error.hpp>
#include <gracedb/kafka/errors.hpp>

namespace gracedb {

Error::Error(const std::string& what, Errc code, std::string rdkafka_error, bool fatal, bool retriable)
    : std::runtime_error{what},
      code_{code},
      rdkafka_error_{std::move(rdkafka_error)},
      fatal_{fatal},
      retriable_{retriable} {}
Error::~Error() = default;

std::string_view to_string(Errc code) noexcept {
    switch (code) {
        case Errc::unknown: return "unknown";
        case Errc::invalid_configuration: return "invalid_configuration";
        case Errc::client_closed: return "client_closed";
        case Errc::token_not_found: return "token_not_found";
        case Errc::token_unusable: return "token_unusable";
        case Errc::authentication_failed: return "authentication_failed";
        case Errc::authorization_failed: return "authorization_failed";
        case Errc::connection_failed: return "connection_failed";
        case Errc::tls_failed: return "tls_failed";
        case Errc::timed_out: return "timed_out";
        case Errc::message_too_large: return "message_too_large";
        case Errc::queue_full: return "queue_full";
        case Errc::delivery_failed: return "delivery_failed";
        case Errc::purged: return "purged";
        case Errc::producer_fatal: return "producer_fatal";
        case Errc::consumer_failed: return "consumer_failed";
        case Errc::consumer_fatal: return "consumer_fatal";
        case Errc::callback_failed: return "callback_failed";
        case Errc::http_status: return "http_status";
        case Errc::credential_unusable: return "credential_unusable";
        case Errc::insecure_transport: return "insecure_transport";
    }
    return "unknown";
}

}  // namespace gracedb

namespace gracedb::kafka {
KafkaError::~KafkaError() = default;
KafkaAuthenticationError::~KafkaAuthenticationError() = default;
KafkaTokenError::~KafkaTokenError() = default;
KafkaProducerError::~KafkaProducerError() = default;
KafkaMessageDeliveryError::~KafkaMessageDeliveryError() = default;
KafkaConsumerError::~KafkaConsumerError() = default;
KafkaConnectionError::~KafkaConnectionError() = default;

KafkaUnfinishedEventError::KafkaUnfinishedEventError(const std::string& what, std::string graceid,
                                                     bool may_still_be_delivered, Errc code,
                                                     std::string rdkafka_error, bool fatal, bool retriable)
    : KafkaMessageDeliveryError{what, code, std::move(rdkafka_error), fatal,
                                retriable && !may_still_be_delivered},
      graceid_{std::move(graceid)},
      may_still_be_delivered_{may_still_be_delivered} {}
KafkaUnfinishedEventError::~KafkaUnfinishedEventError() = default;
}  // namespace gracedb::kafka

// ---- the one mapping from librdkafka's codes to exceptions ------------------------------------------------
#include "client/kafka/error_map.hpp"

namespace gracedb::kafka::detail_errors {

bool is_authentication(rd_kafka_resp_err_t err) noexcept {
    switch (err) {
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM: return true;
        default: return false;
    }
}

Classified classify(rd_kafka_resp_err_t err, Op op) noexcept {
    if (is_authentication(err)) return {Errc::authentication_failed, false};
    switch (err) {
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED: return {Errc::authorization_failed, false};
        case RD_KAFKA_RESP_ERR__SSL: return {Errc::tls_failed, false};
        case RD_KAFKA_RESP_ERR__TRANSPORT:
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__RESOLVE:
        case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
        case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
        case RD_KAFKA_RESP_ERR__WAIT_COORD:
        case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE: return {Errc::connection_failed, true};
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT: return {Errc::timed_out, true};
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return {Errc::message_too_large, false};
        case RD_KAFKA_RESP_ERR__QUEUE_FULL: return {Errc::queue_full, true};
        case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
        case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT: return {Errc::purged, false};
        case RD_KAFKA_RESP_ERR__DESTROY: return {Errc::client_closed, false};
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
        case RD_KAFKA_RESP_ERR__INVALID_TYPE:
        case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION: return {Errc::invalid_configuration, false};
        case RD_KAFKA_RESP_ERR__FATAL:
            return {op == Op::consume ? Errc::consumer_fatal : Errc::producer_fatal, false};
        default: break;
    }
    switch (op) {
        case Op::deliver: return {Errc::delivery_failed, false};
        case Op::consume: return {Errc::consumer_failed, false};
        case Op::produce:
        case Op::client: return {Errc::unknown, false};
    }
    return {Errc::unknown, false};
}

std::exception_ptr make_kafka_error(Errc code, const std::string& what, Op op, std::string name, bool fatal,
                                    bool retriable) {
    auto make = [&]<class E>() { return std::make_exception_ptr(E{what, code, std::move(name), fatal, retriable}); };
    if (fatal) {
        if (op == Op::consume) return make.operator()<KafkaConsumerError>();
        return make.operator()<KafkaProducerError>();
    }
    if (op == Op::deliver) return make.operator()<KafkaMessageDeliveryError>();
    switch (code) {
        case Errc::token_not_found:
        case Errc::token_unusable: return make.operator()<KafkaTokenError>();
        case Errc::authentication_failed:
        case Errc::authorization_failed:
            // produce() refusing a topic the client already knows is refused stays a KafkaProducerError.
            if (op != Op::produce) return make.operator()<KafkaAuthenticationError>();
            break;
        case Errc::tls_failed: return make.operator()<KafkaConnectionError>();
        case Errc::connection_failed:
        case Errc::timed_out:
            if (op != Op::consume) return make.operator()<KafkaConnectionError>();
            break;
        default: break;
    }
    if (op == Op::consume) return make.operator()<KafkaConsumerError>();
    return make.operator()<KafkaProducerError>();
}

std::exception_ptr make_kafka_error(rd_kafka_resp_err_t err, const std::string& what, Op op, bool fatal) {
    auto c = classify(fatal ? RD_KAFKA_RESP_ERR__FATAL : err, op);
    return make_kafka_error(c.code, what, op, rd_kafka_err2name(err), fatal, c.retriable);
}

std::exception_ptr with_context(const KafkaError& e, const std::string& prefix) {
    const std::string what = prefix + e.what();
    auto same = [&]<class E>() {
        return std::make_exception_ptr(E{what, e.code(), e.rdkafka_error(), e.fatal(), e.retriable()});
    };
    // Most derived first.
    if (const auto* u = dynamic_cast<const KafkaUnfinishedEventError*>(&e))
        return std::make_exception_ptr(KafkaUnfinishedEventError{
            what, u->graceid(), u->may_still_be_delivered(), e.code(), e.rdkafka_error(), e.fatal(),
            e.retriable()});
    if (dynamic_cast<const KafkaTokenError*>(&e)) return same.operator()<KafkaTokenError>();
    if (dynamic_cast<const KafkaAuthenticationError*>(&e)) return same.operator()<KafkaAuthenticationError>();
    if (dynamic_cast<const KafkaMessageDeliveryError*>(&e)) return same.operator()<KafkaMessageDeliveryError>();
    if (dynamic_cast<const KafkaProducerError*>(&e)) return same.operator()<KafkaProducerError>();
    if (dynamic_cast<const KafkaConsumerError*>(&e)) return same.operator()<KafkaConsumerError>();
    if (dynamic_cast<const KafkaConnectionError*>(&e)) return same.operator()<KafkaConnectionError>();
    return same.operator()<KafkaError>();
}

void throw_kafka_error(rd_kafka_resp_err_t err, const std::string& what, Op op, bool fatal) {
    std::rethrow_exception(make_kafka_error(err, what, op, fatal));
}

void throw_kafka_error(Errc code, const std::string& what, Op op, std::string name, bool fatal, bool retriable) {
    std::rethrow_exception(make_kafka_error(code, what, op, std::move(name), fatal, retriable));
}

void throw_kafka_error(const rd_kafka_error_t* error, const std::string& what, Op op) {
    const auto err = rd_kafka_error_code(error);
    const bool fatal = rd_kafka_error_is_fatal(error);
    auto c = classify(fatal ? RD_KAFKA_RESP_ERR__FATAL : err, op);
    std::rethrow_exception(make_kafka_error(c.code, what, op, rd_kafka_err2name(err), fatal,
                                            c.retriable || rd_kafka_error_is_retriable(error)));
}

}  // namespace gracedb::kafka::detail_errors
