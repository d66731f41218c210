// gracedb::StandIn: the server's life (TLS or not, the listening socket, its thread), its routes by concern
// (events.cpp, reservations.cpp, logs.cpp, labels.cpp, files.cpp; request checks: checks.cpp), and the
// public accessors. Who is calling: auth.cpp; what is stored: store.cpp.
#include <gracedb/testing/standin.hpp>

#include <sys/socket.h>

#include <mutex>
#include <shared_mutex>
#include <thread>

#include "common/log.hpp"
#include "testing/standin/server.hpp"

namespace gracedb {

using json = nlohmann::json;
using namespace standin;

std::unique_ptr<httplib::Server> StandIn::Impl::make_server(const StandInOptions& o) {
    if (o.tls_cert_file.has_value() != o.tls_key_file.has_value())
        throw std::invalid_argument("stand-in: give both tls_cert_file and tls_key_file, or neither");
    if (!o.tls_cert_file) return std::make_unique<httplib::Server>();
    auto s = std::make_unique<httplib::SSLServer>(o.tls_cert_file->c_str(), o.tls_key_file->c_str(),
                                                  o.client_ca_file ? o.client_ca_file->c_str() : nullptr);
    if (!s->is_valid())
        throw std::runtime_error("stand-in: cannot use the TLS certificate, key or client CA");
    return s;
}

StandIn::Impl::Impl(StandInOptions o)
    : options{std::move(o)}, auth{options}, server_owner{make_server(options)}, server{*server_owner},
      store{options.store_file} {
    if (version_numbers(options.minimum_client_version).empty())
        throw std::invalid_argument("stand-in: minimum_client_version \"" + options.minimum_client_version +
                                    "\" is not a version such as \"2.0.0\"");
    // Enough workers that concurrent uploads (a concurrent supervisor) are answered concurrently, as a real
    // server's many workers would, also while upload_latency holds each one.
    server.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server.set_tcp_nodelay(true);  // one response = several writes: without this, 40 ms of delayed ACK each
    // A kept-alive connection serves up to 100 requests (Apache's MaxKeepAliveRequests), not cpp-httplib's 5:
    // a client reconnecting every fifth request is not what a real server makes it do. In cpp-httplib a
    // connection holds one of the 64 workers while it lives (up to 5 s idle): more than 64 clients at once
    // (e.g. a supervisor with max_in_flight above 60) wait for a worker.
    server.set_keep_alive_max_count(100);
    // SO_REUSEADDR (a restart on a fixed port while old connections linger) but not cpp-httplib's default
    // SO_REUSEPORT, with which a second server on a fixed port in use would silently share its connections
    // instead of failing.
    server.set_socket_options([this](socket_t sock) {
        const int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        listening = sock;
    });
    routes();
    const char* address = options.bind_address.c_str();
    port = options.port ? (server.bind_to_port(address, options.port) ? options.port : -1)
                        : server.bind_to_any_port(address);
    if (port <= 0)
        throw std::runtime_error("GraceDB stand-in: cannot listen on " + options.bind_address + ":" +
                                 std::to_string(options.port));
    // cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, compiled into Debian's library).
    // When more clients connect at once (a concurrent supervisor's workers), the kernel drops the SYNs beyond
    // it and each of those clients waits for its 1 s SYN retransmission: seen as uploads taking 1.2 s instead
    // of 0.2 s. Real servers listen with hundreds (Apache 511, gunicorn 2048); listening again on the same
    // socket only raises the backlog (Linux and the BSDs allow it).
    if (listening != INVALID_SOCKET && ::listen(listening, SOMAXCONN) != 0)
        gracedb::detail::log_warning("GraceDB stand-in: cannot raise the listen backlog (clients connecting "
                                     "in a burst may wait for a SYN retransmission)");
    thread = std::thread{[this] { server.listen_after_bind(); }};
    for (int i = 0; i < 5000 && !server.is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds{1});
}

StandIn::Impl::~Impl() {
    server.stop();
    if (thread.joinable()) thread.join();
}

// "/api/", "/api/v1/" or "/api/v2/", as the request used, made absolute.
std::string StandIn::Impl::base_of(const httplib::Request& req) const {
    std::string prefix = "/api/";
    if (req.path.compare(0, 8, "/api/v1/") == 0) prefix = "/api/v1/";
    if (req.path.compare(0, 8, "/api/v2/") == 0) prefix = "/api/v2/";
    return origin() + prefix;
}

StandIn::Impl::Handler StandIn::Impl::checked(Handler handler) {
    return [this, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
        if (client_checks(req, res)) handler(req, res);
    };
}

void StandIn::Impl::routes() {
    const std::string api = R"(/api/(?:v[12]/)?)";
    const std::string graceid = R"(([GEHMTC]\d+))";
    // The client checks run in each handler (checked()), that is after cpp-httplib has read the request's
    // body: an answer given before (a pre-routing handler) leaves the body on a kept-alive connection, where
    // it is read as the next requests and answered 400 (a supervisor's next upload on that connection got
    // that 400 and dead-lettered a legitimate event; libcurl 7.88 reuses such a connection).
    event_routes(api, graceid);
    reservation_routes(api, graceid);
    const std::string event = api + "events/" + graceid;
    log_routes(event);
    label_routes(event);
    file_routes(event);
}


StandIn::StandIn(StandInOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}
StandIn::~StandIn() = default;
std::string StandIn::service_url() const { return impl_->root_url(); }
int StandIn::port() const { return impl_->port; }

std::size_t StandIn::event_count() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.events.size();
}

std::optional<nlohmann::json> StandIn::event(const std::string& graceid) const {
    std::lock_guard lock{impl_->mutex};
    auto it = impl_->store.events.find(graceid);
    if (it == impl_->store.events.end()) return std::nullopt;
    return it->second.data;
}

std::optional<std::string> StandIn::event_file(const std::string& graceid) const {
    std::lock_guard lock{impl_->mutex};
    auto it = impl_->store.events.find(graceid);
    if (it == impl_->store.events.end()) return std::nullopt;
    return it->second.file;
}

std::vector<nlohmann::json> StandIn::alerts() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.alerts;
}

std::size_t StandIn::uploads() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.uploads;
}

std::size_t StandIn::duplicate_uploads() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->store.duplicates;
}

void StandIn::fail_next(const std::string& path_part, int status, int times) {
    std::lock_guard lock{impl_->mutex};
    impl_->faults.emplace_back(path_part, status, times);
}

void StandIn::clear_failures() {
    std::lock_guard lock{impl_->mutex};
    impl_->faults.clear();
}

void StandIn::add_name(const std::string& vocabulary, const std::string& name) {
    auto& o = impl_->options;
    std::set<std::string>* list = vocabulary == "groups"      ? &o.groups
                                  : vocabulary == "pipelines" ? &o.pipelines
                                  : vocabulary == "searches"  ? &o.searches
                                  : vocabulary == "labels"    ? &o.labels
                                                              : nullptr;
    if (!list)
        throw std::invalid_argument("StandIn::add_name: no vocabulary \"" + vocabulary +
                                    "\" (groups, pipelines, searches or labels)");
    std::unique_lock lock{impl_->vocabulary_mutex};
    list->insert(name);
}

}  // namespace gracedb
