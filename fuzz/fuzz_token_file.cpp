// Fuzz target: WLCG discovery reading a token file ($BEARER_TOKEN_FILE): whitespace trimming, parsing, and
// the findings for each place. Properties: find_scitoken never throws; a token it returns has a numeric exp
// in the future and is the file's trimmed content; no finding quotes the file's content when it is a JWT-shaped
// secret (a long last part).
#include <gracedb/scitoken.hpp>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace {

// The token file of this process, named in $BEARER_TOKEN_FILE; removed at exit.
struct TokenFile {
    std::string path;
    TokenFile() {
        // In memory when possible: rewriting a file on ext4 flushes it (auto_da_alloc), 20x slower.
        const char* tmp = std::getenv("TMPDIR");
        const std::string dir = tmp && *tmp ? tmp : ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        path = dir + "/gracedb-fuzz-token-" + std::to_string(::getpid());
        ::unsetenv("BEARER_TOKEN");
        ::setenv("BEARER_TOKEN_FILE", path.c_str(), 1);
        ::setenv("XDG_RUNTIME_DIR", "/nonexistent-gracedb-fuzz", 1);  // the third place: nothing there
    }
    ~TokenFile() { std::remove(path.c_str()); }
};

const std::string& token_path() {
    static const TokenFile file;
    return file.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string content{reinterpret_cast<const char*>(data), size};
    {
        std::ofstream out{token_path(), std::ios::binary | std::ios::trunc};
        out << content;
    }
    const auto now = std::chrono::system_clock::now();
    const auto search = gracedb::find_scitoken({"kafka.example.org", "kafka.produce"}, now);
    if (search.places.empty()) std::abort();
    if (search.token) {
        if (!search.token->claims.exp || *search.token->claims.exp <= now) std::abort();
        if (content.find(search.token->token) == std::string::npos) std::abort();
        const auto& t = search.token->token;
        if (t.empty() || t.front() == ' ' || t.back() == '\n') std::abort();
        (void)search.token->describe();
    }
    const auto described = search.describe_places();
    const auto dot = content.rfind('.');
    if (dot != std::string::npos && content.size() - dot > 24) {
        const auto signature = std::string_view{content}.substr(dot + 1, 24);
        if (signature.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
                std::string_view::npos &&
            described.find(signature) != std::string::npos)
            std::abort();
    }
    return 0;
}
