#include <gracedb/kafka/auth.hpp>
#include <gracedb/kafka/errors.hpp>

#include "client/auth/token_provider.hpp"
#include "common/log.hpp"
#include "common/text.hpp"

namespace gracedb::kafka {
namespace {

TokenRequirements kafka_requirements(std::string_view broker_url, std::string_view scope,
                                     const std::optional<std::string>& audience) {
    return {audience ? *audience : default_kafka_audience(broker_url), std::string{scope}};
}

std::shared_ptr<detail::TokenProvider> make_provider(std::string_view broker_url, std::string_view scope,
                                                     const std::optional<std::string>& audience,
                                                     std::chrono::milliseconds buffer, bool reload) {
    try {
        return std::make_shared<detail::TokenProvider>(kafka_requirements(broker_url, scope, audience), buffer,
                                                       reload, "Kafka");
    } catch (const detail::NoUsableToken& e) {
        throw KafkaTokenError(e.what(), e.code());
    }
}

OAuthToken to_oauth(const detail::TokenProvider::Token& t) { return {t.token, t.expiry, t.claims.sub}; }

}  // namespace

std::string default_kafka_audience(std::string_view bootstrap_servers) {
    return detail::first_broker_host(bootstrap_servers);
}

std::string get_scitoken_for_kafka(std::string_view broker_url, std::string_view scope,
                                   std::optional<std::string> audience) {
    return make_provider(broker_url, scope, audience, std::chrono::seconds{0}, false)->current().token;
}

OAuthCallback create_oauth_callback(std::string_view broker_url, std::string_view scope,
                                    std::optional<std::string> audience) {
    return [url = std::string{broker_url}, scope = std::string{scope}, audience](std::string_view) {
        auto provider = make_provider(url, scope, audience, std::chrono::seconds{0}, false);
        try {
            return to_oauth(provider->current());
        } catch (const detail::NoUsableToken& e) {
            throw KafkaTokenError(e.what(), e.code());
        }
    };
}

SciTokenRefreshManager::SciTokenRefreshManager(std::string broker_url, std::string scope,
                                               std::optional<std::string> audience,
                                               std::chrono::milliseconds refresh_buffer)
    : provider_{make_provider(broker_url, scope, audience, refresh_buffer, true)} {}

SciTokenRefreshManager::~SciTokenRefreshManager() = default;
SciTokenRefreshManager::SciTokenRefreshManager(SciTokenRefreshManager&&) noexcept = default;
SciTokenRefreshManager& SciTokenRefreshManager::operator=(SciTokenRefreshManager&&) noexcept = default;

OAuthToken SciTokenRefreshManager::get_oauth_token() {
    try {
        return to_oauth(provider_->current());
    } catch (const detail::NoUsableToken& e) {
        throw KafkaTokenError(e.what(), e.code());
    }
}

std::string SciTokenRefreshManager::get_token() { return get_oauth_token().token; }

OAuthCallback SciTokenRefreshManager::create_callback() {
    return [provider = provider_](std::string_view) {
        try {
            return to_oauth(provider->current());
        } catch (const detail::NoUsableToken& e) {
            throw KafkaTokenError(e.what(), e.code());
        }
    };
}

TokenClaims SciTokenRefreshManager::claims() const { return provider_->claims(); }
std::chrono::system_clock::time_point SciTokenRefreshManager::next_refresh() const {
    return provider_->next_refresh();
}
std::uint64_t SciTokenRefreshManager::refresh_count() const { return provider_->refresh_count(); }

}  // namespace gracedb::kafka
