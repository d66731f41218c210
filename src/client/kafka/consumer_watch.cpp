// The consumer's assignment watch: every metadata refresh interval, the partitions of the subscribed topics
// that no member of the group holds; held by none for a while, the consumer rejoins its group.
//
// Why: librdkafka 2.0.2 (rdkafka_cgrp.c) rejoins only when the effective subscription (the subscribed topics
// that exist, and their partition counts) changes. The group leader's assignor runs on its own metadata,
// fetched from one broker after the JoinGroup: a broker that does not know a topic created a moment before
// (a node just restarted, still catching up) makes it assign none of that topic, and every later refresh then
// sees "no change". The group stays without the topic for good: a supervisor that consumes nothing.
//
// Telling that from a healthy group: a member with no partition is normal when the group has more members
// than partitions, so the verdict is the group's, not the member's: DescribeGroups lists what every
// member holds, and only a partition of a subscribed topic that no member holds, the group being stable,
// counts; a description that fails (a timeout, a coordinator moving) gives no verdict. Where the cluster
// cannot describe groups at all (librdkafka's mock cluster), the member judges by itself, and only when it
// holds nothing at all. Unheld partitions must be seen unheld at every check for twice the refresh interval
// (librdkafka's own rejoin on a new topic comes within one); after a rejoin that did not help, the grace
// doubles (at most kLongestGrace), so a cause a rejoin cannot cure costs a rebalance at most every few
// minutes. A consumer not polled gets no verdict. Load: one all-topics Metadata request a period (librdkafka
// makes the same for a pattern subscription); the group is described only when this member does not hold
// everything, and a healthy view is believed for kLongestGrace while it stays the same.
// The watch's thread never calls the application: its log lines and the rejoin are done by the polling
// thread (a log handler may close the consumer, which joins this thread).
#include "client/kafka/consumer_watch.hpp"

#include <regex.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/log.hpp"

