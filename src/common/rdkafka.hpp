// Private: ownership of librdkafka's C handles. One stateless deleter and one unique_ptr alias per handle.
// Never included from a public header.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>

namespace gracedb::detail {

struct RdKafkaDeleter {
    void operator()(rd_kafka_t* p) const noexcept { rd_kafka_destroy(p); }
    void operator()(rd_kafka_conf_t* p) const noexcept { rd_kafka_conf_destroy(p); }
    void operator()(rd_kafka_topic_partition_list_t* p) const noexcept {
        rd_kafka_topic_partition_list_destroy(p);
    }
    void operator()(rd_kafka_message_t* p) const noexcept { rd_kafka_message_destroy(p); }
    void operator()(rd_kafka_queue_t* p) const noexcept { rd_kafka_queue_destroy(p); }
    void operator()(rd_kafka_event_t* p) const noexcept { rd_kafka_event_destroy(p); }
    void operator()(rd_kafka_error_t* p) const noexcept { rd_kafka_error_destroy(p); }
    void operator()(rd_kafka_headers_t* p) const noexcept { rd_kafka_headers_destroy(p); }
    void operator()(const rd_kafka_metadata_t* p) const noexcept { rd_kafka_metadata_destroy(p); }
    void operator()(rd_kafka_AdminOptions_t* p) const noexcept { rd_kafka_AdminOptions_destroy(p); }
    void operator()(rd_kafka_AclBinding_t* p) const noexcept { rd_kafka_AclBinding_destroy(p); }
};

using KafkaHandle = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;
using KafkaConf = std::unique_ptr<rd_kafka_conf_t, RdKafkaDeleter>;
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, RdKafkaDeleter>;
using KafkaMessage = std::unique_ptr<rd_kafka_message_t, RdKafkaDeleter>;
using KafkaQueue = std::unique_ptr<rd_kafka_queue_t, RdKafkaDeleter>;
using KafkaEvent = std::unique_ptr<rd_kafka_event_t, RdKafkaDeleter>;
using KafkaErrorObject = std::unique_ptr<rd_kafka_error_t, RdKafkaDeleter>;
using KafkaHeaders = std::unique_ptr<rd_kafka_headers_t, RdKafkaDeleter>;
using KafkaMetadata = std::unique_ptr<const rd_kafka_metadata_t, RdKafkaDeleter>;
using AdminOptions = std::unique_ptr<rd_kafka_AdminOptions_t, RdKafkaDeleter>;
using AclBinding = std::unique_ptr<rd_kafka_AclBinding_t, RdKafkaDeleter>;

}  // namespace gracedb::detail
