#include <gracedb/scitoken.hpp>
#include <gracedb/testing/standin.hpp>

#include <httplib.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <atomic>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "detail/base64.hpp"
#include "detail/log.hpp"
#include "detail/text.hpp"

namespace gracedb {
namespace {

using json = nlohmann::json;

std::string base64url_to_bytes(const std::string& in) {
    auto out = detail::base64_decode(in, true);
    if (!out) throw std::invalid_argument("bad base64url in JWKS");
    return *out;
}

// The PEM public key of one RSA JWK.
std::string rsa_jwk_to_pem(const json& jwk) {
    const auto n = base64url_to_bytes(jwk.at("n").get<std::string>());
    const auto e = base64url_to_bytes(jwk.at("e").get<std::string>());
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn_n{BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                                                               static_cast<int>(n.size()), nullptr), &BN_free};
    std::unique_ptr<BIGNUM, decltype(&BN_free)> bn_e{BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                                                               static_cast<int>(e.size()), nullptr), &BN_free};
    std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld{OSSL_PARAM_BLD_new(), &OSSL_PARAM_BLD_free};
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
    std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params{OSSL_PARAM_BLD_to_param(bld.get()), &OSSL_PARAM_free};
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx{EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr),
                                                                     &EVP_PKEY_CTX_free};
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
        EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
        throw std::invalid_argument("JWKS: cannot build an RSA key");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{raw, &EVP_PKEY_free};
    std::unique_ptr<BIO, decltype(&BIO_free)> bio{BIO_new(BIO_s_mem()), &BIO_free};
    PEM_write_bio_PUBKEY(bio.get(), key.get());
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
}

std::string now_iso() { return detail::format_utc(std::chrono::system_clock::now()); }

void reply(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

// A form field from multipart or urlencoded bodies; every value of a repeated field.
std::vector<std::string> field_values(const httplib::Request& req, const std::string& name) {
    std::vector<std::string> out;
    if (req.is_multipart_form_data()) {
        auto [b, e] = req.files.equal_range(name);
        for (auto it = b; it != e; ++it) out.push_back(it->second.content);
    } else {
        auto [b, e] = req.params.equal_range(name);
        for (auto it = b; it != e; ++it) out.push_back(it->second);
    }
    return out;
}

std::optional<std::string> field(const httplib::Request& req, const std::string& name) {
    auto v = field_values(req, name);
    if (v.empty()) return std::nullopt;
    return v.front();
}

}  // namespace

struct GRACEDB_TESTING_NO_EXPORT StandIn::Impl {
    StandInOptions options;
    std::string audience;
    std::vector<std::string> public_keys;  // PEM
    std::unique_ptr<httplib::Server> server_owner;
    httplib::Server& server;
    std::thread thread;
    int port = 0;

    struct Event {
        json data;
        std::string filename;
        std::string file;
    };
    struct Reservation {
        std::string submitter, group, pipeline;
        json search;
        bool uploaded = false;
    };
    mutable std::mutex mutex;
    std::map<std::string, Event> events;
    std::map<std::string, Reservation> reservations;
    std::vector<json> alerts;
    long next_number = 100001;
    std::size_t uploads = 0, duplicates = 0;
    std::vector<std::tuple<std::string, int, int>> faults;  // path part, status, remaining

    static std::unique_ptr<httplib::Server> make_server(const StandInOptions& o) {
        if (o.tls_cert_file.has_value() != o.tls_key_file.has_value())
            throw std::invalid_argument("stand-in: give both tls_cert_file and tls_key_file, or neither");
        if (!o.tls_cert_file) return std::make_unique<httplib::Server>();
        auto s = std::make_unique<httplib::SSLServer>(o.tls_cert_file->c_str(), o.tls_key_file->c_str(),
                                                      o.client_ca_file ? o.client_ca_file->c_str() : nullptr);
        if (!s->is_valid()) throw std::runtime_error("stand-in: cannot use the TLS certificate, key or client CA");
        return s;
    }

    explicit Impl(StandInOptions o)
        : options{std::move(o)}, server_owner{make_server(options)}, server{*server_owner} {
        audience = options.audience ? *options.audience : "https://" + options.url_host;
        if (options.jwks) {
            const auto jwks = json::parse(*options.jwks);
            for (const auto& k : jwks.at("keys"))
                if (k.value("kty", "") == "RSA") public_keys.push_back(rsa_jwk_to_pem(k));
            if (public_keys.empty()) throw std::invalid_argument("stand-in: the JWKS has no RSA key");
        }
        load();
        server.set_tcp_nodelay(true);  // one response = several writes: without this, 40 ms of delayed ACK each
        routes();
        port = options.port ? (server.bind_to_port(options.bind_address.c_str(), options.port) ? options.port : -1)
                            : server.bind_to_any_port(options.bind_address.c_str());
        if (port <= 0)
            throw std::runtime_error("GraceDB stand-in: cannot listen on " + options.bind_address + ":" +
                                     std::to_string(options.port));
        thread = std::thread{[this] { server.listen_after_bind(); }};
        for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }

