#include <gracedb/kafka/producer.hpp>
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/version.hpp>

#include <unistd.h>

#include <atomic>
#include <exception>
#include <thread>
#include <unordered_map>

#include "detail/log.hpp"
#include "detail/text.hpp"
#include "kafka/client.hpp"
#include "kafka/json_writer.hpp"

namespace gracedb::kafka {
using detail_client::to_ms;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The state create_event and ping wait on; shared so that a report arriving after the waiter gave up is safe.
struct SyncSlot {
    std::atomic<bool> done{false};
    DeliveryReport report;
};

// Per-message opaque; only allocated for messages that have an on_delivery or a waiter.
struct MessageContext {
    std::function<void(const DeliveryReport&)> on_delivery;
    std::shared_ptr<SyncSlot> sync;
};

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

bool is_true(std::string v) {
    for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return v == "true" || v == "1" || v == "yes";
}

// kafka_config settings that undo what guaranteed_delivery promises.
void refuse_contradictions(const std::map<std::string, std::string>& cfg) {
    auto contradiction = [](const std::string& key, const std::string& value, const std::string& need) {
        return std::invalid_argument("kafka_config " + key + "=" + value +
                                     " contradicts guaranteed_delivery=true (which needs " + need +
                                     "); remove it from kafka_config, or set guaranteed_delivery=false");
    };
    for (const auto& [key, value] : cfg) {
        if ((key == "acks" || key == "request.required.acks") && value != "all" && value != "-1")
            throw contradiction(key, value, "acks=all");
        if (key == "enable.idempotence" && !is_true(value)) throw contradiction(key, value, "enable.idempotence=true");
        if ((key == "retries" || key == "message.send.max.retries") && value == "0")
            throw contradiction(key, value, "retries on transient errors");
    }
}

}  // namespace

struct GRACEDB_NO_EXPORT Producer::Impl final : detail_client::ClientCore {
    ProducerOptions options;
    std::string instance;
    std::size_t message_max_bytes = 1000000;
    detail::KafkaHandle rk;
    std::mutex topics_mutex;
    std::unordered_map<std::string, rd_kafka_topic_t*> topics;  // pipeline -> handle, destroyed before rk

    std::mutex failures_mutex;
    std::vector<DeliveryReport> undelivered;  // failed messages that had no on_delivery
    std::exception_ptr callback_error;        // first exception thrown by an on_delivery
    std::atomic<bool> closed{false};

