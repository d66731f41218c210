#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/client.hpp>
#include <gracedb/version.hpp>

#include <curl/curl.h>
#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "detail/base64.hpp"
#include "detail/log.hpp"
#include "detail/token_provider.hpp"
#include "kafka/json_writer.hpp"

namespace gracedb {

GraceDbError::~GraceDbError() = default;
HTTPError::HTTPError(long status, std::string body, const std::string& what)
    : GraceDbError(what), status_{status}, body_{std::move(body)} {}
HTTPError::~HTTPError() = default;
TransportError::~TransportError() = default;
CredentialError::~CredentialError() = default;

nlohmann::json Response::json() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded())
        throw std::invalid_argument("the response (HTTP " + std::to_string(status) + ") is not JSON: " +
                                    body.substr(0, 200));
    return j;
}

std::optional<std::chrono::microseconds> Response::timing(std::string_view step) const {
    for (const auto& [name, d] : timings)
        if (name == step) return d;
    return std::nullopt;
}

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
    void operator()(curl_mime* m) const noexcept { curl_mime_free(m); }
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
    void operator()(CURLU* u) const noexcept { curl_url_cleanup(u); }
    void operator()(char* s) const noexcept { curl_free(s); }
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* out) {
    static_cast<std::string*>(out)->append(data, size * n);
    return size * n;
}

std::string service_host(const std::string& url) {
    std::unique_ptr<CURLU, CurlDeleter> u{curl_url()};
    if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK)
        throw std::invalid_argument("malformed GraceDB service URL \"" + url +
                                    "\": give a full URL such as \"https://gracedb.ligo.org/api/\"");
    char* host = nullptr;
    if (curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK || !host)
        throw std::invalid_argument("GraceDB service URL \"" + url + "\" has no host");
    std::unique_ptr<char, CurlDeleter> owned{host};
    return host;
}

std::string read_event_file(const std::string& filename, const CreateEventOptions& o) {
    if (o.filecontents) return *o.filecontents;
    std::ifstream in{filename, std::ios::binary};
    if (!in)
        throw std::invalid_argument("cannot read the event file \"" + filename +
                                    "\": check the path, or pass its bytes in CreateEventOptions::filecontents");
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string fill_template(std::string tmpl, const std::string& graceid) {
    const auto pos = tmpl.find("{graceid}");
    if (pos == std::string::npos) throw GraceDbError("the API template \"" + tmpl + "\" has no {graceid}");
    return tmpl.replace(pos, 9, graceid);
}

bool retryable_status(long s) { return s == 408 || s == 502 || s == 503 || s == 504; }

bool retryable_transport(CURLcode c) {
    return c == CURLE_COULDNT_CONNECT || c == CURLE_OPERATION_TIMEDOUT || c == CURLE_RECV_ERROR ||
           c == CURLE_SEND_ERROR || c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE;
}

// A transport failure worth another try (the request may not have reached the server, or timed out).
class RetryableTransportError : public TransportError {
public:
    using TransportError::TransportError;
};

struct Field {
    std::string name;
    std::string value;
    std::optional<std::string> filename;  // set: a file part
};

std::chrono::microseconds since(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t);
}

}  // namespace

std::string gracedb_token_audience(const std::string& service_url) { return "https://" + service_host(service_url); }

struct GRACEDB_NO_EXPORT GraceDb::Impl {
    std::string url;
    GraceDbOptions options;
    std::string user_agent;
    std::string audience;
    std::shared_ptr<detail::TokenProvider> tokens;
    std::mutex mutex;  // one request at a time on the handle
    std::unique_ptr<CURL, CurlDeleter> curl;
    std::optional<nlohmann::json> root;

