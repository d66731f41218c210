// gracedb_cpp._testing: the testing library (gracedb::testing) for Python tests: the embedded sandbox, the
// GraceDB stand-in, librdkafka's mock cluster, and test-token minting. A separate module so that importing
// gracedb_cpp.kafka never loads the testing library.
#include <gracedb/testing.hpp>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>

namespace py = pybind11;
using gracedb::StandIn;
using gracedb::StandInOptions;
using gracedb::testing::MockCluster;
using gracedb::testing::Sandbox;

namespace {

bool python_alive() { return Py_IsInitialized() && !_Py_IsFinalizing(); }

/// Destroys a server (joining its threads) without holding the GIL, so that Python threads go on meanwhile.
struct ReleaseGilDeleter {
    template <class T>
    void operator()(T* p) const {
        if (python_alive() && PyGILState_Check()) {
            py::gil_scoped_release nogil;
            delete p;
        } else {
            delete p;
        }
    }
};

template <class T, class... Args>
std::shared_ptr<T> start(Args&&... args) {
    py::gil_scoped_release nogil;
    return std::shared_ptr<T>(new T(std::forward<Args>(args)...), ReleaseGilDeleter{});
}

py::object json_loads(const std::string& text) { return py::module_::import("json").attr("loads")(text); }

/// A server object whose close() may come before Python drops its last reference.
template <class T>
struct Handle {
    std::shared_ptr<T> ptr;
    T& get(const char* what) const {
        if (!ptr) throw std::runtime_error(std::string{what} + " is closed");
        return *ptr;
    }
};

/// The sandbox supervisor's counters: {'uploaded', 'already_uploaded', 'skipped', 'dead_lettered', 'retries',
/// 'delays_s'}.
py::dict stats_dict(const gracedb::SupervisorStats& st) {
    py::dict d;
    d["uploaded"] = st.uploaded;
    d["already_uploaded"] = st.already_uploaded;
    d["skipped"] = st.skipped;
    d["dead_lettered"] = st.dead_lettered;
    d["retries"] = st.retries;
    d["delays_s"] = st.delays_s;
    return d;
}

using PyStandIn = Handle<StandIn>;
using PySandbox = Handle<Sandbox>;
using PyMockCluster = Handle<MockCluster>;

}  // namespace

