// The producer's and the consumer's shared keyword arguments (the connection) and the Ctrl-C hook.
#include "client_args.hpp"

#include "bindings.hpp"
#include "convert.hpp"

namespace gracedb::python {

std::optional<std::string> opt_str(const py::object& o, const char* what) {
    if (o.is_none()) return std::nullopt;
    if (!PyUnicode_Check(o.ptr()))
        throw py::type_error(std::string{what} + " must be a str or None, not " + Py_TYPE(o.ptr())->tp_name);
    return o.cast<std::string>();
}

namespace {

bool resolve_reload(bool reload_cred, const py::object& auto_refresh_token) {
    if (auto_refresh_token.is_none()) return reload_cred;
    // Under -W error::DeprecationWarning the warning is an exception: raise it.
    if (PyErr_WarnEx(PyExc_DeprecationWarning, "auto_refresh_token is deprecated: use reload_cred", 2) < 0)
        throw py::error_already_set();
    return auto_refresh_token.cast<bool>();
}

}  // namespace

kafka::Connection connection(std::string bootstrap_servers, const py::object& instance_name,
                             const py::object& service_url, bool use_ssl, const py::object& ca_cert_path,
                             bool skip_hostname_verification, std::string token_scope,
                             const py::object& token_audience, bool reload_cred, double reload_buffer,
                             const py::object& auto_refresh_token) {
    return {.bootstrap_servers = std::move(bootstrap_servers),
            .instance_name = opt_str(instance_name, "instance_name"),
            .service_url = opt_str(service_url, "service_url"),
            .use_ssl = use_ssl,
            .ca_cert_path = opt_str(ca_cert_path, "ca_cert_path"),
            .skip_hostname_verification = skip_hostname_verification,
            .token_scope = std::move(token_scope),
            .token_audience = opt_str(token_audience, "token_audience"),
            .reload_cred = resolve_reload(reload_cred, auto_refresh_token),
            .reload_buffer = seconds_to_ms(reload_buffer, "reload_buffer")};
}

void run_signal_handlers() {
    if (!python_alive()) return;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

}  // namespace gracedb::python