    explicit Impl(ProducerOptions o) : options{std::move(o)} {
        instance = detail_client::resolve_instance(options.instance_name, options.service_url);
        if (options.topic) make_topic_name(instance, *options.topic);  // an illegal default topic fails now
        if (options.guaranteed_delivery) refuse_contradictions(options.kafka_config);

        std::map<std::string, std::string> defaults;
        if (options.guaranteed_delivery) {
            defaults = {{"acks", "all"}, {"enable.idempotence", "true"}, {"compression.type", "zstd"}};
        } else {
            defaults = {{"acks", "1"}, {"enable.idempotence", "false"}, {"linger.ms", "0"},
                        {"compression.type", "zstd"}};
        }
        auto conf = configure(detail_client::common_options(options), defaults, "producer");
        char buf[64];
        size_t size = sizeof buf;
        if (rd_kafka_conf_get(conf.get(), "message.max.bytes", buf, &size) == RD_KAFKA_CONF_OK)
            message_max_bytes = std::stoul(buf);
        rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::on_delivery);
        rk = create(RD_KAFKA_PRODUCER, std::move(conf));
    }

    ~Impl() override { release(); }

    void release() noexcept {
        {
            std::lock_guard lock{topics_mutex};
            for (auto& [name, rkt] : topics) rd_kafka_topic_destroy(rkt);
            topics.clear();
        }
        rk.reset();
    }

    static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
        try {
            auto* self = static_cast<Impl*>(static_cast<detail_client::ClientCore*>(opaque));
            auto* ctx = static_cast<MessageContext*>(msg->_private);
            if (!msg->err) self->brokers_reachable();
            if (!ctx && !msg->err) return;  // the fast path: delivered, nobody waits
            std::unique_ptr<MessageContext> owned{ctx};
            DeliveryReport report;
            report.topic = rd_kafka_topic_name(msg->rkt);
            report.partition = msg->partition;
            report.offset = msg->offset;
            if (msg->key) report.key = std::string(static_cast<const char*>(msg->key), msg->key_len);
            if (msg->err) report.error = rd_kafka_err2str(msg->err);
            if (!ctx) {
                std::lock_guard lock{self->failures_mutex};
                self->undelivered.push_back(std::move(report));
                return;
            }
            if (ctx->on_delivery) {
                try {
                    ctx->on_delivery(report);
                } catch (...) {
                    std::lock_guard lock{self->failures_mutex};
                    if (!self->callback_error) self->callback_error = std::current_exception();
                }
            }
            if (ctx->sync) {
                ctx->sync->report = std::move(report);
                ctx->sync->done.store(true, std::memory_order_release);
            }
        } catch (...) {
            // Nothing may unwind into librdkafka.
        }
    }

    void ensure_open() const {
        if (closed.load()) throw KafkaProducerError("the producer is closed");
    }

    // Rethrows what happened since the last call: an on_delivery's exception, a fatal error, an auth failure.
    void raise_async() {
        std::exception_ptr e;
        {
            std::lock_guard lock{failures_mutex};
            e = std::exchange(callback_error, nullptr);
        }
        if (e) std::rethrow_exception(e);
        raise_pending<KafkaProducerError>();
    }

    void raise_undelivered() {
        std::vector<DeliveryReport> failed;
        {
            std::lock_guard lock{failures_mutex};
            failed.swap(undelivered);
        }
        if (failed.empty()) return;
        std::string text = std::to_string(failed.size()) + " message(s) could not be delivered: ";
        for (std::size_t i = 0; i < failed.size() && i < 5; ++i) {
            const auto& f = failed[i];
            text += (i ? "; " : "") + std::string{"topic "} + f.topic + ", key " + (f.key ? "\"" + *f.key + "\"" : "(none)") +
                    ": " + f.error.value_or("?");
        }
        if (failed.size() > 5) text += "; ...";
        throw KafkaMessageDeliveryError(text);
    }

    std::string topic_for_name(const std::optional<std::string>& pipeline) const {
        const std::string* name = pipeline ? &*pipeline : options.topic ? &*options.topic : nullptr;
        return name ? make_topic_name(instance, *name) : std::string{"(no topic)"};
    }

    rd_kafka_topic_t* topic_handle(const std::optional<std::string>& pipeline) {
        const std::string* name = pipeline ? &*pipeline : options.topic ? &*options.topic : nullptr;
        if (!name)
            throw std::invalid_argument(
                "produce() needs a topic: pass ProduceOptions{.topic = \"<pipeline>\"} or construct the producer "
                "with a default topic");
        std::lock_guard lock{topics_mutex};
        if (auto it = topics.find(*name); it != topics.end()) return it->second;
        const auto full = make_topic_name(instance, *name);  // throws std::invalid_argument for illegal names
        rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), full.c_str(), nullptr);
        if (!rkt) throw KafkaProducerError("cannot use topic \"" + full + "\": " + rd_kafka_err2str(rd_kafka_last_error()));
        topics.emplace(*name, rkt);
        return rkt;
    }

    // Serves reports and errors so that failures surface at the next produce().
    void serve_and_raise() {
        ensure_open();
        rd_kafka_poll(rk.get(), 0);
        raise_async();
    }

    // `borrowed`: `data` lives in a buffer that a callback run by rd_kafka_poll could overwrite (the
    // thread's JSON buffer): it is copied before anything is polled.
    void produce_raw(const void* data, std::size_t len, ProduceOptions& o, std::shared_ptr<SyncSlot> sync = {},
                     bool borrowed = false) {
        if (!borrowed) serve_and_raise();
        rd_kafka_topic_t* rkt = topic_handle(o.topic);
        const std::size_t size = len + (o.key ? o.key->size() : 0);
        if (size > message_max_bytes)
            throw KafkaProducerError("message of " + std::to_string(size) + " bytes (value " + std::to_string(len) +
                                     " + key) for topic \"" + rd_kafka_topic_name(rkt) +
                                     "\" exceeds the producer's limit message.max.bytes=" +
                                     std::to_string(message_max_bytes) +
                                     " (checked before compression). Send a smaller message (e.g. a compressed or "
                                     "referenced file), or raise message.max.bytes in kafka_config if the broker "
                                     "and topic allow it.");

        rd_kafka_vu_t vu[8 + 16];
        std::size_t n = 0;
        vu[n].vtype = RD_KAFKA_VTYPE_RKT;
        vu[n++].u.rkt = rkt;
        vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
        vu[n].u.mem.ptr = const_cast<void*>(data);
        vu[n++].u.mem.size = len;
        vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
        vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
        if (o.key) {
            vu[n].vtype = RD_KAFKA_VTYPE_KEY;
            vu[n].u.mem.ptr = o.key->data();
            vu[n++].u.mem.size = o.key->size();
        }
        if (o.partition) {
            vu[n].vtype = RD_KAFKA_VTYPE_PARTITION;
            vu[n++].u.i32 = *o.partition;
        }
        std::unique_ptr<MessageContext> ctx;
        if (o.on_delivery || sync) ctx.reset(new MessageContext{std::move(o.on_delivery), std::move(sync)});
        if (ctx) {
            vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
            vu[n++].u.ptr = ctx.get();
        }
        detail::KafkaHeaders headers;
        if (!o.headers.empty()) {
            headers.reset(rd_kafka_headers_new(o.headers.size()));
            for (const auto& [k, v] : o.headers)
                rd_kafka_header_add(headers.get(), k.data(), static_cast<ssize_t>(k.size()), v.data(),
                                    static_cast<ssize_t>(v.size()));
            vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
            vu[n++].u.headers = headers.get();
        }

        const auto deadline = Clock::now() + options.flush_timeout;
        std::string own_copy;
        for (;;) {
            detail::KafkaErrorObject error{rd_kafka_produceva(rk.get(), vu, n)};
            if (!error) break;
            const auto code = rd_kafka_error_code(error.get());
            if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL && Clock::now() < deadline) {
                if (borrowed && own_copy.empty()) {
                    own_copy.assign(static_cast<const char*>(data), len);
                    vu[1].u.mem.ptr = own_copy.data();  // vu[1] is the value
                }
                rd_kafka_poll(rk.get(), 50);  // the local queue is full: serve reports until there is room
                continue;
            }
            raise_pending<KafkaProducerError>();
            if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                throw KafkaProducerError("the producer's local queue stayed full for " +
                                         std::to_string(options.flush_timeout.count()) +
                                         " ms: the broker is not taking messages (" + last_error() + ")");
            if (code == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
                throw KafkaProducerError("message of " + std::to_string(size) + " bytes is too large for librdkafka: " +
                                         rd_kafka_error_string(error.get()));
            throw KafkaProducerError(std::string{"cannot produce to topic \""} + rd_kafka_topic_name(rkt) +
                                     "\": " + rd_kafka_error_string(error.get()));
        }
        ctx.release();      // owned by librdkafka until the delivery report
        headers.release();  // taken over by librdkafka on success
    }

    int flush_for(int timeout_ms) {
        ensure_open();
        raise_async();
        rd_kafka_flush(rk.get(), timeout_ms);
        raise_undelivered();
        raise_async();
        const int remaining = rd_kafka_outq_len(rk.get());
        if (remaining > 0 && all_brokers_down())
            throw KafkaConnectionError("flush timed out with " + std::to_string(remaining) +
                                       " message(s) queued: no Kafka broker of " + bootstrap() +
                                       " is reachable (" + last_error() + ")");
        return remaining;
    }
};

