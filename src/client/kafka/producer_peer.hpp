// Private, for the library's internal tests only (tests/unit/test_producer_heal.cpp): reaches the librdkafka
// handle inside a Producer, so that a test can raise a fatal error on it with librdkafka's test API
// (rd_kafka_test_fatal_error), as librdkafka 2.0.2 does after some leader failovers. Never exported from
// libgracedb.so, never included from include/.
#pragma once

#include <gracedb/export.hpp>
#include <gracedb/kafka/producer.hpp>

#include "common/rdkafka.hpp"

namespace gracedb::kafka {

struct GRACEDB_NO_EXPORT detail_producer_peer {
    /// The producer's current librdkafka handle (owned by the producer; replaced by a heal; null after
    /// close()).
    static rd_kafka_t* handle(Producer& producer);
};

}  // namespace gracedb::kafka