    ~Impl() {
        server.stop();
        if (thread.joinable()) thread.join();
    }

    std::string scheme() const { return options.tls_cert_file ? "https://" : "http://"; }

    std::string root_url() const {
        return scheme() + options.url_host + ":" + std::to_string(port) + "/api/";
    }

    json root_document(const std::string& base) const {
        return {{"links",
                 {{"events", base + "events/"},
                  {"reservations", base + "reservations/"},
                  {"self", base}}},
                {"templates",
                 {{"event-detail-template", base + "events/{graceid}"},
                  {"reservation-upload-template", base + "reservations/{graceid}/upload/"},
                  {"files-template", base + "events/{graceid}/files/{filename}"}}}};
    }

    // The submitter of a request, or an error already written to `res`.
    std::optional<std::string> authenticate(const httplib::Request& req, httplib::Response& res) {
        if (!req.has_header("User-Agent") || req.get_header_value("User-Agent").empty()) {
            reply(res, 400, {{"detail", "A User-Agent header is required."}});
            return std::nullopt;
        }
        if (req.ssl && options.client_ca_file && !req.has_header("Authorization")) {
            // X.509: the CA already verified the certificate during the handshake; the CN names the caller.
            if (X509* cert = SSL_get_peer_certificate(const_cast<SSL*>(req.ssl))) {
                char cn[256] = {};
                X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
                X509_free(cert);
                if (cn[0]) return std::string{cn};
            }
        }
        if (!options.jwks) return std::string{"anonymous"};
        const auto auth = req.get_header_value("Authorization");
        if (auth.rfind("Bearer ", 0) != 0) {
            reply(res, 401, {{"detail", "Authentication credentials were not provided."}});
            return std::nullopt;
        }
        const std::string token = auth.substr(7);
        bool verified = false;
        for (const auto& pem : public_keys) {
            jwt_t* jwt = nullptr;
            if (jwt_decode(&jwt, token.c_str(), reinterpret_cast<const unsigned char*>(pem.data()),
                           static_cast<int>(pem.size())) == 0) {
                verified = jwt_get_alg(jwt) == JWT_ALG_RS256;
                jwt_free(jwt);
                if (verified) break;
            }
        }
        auto refuse = [&](const std::string& why) {
            reply(res, 401, {{"detail", "Invalid token: " + why}});
            return std::nullopt;
        };
        if (!verified) return refuse("signature not verified by any trusted key");
        TokenClaims c;
        try {
            c = parse_token_claims(token);
        } catch (const std::exception& e) {
            return refuse(e.what());
        }
        const auto now = std::chrono::system_clock::now();
        if (!c.exp || *c.exp <= now) return refuse("expired");
        if (c.nbf && *c.nbf > now) return refuse("not yet valid");
        if (!c.has_audience(audience)) return refuse("audience does not include " + audience);
        if (options.issuer && c.iss != *options.issuer) return refuse("untrusted issuer");
        if (!options.required_scope.empty() && !c.has_scope(options.required_scope))
            return refuse("scope lacks " + options.required_scope);
        if (c.sub.empty()) return refuse("no subject");
        return c.sub;
    }

    bool injected_fault(const httplib::Request& req, httplib::Response& res) {
        std::lock_guard lock{mutex};
        for (auto& [part, status, remaining] : faults)
            if (remaining > 0 && req.path.find(part) != std::string::npos) {
                --remaining;
                reply(res, status, {{"detail", "injected failure"}});
                return true;
            }
        return false;
    }

    // Validates group/pipeline/search/offline/labels/eventFile; an error body or the parsed fields.
    std::optional<json> event_fields(const httplib::Request& req, httplib::Response& res, bool need_file) {
        json errors = json::object();
        const auto group = field(req, "group");
        const auto pipeline = field(req, "pipeline");
        if (!group) errors["group"] = {"This field is required."};
        else if (!options.groups.count(*group)) errors["group"] = {"Object with name=" + *group + " does not exist."};
        if (!pipeline) errors["pipeline"] = {"This field is required."};
        else if (!options.pipelines.count(*pipeline))
            errors["pipeline"] = {"Object with name=" + *pipeline + " does not exist."};
        if (need_file && !(req.is_multipart_form_data() && req.has_file("eventFile")))
            errors["eventFile"] = {"No file was submitted."};
        if (!errors.empty()) {
            reply(res, 400, errors);
            return std::nullopt;
        }
        const auto offline = field(req, "offline").value_or("False");
        json out = {{"group", *group},
                    {"pipeline", *pipeline},
                    {"search", field(req, "search") ? json(*field(req, "search")) : json(nullptr)},
                    {"offline", offline == "True" || offline == "true" || offline == "1"},
                    {"labels", field_values(req, "labels")}};
        return out;
    }