Producer::Producer(ProducerOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}

Producer::~Producer() {
    if (!impl_) return;
    try {
        close(impl_->options.flush_timeout);
    } catch (const std::exception& e) {
        detail::log_error(std::string{"Kafka producer destroyed: "} + e.what());
    } catch (...) {
        detail::log_error("Kafka producer destroyed: unknown error while closing");
    }
}

Producer::Producer(Producer&&) noexcept = default;
Producer& Producer::operator=(Producer&& other) noexcept {
    if (this != &other) {
        Producer doomed{std::move(*this)};  // closes our old client
        impl_ = std::move(other.impl_);
    }
    return *this;
}

Producer::Impl& Producer::impl() const {
    if (!impl_) throw std::logic_error("use of a moved-from gracedb::kafka::Producer");
    return *impl_;
}

void Producer::produce_json(const nlohmann::json& value, ProduceOptions options) {
    auto& im = impl();
    im.serve_and_raise();  // before serialising: a callback may itself produce JSON on this thread
    const std::string_view text = detail_client::to_json_text_view(value);  // copied by librdkafka
    im.produce_raw(text.data(), text.size(), options, {}, true);
}

void Producer::produce(std::string_view value, ProduceOptions options) {
    impl().produce_raw(value.data(), value.size(), options);
}

void Producer::produce(std::span<const std::byte> value, ProduceOptions options) {
    impl().produce_raw(value.data(), value.size(), options);
}

