// The consumer's construction (options, librdkafka configuration, the group id), subscriptions and its small
// accessors. The rest of the consumer: consumer_impl.hpp and the consumer_*.cpp files it names.
#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>

#include "common/log.hpp"
#include "client/kafka/consumer_impl.hpp"
#include "client/kafka/consumer_peer.hpp"
#include "client/kafka/consumer_watch.hpp"
#include "client/kafka/error_map.hpp"

namespace gracedb::kafka {
using detail_errors::Op;

namespace {

// An ephemeral group id: readable (host, pid) and unique within the process (a counter) and across processes
// and restarts (the start time and a random part), so two consumers never share a group by accident.
std::string default_group_id() {
    static std::atomic<std::uint64_t> counter{0};
    static const std::string per_process = [] {
        std::random_device rd;
        char rnd[9];
        std::snprintf(rnd, sizeof rnd, "%08x", static_cast<unsigned>(rd()));
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch());
        return std::to_string(::getpid()) + "-" + std::to_string(ms.count()) + "-" + rnd;
    }();
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "unknown");
    return "gracedb-" + std::string{host} + "-" + per_process + "-" +
           std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

}  // namespace

detail::PartitionList detail_consumer::one_partition(const TopicPartition& tp,
                                                    std::optional<std::int64_t> offset) {
    detail::PartitionList list{rd_kafka_topic_partition_list_new(1)};
    auto* e = rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
    if (offset) e->offset = *offset;
    return list;
}

nlohmann::json Message::json() const {
    try {
        return nlohmann::json::parse(value);
    } catch (const nlohmann::json::parse_error& e) {
        throw std::invalid_argument("the message at " +
                                    detail_consumer::at_offset(TopicPartition{topic, partition}, offset) +
                                    " is not JSON (" + e.what() + "); its raw bytes are in Message::value");
    }
}

Consumer::Impl::Impl(ConsumerOptions o) : options{std::move(o)} {
    instance = detail_client::resolve_instance(options.instance_name, options.service_url);
    if (options.auto_offset_reset != "latest" && options.auto_offset_reset != "earliest")
        throw std::invalid_argument("auto_offset_reset must be \"latest\" or \"earliest\", not \"" +
                                    options.auto_offset_reset + "\"");
    replay = detail_replay::Replay::from(options);
    group = options.group_id ? *options.group_id : default_group_id();
    if (group.empty()) throw std::invalid_argument("group_id is empty: leave it unset for a unique one");
    std::map<std::string, std::string> defaults = {
        {"group.id", group},
        {"auto.offset.reset", options.auto_offset_reset},
        {"enable.partition.eof", "false"},
        // At-least-once: an offset is stored (and so committed) only for a message handed to the
        // application, never for one librdkafka fetched and we did not return (librdkafka's advice).
        {"enable.auto.offset.store", "false"},
        // A topic that appears after subscribe() (or a new pipeline, for pattern subscriptions) is seen
        // within seconds rather than librdkafka's default 5 minutes.
        {"topic.metadata.refresh.interval.ms", "5000"},
    };
    auto conf = configure(detail_client::common_options(options), defaults, "consumer");
    rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf.get(), &Impl::on_commit);
    char value[16] = {};
    std::size_t size = sizeof value;
    if (rd_kafka_conf_get(conf.get(), "enable.auto.commit", value, &size) == RD_KAFKA_CONF_OK)
        auto_commit = std::strcmp(value, "true") == 0;
    size = sizeof value;
    if (rd_kafka_conf_get(conf.get(), "topic.metadata.refresh.interval.ms", value, &size) == RD_KAFKA_CONF_OK)
        if (const int ms = std::atoi(value); ms > 0) refresh_interval = std::chrono::milliseconds{ms};
    rk = create(RD_KAFKA_CONSUMER, std::move(conf));
    rd_kafka_poll_set_consumer(rk.get());
    if (!options.topics.empty()) subscribe_topics(options.topics);
}

Consumer::Impl::~Impl() {
    try {
        close_within(std::chrono::seconds{10}, false);  // without the interrupt hook: nothing may throw here
    } catch (...) {
    }
}

void Consumer::Impl::throw_closed() {
    detail_errors::throw_kafka_error(Errc::client_closed, "the Kafka consumer is closed: create a new one",
                                     Op::consume);
}