    Impl(std::string service_url, GraceDbOptions o) : options{std::move(o)} {
        global_init();
        if (service_url.empty()) throw std::invalid_argument("the GraceDB service URL is empty");
        const auto host = service_host(service_url);
        url = service_url;
        if (url.back() != '/') url += '/';
        if (options.api_version) {
            if (*options.api_version != "v1" && *options.api_version != "v2")
                throw std::invalid_argument("api_version must be \"v1\" or \"v2\", not \"" + *options.api_version + "\"");
            url += *options.api_version + "/";
        }
        user_agent = options.user_agent.empty() ? std::string{"gracedb-cpp/"} + gracedb::version + " (libcurl)"
                                                : options.user_agent;
        audience = options.token_audience ? *options.token_audience : gracedb_token_audience(service_url);
        if (options.cred_cert.has_value() != options.cred_key.has_value())
            throw std::invalid_argument("give both cred_cert and cred_key for X.509 authentication, or neither");
        if (options.cred_cert) {
            for (const auto* f : {&*options.cred_cert, &*options.cred_key})
                if (!std::ifstream{*f}) throw CredentialError("cannot read the X.509 credential file \"" + *f + "\"");
        } else if (!options.force_noauth) {
            try {
                tokens = std::make_shared<detail::TokenProvider>(TokenRequirements{audience, options.token_scope},
                                                                 options.reload_buffer, options.reload_cred,
                                                                 "GraceDB " + host);
            } catch (const detail::NoUsableToken& e) {
                detail::log_warning(std::string{"GraceDB client: no SciToken, requests go without credentials ("} +
                                    e.what() + ")");
            }
        }
        if (!options.verify_tls)
            detail::log_warning("GraceDB client: TLS VERIFICATION IS OFF (verify_tls=false) for " + url +
                                ": the connection can be intercepted. Never do this in production.");
        curl.reset(curl_easy_init());
        if (!curl) throw std::bad_alloc();
    }