namespace gracedb::kafka {

namespace {

using namespace std::chrono_literals;

constexpr std::chrono::milliseconds kLongestGrace = 5min;
// A check's requests, all within this (a close() joins the watch: it looks at the stop between requests).
constexpr std::chrono::milliseconds kCheckTime = 2s;

// A POSIX extended regular expression, as librdkafka matches its "^..." subscriptions (std::regex is not
// used: its compiler writes libstdc++'s shared ctype cache, a data race between two consumers' watches).
class Pattern {
public:
    explicit Pattern(const std::string& s) : ok_{::regcomp(&re_, s.c_str(), REG_EXTENDED | REG_NOSUB) == 0} {}
    ~Pattern() {
        if (ok_) ::regfree(&re_);
    }
    Pattern(const Pattern&) = delete;
    Pattern& operator=(const Pattern&) = delete;
    bool matches(const std::string& s) const { return ok_ && ::regexec(&re_, s.c_str(), 0, nullptr, 0) == 0; }

private:
    ::regex_t re_{};
    bool ok_;  // false: librdkafka refused it at subscribe() already
};

// The partitions, in `md`, of the topics that `subscription` names or matches (topics in error left out).
std::set<TopicPartition> subscribed_partitions(const rd_kafka_metadata_t& md,
                                               const std::vector<std::string>& subscription) {
    std::vector<std::string> names;
    std::vector<std::unique_ptr<Pattern>> patterns;
    for (const auto& s : subscription) {
        if (s.starts_with('^'))
            patterns.push_back(std::make_unique<Pattern>(s));
        else
            names.push_back(s);
    }
    std::set<TopicPartition> out;
    for (int t = 0; t < md.topic_cnt; ++t) {
        const auto& topic = md.topics[t];
        if (topic.err || !topic.topic) continue;
        const std::string name = topic.topic;
        const bool wanted = std::find(names.begin(), names.end(), name) != names.end() ||
                            std::any_of(patterns.begin(), patterns.end(),
                                        [&](const auto& pattern) { return pattern->matches(name); });
        if (!wanted) continue;
        for (int p = 0; p < topic.partition_cnt; ++p) out.insert({name, topic.partitions[p].id});
    }
    return out;
}

struct GroupView {
    bool stable = false;
    std::set<TopicPartition> held;  // by any member
};

// Reads a member's assignment as the consumer protocol writes it (big-endian): version (int16), topics
// (int32 count; each a name: int16 length and bytes, then int32 count of int32 partitions), user data.
bool read_assignment(const unsigned char* p, std::size_t size, std::set<TopicPartition>& out) {
    std::size_t at = 0;
    const auto read = [&](std::size_t n, std::int64_t& v) {
        if (size - at < n) return false;
        std::uint64_t u = 0;
        for (std::size_t i = 0; i < n; ++i) u = (u << 8) | p[at++];
        v = n == 2 ? static_cast<std::int16_t>(u) : static_cast<std::int32_t>(u);
        return true;
    };
    std::int64_t version = 0, topics = 0;
    if (!read(2, version) || !read(4, topics) || topics < 0) return false;
    for (std::int64_t t = 0; t < topics; ++t) {
        std::int64_t length = 0, partitions = 0;
        if (!read(2, length) || length < 0 || size - at < static_cast<std::size_t>(length)) return false;
        const std::string name(reinterpret_cast<const char*>(p + at), static_cast<std::size_t>(length));
        at += static_cast<std::size_t>(length);
        if (!read(4, partitions) || partitions < 0) return false;
        for (std::int64_t i = 0; i < partitions; ++i) {
            std::int64_t partition = 0;
            if (!read(4, partition)) return false;
            out.insert({name, static_cast<std::int32_t>(partition)});
        }
    }
    return true;
}

// What describing the group gave: what its members hold; or that the cluster cannot describe groups (no
// ListGroups: librdkafka's mock cluster); or nothing this time (a timeout, a coordinator moving, a broker
// down, an answer not understood), which gives no verdict.
struct Description {
    enum { described, unsupported, failed } outcome = failed;
    GroupView view;
};

// (rd_kafka_list_groups, not DescribeConsumerGroups: in librdkafka 2.0.2 that one left its main thread
// locking freed memory when the broker could not answer it, on the mock cluster.)
Description describe_group(rd_kafka_t* rk, const std::string& group, const detail::Deadline& deadline) {
    Description d;
    const rd_kafka_group_list* list = nullptr;
    if (deadline.expired()) return d;
    // _PARTIAL: a broker did not answer in time, but the group's coordinator did (the list has the group).
    const auto err = rd_kafka_list_groups(rk, group.c_str(), &list, deadline.rd_timeout_ms());
    const std::unique_ptr<const rd_kafka_group_list, void (*)(const rd_kafka_group_list*)> owned{
        list, rd_kafka_group_list_destroy};
    if (err == RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE || err == RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION) {
        d.outcome = Description::unsupported;
        return d;
    }
    if (!list || (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__PARTIAL)) return d;
    if (list->group_cnt != 1 || list->groups[0].err) return d;
    const auto& info = list->groups[0];
    if (!info.protocol_type || std::string{info.protocol_type} != "consumer") return d;
    d.view.stable = info.state && std::string{info.state} == "Stable";
    for (int m = 0; m < info.member_cnt; ++m) {
        const auto& member = info.members[m];
        if (member.member_assignment_size <= 0) continue;
        if (!read_assignment(static_cast<const unsigned char*>(member.member_assignment),
                             static_cast<std::size_t>(member.member_assignment_size), d.view.held))
            return d;
    }
    d.outcome = Description::described;
    return d;
}

std::string named(const std::set<TopicPartition>& parts) {
    std::string s;
    int shown = 0;
    for (const auto& tp : parts) {
        if (shown++ == 5) return s + ", ...";
        s += (s.empty() ? "" : ", ") + tp.to_string();
    }
    return s;
}

}  // namespace

AssignmentWatch::AssignmentWatch(Watched consumer, std::chrono::milliseconds period)
    : consumer_{consumer}, period_{std::max(period, std::chrono::milliseconds{100})}, grace_{2 * period_},
      thread_{[this] { run(); }} {}

AssignmentWatch::~AssignmentWatch() {
    {
        std::lock_guard lock{mutex_};
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool AssignmentWatch::stopping() {
    std::lock_guard lock{mutex_};
    return stop_;
}

void AssignmentWatch::run() {
    std::unique_lock lock{mutex_};
    while (!cv_.wait_for(lock, period_, [this] { return stop_; })) {
        lock.unlock();
        try {
            check();
        } catch (...) {  // a failed check gives no verdict
        }
        lock.lock();
    }
}

void AssignmentWatch::check() {
    // A consumer that is not polled is assigned nothing (librdkafka serves rebalances in poll): no verdict,
    // and no rejoin waiting for its first poll.
    const auto polled = consumer_.last_poll.load();
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            detail::Deadline::Clock::now().time_since_epoch()).count();
    if (polled == 0 || now_ms - polled > 2 * period_.count()) return;
    rd_kafka_t* rk = consumer_.rk;
    std::vector<std::string> subscription;
    {
        std::lock_guard lock{consumer_.assignment_mutex};
        subscription = consumer_.subscription;
    }
    if (subscription.empty()) return all_held();
    const auto deadline = detail::Deadline::after(kCheckTime);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, deadline.rd_timeout_ms()) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return;  // no verdict
    const detail::KafkaMetadata metadata{md};
    auto unheld = subscribed_partitions(*md, subscription);
    bool held_here = false;
    {
        std::lock_guard lock{consumer_.assignment_mutex};
        held_here = !consumer_.assigned.empty();
        for (const auto& tp : consumer_.assigned) unheld.erase(tp);
    }
    if (unheld.empty()) return all_held();
    // What this member does not hold was held by the others when last described: believed for a while.
    if (calm_until_ && !calm_until_->expired() && unheld == calm_) return all_held();
    if (stopping()) return;
    const auto group = describe_group(rk, consumer_.group, deadline);
    if (group.outcome == Description::failed) return;  // no verdict
    if (group.outcome == Description::described) {
        if (!group.view.stable) return;  // a rebalance under way: no verdict
        auto unheld_by_all = unheld;
        for (const auto& tp : group.view.held) unheld_by_all.erase(tp);
        if (unheld_by_all.empty()) {
            calm_ = std::move(unheld);
            calm_until_ = detail::Deadline::after(kLongestGrace);
            return all_held();
        }
        return unheld_for_a_while(unheld_by_all, true);
    }
    // The cluster cannot describe groups (librdkafka's mock cluster): other members may hold what this one
    // does not, so only a member that holds nothing at all judges.
    if (held_here) return all_held();
    unheld_for_a_while(unheld, false);
}

void AssignmentWatch::unheld_for_a_while(const std::set<TopicPartition>& unheld, bool group_described) {
    calm_until_.reset();
    const auto now = detail::Deadline::Clock::now();
    // Unheld at every check of the grace period: a check without verdict (a broker down, a rebalance) in
    // between longer than a period starts it again.
    if (act_at_ && now - last_unheld_ > period_ * 3 / 2) act_at_.reset();
    last_unheld_ = now;
    if (!act_at_) act_at_ = detail::Deadline::after(grace_);
    if (!act_at_->expired()) return;
    ++rejoins_;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(grace_).count();
    const std::string what = group_described ? "held by no member of the group"
                                             : "not held here (the cluster cannot describe groups)";
    std::string line = "Kafka consumer group " + consumer_.group + ": " + std::to_string(unheld.size()) +
                       " partition(s) of subscribed topics " + what + " for " + std::to_string(seconds) +
                       " s (" + named(unheld) + "): librdkafka did not assign them; rejoining the group";
    if (rejoins_ > 1) line += " (rejoin " + std::to_string(rejoins_) + " of this episode)";
    tell(rejoins_ == 1, std::move(line), true);
    grace_ = std::min(2 * grace_, std::max(kLongestGrace, 2 * period_));
    act_at_ = detail::Deadline::after(grace_);
}

void AssignmentWatch::all_held() {
    if (rejoins_ > 0)  // also withdraws a rejoin asked for and not yet made
        tell(false, "Kafka consumer group " + consumer_.group + ": every partition is held again", false);
    rejoins_ = 0;
    act_at_.reset();
    grace_ = 2 * period_;
}

// For the polling thread (Consumer::Impl::rejoin_if_due): a line to log, and whether to subscribe again to
// the same subscription (librdkafka leaves its assignment and joins anew, and the leader's assignor runs on
// fresh metadata). A rejoin not wanted any more is withdrawn.
void AssignmentWatch::tell(bool warning, std::string line, bool rejoin) {
    {
        std::lock_guard lock{consumer_.assignment_mutex};
        consumer_.requests.notes.emplace_back(warning, std::move(line));
        consumer_.requests.rejoin = rejoin;
    }
    consumer_.requested.store(true);
}

}  // namespace gracedb::kafka
