// gracedb-kafka token: which SciToken discovery finds, and its claims (never the token).
#include <iostream>
#include <memory>

#include "common/text.hpp"
#include "tool.hpp"

namespace gracedb::app {
namespace {

struct TokenArgs {
    std::string bootstrap, service_url, audience, scope = "kafka.produce";
};

int run(const TokenArgs& a) {
    TokenRequirements req;
    if (!a.service_url.empty()) {
        req = {a.audience.empty() ? gracedb_token_audience(a.service_url) : a.audience,
               a.scope == "kafka.produce" ? "gracedb.read" : a.scope};
    } else {
        if (a.bootstrap.empty())
            throw std::invalid_argument("give -b (the Kafka brokers) or --service-url (GraceDB): the audience comes from it");
        req = {a.audience.empty() ? kafka::default_kafka_audience(a.bootstrap) : a.audience, a.scope};
    }
    auto search = find_scitoken(req);
    std::cout << "wanted: audience \"" << req.audience << "\", scope \"" << req.scope << "\"\n";
    for (const auto& p : search.places) std::cout << "  " << p.place << ": " << p.finding << "\n";
    if (!search.token) {
        std::cerr << "gracedb-kafka token: no usable SciToken; get one (e.g. htgettoken) or set $BEARER_TOKEN_FILE\n";
        return 1;
    }
    const auto& c = search.token->claims;
    std::cout << "using: " << search.token->source << (search.token->matches ? "" : " (fallback: does not match)") << "\n"
              << "  sub: " << c.sub << "\n  aud: " << detail::join_quoted(c.aud) << "\n  scope: " << c.scope
              << "\n  exp: " << (c.exp ? detail::format_utc(*c.exp) : "-") << "\n  fingerprint: "
              << token_fingerprint(search.token->token) << "\n";
    return 0;
}

}  // namespace

Command add_token(CLI::App& parent) {
    auto a = std::make_shared<TokenArgs>();
    auto* sub = parent.add_subcommand("token", "show which SciToken discovery finds, and its claims (never the token)");
    sub->add_option("-b,--bootstrap", a->bootstrap, "Kafka brokers (the audience is the first host)")
        ->envname("GRACEDB_KAFKA_BOOTSTRAP");
    sub->add_option("--service-url", a->service_url, "GraceDB service URL (look for a GraceDB token instead)");
    sub->add_option("--token-audience", a->audience, "audience wanted");
    sub->add_option("--token-scope", a->scope, "scope wanted")->default_str("kafka.produce");
    return {sub, [a] { return run(*a); }};
}

}  // namespace gracedb::app
