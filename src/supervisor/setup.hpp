// Private to the supervisor: its options checked, and the settings its Kafka clients are built from (the
// consumer's, and the connection the dead-letter and heartbeat producer takes over from the consumer).
#pragma once

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/supervisor.hpp>

namespace gracedb::supervisor_detail {

/// Throws std::invalid_argument for options the supervisor cannot run with (saying which and why).
void check_options(const SupervisorOptions& o);

/// The consumer's settings: every topic of the instance, this supervisor's group, manual commits.
kafka::ConsumerOptions consumer_options(kafka::ConsumerOptions c);

/// A producer reaching the same brokers as the consumer `c`, authenticated the same way (its topic and
/// instance name are left to the caller).
kafka::ProducerOptions producer_options_from(const kafka::ConsumerOptions& c);

}  // namespace gracedb::supervisor_detail
