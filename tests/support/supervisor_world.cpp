#include "supervisor_world.hpp"

#include <gracedb/rest.hpp>

#include <random>
#include <regex>
#include <thread>

#include "testrig.hpp"

namespace gracedb::testing {

SupervisorWorld::SupervisorWorld(std::string pipeline_name, std::chrono::seconds token_lifetime,
                                 const std::function<void(const std::string&, int)>& create_topic)
    : instance{"sup" + std::to_string(std::random_device{}() % 1000000)}, pipeline{std::move(pipeline_name)} {
    const Rig& rig = Rig::get();
    TokenSpec pipeline_spec;
    pipeline_spec.aud = {rig.audience, "https://" + instance + ".localhost"};
    env->write_token(pipeline_spec, token_lifetime);
    TokenSpec sup = pipeline_spec;
    sup.sub = "supervisor";
    supervisor_token_file = (env->dir() / "supervisor-token").string();
    write_secret_file(supervisor_token_file, rig.token(sup, token_lifetime) + "\n");
    standin = std::make_unique<StandIn>(StandInOptions{.url_host = instance + ".localhost",
                                                       .jwks = read_file(rig.dir + "/issuer/jwks.json"),
                                                       .issuer = rig.issuer,
                                                       .service_principals = {"supervisor"},
                                                       .pipelines = {pipeline}});
    create_topic(instance + "." + pipeline, 4);
}

std::vector<std::string> SupervisorWorld::supervisor_command(const std::string& kafka_tool,
                                                             const std::string& group) const {
    const Rig& rig = Rig::get();
    return {kafka_tool, "supervise", "-b", rig.sasl_bootstrap, "--ca-cert", rig.ca_file,
            "--service-url", standin->service_url(), "-g", group,
            "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"};
}

std::map<std::string, std::string> SupervisorWorld::supervisor_env() const {
    return {{"BEARER_TOKEN_FILE", supervisor_token_file}};
}

bool SupervisorWorld::wait_uploads(std::size_t n, std::chrono::seconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (standin->uploads() < n && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
    return standin->uploads() >= n;
}

void SupervisorWorld::write_supervisor_token(const std::string& gracedb_audience, std::chrono::seconds lifetime) const {
    const Rig& rig = Rig::get();
    TokenSpec spec;
    spec.sub = "supervisor";
    spec.aud = {rig.audience, gracedb_audience};
    write_secret_file(supervisor_token_file, rig.token(spec, lifetime) + "\n");
}

int metrics_port_from_log(const std::string& log, std::chrono::seconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        std::smatch m;
        std::string text;
        try {
            text = read_file(log);
        } catch (...) {
        }
        if (std::regex_search(text, m, std::regex{R"(metrics on port (\d+))"})) return std::stoi(m[1]);
        if (std::chrono::steady_clock::now() > until) return 0;
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
}

std::pair<long, std::string> scrape(int port, const std::string& path) {
    const std::string base = "http://127.0.0.1:" + std::to_string(port);
    GraceDb http{base + "/", {.force_noauth = true, .max_retries = 0}};
    try {
        auto r = http.get(base + path);
        return {r.status, r.body};
    } catch (const HTTPError& e) {
        return {e.status(), e.body()};
    }
}

double metric_value(const std::string& text, const std::string& sample) {
    const auto at = text.find("\n" + sample + " ");
    return at == std::string::npos ? -1 : std::stod(text.substr(at + sample.size() + 2));
}

std::string log_tail(const std::string& path) {
    try {
        auto text = read_file(path);
        return text.size() > 3000 ? text.substr(text.size() - 3000) : text;
    } catch (...) {
        return "(no log)";
    }
}

}  // namespace gracedb::testing
