// Test support: files, and finding the real broker the CTest fixture started.
// Test-only code; never installed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gracedb/testing/tokens.hpp>

namespace gracedb::testing {

std::string read_file(const std::filesystem::path& path);
/// Writes `contents` to `path` with mode 0600, atomically (write a sibling, then rename).
void write_secret_file(const std::filesystem::path& path, const std::string& contents);

/// The real Kafka broker of the test rig, as described by the rig.env file that tests/rig/kafka-rig.sh
/// writes. The file is found through $GRACEDB_RIG_ENV (CTest sets it). Throws std::runtime_error, saying
/// loudly how to start the rig, when it is absent.
struct Rig {
    std::string sasl_bootstrap;   // SASL_SSL + OAUTHBEARER listener, "127.0.0.1:port"
    std::string plain_bootstrap;  // PLAINTEXT listener (admin, kcat)
    std::string ca_file;          // the CA that signed the broker's certificate
    std::string other_ca_file;    // a CA that did not
    std::string issuer;           // the token issuer the broker trusts
    std::string audience;         // an audience the broker expects
    std::string key_file;         // the issuer's private key (PEM)
    std::string kid;
    std::string other_key_file;   // a key the broker does not trust
    std::string dir;              // the rig's working directory
    std::string script;           // tests/rig/kafka-rig.sh, for stop/start of the broker
    std::string allowed_prefix;   // topics with this prefix are allowed to the test principals
    std::string denied_topic;     // a topic no test principal may use

    static const Rig& get();

    /// A token for this rig: issuer, audience and key filled in, valid from a minute ago for `lifetime`.
    std::string token(TokenSpec spec = {}, std::chrono::seconds lifetime = std::chrono::minutes{10}) const;
};

}  // namespace gracedb::testing