    std::string new_graceid(const std::string& group, const json& search) {
        const char prefix = group == "Test" ? 'T' : group == "External" ? 'E'
                          : (search.is_string() && search.get<std::string>() == "MDC") ? 'M' : 'G';
        return prefix + std::to_string(next_number++);
    }

    json event_json(const std::string& base, const std::string& graceid, const std::string& submitter,
                    const json& fields, const std::string& filename) const {
        const std::string self = base + "events/" + graceid;
        return {{"submitter", submitter},
                {"created", now_iso()},
                {"group", fields["group"]},
                {"graceid", graceid},
                {"pipeline", fields["pipeline"]},
                {"gpstime", nullptr},
                {"reporting_latency", nullptr},
                {"instruments", ""},
                {"nevents", nullptr},
                {"offline", fields["offline"]},
                {"search", fields["search"]},
                {"far", nullptr},
                {"far_is_upper_limit", false},
                {"likelihood", nullptr},
                {"labels", fields["labels"]},
                {"extra_attributes", json::object()},
                {"superevent", nullptr},
                {"superevent_neighbours", json::object()},
                {"warnings", json::array()},
                {"links",
                 {{"neighbors", self + "/neighbors/"},
                  {"log", self + "/log/"},
                  {"emobservations", self + "/emobservation/"},
                  {"files", self + "/files/"},
                  {"labels", self + "/labels/"},
                  {"self", self},
                  {"tags", self + "/tag/"},
                  {"event_file", self + "/files/" + filename}}}};
    }

    // Stores an event and returns its "new" alert (sent by the caller, outside the lock).
    json store_event(const std::string& graceid, json data, const httplib::Request& req) {
        const auto file = req.get_file_value("eventFile");
        events[graceid] = Event{data, file.filename, file.content};
        ++uploads;
        json alert = {{"alert_type", "new"}, {"uid", graceid}, {"data", data}, {"object", data}};
        alerts.push_back(alert);
        save();
        return alert;
    }

    void send_alert(const json& alert) {
        if (!options.on_alert) return;
        try {
            options.on_alert(alert);
        } catch (const std::exception& e) {
            detail::log_error(std::string{"GraceDB stand-in: the alert handler failed: "} + e.what());
        }
    }

    void routes() {
        const std::string api = R"(/api/(?:v[12]/)?)";
        auto base_of = [this](const httplib::Request& req) {
            std::string path = req.path;
            const auto pos = path.find("/api/");
            std::string prefix = "/api/";
            if (path.compare(pos + 5, 3, "v1/") == 0) prefix += "v1/";
            if (path.compare(pos + 5, 3, "v2/") == 0) prefix += "v2/";
            return scheme() + options.url_host + ":" + std::to_string(port) + prefix;
        };

        server.Get(api + "?$", [this, base_of](const httplib::Request& req, httplib::Response& res) {
            if (injected_fault(req, res) || !authenticate(req, res)) return;
            reply(res, 200, root_document(base_of(req)));
        });

        server.Post(api + "events/?$", [this, base_of](const httplib::Request& req, httplib::Response& res) {
            if (injected_fault(req, res)) return;
            const auto who = authenticate(req, res);
            if (!who) return;
            auto fields = event_fields(req, res, true);
            if (!fields) return;
            json alert, data;
            {
                std::lock_guard lock{mutex};
                const auto id = new_graceid((*fields)["group"], (*fields)["search"]);
                data = event_json(base_of(req), id, *who, *fields, req.get_file_value("eventFile").filename);
                alert = store_event(id, data, req);
            }
            send_alert(alert);
            reply(res, 201, data);
        });

        server.Post(api + "reservations/?$", [this](const httplib::Request& req, httplib::Response& res) {
            if (injected_fault(req, res)) return;
            const auto who = authenticate(req, res);
            if (!who) return;
            auto fields = event_fields(req, res, false);
            if (!fields) return;
            std::lock_guard lock{mutex};
            const auto id = new_graceid((*fields)["group"], (*fields)["search"]);
            reservations[id] = Reservation{*who, (*fields)["group"], (*fields)["pipeline"], (*fields)["search"], false};
            save();
            reply(res, 201, {{"graceid", id}, {"submitter", *who}});
        });

        server.Post(api + "reservations/([A-Z][0-9]+)/upload/?$",
                    [this, base_of](const httplib::Request& req, httplib::Response& res) {
                        if (injected_fault(req, res)) return;
                        const auto who = authenticate(req, res);
                        if (!who) return;
                        const std::string id = req.matches[1];
                        auto fields = event_fields(req, res, true);
                        if (!fields) return;
                        json alert, data;
                        {
                            std::lock_guard lock{mutex};
                            auto it = reservations.find(id);
                            if (it == reservations.end()) return reply(res, 404, {{"detail", "No reservation for " + id + "."}});
                            auto& r = it->second;
                            const bool service = std::find(options.service_principals.begin(),
                                                           options.service_principals.end(),
                                                           *who) != options.service_principals.end();
                            if (*who != r.submitter && !service)
                                return reply(res, 403, {{"detail", "You (" + *who + ") did not reserve " + id + "."}});
                            if (r.uploaded) {
                                ++duplicates;
                                return reply(res, 409, {{"detail", "Event " + id + " was already uploaded."}});
                            }
                            if ((*fields)["group"] != r.group || (*fields)["pipeline"] != r.pipeline)
                                return reply(res, 400, {{"detail", "group and pipeline must match the reservation of " + id + "."}});
                            r.uploaded = true;
                            data = event_json(base_of(req), id, r.submitter, *fields, req.get_file_value("eventFile").filename);
                            alert = store_event(id, data, req);
                        }
                        send_alert(alert);
                        reply(res, 201, data);
                    });

        server.Get(api + "events/([A-Z][0-9]+)/?$", [this](const httplib::Request& req, httplib::Response& res) {
            if (injected_fault(req, res) || !authenticate(req, res)) return;
            std::lock_guard lock{mutex};
            auto it = events.find(req.matches[1]);
            if (it == events.end()) return reply(res, 404, {{"detail", "Not found."}});
            reply(res, 200, it->second.data);
        });

        server.Get(api + "events/([A-Z][0-9]+)/files/([^/]+)$", [this](const httplib::Request& req, httplib::Response& res) {
            if (injected_fault(req, res) || !authenticate(req, res)) return;
            std::lock_guard lock{mutex};
            auto it = events.find(req.matches[1]);
            if (it == events.end() || it->second.filename != req.matches[2].str())
                return reply(res, 404, {{"detail", "Not found."}});
            res.status = 200;
            res.set_content(it->second.file, "application/octet-stream");
        });
    }

