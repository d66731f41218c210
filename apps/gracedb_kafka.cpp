// gracedb-kafka: the command-line tool of gracedb-cpp.
// Today: `topic` (namespacing) and `demo` (the README's main job; the embedded sandbox is issue 7).
#include <CLI/CLI.hpp>
#include <gracedb/kafka.hpp>

#include <iostream>

int main(int argc, char** argv) {
    CLI::App app{"gracedb-kafka: publish and consume GraceDB events over Kafka (gracedb-cpp " +
                 std::string{gracedb::version} + ")"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string{gracedb::version});

    std::string service_url, instance, pipeline;
    auto* topic = app.add_subcommand("topic", "print the namespaced Kafka topic of a pipeline");
    auto* url_opt = topic->add_option("--service-url", service_url, "GraceDB service URL")->envname("GRACEDB_SERVICE_URL");
    topic->add_option("--instance", instance, "instance name (instead of --service-url)")->excludes(url_opt);
    topic->add_option("pipeline", pipeline, "pipeline name, e.g. gstlal")->required();

    auto* demo = app.add_subcommand("demo", "run the whole create-event flow on the embedded sandbox");

    CLI11_PARSE(app, argc, argv);
    try {
        if (*topic) {
            if (instance.empty() && service_url.empty())
                throw std::invalid_argument("give --service-url (or $GRACEDB_SERVICE_URL) or --instance");
            if (instance.empty()) instance = gracedb::kafka::derive_instance_name(service_url);
            std::cout << gracedb::kafka::make_topic_name(instance, pipeline) << "\n";
            return 0;
        }
        if (*demo) {
            std::cout << "gracedb-kafka demo: the embedded sandbox (mock Kafka cluster + GraceDB stand-in + "
                         "supervisor) is not there yet; it comes with issue 7.\n"
                         "What exists today: the library's topic utilities and error tree, and the real-broker "
                         "test rig (scripts/test.sh).\n";
            return 0;
        }
    } catch (const std::exception& e) {
        std::cerr << "gracedb-kafka: " << e.what() << "\n";
        return 1;
    }
    return 2;
}
