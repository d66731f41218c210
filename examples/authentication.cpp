// Specification, "Authentication helpers": discovering a SciToken for Kafka, the OAuth callback, and the
// refresh manager that keeps a long-running process supplied. Prints claims, never the token.
//   authentication [broker_url]
#include <gracedb/kafka.hpp>

#include <iostream>

int main(int argc, char** argv) {
    using namespace gracedb::kafka;
    const std::string broker = argc > 1 ? argv[1] : "kafka-dev.ligo.org:9092";
    try {
        const std::string token = get_scitoken_for_kafka(broker, "kafka.produce");
        std::cout << "found: " << gracedb::parse_token_claims(token).describe() << "\n";

        OAuthCallback callback = create_oauth_callback(broker, "kafka.produce");
        OAuthToken t = callback("");
        std::cout << "principal " << t.principal << "\n";

        SciTokenRefreshManager manager{broker, "kafka.produce", std::nullopt, std::chrono::seconds{300}};
        std::cout << "current: " << manager.claims().describe() << "\n";
        return 0;
    } catch (const KafkaTokenError& e) {
        std::cerr << e.what() << "\n";  // lists every place looked at
        return 1;
    }
}
