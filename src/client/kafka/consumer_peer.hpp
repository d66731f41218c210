// Private, for the library's internal tests only (tests/unit/test_consumer_pending.cpp): reaches the
// librdkafka handle inside a Consumer, so that a test can deliver to it what librdkafka would (e.g. an
// error_cb call with an authentication error, which librdkafka's mock cluster, having no SASL, never makes).
// Never exported from libgracedb.so, never included from include/.
#pragma once

#include <gracedb/export.hpp>
#include <gracedb/kafka/consumer.hpp>

#include <cstddef>

#include "common/rdkafka.hpp"

namespace gracedb::kafka {

struct GRACEDB_NO_EXPORT detail_consumer_peer {
    /// The consumer's librdkafka handle (owned by the consumer; null after close()).
    static rd_kafka_t* handle(Consumer& consumer);
    /// Messages wait_for_assignment() fetched and keeps for poll() (not yet handed to the application).
    static std::size_t buffered(const Consumer& consumer);
};

}  // namespace gracedb::kafka
