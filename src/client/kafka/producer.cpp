#include <gracedb/kafka/producer.hpp>
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/version.hpp>

#include <unistd.h>

#include "common/log.hpp"
#include "common/text.hpp"
#include "client/kafka/error_map.hpp"
#include "client/kafka/json_writer.hpp"
#include "client/kafka/producer_impl.hpp"

namespace gracedb::kafka {
using detail_client::to_ms;

namespace {

using namespace std::chrono_literals;

std::string host_name() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
    return buf;
}

bool is_true(std::string_view v) {
    const auto l = detail::lower(v);
    return l == "true" || l == "1" || l == "yes";
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

Producer::Impl::Impl(ProducerOptions o) : options{std::move(o)} {
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
    spare_conf.reset(rd_kafka_conf_dup(conf.get()));  // for a heal (producer_heal.cpp)
    rk = create(RD_KAFKA_PRODUCER, std::move(conf));
    main_queue = rd_kafka_queue_get_main(rk.get());
    rd_kafka_queue_cb_event_enable(main_queue, &Impl::on_main_queue_event, this);
    if (options.topic) {
        const auto full = make_topic_name(instance, *options.topic);
        default_rkt = rd_kafka_topic_new(rk.get(), full.c_str(), nullptr);
        if (!default_rkt)
            detail_errors::throw_kafka_error(rd_kafka_last_error(), "cannot use topic \"" + full + "\": " +
                                                                        rd_kafka_err2str(rd_kafka_last_error()),
                                             detail_errors::Op::produce);
    }
}

Producer::Impl::~Impl() { release(); }

Producer::Producer(ProducerOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}

Producer::~Producer() {
    if (!impl_) return;
    try {
        impl_->close(impl_->options.flush_timeout, false);  // never calls the interrupt hook
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
    Impl::Use use{im};
    im.serve_and_raise();  // before serialising: a callback may itself produce JSON on this thread
    const std::string_view text = detail_client::to_json_text_view(value);  // copied by librdkafka
    im.produce_raw(text.data(), text.size(), options, {}, true);
}

void Producer::produce(std::string_view value, ProduceOptions options) {
    auto& im = impl();
    Impl::Use use{im};
    im.produce_raw(value.data(), value.size(), options);
}

void Producer::produce(std::span<const std::byte> value, ProduceOptions options) {
    auto& im = impl();
    Impl::Use use{im};
    im.produce_raw(value.data(), value.size(), options);
}

DeliveryReport Producer::produce_and_wait(std::string_view value, ProduceOptions options,
                                          std::chrono::milliseconds timeout) {
    return impl().produce_and_wait(value, std::move(options), timeout);
}

int Producer::flush(std::chrono::milliseconds timeout) { return impl().flush_for(timeout, false); }
int Producer::flush() { return impl().flush_for(0ms, true); }

int Producer::poll(std::chrono::milliseconds timeout) {
    auto& im = impl();
    Impl::Use use{im};
    im.reports_waiting.store(false, std::memory_order_relaxed);  // before polling: a later report sets it
    int served = 0;
    {
        Impl::HandleUse handles{im};
        // close() and a heal wake it (rd_kafka_queue_yield)
        served = rd_kafka_poll(im.rk.get(), to_ms(timeout));
    }
    im.settle_pending();  // a fatal error: heals first (the held messages' reports are served by the heal)
    if (im.failures.load(std::memory_order_acquire)) im.raise_callback_error();
    im.raise_pending();
    if (im.closing()) Impl::throw_closed();  // close() began while this call waited: it ends it
    return served;
}

std::uint64_t Producer::heal_count() const { return impl().heals.load(std::memory_order_relaxed); }

std::size_t Producer::pending_messages() const {
    auto& im = impl();
    // Once close() began: 0 (close() flushes, purges and reports what it could not deliver), not an error, so
    // that len(producer) works on a closed producer as Python code expects.
    if (!im.gate.try_enter()) return 0;
    const int n = im.queued_messages();
    im.gate.leave();
    return static_cast<std::size_t>(n);
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
    message["_producer_timestamp"] = std::chrono::duration<double>(now.time_since_epoch()).count();
    const std::string text = message.dump();
    DeliveryReport report;
    try {
        report = im.produce_and_wait(text, ProduceOptions{.topic = pipeline}, timeout);
    } catch (const KafkaProducerError& e) {
        // The client already knows the topic is refused: for a ping that is an authorization failure.
        if (e.code() != Errc::authorization_failed) throw;
        detail_errors::throw_kafka_error(e.code(), std::string{"ping refused: "} + e.what(),
                                         detail_errors::Op::client, e.rdkafka_error());
    }
    if (!report.error) return {report.topic, report.partition, report.offset, std::move(message)};
    // Typed by the report's code, never by its text: a refused topic or token is an authentication error
    // of the ping, no reachable broker, a TLS failure or no report in time a connection error.
    const std::string what = "ping of topic \"" + im.topic_for_name(pipeline) + "\" via " + im.bootstrap() +
                             " failed: " + *report.error;
    switch (report.error_code) {
        case Errc::authentication_failed:
        case Errc::authorization_failed:
        case Errc::tls_failed:
        case Errc::connection_failed:
        case Errc::timed_out:
            detail_errors::throw_kafka_error(report.error_code, what, detail_errors::Op::client,
                                             report.rdkafka_error, false,
                                             report.error_code == Errc::connection_failed ||
                                                 report.error_code == Errc::timed_out);
        default:
            detail_errors::throw_kafka_error(report.error_code, what, detail_errors::Op::deliver,
                                             report.rdkafka_error);
    }
}

void Producer::close(std::chrono::milliseconds timeout) {
    if (!impl_) return;
    impl_->close(timeout, true);
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