    // One HTTP exchange. Throws TransportError when there is no HTTP answer; returns any HTTP status.
    Response perform(const char* method, const std::string& target, const std::vector<Field>* form, bool multipart) {
        std::lock_guard lock{mutex};
        CURL* c = curl.get();
        curl_easy_reset(c);
        Response r;
        char errbuf[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(c, CURLOPT_URL, target.c_str());
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(c, CURLOPT_USERAGENT, user_agent.c_str());
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<std::int64_t>(options.timeout.count(), 10000)));
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
        if (options.ca_cert_path) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_cert_path->c_str());
        if (!options.verify_tls) {
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (options.cred_cert) {
            curl_easy_setopt(c, CURLOPT_SSLCERT, options.cred_cert->c_str());
            curl_easy_setopt(c, CURLOPT_SSLKEY, options.cred_key->c_str());
        }
        std::unique_ptr<curl_slist, CurlDeleter> headers{curl_slist_append(nullptr, "Accept: application/json")};
        if (tokens) {
            std::string auth;
            try {
                auth = "Authorization: Bearer " + tokens->current().token;
            } catch (const detail::NoUsableToken& e) {
                throw CredentialError(e.what());
            }
            headers.reset(curl_slist_append(headers.release(), auth.c_str()));
            std::fill(auth.begin(), auth.end(), '\0');
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
        std::unique_ptr<curl_mime, CurlDeleter> mime;
        std::string encoded;
        if (form && multipart) {
            mime.reset(curl_mime_init(c));
            for (const auto& f : *form) {
                curl_mimepart* part = curl_mime_addpart(mime.get());
                curl_mime_name(part, f.name.c_str());
                curl_mime_data(part, f.value.data(), f.value.size());
                if (f.filename) {
                    curl_mime_filename(part, f.filename->c_str());
                    curl_mime_type(part, "application/octet-stream");
                }
            }
            curl_easy_setopt(c, CURLOPT_MIMEPOST, mime.get());
        } else if (form) {
            for (const auto& f : *form) {
                std::unique_ptr<char, CurlDeleter> k{curl_easy_escape(c, f.name.c_str(), static_cast<int>(f.name.size()))};
                std::unique_ptr<char, CurlDeleter> v{curl_easy_escape(c, f.value.c_str(), static_cast<int>(f.value.size()))};
                encoded += (encoded.empty() ? "" : "&") + std::string{k.get()} + "=" + v.get();
            }
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, encoded.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(encoded.size()));
        }
        if (std::string_view{method} == "POST" && !form) curl_easy_setopt(c, CURLOPT_POST, 1L);
        const CURLcode rc = curl_easy_perform(c);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);  // the list (with the token) dies here
        if (rc != CURLE_OK && retryable_transport(rc))
            throw RetryableTransportError(std::string{method} + " " + target + " failed without an HTTP answer: " +
                                          curl_easy_strerror(rc) + (errbuf[0] ? std::string{" ("} + errbuf + ")" : "") +
                                          "; is the GraceDB server reachable?");
        if (rc != CURLE_OK)
            throw TransportError(std::string{method} + " " + target + " failed without an HTTP answer: " +
                                 curl_easy_strerror(rc) + (errbuf[0] ? std::string{" ("} + errbuf + ")" : "") +
                                 "; is the GraceDB server reachable?");
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
        return r;
    }

    // With retries when `safe` (idempotent); raises HTTPError for a final 4xx/5xx except `accepted` ones.
    Response request(const char* method, const std::string& target, const std::vector<Field>* form, bool multipart,
                     bool safe, std::initializer_list<long> accepted = {}) {
        auto backoff = options.retry_backoff;
        for (int attempt = 0;; ++attempt) {
            const bool may_retry = safe && attempt < options.max_retries;
            try {
                Response r = perform(method, target, form, multipart);
                if (r.status < 400 || std::find(accepted.begin(), accepted.end(), r.status) != accepted.end()) return r;
                if (may_retry && retryable_status(r.status)) {
                    detail::log_warning(std::string{method} + " " + target + ": HTTP " + std::to_string(r.status) +
                                        ", retrying in " + std::to_string(backoff.count()) + " ms");
                } else {
                    throw HTTPError(r.status, r.body,
                                    std::string{method} + " " + target + " answered HTTP " + std::to_string(r.status) +
                                        ": " + r.body.substr(0, 500));
                }
            } catch (const RetryableTransportError& e) {
                if (!may_retry) throw TransportError(e.what());
                detail::log_warning(std::string{e.what()} + "; retrying in " + std::to_string(backoff.count()) + " ms");
            }
            std::this_thread::sleep_for(backoff);
            backoff *= 2;
        }
    }

    const nlohmann::json& get_root() {
        {
            std::lock_guard lock{mutex};
            if (root) return *root;
        }
        Response r = request("GET", url, nullptr, false, true);
        auto j = nlohmann::json::parse(r.body, nullptr, false);
        if (j.is_discarded() || !j.is_object() || !j.contains("links"))
            throw GraceDbError("the API root " + url + " did not answer with links and templates: " + r.body.substr(0, 200));
        std::lock_guard lock{mutex};
        root = std::move(j);
        return *root;
    }

    std::string link(const char* name) {
        const auto& r = get_root();
        if (!r["links"].contains(name) || !r["links"][name].is_string())
            throw GraceDbError(std::string{"the API root of "} + url + " has no link \"" + name + "\"");
        return r["links"][name].get<std::string>();
    }

    std::string templated(const char* name, const std::string& graceid) {
        const auto& r = get_root();
        if (!r.contains("templates") || !r["templates"].contains(name))
            throw GraceDbError(std::string{"the API root of "} + url + " has no template \"" + name + "\"");
        return fill_template(r["templates"][name].get<std::string>(), graceid);
    }

    static std::vector<Field> event_form(const std::string& group, const std::string& pipeline,
                                         const std::string& filename, const std::string& contents,
                                         const CreateEventOptions& o) {
        std::vector<Field> f = {{"group", group, {}}, {"pipeline", pipeline, {}}};
        if (o.search) f.push_back({"search", *o.search, {}});
        f.push_back({"offline", o.offline ? "True" : "False", {}});
        for (const auto& l : o.labels) f.push_back({"labels", l, {}});
        f.push_back({"eventFile", contents, std::filesystem::path{filename}.filename().string()});
        return f;
    }
};

