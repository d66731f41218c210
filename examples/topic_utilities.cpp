// Specification, "Topic namespacing": derive_instance_name, make_topic_name, parse_topic_name.
#include <gracedb/kafka.hpp>

#include <iostream>

int main() {
    using namespace gracedb::kafka;

    std::cout << derive_instance_name("https://gracedb-dev.ligo.org/api/") << "\n";  // gracedb-dev
    std::cout << make_topic_name("gracedb-dev", "gstlal") << "\n";                  // gracedb-dev.gstlal
    auto [instance, pipeline] = parse_topic_name("gracedb-dev.gstlal");
    std::cout << instance << " " << pipeline << "\n";  // gracedb-dev gstlal

    try {
        make_topic_name("gracedb-dev", "gst lal");  // illegal: refused at once, not by the broker later
    } catch (const std::invalid_argument& e) {
        std::cout << "refused: " << e.what() << "\n";
    }
}
