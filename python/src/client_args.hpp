// What the producer's and the consumer's bindings share: their connection keyword arguments (one
// kafka::Connection) and the interruption hook that lets Ctrl-C end their waits.
#pragma once

#include <gracedb/kafka/connection.hpp>

#include <pybind11/pybind11.h>

#include <functional>
#include <optional>
#include <string>

namespace gracedb::python {

namespace py = pybind11;

/// None -> nullopt, a str -> its text; TypeError naming `what` otherwise.
std::optional<std::string> opt_str(const py::object& o, const char* what);

/// The constructors' connection keyword arguments as the library's kafka::Connection (type checks, seconds,
/// and the deprecated auto_refresh_token, which wins over reload_cred when given, with a DeprecationWarning).
kafka::Connection connection(std::string bootstrap_servers, const py::object& instance_name,
                             const py::object& service_url, bool use_ssl, const py::object& ca_cert_path,
                             bool skip_hostname_verification, std::string token_scope,
                             const py::object& token_audience, bool reload_cred, double reload_buffer,
                             const py::object& auto_refresh_token);

/// ProducerOptions::interrupt / ConsumerOptions::interrupt for Python: takes the GIL and runs Python's signal
/// handlers (main thread only); throws py::error_already_set when one raised (KeyboardInterrupt for Ctrl-C).
/// The waits call it without the GIL, between slices of at most 100 ms.
void run_signal_handlers();

}  // namespace gracedb::python
