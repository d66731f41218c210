// gracedb-kafka: the command-line tool of gracedb-cpp.
//   token, ping, produce, listen, create-event, check, supervise, sandbox, standin, demo   (--help on each)
// Options fall back to environment variables: GRACEDB_KAFKA_BOOTSTRAP, GRACEDB_SERVICE_URL, GRACEDB_KAFKA_CA,
// GRACEDB_KAFKA_PROTOCOL, GRACEDB_LOG_LEVEL. Exit status 0 on success; otherwise the last line on standard
// error says what went wrong and what to do. The library's warnings are shown (standard error) by default.
#include <gracedb/log.hpp>
#include <gracedb/version.hpp>

#include <cstdio>
#include <iostream>
#include <mutex>

#include "output.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

std::mutex g_log_mutex;
std::string g_last_warning;  // guarded by g_log_mutex: the Kafka client's last warning or error
std::string g_prefix = "gracedb-kafka";

void install_log_handler() {
    set_log_handler([](LogLevel level, std::string_view message) {
        const std::string text = repair_utf8(message);
        std::lock_guard lock{g_log_mutex};
        // "all brokers are down" follows the failure that explains it: keep the explanation.
        if (level >= LogLevel::warning && (text.starts_with("librdkafka") || text.starts_with("Kafka ")) &&
            text.find("_ALL_BROKERS_DOWN") == std::string::npos)
            g_last_warning = text;
        const std::string line = g_prefix + ": " + std::string{to_string(level)} + ": " + text + "\n";
        std::fputs(line.c_str(), stderr);
        std::fflush(stderr);
    });
}

}  // namespace

std::string last_library_warning() {
    std::lock_guard lock{g_log_mutex};
    return g_last_warning;
}

std::string with_client_cause(std::string what) {
    const auto cause = last_library_warning();
    if (cause.empty()) return what;
    // librdkafka's lines start "librdkafka FAIL: [thrd:...]: ": the rest is what an error message may quote.
    const auto mark = cause.rfind("]: ");
    const std::string core = mark == std::string::npos ? cause : cause.substr(mark + 3);
    if (what.find(core) == std::string::npos) what += " (the Kafka client reported: " + cause + ")";
    return what;
}

}  // namespace gracedb::app

int main(int argc, char** argv) {
    using namespace gracedb;
    CLI::App app{"gracedb-kafka: publish and consume GraceDB events over Kafka (gracedb-cpp " +
                 std::string{gracedb::version} + ").\nWhen something does not work, run `gracedb-kafka check` first."};
    app.require_subcommand(1);
    app.fallthrough();  // --log-level is accepted after the sub-command too
    app.set_version_flag("--version", std::string{gracedb::version});
    std::string log_level = "warning";
    auto* level_option =
        app.add_option("--log-level", log_level, "debug, info, warning (default; supervise: info), error, off")
            ->envname("GRACEDB_LOG_LEVEL")
            ->transform(CLI::IsMember({"debug", "info", "warning", "error", "off"}, CLI::ignore_case));

    std::vector<app::Command> commands = {
        app::add_token(app),    app::add_ping(app),      app::add_produce(app), app::add_listen(app),
        app::add_create_event(app), app::add_check(app), app::add_supervise(app), app::add_sandbox(app),
        app::add_standin(app),  app::add_demo(app),      app::add_deadletters(app),
        app::add_outbox(app)};

    CLI11_PARSE(app, argc, argv);
    const app::Command* chosen = nullptr;
    for (const auto& c : commands)
        if (c.app->parsed()) chosen = &c;
    if (!chosen) return 2;
    const std::string sub = chosen->app->get_name();
    app::g_prefix = "gracedb-kafka " + sub;
    app::install_log_handler();
    if (sub == "supervise" && level_option->count() == 0) log_level = "info";  // one line per event
    for (auto l : {LogLevel::debug, LogLevel::info, LogLevel::warning, LogLevel::error, LogLevel::off})
        if (to_string(l) == log_level) set_log_level(l);

    try {
        return chosen->run();
    } catch (const kafka::KafkaError& e) {
        // A Kafka failure whose message lacks the cause the client logged: say it on the same line.
        std::cerr << "gracedb-kafka " << sub << ": " << app::repair_utf8(app::with_client_cause(e.what())) << "\n";
    } catch (const std::exception& e) {
        std::cerr << "gracedb-kafka " << sub << ": " << app::repair_utf8(e.what()) << "\n";
    }
    return 1;
}
