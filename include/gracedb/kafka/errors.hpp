// The exceptions of the Kafka part, the same tree as ligo-gracedb's:
//
//   std::runtime_error
//   └── KafkaError
//       ├── KafkaAuthenticationError
//       │   └── KafkaTokenError
//       ├── KafkaProducerError
//       │   └── KafkaMessageDeliveryError
//       ├── KafkaConsumerError
//       └── KafkaConnectionError
//
// Bad arguments (Python's ValueError) are std::invalid_argument, not part of this tree.
#pragma once

#include <gracedb/export.hpp>

#include <stdexcept>
#include <string>

namespace gracedb::kafka {

/// Root of every Kafka-related failure of this library.
class GRACEDB_EXPORT KafkaError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
    ~KafkaError() override;
};

/// The broker refused our credentials, or librdkafka reported an authentication failure.
class GRACEDB_EXPORT KafkaAuthenticationError : public KafkaError {
public:
    using KafkaError::KafkaError;
    ~KafkaAuthenticationError() override;
};

/// No usable SciToken: none found, malformed, expired, or not for this audience or scope.
/// The message lists the places looked at and what was found there; never the token itself.
class GRACEDB_EXPORT KafkaTokenError : public KafkaAuthenticationError {
public:
    using KafkaAuthenticationError::KafkaAuthenticationError;
    ~KafkaTokenError() override;
};

/// The producer could not accept or send a message (bad configuration, oversized message, fatal error).
class GRACEDB_EXPORT KafkaProducerError : public KafkaError {
public:
    using KafkaError::KafkaError;
    ~KafkaProducerError() override;
};

/// A message that was accepted could not be delivered; names the topic, the key and the reason.
class GRACEDB_EXPORT KafkaMessageDeliveryError : public KafkaProducerError {
public:
    using KafkaProducerError::KafkaProducerError;
    ~KafkaMessageDeliveryError() override;
};

/// The consumer failed (subscription, poll, commit, fatal error).
class GRACEDB_EXPORT KafkaConsumerError : public KafkaError {
public:
    using KafkaError::KafkaError;
    ~KafkaConsumerError() override;
};

/// No broker could be reached within the time allowed.
class GRACEDB_EXPORT KafkaConnectionError : public KafkaError {
public:
    using KafkaError::KafkaError;
    ~KafkaConnectionError() override;
};

}  // namespace gracedb::kafka
