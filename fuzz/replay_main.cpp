// A main for the fuzz targets without libFuzzer (any compiler): runs the target once over every file of the
// directories (or files) given, so that the normal build compiles the targets and the suite replays their
// committed seeds (unit.fuzz_seeds.*). A property violation aborts, as under the fuzzer.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const fs::path p{argv[i]};
        if (fs::is_directory(p)) {
            for (const auto& e : fs::directory_iterator{p})
                if (e.is_regular_file()) inputs.push_back(e.path());
        } else if (fs::is_regular_file(p)) {
            inputs.push_back(p);
        } else {
            std::fprintf(stderr, "replay: %s: no such file or directory\n", argv[i]);
            return 2;
        }
    }
    if (inputs.empty()) {
        std::fprintf(stderr, "replay: no input (give the seed directory)\n");
        return 2;
    }
    for (const auto& p : inputs) {
        std::ifstream in{p, std::ios::binary};
        const std::string bytes{std::istreambuf_iterator<char>{in}, {}};
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("replay: %zu inputs, every property held\n", inputs.size());
    return 0;
}
