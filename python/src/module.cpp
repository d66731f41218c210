// gracedb_cpp._core: the C++ library's client side for Python; this file only registers the parts (one file
// each) and the log level. The public modules gracedb_cpp.kafka and gracedb_cpp.rest re-export it.
#include <gracedb/log.hpp>
#include <gracedb/version.hpp>

#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
    namespace py = pybind11;
    using namespace gracedb::python;
    m.doc() = "gracedb-cpp for Python: the C++ core behind gracedb_cpp.kafka and gracedb_cpp.rest";
    m.attr("__version__") = gracedb::version;
    bind_errors(m);
    bind_kafka_helpers(m);
    bind_producer(m);
    bind_consumer(m);
    bind_rest(m);

    m.def(
        "set_log_level",
        [](const std::string& level) {
            static const std::pair<const char*, gracedb::LogLevel> levels[] = {
                {"debug", gracedb::LogLevel::debug},     {"info", gracedb::LogLevel::info},
                {"warning", gracedb::LogLevel::warning}, {"error", gracedb::LogLevel::error},
                {"off", gracedb::LogLevel::off}};
            for (const auto& [name, value] : levels)
                if (level == name) return gracedb::set_log_level(value);
            throw py::value_error("log level must be one of debug, info, warning, error, off (got \"" + level + "\")");
        },
        py::arg("level"),
        "The threshold of the library's log, written to standard error (default: warning; also "
        "$GRACEDB_LOG_LEVEL). Tokens never appear in it.");
    m.def("log_level", [] { return std::string{gracedb::to_string(gracedb::log_level())}; });
}
