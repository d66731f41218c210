#include "testrig.hpp"

#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace gracedb::testing {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in{path, std::ios::binary};
    if (!in) throw std::runtime_error("cannot read " + path.string());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_secret_file(const std::filesystem::path& path, const std::string& contents) {
    auto tmp = path;
    tmp += ".tmp";
    {
        std::ofstream out{tmp, std::ios::binary | std::ios::trunc};
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
        out << contents;
    }
    ::chmod(tmp.c_str(), 0600);
    std::filesystem::rename(tmp, path);
}

const Rig& Rig::get() {
    static const Rig rig = [] {
        const char* env = std::getenv("GRACEDB_RIG_ENV");
        if (!env || !*env)
            throw std::runtime_error(
                "GRACEDB_RIG_ENV is not set: the integration tests need the real Kafka broker of the test rig. "
                "Run them through ctest (its fixture starts the broker), or start it with "
                "tests/rig/kafka-rig.sh start <dir> and export GRACEDB_RIG_ENV=<dir>/rig.env");
        std::ifstream in{env};
        if (!in)
            throw std::runtime_error(std::string{"the test rig's file "} + env +
                                     " is missing: did the broker fixture (rig_start) fail? See its log.");
        std::map<std::string, std::string> kv;
        for (std::string line; std::getline(in, line);) {
            auto eq = line.find('=');
            if (eq != std::string::npos && line[0] != '#') kv[line.substr(0, eq)] = line.substr(eq + 1);
        }
        auto need = [&](const char* k) {
            auto it = kv.find(k);
            if (it == kv.end()) throw std::runtime_error(std::string{"rig.env lacks "} + k);
            return it->second;
        };
        Rig r;
        r.sasl_bootstrap = need("RIG_SASL_BOOTSTRAP");
        r.plain_bootstrap = need("RIG_PLAIN_BOOTSTRAP");
        r.ca_file = need("RIG_CA");
        r.other_ca_file = need("RIG_OTHER_CA");
        r.issuer = need("RIG_ISSUER");
        r.audience = need("RIG_AUDIENCE");
        r.key_file = need("RIG_KEY");
        r.kid = need("RIG_KID");
        r.other_key_file = need("RIG_OTHER_KEY");
        r.dir = need("RIG_DIR");
        r.script = need("RIG_SCRIPT");
        r.allowed_prefix = need("RIG_ALLOWED_PREFIX");
        r.denied_topic = need("RIG_DENIED_TOPIC");
        return r;
    }();
    return rig;
}

std::string Rig::token(TokenSpec spec, std::chrono::seconds lifetime) const {
    const auto now = now_seconds();
    if (spec.iss.empty()) spec.iss = issuer;
    if (spec.aud.empty()) spec.aud = {audience};
    if (!spec.iat) spec.iat = now - 60;
    if (!spec.exp) spec.exp = now + lifetime.count();
    spec.kid = kid;
    return mint_token(read_file(key_file), spec);
}

}  // namespace gracedb::testing