GraceDb::GraceDb(std::string service_url, GraceDbOptions options)
    : impl_{std::make_unique<Impl>(std::move(service_url), std::move(options))} {}
GraceDb::~GraceDb() = default;
GraceDb::GraceDb(GraceDb&&) noexcept = default;
GraceDb& GraceDb::operator=(GraceDb&&) noexcept = default;

const std::string& GraceDb::service_url() const { return impl_->url; }
const nlohmann::json& GraceDb::api_root() { return impl_->get_root(); }

Response GraceDb::get(const std::string& url) { return impl_->request("GET", url, nullptr, false, true); }

Response GraceDb::event(const std::string& graceid) {
    return get(impl_->templated("event-detail-template", graceid));
}

Response GraceDb::reserve_graceid(const std::string& group, const std::string& pipeline,
                                  const std::optional<std::string>& search) {
    std::vector<Field> form = {{"group", group, {}}, {"pipeline", pipeline, {}}};
    if (search) form.push_back({"search", *search, {}});
    return impl_->request("POST", impl_->link("reservations"), &form, false, false);
}

Response GraceDb::upload_reserved_event(const std::string& graceid, const std::string& group,
                                        const std::string& pipeline, const std::string& filename,
                                        const CreateEventOptions& options) {
    const auto contents = read_event_file(filename, options);
    const auto form = Impl::event_form(group, pipeline, filename, contents, options);
    const auto start = Clock::now();
    Response r = impl_->request("POST", impl_->templated("reservation-upload-template", graceid), &form, true, true, {409});
    r.timings.emplace_back("http", since(start));
    return r;
}

