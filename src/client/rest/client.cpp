#include <gracedb/rest/client.hpp>

#include "client/event/http_answer.hpp"
#include "client/rest/impl.hpp"

namespace gracedb {

GraceDbError::~GraceDbError() = default;
HTTPError::HTTPError(long status, std::string body, const std::string& what)
    : GraceDbError(what, Errc::http_status, {}, false, event_detail::retryable_status(status)),
      status_{status},
      body_{std::move(body)} {}
HTTPError::HTTPError(long status, std::string body, const std::string& what, Errc code, bool retriable)
    : GraceDbError(what, code, {}, false, retriable), status_{status}, body_{std::move(body)} {}
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


std::string gracedb_token_audience(const std::string& service_url) {
    std::string host;
    try {
        host = detail::parse_url(service_url).host;  // lower case, no port: what igwn-auth-utils asks for
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("malformed GraceDB service URL \"" + detail::redact_url(service_url) + "\": " +
                                    e.what());
    }
    return "https://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host);
}


GraceDb::GraceDb(std::string service_url, GraceDbOptions options)
    : impl_{std::make_unique<Impl>(std::move(service_url), std::move(options))} {
    if (!impl_->options.outbox) return;
    impl_->outbox = std::make_unique<Outbox>(*impl_->options.outbox);
    if (!impl_->options.resume_outbox_on_start) return;
    try {
        resume_outbox();  // logs what it did and each failure
    } catch (const std::exception& e) {
        detail::log_warning(std::string{"outbox: resuming at start failed (kept for the next resume): "} + e.what());
    }
}
GraceDb::~GraceDb() = default;
GraceDb::GraceDb(GraceDb&&) noexcept = default;
GraceDb& GraceDb::operator=(GraceDb&&) noexcept = default;

const std::string& GraceDb::service_url() const { return impl_->url; }
const nlohmann::json& GraceDb::api_root() { return impl_->get_root(); }

Response GraceDb::get(const std::string& url) {
    return impl_->request("GET", url, nullptr, false, true);  // the token only if `url` is the service's origin
}

Response GraceDb::event(const std::string& graceid) {
    const auto url = impl_->templated("event-detail-template", graceid);
    return impl_->followup(graceid, "event", [&] { return get(url); });
}

Response GraceDb::reserve_graceid(const std::string& group, const std::string& pipeline,
                                  const std::optional<std::string>& search) {
    impl_->check_vocabulary(group, pipeline, search, {});
    std::vector<Field> form = {{"group", group, {}}, {"pipeline", pipeline, {}}};
    if (search) form.push_back({"search", *search, {}});
    return impl_->request("POST", impl_->link("reservations"), &form, false, false);
}

Response GraceDb::upload_reserved_event(const std::string& graceid, const std::string& group,
                                        const std::string& pipeline, const std::string& filename,
                                        const CreateEventOptions& options) {
    impl_->check_vocabulary(group, pipeline, options.search, options.labels);
    const auto contents = read_event_file(filename, options);
    const auto form = Impl::event_form(group, pipeline, filename, contents, options);
    const auto start = Clock::now();
    Response r = impl_->request("POST", impl_->templated("reservation-upload-template", graceid), &form, true, true, {409});
    impl_->pending.erase(graceid);  // uploaded now (or before: 409): follow-ups need not wait for it
    r.timings.emplace_back("http", since(start));
    return r;
}


kafka::Producer GraceDb::create_kafka_producer(kafka::ProducerOptions options) const {
    if (!options.instance_name && !options.service_url) options.service_url = impl_->url;
    return kafka::Producer{std::move(options)};
}

std::optional<TokenClaims> GraceDb::token_claims() const {
    std::lock_guard lock{impl_->curl_mutex};
    if (impl_->tokens) return impl_->tokens->claims();
    return std::nullopt;
}

}  // namespace gracedb
