// Private: the ONE place that turns librdkafka's error codes into this library's exceptions (type, Errc,
// librdkafka's error name, fatal, retriable), like redis-plus-plus's throw_error. Nothing is classified by
// searching an error's text. Every Kafka throw site with a librdkafka cause goes through here.
#pragma once

#include <gracedb/error.hpp>
#include <gracedb/kafka/errors.hpp>

#include <librdkafka/rdkafka.h>

#include <exception>
#include <string>

namespace gracedb::kafka::detail_errors {

/// Where an error surfaces: decides the exception type for a given code.
///   produce:  KafkaProducerError (KafkaAuthenticationError / KafkaConnectionError for those causes)
///   deliver:  KafkaMessageDeliveryError whatever the cause (the code says which)
///   client:   an asynchronous client error of a producer (flush, ping, close): as produce
///   consume:  KafkaConsumerError (KafkaAuthenticationError for authentication/authorization, and
///             KafkaConnectionError for TLS failures)
enum class Op { produce, deliver, client, consume };

struct Classified {
    Errc code;
    bool retriable;
};

/// The Errc and retriability of a librdkafka error code (`op` picks the default for codes of no category).
Classified classify(rd_kafka_resp_err_t err, Op op) noexcept;

/// The exception for `err` with message `what` (which should say what failed and what to do).
/// `fatal`: the client is unusable (librdkafka's fatal error); then the code is producer_fatal/consumer_fatal
/// and `err` is the underlying error (rd_kafka_fatal_error's).
std::exception_ptr make_kafka_error(rd_kafka_resp_err_t err, const std::string& what, Op op, bool fatal = false);
/// The same with an explicit code (no librdkafka cause, or one that librdkafka does not distinguish).
std::exception_ptr make_kafka_error(Errc code, const std::string& what, Op op, std::string rdkafka_name = {},
                                    bool fatal = false, bool retriable = false);

[[noreturn]] void throw_kafka_error(rd_kafka_resp_err_t err, const std::string& what, Op op, bool fatal = false);
[[noreturn]] void throw_kafka_error(Errc code, const std::string& what, Op op, std::string rdkafka_name = {},
                                    bool fatal = false, bool retriable = false);
/// From an rd_kafka_error_t (rd_kafka_produceva, ...): its code, is_fatal and is_retriable.
[[noreturn]] void throw_kafka_error(const rd_kafka_error_t* error, const std::string& what, Op op);

/// The same exception (same type, code, librdkafka name, fatal, retriable) with `prefix` before its message.
std::exception_ptr with_context(const KafkaError& e, const std::string& prefix);

/// True for the codes that are a rejection of our credentials (not transient).
bool is_authentication(rd_kafka_resp_err_t err) noexcept;

}  // namespace gracedb::kafka::detail_errors