Response GraceDb::create_event(const std::string& group, const std::string& pipeline, const std::string& filename,
                               const CreateEventOptions& o) {
    const auto start = Clock::now();
    const auto contents = read_event_file(filename, o);
    auto http_create = [&](const char* why) {
        if (why) detail::log_warning(std::string{"create_event: "} + why + "; falling back to HTTP");
        const auto form = Impl::event_form(group, pipeline, filename, contents, o);
        const auto t = Clock::now();
        Response r = impl_->request("POST", impl_->link("events"), &form, true, false);
        r.timings.emplace_back("http", since(t));
        r.timings.emplace_back("total", since(start));
        return r;
    };
    if (!o.kafka) return http_create(nullptr);

    // Step 1: reserve a graceid (unless the message is not for GraceDB).
    nlohmann::json graceid = nullptr, submitter = nullptr;
    Response result;
    if (o.gracedb_upload) {
        const auto t = Clock::now();
        try {
            auto reservation = reserve_graceid(group, pipeline, o.search).json();
            graceid = reservation.at("graceid");
            submitter = reservation.value("submitter", nlohmann::json(nullptr));
        } catch (const std::exception& e) {
            if (o.http_fallback) return http_create(("reservation failed (" + std::string{e.what()} + ")").c_str());
            if (const auto* h = dynamic_cast<const HTTPError*>(&e))
                throw HTTPError(h->status(), h->body(), std::string{"create_event, reservation step: "} + e.what());
            if (dynamic_cast<const TransportError*>(&e))
                throw TransportError(std::string{"create_event, reservation step: "} + e.what());
            throw GraceDbError(std::string{"create_event, reservation step: "} + e.what());
        }
        result.timings.emplace_back("reserve", since(t));
    }

    // Step 2: publish the event message, keyed by graceid, and wait for its own delivery report.
    nlohmann::json message = {
        {"type", "event"},
        {"_producer_timestamp", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
        {"graceid", graceid},
        {"pipeline", pipeline},
        {"submitter", submitter},
        {"eventFile", {std::filesystem::path{filename}.filename().string(), detail::base64_encode(contents)}},
        {"group", group},
        {"search", o.search ? nlohmann::json(*o.search) : nlohmann::json(nullptr)},
        {"offline", o.offline},
        {"labels", o.labels},
        {"gracedb_upload", o.gracedb_upload},
        {"skip_supervisor", o.skip_supervisor}};
    kafka::Producer& producer = *o.kafka;
    const std::string topic_pipeline = producer.default_topic() ? *producer.default_topic()
                                       : lower(group) == "test"  ? std::string{"test"}
                                                                 : lower(pipeline);
    kafka::ProduceOptions po{.topic = topic_pipeline};
    if (graceid.is_string()) po.key = graceid.get<std::string>();
    kafka::DeliveryReport report;
    std::string failure;
    try {
        const std::string text = kafka::detail_client::to_json_text(message);
        auto delivered = std::make_shared<std::optional<kafka::DeliveryReport>>();  // outlives a timeout
        po.on_delivery = [delivered](const kafka::DeliveryReport& r) { *delivered = r; };
        const auto t_produce = Clock::now();
        producer.produce(std::string_view{text}, std::move(po));
        result.timings.emplace_back("produce", since(t_produce));
        const auto t_ack = Clock::now();
        const auto deadline = t_ack + producer.flush_timeout();
        while (!*delivered && Clock::now() < deadline)
            producer.poll(std::min<std::chrono::milliseconds>(
                50ms, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()) + 1ms));
        result.timings.emplace_back("acknowledge", since(t_ack));
        if (!*delivered)
            failure = "no delivery report within the producer's flush_timeout of " +
                      std::to_string(producer.flush_timeout().count()) + " ms";
        else if ((report = **delivered).error)
            failure = *report.error;
    } catch (const kafka::KafkaError& e) {
        failure = e.what();
        if (!o.http_fallback || !graceid.is_string()) {
            const std::string where = std::string{"create_event, publish step"} +
                                      (graceid.is_string() ? " (reserved " + graceid.get<std::string>() + ")" : "") +
                                      ": ";
            if (dynamic_cast<const kafka::KafkaAuthenticationError*>(&e))
                throw kafka::KafkaAuthenticationError(where + e.what());
            if (dynamic_cast<const kafka::KafkaConnectionError*>(&e)) throw kafka::KafkaConnectionError(where + e.what());
            throw kafka::KafkaProducerError(where + e.what());
        }
    }
    if (!failure.empty()) {
        if (o.http_fallback && graceid.is_string()) {
            detail::log_warning("create_event: publishing " + graceid.get<std::string>() + " failed (" + failure +
                                "); completing the reserved event over HTTP");
            Response r = upload_reserved_event(graceid.get<std::string>(), group, pipeline, filename,
                                               [&] { auto c = o; c.filecontents = contents; return c; }());
            r.timings.insert(r.timings.begin(), result.timings.begin(), result.timings.end());
            r.timings.emplace_back("total", since(start));
            return r;
        }
        throw kafka::KafkaMessageDeliveryError(
            std::string{"create_event, publish step"} +
            (graceid.is_string() ? " (reserved " + graceid.get<std::string>() + ")" : "") + ": topic " +
            producer.topic_for(topic_pipeline) + ": " + failure);
    }
    result.timings.emplace_back("total", since(start));
    result.status = 202;
    nlohmann::json body = {{"graceid", graceid},          {"submitter", submitter},
                           {"topic", report.topic},        {"partition", report.partition},
                           {"offset", report.offset},      {"transport", "kafka"},
                           {"gracedb_upload", o.gracedb_upload}, {"skip_supervisor", o.skip_supervisor}};
    nlohmann::json timings = nlohmann::json::object();
    for (const auto& [name, d] : result.timings) timings[name + "_ms"] = static_cast<double>(d.count()) / 1000.0;
    body["timings"] = timings;
    result.body = body.dump();
    return result;
}

kafka::Producer GraceDb::create_kafka_producer(kafka::ProducerOptions options) const {
    if (!options.instance_name && !options.service_url) options.service_url = impl_->url;
    return kafka::Producer{std::move(options)};
}

std::optional<TokenClaims> GraceDb::token_claims() const {
    if (impl_->tokens) return impl_->tokens->claims();
    return std::nullopt;
}

}  // namespace gracedb
