// Uses the installed testing library: a stand-in with token checks, a minted token, a mock cluster.
#include <gracedb/kafka.hpp>
#include <gracedb/rest.hpp>
#include <gracedb/testing.hpp>

#include <iostream>

int main() {
    const auto key = gracedb::testing::make_signing_key();
    gracedb::StandIn standin{{.jwks = gracedb::testing::jwks_for(key, "k1")}};
    gracedb::testing::MockCluster cluster;
    cluster.create_topic("test.events", 1);
    gracedb::testing::TokenSpec spec{.sub = "package-test", .aud = {"https://localhost"}, .scope = "gracedb.read",
                                     .exp = gracedb::testing::now_seconds() + 600,
                                     .iat = gracedb::testing::now_seconds(), .kid = "k1"};
    const auto token = gracedb::testing::mint_token(key, spec);
    std::cout << "stand-in at " << standin.service_url() << ", mock cluster at " << cluster.bootstrap_servers()
              << ", token of " << token.size() << " bytes\n";
    return standin.event_count() == 0 && !cluster.bootstrap_servers().empty() ? 0 : 1;
}