    void save() const {
        if (!options.store_file) return;
        json all = json::object();
        for (const auto& [id, e] : events)
            all["events"][id] = {{"data", e.data}, {"filename", e.filename}, {"file", detail::base64_encode(e.file)}};
        for (const auto& [id, r] : reservations)
            all["reservations"][id] = {{"submitter", r.submitter}, {"group", r.group}, {"pipeline", r.pipeline},
                                       {"search", r.search}, {"uploaded", r.uploaded}};
        all["next_number"] = next_number;
        const auto tmp = *options.store_file + ".tmp";
        std::ofstream{tmp} << all.dump();
        std::rename(tmp.c_str(), options.store_file->c_str());
    }

    void load() {
        if (!options.store_file) return;
        std::ifstream in{*options.store_file};
        if (!in) return;
        const auto all = json::parse(in, nullptr, false);
        if (all.is_discarded()) throw std::runtime_error("GraceDB stand-in: " + *options.store_file + " is not JSON");
        next_number = all.value("next_number", 100001L);
        if (all.contains("events"))
            for (const auto& [id, e] : all["events"].items())
                events[id] = Event{e["data"], e["filename"], detail::base64_decode(e["file"].get<std::string>()).value_or("")};
        if (all.contains("reservations"))
            for (const auto& [id, r] : all["reservations"].items())
                reservations[id] = Reservation{r["submitter"], r["group"], r["pipeline"], r["search"], r["uploaded"]};
    }
};

StandIn::StandIn(StandInOptions options) : impl_{std::make_unique<Impl>(std::move(options))} {}
StandIn::~StandIn() = default;
std::string StandIn::service_url() const { return impl_->root_url(); }
int StandIn::port() const { return impl_->port; }

std::size_t StandIn::event_count() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->events.size();
}

std::optional<nlohmann::json> StandIn::event(const std::string& graceid) const {
    std::lock_guard lock{impl_->mutex};
    auto it = impl_->events.find(graceid);
    if (it == impl_->events.end()) return std::nullopt;
    return it->second.data;
}

std::optional<std::string> StandIn::event_file(const std::string& graceid) const {
    std::lock_guard lock{impl_->mutex};
    auto it = impl_->events.find(graceid);
    if (it == impl_->events.end()) return std::nullopt;
    return it->second.file;
}

std::vector<nlohmann::json> StandIn::alerts() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->alerts;
}

std::size_t StandIn::uploads() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->uploads;
}

std::size_t StandIn::duplicate_uploads() const {
    std::lock_guard lock{impl_->mutex};
    return impl_->duplicates;
}

void StandIn::fail_next(const std::string& path_part, int status, int times) {
    std::lock_guard lock{impl_->mutex};
    impl_->faults.emplace_back(path_part, status, times);
}

}  // namespace gracedb