DeliveryReport Producer::produce_and_wait(std::string_view value, ProduceOptions options,
                                          std::chrono::milliseconds timeout) {
    auto& im = impl();
    auto slot = std::make_shared<SyncSlot>();
    const auto deadline = Clock::now() + timeout;
    im.produce_raw(value.data(), value.size(), options, slot);
    while (!slot->done.load(std::memory_order_acquire)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left <= 0ms) break;
        rd_kafka_poll(im.rk.get(), std::min(to_ms(left), 50));
    }
    if (slot->done.load(std::memory_order_acquire)) return slot->report;
    DeliveryReport timed_out;
    timed_out.topic = im.topic_for_name(options.topic);
    timed_out.key = options.key;
    timed_out.error = "no delivery report within " + std::to_string(timeout.count()) + " ms" +
                      (im.last_error().empty() ? std::string{} : " (last client error: " + im.last_error() + ")");
    return timed_out;
}

int Producer::flush(std::chrono::milliseconds timeout) { return impl().flush_for(to_ms(timeout)); }
int Producer::flush() { return impl().flush_for(-1); }

int Producer::poll(std::chrono::milliseconds timeout) {
    auto& im = impl();
    im.ensure_open();
    const int served = rd_kafka_poll(im.rk.get(), to_ms(timeout));
    im.raise_async();
    return served;
}

std::size_t Producer::pending_messages() const {
    auto& im = impl();
    if (im.closed.load()) return 0;
    return static_cast<std::size_t>(rd_kafka_outq_len(im.rk.get()));
}

PingResult Producer::ping(std::optional<std::string> topic, std::chrono::milliseconds timeout) {
    auto& im = impl();
    const std::string pipeline = topic ? *topic : im.options.topic ? *im.options.topic : std::string{"test"};
    nlohmann::json message = {{"type", "ping"},
                              {"sub", nullptr},
                              {"scope", nullptr},
                              {"host", host_name()},
                              {"client", std::string{"gracedb-cpp/"} + gracedb::version},
                              {"instance", im.instance}};
    if (auto claims = token_claims()) {
        message["sub"] = claims->sub;
        message["scope"] = claims->scope;
    }
    const auto now = std::chrono::system_clock::now();
    message["timestamp"] = detail::format_utc(now);
    message["_producer_timestamp"] =
        std::chrono::duration<double>(now.time_since_epoch()).count();
    const std::string text = message.dump();
    DeliveryReport report;
    try {
        report = produce_and_wait(text, ProduceOptions{.topic = pipeline}, timeout);
    } catch (const KafkaProducerError& e) {
        // The broker refusing this principal the topic is an authorization failure of the ping.
        if (std::string_view{e.what()}.find("uthorization") != std::string_view::npos)
            throw KafkaAuthenticationError(std::string{"ping refused: "} + e.what());
        throw;
    }
    if (report.error) {
        // An authentication failure seen while waiting explains a missing report best.
        im.raise_pending<KafkaProducerError>();
        const std::string where = "ping of topic \"" + im.topic_for_name(pipeline) + "\" via " + im.bootstrap();
        if (report.error->find("uthoriz") != std::string::npos)
            throw KafkaAuthenticationError(where + " refused: " + *report.error);
        if (report.error->rfind("no delivery report", 0) == 0)
            throw KafkaConnectionError(where + " failed: " + *report.error);
        throw KafkaMessageDeliveryError(where + " failed: " + *report.error);
    }
    return {report.topic, report.partition, report.offset, std::move(message)};
}

void Producer::close(std::chrono::milliseconds timeout) {
    if (!impl_ || impl_->closed.load()) return;
    auto& im = *impl_;
    std::exception_ptr first;
    try {
        im.flush_for(to_ms(timeout));
    } catch (...) {
        first = std::current_exception();
    }
    const int left = rd_kafka_outq_len(im.rk.get());
    if (left > 0) {
        rd_kafka_purge(im.rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(im.rk.get(), 1000);  // serves the purged messages' reports
    }
    im.closed.store(true);
    im.release();
    if (first) std::rethrow_exception(first);
    im.raise_undelivered();
}

const std::string& Producer::instance_name() const { return impl().instance; }
std::string Producer::topic_for(std::string_view pipeline) const { return make_topic_name(impl().instance, pipeline); }
const std::optional<std::string>& Producer::default_topic() const { return impl().options.topic; }
std::chrono::milliseconds Producer::flush_timeout() const { return impl().options.flush_timeout; }

std::optional<TokenClaims> Producer::token_claims() const {
    if (auto& t = impl().tokens()) return t->claims();
    return std::nullopt;
}

std::uint64_t Producer::token_refresh_count() const {
    if (auto& t = impl().tokens()) return t->refresh_count();
    return 0;
}

}  // namespace gracedb::kafka
