#include <gracedb/log.hpp>
#include <gracedb/testing/sandbox.hpp>

namespace gracedb::testing {

namespace {
// Pipelines whose topics exist from the start, with many partitions: the mock cluster keeps only the newest
// ~5 MB of each partition, and events keyed by graceid spread over all of them.
const char* const kPipelines[] = {"test", "gstlal", "pycbc", "mbta", "spiir", "cwb", "olib", "mly", "aframe"};
constexpr int kPartitions = 16;
}  // namespace

Sandbox::Sandbox() {
    cluster_ = std::make_unique<MockCluster>(1);
    for (const char* p : kPipelines) cluster_->create_topic(instance_ + "." + p, kPartitions);
    cluster_->create_topic(alerts_topic(), 1);
    cluster_->create_topic("gracedb-deadletter." + instance_, 1);

    alerts_ = std::make_unique<kafka::Producer>(kafka::ProducerOptions{.bootstrap_servers = bootstrap_servers(),
                                                                       .topic = instance_,
                                                                       .instance_name = "gracedb-alerts",
                                                                       .kafka_config = kafka_config()});
    // "localhost" resolves for every client (getaddrinfo knows no "*.localhost" here), and the instance is the
    // one every client derives from that URL, so the specification's examples work as written with just the
    // service URL (a consumer may not be given both a service URL and an instance name).
    StandInOptions so{.url_host = instance_};
    so.on_alert = [this](const nlohmann::json& alert) {
        // The stand-in's "new" alerts, like igwn-alert's, on a topic outside the instance's prefix.
        auto report = alerts_->produce_and_wait(alert.dump(), {.key = alert.value("uid", "")}, std::chrono::seconds{5});
        if (report.error) gracedb::log(LogLevel::warning, "sandbox: alert not delivered: " + *report.error);
    };
    standin_ = std::make_unique<StandIn>(std::move(so));

    SupervisorOptions sup{.consumer = {.bootstrap_servers = bootstrap_servers(),
                                       .instance_name = instance_,
                                       // The mock cluster answers a fetch only at its maximum wait
                                       // (librdkafka's default 500 ms: p50 ~260 ms from produce to upload,
                                       // raw librdkafka alike); 5 ms: p50 ~4 ms (bench_supervisor
                                       // --fetch-wait). A real broker answers as soon as data arrives.
                                       .kafka_config = {{"security.protocol", "plaintext"},
                                                        {"fetch.wait.max.ms", "5"}}},
                          .service_url = standin_->service_url(),
                          .rest = {.force_noauth = true},
                          .poll_timeout = std::chrono::milliseconds{100},
                          .handle_signals = false};
    supervisor_ = std::make_unique<Supervisor>(std::move(sup));
    thread_ = std::thread{[this] {
        while (!stop_.load()) {
            try {
                supervisor_->step();
            } catch (const std::exception& e) {
                std::lock_guard lock{failure_mutex_};
                failure_ = e.what();
                gracedb::log(LogLevel::error, std::string{"sandbox: the supervisor failed: "} + e.what());
                return;
            }
        }
    }};
}

Sandbox::~Sandbox() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    supervisor_.reset();
    standin_.reset();
    alerts_.reset();
}

std::string Sandbox::failure() const {
    std::lock_guard lock{failure_mutex_};
    return failure_;
}

}  // namespace gracedb::testing
