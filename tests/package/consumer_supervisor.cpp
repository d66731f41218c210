// Uses the installed supervisor library: its options and its refusal of a bad configuration.
#include <gracedb/supervisor.hpp>

#include <iostream>
#include <stdexcept>

int main() {
    gracedb::SupervisorOptions options{};  // no service URL: refused, with a message
    try {
        gracedb::Supervisor supervisor{options};
    } catch (const std::exception& e) {
        std::cout << "supervisor refused an empty configuration: " << e.what() << "\n";
        return 0;
    }
    std::cerr << "the supervisor accepted an empty configuration\n";
    return 1;
}
