// The exceptions of the Kafka part, the same tree as ligo-gracedb's:
//
//   std::runtime_error
//   └── gracedb::Error             (code(), rdkafka_error(), fatal(), retriable(): <gracedb/error.hpp>)
//       └── KafkaError
//           ├── KafkaAuthenticationError
//           │   └── KafkaTokenError
//           ├── KafkaProducerError
//           │   └── KafkaMessageDeliveryError
//           │       └── KafkaUnfinishedEventError   (create_event: graceid reserved, event not finished)
//           ├── KafkaConsumerError
//           └── KafkaConnectionError
//
// Bad arguments (Python's ValueError) are std::invalid_argument, not part of this tree.
#pragma once

#include <gracedb/export.hpp>

#include <gracedb/error.hpp>

#include <stdexcept>
#include <string>

namespace gracedb::kafka {

/// Root of every Kafka-related failure of this library.
class GRACEDB_EXPORT KafkaError : public Error {
public:
    using Error::Error;
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

/// GraceDb::create_event reserved `graceid()` but could not confirm the event's publication over Kafka (nor,
/// with http_fallback, complete it over HTTP). code(), rdkafka_error() and fatal() are the publish step's
/// cause; the message names the graceid, the cause and what to do.
///   may_still_be_delivered() true: librdkafka still holds the message or may have written it (its status
///     is not "not persisted"), so the supervisor may yet upload the event. retriable() is false: a new
///     create_event would reserve a second graceid and could make a second event. Finish THIS event:
///     client.upload_reserved_event(e.graceid(), group, pipeline, filename, options) with the same arguments;
///     it is idempotent (a 409, "already uploaded", means the Kafka copy got there first: done either way).
///   may_still_be_delivered() false: nothing of it reached the broker. Finishing it the same way is still
///     best; a new create_event cannot make a second event (graceid() then stays an unused reservation), so
///     retriable() is the cause's (a timeout, no broker reachable).
class GRACEDB_EXPORT KafkaUnfinishedEventError : public KafkaMessageDeliveryError {
public:
    /// `what` is the full message; the rest as gracedb::Error's constructor, plus the graceid and whether
    /// the message may still be delivered.
    KafkaUnfinishedEventError(const std::string& what, std::string graceid, bool may_still_be_delivered,
                              Errc code, std::string rdkafka_error = {}, bool fatal = false,
                              bool retriable = false);
    ~KafkaUnfinishedEventError() override;
    /// The reserved graceid ("G100001"): finish this event with GraceDb::upload_reserved_event.
    const std::string& graceid() const noexcept { return graceid_; }
    /// True when librdkafka still holds the message or may have written it (see the class comment).
    bool may_still_be_delivered() const noexcept { return may_still_be_delivered_; }

private:
    std::string graceid_;
    bool may_still_be_delivered_;
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
