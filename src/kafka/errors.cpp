// Out-of-line destructors are the key functions of the exception classes: their vtables and type_info
// live in libgracedb once, so a type thrown by the library is caught by the same type in a program.
#include <gracedb/kafka/errors.hpp>

namespace gracedb::kafka {
KafkaError::~KafkaError() = default;
KafkaAuthenticationError::~KafkaAuthenticationError() = default;
KafkaTokenError::~KafkaTokenError() = default;
KafkaProducerError::~KafkaProducerError() = default;
KafkaMessageDeliveryError::~KafkaMessageDeliveryError() = default;
KafkaConsumerError::~KafkaConsumerError() = default;
KafkaConnectionError::~KafkaConnectionError() = default;
}  // namespace gracedb::kafka
