// A tiny HTTP(S) server on loopback for tests that need answers the stand-in does not give (links to other
// origins, endless bodies): cpp-httplib on a free port, serving until destroyed. Link PkgConfig::HTTPLIB.
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace gracedb::testing {

class LocalServer {
public:
    /// Plain HTTP; or HTTPS with this certificate and key (PEM files).
    explicit LocalServer(std::optional<std::pair<std::string, std::string>> tls = std::nullopt)
        : server_{tls ? std::make_unique<httplib::SSLServer>(tls->first.c_str(), tls->second.c_str())
                      : std::make_unique<httplib::Server>()},
          scheme_{tls ? "https" : "http"} {}
    LocalServer(const LocalServer&) = delete;
    LocalServer& operator=(const LocalServer&) = delete;
    ~LocalServer() {
        if (!thread_.joinable()) return;
        // stop() only acts once the accept loop runs: wait for that (or for the loop to have ended).
        while (!server_->is_running() && !ended_) std::this_thread::yield();
        server_->stop();
        thread_.join();
    }

    /// Add the handlers here, before start().
    httplib::Server& routes() { return *server_; }

    /// Binds and serves; returns "<scheme>://localhost:<port>".
    std::string start() {
        const int port = server_->bind_to_any_port("127.0.0.1");
        if (port <= 0) throw std::runtime_error("cannot bind a local test server");
        // Bound and listening already: connections wait in the backlog until the accept loop runs.
        thread_ = std::thread{[this] {
            server_->listen_after_bind();
            ended_ = true;
        }};
        return scheme_ + "://localhost:" + std::to_string(port);
    }

private:
    std::unique_ptr<httplib::Server> server_;
    std::string scheme_;
    std::atomic<bool> ended_{false};
    std::thread thread_;
};

}  // namespace gracedb::testing
