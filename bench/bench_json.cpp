// Cost of turning a 1 KiB JSON object (an event envelope) into text: nlohmann's dump() against the
// RapidJSON Writer walk that Producer::produce(json) uses.
#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "common/json_writer.hpp"

namespace {
nlohmann::json envelope() {
    nlohmann::json o = {{"type", "event"},       {"graceid", "G123456"},     {"pipeline", "gstlal"},
                        {"group", "CBC"},         {"search", "AllSky"},       {"offline", false},
                        {"gracedb_upload", true}, {"skip_supervisor", false}, {"submitter", "albert.einstein"},
                        {"_producer_timestamp", 1764172800.123},              {"labels", {"EM_READY", "PE_READY"}}};
    std::size_t i = 0;
    while (o.dump().size() < 1024) o["extra_" + std::to_string(i++)] = std::string(60, 'q');
    return o;
}
}  // namespace

static void BM_NlohmannDump(benchmark::State& state) {
    const auto o = envelope();
    for (auto _ : state) benchmark::DoNotOptimize(o.dump());
}
BENCHMARK(BM_NlohmannDump);

static void BM_RapidJsonWalk(benchmark::State& state) {
    const auto o = envelope();
    for (auto _ : state) benchmark::DoNotOptimize(gracedb::detail::to_json_text_view(o));
}
BENCHMARK(BM_RapidJsonWalk);

BENCHMARK_MAIN();
