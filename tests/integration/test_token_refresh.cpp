// Token refresh against the real broker, which ends each session at the token's exp (KIP-368): a producer
// whose 20 s tokens are renewed on disk every 10 s keeps delivering; without reloading it fails.
#include <gracedb/kafka.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "itest.hpp"

using namespace gracedb::kafka;
using namespace gracedb::testing;
using namespace std::chrono_literals;

namespace {

ProducerOptions soak_options(const std::string& pipeline, bool reload) {
    const Rig& rig = Rig::get();
    return {.bootstrap_servers = rig.sasl_bootstrap,
            .topic = pipeline,
            .instance_name = "rig",
            .ca_cert_path = rig.ca_file,
            .reload_cred = reload,
            .reload_buffer = 5s,
            .flush_timeout = 30s,
            .kafka_config = {{"message.timeout.ms", "60000"}, {"reconnect.backoff.max.ms", "500"}}};
}

// Counts log lines mentioning dropped connections.
struct LogCounter {
    LogCounter() {
        gracedb::set_log_level(gracedb::LogLevel::info);
        gracedb::set_log_handler([this](gracedb::LogLevel, std::string_view m) {
            if (m.find("_TRANSPORT") != std::string_view::npos || m.find("Disconnected") != std::string_view::npos)
                ++disconnects;
            if (m.find("picked up") != std::string_view::npos || m.find("using the token") != std::string_view::npos)
                ++token_reads;
        });
    }
    ~LogCounter() {
        gracedb::set_log_handler(nullptr);
        gracedb::set_log_level(gracedb::LogLevel::warning);
    }
    std::atomic<int> disconnects{0};
    std::atomic<int> token_reads{0};
};

}  // namespace

TEST(TokenRefresh, SoakThreeMinutesOfTwentySecondTokens) {
    TokenEnv env;
    env.write_token({}, 20s);
    LogCounter logs;
    TokenRenewer renewer{env, 20s, 10s};
    Producer p{soak_options(unique_name("soak"), true)};
    std::atomic<long> delivered{0}, failed{0};
    long produced = 0, auth_errors = 0;
    const auto end = std::chrono::steady_clock::now() + 185s;
    while (std::chrono::steady_clock::now() < end) {
        try {
            p.produce("soak-" + std::to_string(produced), {.on_delivery = [&](const DeliveryReport& r) {
                                                                if (r.error) ++failed; else ++delivered;
                                                            }});
            ++produced;
            p.poll(50ms);
        } catch (const KafkaAuthenticationError& e) {
            ++auth_errors;
            ADD_FAILURE() << "authentication error during the soak: " << e.what();
        }
    }
    EXPECT_EQ(p.flush(60s), 0);
    std::cout << "soak: produced " << produced << ", delivered " << delivered << ", failed " << failed
              << ", token renewals on disk " << renewer.renewals << ", tokens picked up " << p.token_refresh_count()
              << ", disconnects logged " << logs.disconnects << ", authentication errors " << auth_errors << "\n";
    EXPECT_EQ(delivered.load(), produced);
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(auth_errors, 0);
    EXPECT_GE(p.token_refresh_count(), 9u) << "nine lifetimes need at least nine refreshed tokens";
}

TEST(TokenRefresh, NegativeControlWithoutReloadFailsOnceTheTokenExpires) {
    TokenEnv env;
    env.write_token({}, 20s);
    TokenRenewer renewer{env, 20s, 10s};  // renewed on disk, but never re-read
    Producer p{soak_options(unique_name("no-reload"), false)};
    const auto start = std::chrono::steady_clock::now();
    bool auth_error = false;
    std::string what;
    long produced = 0;
    while (!auth_error && std::chrono::steady_clock::now() - start < 75s) {
        try {
            p.produce("x" + std::to_string(produced++));
            p.poll(100ms);
        } catch (const KafkaAuthenticationError& e) {
            auth_error = true;
            what = e.what();
        }
    }
    const auto after = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    std::cout << "without reload: KafkaAuthenticationError after " << after.count() << " s: " << what << "\n";
    EXPECT_TRUE(auth_error) << "the first token expired 20 s in; the producer must fail after that";
    EXPECT_GE(after, 15s) << "it worked while the first token was valid";
    try {
        p.close(1s);
    } catch (const KafkaError&) {
    }
}

TEST(TokenRefresh, AnIdleProducerDeliversItsNextMessage) {
    TokenEnv env;
    env.write_token({}, 20s);
    TokenRenewer renewer{env, 20s, 10s};
    Producer p{soak_options(unique_name("idle"), true)};
    ASSERT_EQ(p.ping(std::nullopt, 20s).message["type"], "ping");
    std::this_thread::sleep_for(45s);  // no call at all for more than two token lifetimes
    EXPECT_GE(p.token_refresh_count(), 2u) << "refreshed in the background while the application slept";
    auto r = p.ping(std::nullopt, 20s);
    EXPECT_GE(r.offset, 0);
}
