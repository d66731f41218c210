// How much topic namespacing costs per message (it runs on every produce()).
#include <benchmark/benchmark.h>
#include <gracedb/kafka/topics.hpp>

static void BM_MakeTopicName(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(gracedb::kafka::make_topic_name("gracedb-dev", "gstlal"));
}
BENCHMARK(BM_MakeTopicName);

static void BM_ParseTopicName(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(gracedb::kafka::parse_topic_name("gracedb-dev.gstlal"));
}
BENCHMARK(BM_ParseTopicName);

static void BM_DeriveInstanceName(benchmark::State& state) {
    for (auto _ : state)
        benchmark::DoNotOptimize(gracedb::kafka::derive_instance_name("https://gracedb-dev.ligo.org/api/"));
}
BENCHMARK(BM_DeriveInstanceName);

BENCHMARK_MAIN();