PYBIND11_MODULE(_testing, m) {
    m.doc() = "gracedb-cpp's testing library: sandbox, GraceDB stand-in, mock cluster, test tokens";

    py::class_<PyStandIn>(m, "StandIn",
                          "A GraceDB stand-in HTTP server on a background thread: API root, event creation, "
                          "reservations, reserved uploads, event detail and files, with the real server's status "
                          "codes. Bearer tokens are checked when `jwks` is given.")
        .def(py::init([](std::string bind_address, int port, std::string url_host, std::optional<std::string> jwks,
                         std::optional<std::string> audience, std::optional<std::string> issuer,
                         std::string required_scope, std::vector<std::string> service_principals,
                         std::optional<std::string> store_file, std::optional<std::string> tls_cert_file,
                         std::optional<std::string> tls_key_file, std::optional<std::string> client_ca_file) {
                 StandInOptions o;
                 o.bind_address = std::move(bind_address);
                 o.port = port;
                 o.url_host = std::move(url_host);
                 o.jwks = std::move(jwks);
                 o.audience = std::move(audience);
                 o.issuer = std::move(issuer);
                 o.required_scope = std::move(required_scope);
                 o.service_principals = std::move(service_principals);
                 o.store_file = std::move(store_file);
                 o.tls_cert_file = std::move(tls_cert_file);
                 o.tls_key_file = std::move(tls_key_file);
                 o.client_ca_file = std::move(client_ca_file);
                 return PyStandIn{start<StandIn>(std::move(o))};
             }),
             py::kw_only(), py::arg("bind_address") = "127.0.0.1", py::arg("port") = 0,
             py::arg("url_host") = "localhost", py::arg("jwks") = py::none(), py::arg("audience") = py::none(),
             py::arg("issuer") = py::none(), py::arg("required_scope") = "gracedb.read",
             py::arg("service_principals") = std::vector<std::string>{}, py::arg("store_file") = py::none(),
             py::arg("tls_cert_file") = py::none(), py::arg("tls_key_file") = py::none(),
             py::arg("client_ca_file") = py::none())
        .def_property_readonly("service_url", [](const PyStandIn& s) { return s.get("StandIn").service_url(); },
                               "'http://<url_host>:<port>/api/'")
        .def_property_readonly("port", [](const PyStandIn& s) { return s.get("StandIn").port(); })
        .def_property_readonly("event_count", [](const PyStandIn& s) { return s.get("StandIn").event_count(); })
        .def(
            "event",
            [](const PyStandIn& s, const std::string& graceid) -> py::object {
                auto e = s.get("StandIn").event(graceid);
                return e ? json_loads(e->dump()) : py::none();
            },
            py::arg("graceid"), "The event as a dict, or None when it was never created or uploaded.")
        .def(
            "event_file",
            [](const PyStandIn& s, const std::string& graceid) -> py::object {
                auto f = s.get("StandIn").event_file(graceid);
                return f ? py::object(py::bytes(*f)) : py::none();
            },
            py::arg("graceid"), "The bytes of the event file uploaded for graceid, or None.")
        .def("alerts",
             [](const PyStandIn& s) {
                 py::list out;
                 for (const auto& a : s.get("StandIn").alerts()) out.append(json_loads(a.dump()));
                 return out;
             })
        .def_property_readonly("uploads", [](const PyStandIn& s) { return s.get("StandIn").uploads(); })
        .def_property_readonly("duplicate_uploads",
                               [](const PyStandIn& s) { return s.get("StandIn").duplicate_uploads(); })
        .def(
            "fail_next",
            [](const PyStandIn& s, const std::string& path_part, int status, int times) {
                s.get("StandIn").fail_next(path_part, status, times);
            },
            py::arg("path_part"), py::arg("status"), py::arg("times") = 1,
            "The next `times` requests to an API route whose path contains path_part are answered with status.")
        .def("close", [](PyStandIn& s) { s.ptr.reset(); }, "Stop serving (idempotent).")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](PyStandIn& s, const py::args&) {
            s.ptr.reset();
            return false;
        });

    py::class_<PyMockCluster>(m, "MockCluster",
                              "librdkafka's mock cluster: Kafka brokers inside this process (plaintext only; keeps "
                              "only the newest ~5 MB of each partition).")
        .def(py::init([](int brokers) { return PyMockCluster{start<MockCluster>(brokers)}; }), py::arg("brokers") = 1)
        .def_property_readonly("bootstrap_servers",
                               [](const PyMockCluster& c) { return c.get("MockCluster").bootstrap_servers(); })
        .def(
            "create_topic",
            [](const PyMockCluster& c, const std::string& topic, int partitions) {
                py::gil_scoped_release nogil;
                c.get("MockCluster").create_topic(topic, partitions);
            },
            py::arg("topic"), py::arg("partitions") = 1)
        .def("close", [](PyMockCluster& c) { c.ptr.reset(); })
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](PyMockCluster& c, const py::args&) {
            c.ptr.reset();
            return false;
        });

    py::class_<PySandbox>(m, "Sandbox",
                          "GraceDB over Kafka in this process: the mock cluster, the GraceDB stand-in and a "
                          "supervisor that uploads what pipelines publish. Clients pass bootstrap_servers, "
                          "service_url and **kafka_config.")
        .def(py::init([] { return PySandbox{start<Sandbox>()}; }))
        .def_property_readonly("bootstrap_servers",
                               [](const PySandbox& s) { return s.get("Sandbox").bootstrap_servers(); })
        .def_property_readonly("service_url", [](const PySandbox& s) { return s.get("Sandbox").service_url(); })
        .def_property_readonly("instance", [](const PySandbox& s) { return s.get("Sandbox").instance(); })
        .def_property_readonly("alerts_topic", [](const PySandbox& s) { return s.get("Sandbox").alerts_topic(); })
        .def_property_readonly("kafka_config", [](const PySandbox&) { return Sandbox::kafka_config(); },
                               "The librdkafka settings a client of the sandbox needs: pass them as **kafka_config.")
        .def_property_readonly(
            "standin",
            [](const PySandbox& s) {
                Sandbox& sb = s.get("Sandbox");
                return PyStandIn{std::shared_ptr<StandIn>(s.ptr, &sb.standin())};  // keeps the sandbox alive
            },
            "The sandbox's GraceDB stand-in (event(), event_file(), alerts(), ...).")
        .def_property_readonly("failure", [](const PySandbox& s) { return s.get("Sandbox").failure(); },
                               "Why the supervisor thread stopped, or '' while it runs.")
        .def_property_readonly("supervisor_stats", [](const PySandbox& s) {
            return stats_dict(s.get("Sandbox").supervisor().stats());
        })
        .def("close", [](PySandbox& s) { s.ptr.reset(); },
             "Stop the sandbox (once no StandIn taken from it is left). Idempotent.")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](PySandbox& s, const py::args&) {
            s.ptr.reset();
            return false;
        });

    m.def("now_seconds", &gracedb::testing::now_seconds);
    m.def("make_signing_key", &gracedb::testing::make_signing_key, py::call_guard<py::gil_scoped_release>(),
          "A new RSA private key (PEM) to sign test tokens with.");
    m.def("jwks_for", &gracedb::testing::jwks_for, py::arg("private_key_pem"), py::arg("kid") = "rig-key-1",
          "The JWKS (JSON text) of the key's public half, for StandIn(jwks=...) or a broker.");
    m.def(
        "mint_token",
        [](const std::string& key, std::string iss, std::string sub, const py::object& aud,
           std::optional<std::string> scope, std::optional<std::int64_t> exp, std::optional<std::int64_t> iat,
           std::optional<std::int64_t> nbf, std::optional<std::string> ver, std::string kid,
           std::optional<std::int64_t> lifetime) {
            gracedb::testing::TokenSpec spec;
            spec.iss = std::move(iss);
            spec.sub = std::move(sub);
            if (!aud.is_none()) {
                if (PyUnicode_Check(aud.ptr())) spec.aud = {aud.cast<std::string>()};
                else spec.aud = aud.cast<std::vector<std::string>>();
            }
            spec.scope = std::move(scope);
            spec.iat = iat;
            spec.nbf = nbf;
            spec.exp = exp;
            if (lifetime) {
                if (exp) throw py::value_error("mint_token: give exp or lifetime, not both");
                const auto now = gracedb::testing::now_seconds();
                spec.exp = now + *lifetime;
                if (!spec.iat) spec.iat = now - 60;
            }
            spec.ver = std::move(ver);
            spec.kid = std::move(kid);
            return gracedb::testing::mint_token(key, spec);
        },
        py::arg("private_key_pem"), py::kw_only(), py::arg("iss"), py::arg("sub") = "pipeline",
        py::arg("aud") = py::none(), py::arg("scope") = "kafka.produce kafka.consume gracedb.read",
        py::arg("exp") = py::none(), py::arg("iat") = py::none(), py::arg("nbf") = py::none(),
        py::arg("ver") = "scitoken:2.0", py::arg("kid") = "rig-key-1", py::arg("lifetime") = py::none(),
        "A signed RS256 test SciToken (compact JWT) with the claims given; lifetime=N sets exp to now + N s.");
}
