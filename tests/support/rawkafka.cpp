#include "rawkafka.hpp"

#include <stdexcept>
#include <thread>

namespace gracedb::testing {
using Clock = std::chrono::steady_clock;

RawClient::RawClient(rd_kafka_type_t type, const std::map<std::string, std::string>& conf,
                     std::optional<std::string> token, std::chrono::seconds token_lifetime)
    : type_{type}, token_{std::move(token)}, token_lifetime_{token_lifetime} {
    char errstr[512];
    detail::KafkaConf c{rd_kafka_conf_new()};
    for (const auto& [k, v] : conf)
        if (rd_kafka_conf_set(c.get(), k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            throw std::invalid_argument("RawClient: " + k + ": " + errstr);
    rd_kafka_conf_set_opaque(c.get(), this);
    rd_kafka_conf_set_error_cb(c.get(), &RawClient::on_error);
    if (token_) rd_kafka_conf_set_oauthbearer_token_refresh_cb(c.get(), &RawClient::on_token_refresh);
    if (type == RD_KAFKA_PRODUCER) rd_kafka_conf_set_dr_msg_cb(c.get(), &RawClient::on_delivery);
    rk_.reset(rd_kafka_new(type, c.get(), errstr, sizeof errstr));
    if (!rk_) throw std::runtime_error(std::string{"RawClient: "} + errstr);
    c.release();  // owned by rk_
    if (type == RD_KAFKA_CONSUMER) rd_kafka_poll_set_consumer(rk_.get());
}

void RawClient::on_error(rd_kafka_t*, int err, const char* reason, void* opaque) {
    auto* self = static_cast<RawClient*>(opaque);
    std::lock_guard lock{self->mutex_};
    self->errors_.emplace_back(static_cast<rd_kafka_resp_err_t>(err), reason ? reason : "");
}

void RawClient::on_token_refresh(rd_kafka_t* rk, const char*, void* opaque) {
    auto* self = static_cast<RawClient*>(opaque);
    char errstr[512];
    const auto expiry = std::chrono::duration_cast<std::chrono::milliseconds>(
                            (std::chrono::system_clock::now() + self->token_lifetime_).time_since_epoch())
                            .count();
    if (rd_kafka_oauthbearer_set_token(rk, self->token_->c_str(), expiry, "test-principal", nullptr, 0, errstr,
                                       sizeof errstr) != RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_oauthbearer_set_token_failure(rk, errstr);
}

void RawClient::on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
    auto* d = static_cast<RawDelivery*>(msg->_private);
    if (!d) return;
    d->reported = true;
    d->err = msg->err;
    d->offset = msg->offset;
}

void RawClient::serve(int timeout_ms) {
    if (type_ == RD_KAFKA_PRODUCER) {
        rd_kafka_poll(rk_.get(), timeout_ms);
    } else if (auto* m = rd_kafka_consumer_poll(rk_.get(), timeout_ms)) {
        rd_kafka_message_destroy(m);
    }
}

RawDelivery RawClient::produce_sync(const std::string& topic, const std::string& value,
                                    const std::optional<std::string>& key,
                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                    std::chrono::milliseconds timeout) {
    RawDelivery delivery;
    rd_kafka_headers_t* hdrs = rd_kafka_headers_new(headers.size());
    for (const auto& [k, v] : headers)
        rd_kafka_header_add(hdrs, k.data(), static_cast<ssize_t>(k.size()), v.data(), static_cast<ssize_t>(v.size()));
    const void* key_ptr = key ? key->data() : nullptr;
    const std::size_t key_len = key ? key->size() : 0;
    auto err = rd_kafka_producev(
        rk_.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
        RD_KAFKA_V_KEY(key_ptr, key_len), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&delivery), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);  // not taken over on failure
        throw std::runtime_error(std::string{"RawClient: produce failed: "} + rd_kafka_err2str(err));
    }
    const auto deadline = Clock::now() + timeout;
    while (!delivery.reported && Clock::now() < deadline) rd_kafka_poll(rk_.get(), 100);
    if (!delivery.reported) {
        // The report would write into `delivery` after we return: purge and serve it first.
        rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(rk_.get(), 5000);
        delivery.reported = false;
    }
    return delivery;
}

std::vector<RawMessage> RawClient::consume_from_beginning(const std::string& topic, std::size_t count,
                                                          std::chrono::milliseconds timeout,
                                                          std::int32_t partition) {
    detail::PartitionList parts{rd_kafka_topic_partition_list_new(1)};
    rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (auto err = rd_kafka_assign(rk_.get(), parts.get()))
        throw std::runtime_error(std::string{"RawClient: assign failed: "} + rd_kafka_err2str(err));
    std::vector<RawMessage> out;
    const auto deadline = Clock::now() + timeout;
    while (out.size() < count && Clock::now() < deadline) {
        detail::KafkaMessage m{rd_kafka_consumer_poll(rk_.get(), 100)};
        if (!m || m->err) continue;
        RawMessage r;
        r.topic = rd_kafka_topic_name(m->rkt);
        r.partition = m->partition;
        r.offset = m->offset;
        if (m->key) r.key = std::string(static_cast<const char*>(m->key), m->key_len);
        r.value.assign(static_cast<const char*>(m->payload), m->len);
        rd_kafka_headers_t* hdrs = nullptr;
        if (rd_kafka_message_headers(m.get(), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char* name;
            const void* val;
            size_t size;
            for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i)
                r.headers.emplace_back(name, std::string(static_cast<const char*>(val), size));
        }
        out.push_back(std::move(r));
    }
    return out;
}

bool RawClient::wait_for_error(rd_kafka_resp_err_t code, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    do {
        {
            std::lock_guard lock{mutex_};
            for (const auto& e : errors_)
                if (e.first == code) return true;
        }
        serve(100);
    } while (Clock::now() < deadline);
    return false;
}

std::string RawClient::errors_text() const {
    std::lock_guard lock{mutex_};
    std::string out;
    for (const auto& [code, reason] : errors_) out += std::string{rd_kafka_err2name(code)} + ": " + reason + "\n";
    return out;
}

}  // namespace gracedb::testing
