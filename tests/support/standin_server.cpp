// standin_server DIR [CREATIONS_PER_SECOND]: a GraceDB stand-in that verifies tokens of a fresh test key, for
// tests that drive it with an independent client (tests/standin/check_real_behaviours.py). Writes tokens to
// DIR (good, good2, expired, wrong_audience, bad_signature, all for audience https://localhost), prints the
// service URL on the first line of standard output, and serves until its standard input closes.
#include <gracedb/testing/standin.hpp>
#include <gracedb/testing/tokens.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "standin_tokens.hpp"
#include "testrig.hpp"

using namespace gracedb;
using namespace gracedb::testing;

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: standin_server DIR [CREATIONS_PER_SECOND]\n";
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    const auto key = make_signing_key();
    const auto other_key = make_signing_key();
    auto spec = [](const std::string& sub) { return standin_token_spec(sub, std::chrono::seconds{3600}); };
    write_secret_file(dir / "good", mint_token(key, spec("Pipeline")));
    write_secret_file(dir / "good2", mint_token(key, spec("other")));
    auto expired = spec("pipeline");
    expired.iat = now_seconds() - 600;
    expired.exp = now_seconds() - 60;
    write_secret_file(dir / "expired", mint_token(key, expired));
    auto wrong = spec("pipeline");
    wrong.aud = {"https://elsewhere.example"};
    write_secret_file(dir / "wrong_audience", mint_token(key, wrong));
    write_secret_file(dir / "bad_signature", mint_token(other_key, spec("pipeline")));

    StandInOptions o = checking_standin(key);
    if (argc > 2) o.creations_per_second = std::stoi(argv[2]);
    StandIn standin{o};
    std::cout << standin.service_url() << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return 0;
}
