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
}  // namespace gracedb::kafka