void Consumer::Impl::subscribe_topics(const std::vector<std::string>& pipelines) {
    Use use{*this};
    if (pipelines.empty()) throw std::invalid_argument("subscribe() needs at least one pipeline name");
    std::vector<std::string> topics;
    for (const auto& p : pipelines) topics.push_back(p.starts_with('^') ? p : make_topic_name(instance, p));
    // One subscriber at a time: a rejoin on the polling thread never puts back a subscription replaced since.
    std::lock_guard subscribing{subscribe_mutex};
    if (auto err = subscribe_to(topics))
        detail_errors::throw_kafka_error(err, std::string{"cannot subscribe: "} + rd_kafka_err2str(err),
                                         Op::consume);
    std::lock_guard lock{assignment_mutex};
    subscription = std::move(topics);
    if (watch) return;
    try {  // consumer_watch.cpp; a safety net: the subscription stands without it
        watch = std::make_unique<AssignmentWatch>(
            AssignmentWatch::Watched{rk.get(), group, assignment_mutex, assigned, subscription,
                                     watch_requests, watch_requested, last_poll_ms},
            refresh_interval);
    } catch (const std::exception& e) {
        gracedb::detail::log_warning("Kafka consumer group " + group +
                                     ": the assignment watch did not start (" + e.what() +
                                     "): a group librdkafka leaves without a partition is not noticed");
    }
}

// Once no call is inside (close): the watch uses rk, which close destroys (a check ends at its next request).
void Consumer::Impl::stop_watch() noexcept {
    std::unique_ptr<AssignmentWatch> stopping;
    {
        std::lock_guard lock{assignment_mutex};
        stopping = std::move(watch);
    }
}

rd_kafka_resp_err_t Consumer::Impl::subscribe_to(const std::vector<std::string>& topics) {
    detail::PartitionList list{rd_kafka_topic_partition_list_new(static_cast<int>(topics.size()))};
    for (const auto& t : topics)
        rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    return rd_kafka_subscribe(rk.get(), list.get());
}

// On the thread that polls: what the assignment watch asked for, its log lines and the rejoin (the same
// subscription, again).
void Consumer::Impl::rejoin_if_due() {
    last_poll_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now().time_since_epoch()).count(),
                       std::memory_order_relaxed);
    if (!watch_requested.load(std::memory_order_relaxed) || !watch_requested.exchange(false)) return;
    AssignmentWatchRequests requests;
    {
        std::lock_guard lock{assignment_mutex};
        std::swap(requests, watch_requests);
    }
    for (const auto& [warning, line] : requests.notes)
        warning ? gracedb::detail::log_warning(line) : gracedb::detail::log_info(line);
    if (!requests.rejoin) return;
    std::lock_guard subscribing{subscribe_mutex};  // read and renewed with no subscribe() in between
    std::vector<std::string> topics;
    {
        std::lock_guard lock{assignment_mutex};
        topics = subscription;
    }
    if (topics.empty()) return;
    if (auto err = subscribe_to(topics))
        gracedb::detail::log_warning("Kafka consumer group " + group + ": cannot rejoin (" +
                                     rd_kafka_err2str(err) + ")");
}

Consumer::Consumer(ConsumerOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}
Consumer::~Consumer() = default;
Consumer::Consumer(Consumer&&) noexcept = default;
Consumer& Consumer::operator=(Consumer&&) noexcept = default;

Consumer::Impl& Consumer::impl() const {
    if (!impl_) throw std::logic_error("use of a moved-from gracedb::kafka::Consumer");
    return *impl_;
}

void Consumer::subscribe(std::string_view pipeline) { impl().subscribe_topics({std::string{pipeline}}); }
void Consumer::subscribe(std::initializer_list<std::string_view> pipelines) {
    impl().subscribe_topics(std::vector<std::string>(pipelines.begin(), pipelines.end()));
}
void Consumer::subscribe(const std::vector<std::string>& pipelines) { impl().subscribe_topics(pipelines); }
void Consumer::subscribe_all() { impl().subscribe_topics({"^" + impl().instance + "\\..*"}); }

rd_kafka_t* detail_consumer_peer::handle(Consumer& consumer) { return consumer.impl().rk.get(); }
std::size_t detail_consumer_peer::buffered(const Consumer& consumer) {
    return consumer.impl().buffered.size();
}

const std::string& Consumer::group_id() const { return impl().group; }
bool Consumer::replay_finished() const { return impl().replay_finished(); }
const std::string& Consumer::instance_name() const { return impl().instance; }
std::optional<TokenClaims> Consumer::token_claims() const {
    if (auto& t = impl().tokens()) return t->claims();
    return std::nullopt;
}

}  // namespace gracedb::kafka
