// gracedb_cpp.rest: GraceDb (the parts event submission needs, and create_event over Kafka) and its Response.
// Every request releases the GIL.
#include <gracedb/rest.hpp>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "convert.hpp"

namespace gracedb::python {

namespace {

/// One HTTP answer, shaped like requests.Response: status_code, text, content, json(), plus timings.
struct PyResponse {
    long status = 0;
    std::string body;
    std::vector<std::pair<std::string, double>> timings;  // step -> seconds
};

PyResponse to_py(Response r) {
    PyResponse out{r.status, std::move(r.body), {}};
    for (const auto& [step, d] : r.timings) out.timings.emplace_back(step, static_cast<double>(d.count()) / 1e6);
    return out;
}

py::str decoded(const std::string& s) {
    return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace"));
}

CreateEventOptions event_options(const py::object& search, const py::object& filecontents, bool offline,
                                 const py::object& labels) {
    CreateEventOptions o;
    if (!search.is_none()) o.search = search.cast<std::string>();
    if (!filecontents.is_none()) o.filecontents = text_or_bytes(filecontents, "filecontents");
    o.offline = offline;
    if (!labels.is_none()) o.labels = pipelines(labels, "labels");
    return o;
}

/// tag_name / displayName: None, a str, or a list (or tuple) of str.
TagNames tag_names(const py::object& value, const char* what) {
    if (value.is_none()) return {};
    if (PyUnicode_Check(value.ptr())) return TagNames{value.cast<std::string>()};
    if (PyList_Check(value.ptr()) || PyTuple_Check(value.ptr())) {
        std::vector<std::string> out;
        for (auto v : value) {
            if (!PyUnicode_Check(v.ptr()))
                throw py::type_error(std::string{what} + ": every name must be a str, not " +
                                     Py_TYPE(v.ptr())->tp_name);
            out.push_back(v.cast<std::string>());
        }
        return TagNames{std::move(out)};
    }
    throw py::type_error(std::string{what} + " must be a str or a list of str, not " +
                         Py_TYPE(value.ptr())->tp_name);
}

}  // namespace

void bind_rest(py::module_& m) {
    py::class_<PyResponse>(m, "Response", "One answer of GraceDB: status_code, text, content, json(), timings.")
        .def(py::init([](long status, const py::bytes& body) { return PyResponse{status, body.cast<std::string>(), {}}; }),
             py::arg("status_code"), py::arg("content"))
        .def_readonly("status_code", &PyResponse::status)
        .def_property_readonly("text", [](const PyResponse& r) { return decoded(r.body); })
        .def_property_readonly("content", [](const PyResponse& r) { return py::bytes(r.body); })
        .def("json", [](const PyResponse& r) { return json_loads(r.body); }, "The body parsed as JSON.")
        .def_property_readonly("ok", [](const PyResponse& r) { return r.status < 400; })
        .def_property_readonly(
            "timings",
            [](const PyResponse& r) {
                py::dict d;
                for (const auto& [step, s] : r.timings) d[py::str(step)] = s;
                return d;
            },
            "Where the time went, in seconds: reserve, produce, acknowledge, http, total.")
        .def("__repr__", [](const PyResponse& r) { return "<Response [" + std::to_string(r.status) + "]>"; });

    py::class_<PyGraceDb>(m, "GraceDb", "The GraceDB REST client (gracedb::GraceDb).")
        .def(py::init([](std::string service_url, const py::object& cred, bool force_noauth, bool fail_if_noauth,
                         const py::object& api_version, bool reload_cred, double reload_buffer,
                         std::string token_scope, const py::object& token_audience, const py::object& ca_cert_path,
                         bool verify_tls, double timeout, int retries, double backoff_factor,
                         const py::object& user_agent, double reservation_wait, const py::object& outbox,
                         bool resume_outbox_on_start) {
                 GraceDbOptions o;
                 if (!api_version.is_none()) o.api_version = api_version.cast<std::string>();
                 if (!cred.is_none()) {
                     if (PyUnicode_Check(cred.ptr())) {  // one PEM file holding the certificate and the key
                         o.cred_cert = o.cred_key = cred.cast<std::string>();
                     } else {
                         auto pair = cred.cast<std::pair<std::string, std::string>>();
                         o.cred_cert = pair.first;
                         o.cred_key = pair.second;
                     }
                 }
                 o.force_noauth = force_noauth;
                 o.token_scope = std::move(token_scope);
                 if (!token_audience.is_none()) o.token_audience = token_audience.cast<std::string>();
                 o.reload_cred = reload_cred;
                 o.reload_buffer = seconds_to_ms(reload_buffer, "reload_buffer");
                 if (!ca_cert_path.is_none()) o.ca_cert_path = ca_cert_path.cast<std::string>();
                 o.verify_tls = verify_tls;
                 o.timeout = seconds_to_ms(timeout, "timeout");
                 if (retries < 0) throw py::value_error("retries must not be negative");
                 o.max_retries = retries;
                 o.retry_backoff = seconds_to_ms(backoff_factor, "backoff_factor");
                 if (!user_agent.is_none()) o.user_agent = user_agent.cast<std::string>();
                 o.reservation_wait = seconds_to_ms(reservation_wait, "reservation_wait");
                 // A str or an os.PathLike (pathlib.Path): the crash-safe outbox's directory.
                 if (!outbox.is_none())
                     o.outbox = py::module_::import("os").attr("fspath")(outbox).cast<std::string>();
                 o.resume_outbox_on_start = resume_outbox_on_start;
                 const bool has_cert = o.cred_cert.has_value();
                 auto made = [&] {
                     py::gil_scoped_release nogil;
                     return std::make_unique<PyGraceDb>(PyGraceDb{GraceDb{std::move(service_url), std::move(o)}});
                 }();
                 if (fail_if_noauth && !force_noauth && !has_cert && !made->client.token_claims())
                     throw CredentialError(
                         "fail_if_noauth=True and no credentials were found: no SciToken for this GraceDB (WLCG "
                         "discovery: $BEARER_TOKEN, $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u<uid>, /tmp/bt_u<uid>) "
                         "and no X.509 certificate (cred=)");
                 return made;
             }),
             py::arg("service_url") = "https://gracedb.ligo.org/api/", py::arg("cred") = py::none(),
             py::arg("force_noauth") = false, py::arg("fail_if_noauth") = false, py::arg("api_version") = py::none(),
             py::arg("reload_cred") = true, py::arg("reload_buffer") = 300, py::arg("token_scope") = "gracedb.read",
             py::arg("token_audience") = py::none(), py::arg("ca_cert_path") = py::none(),
             py::arg("verify_tls") = true, py::arg("timeout") = 30, py::arg("retries") = 3,
             py::arg("backoff_factor") = 0.5, py::arg("user_agent") = py::none(),
             py::arg("reservation_wait") = 60.0, py::arg("outbox") = py::none(),
             py::arg("resume_outbox_on_start") = true)
        .def(
            "resume_outbox",
            [](PyGraceDb& self) {
                OutboxResumeResult r;
                {
                    py::gil_scoped_release nogil;
                    r = self.client.resume_outbox();
                }
                return outbox_resume_dict(r);
            },
            "Completes the outbox's unfinished entries (the idempotent reserved upload); returns a dict: "
            "completed, failed, busy, other_service, errors. Raises ValueError when the client has no outbox.")
        .def(
            "create_event",
            [](PyGraceDb& self, const std::string& group, const std::string& pipeline, const std::string& filename,
               const py::object& search, const py::object& filecontents, bool offline, const py::object& labels,
               PyProducer* kafka, bool http_fallback, bool gracedb_upload, bool skip_supervisor) {
                auto o = event_options(search, filecontents, offline, labels);
                o.kafka = kafka ? &kafka->get() : nullptr;
                o.http_fallback = http_fallback;
                o.gracedb_upload = gracedb_upload;
                o.skip_supervisor = skip_supervisor;
                py::gil_scoped_release nogil;
                return to_py(self.client.create_event(group, pipeline, filename, o));
            },
            py::arg("group"), py::arg("pipeline"), py::arg("filename"), py::arg("search") = py::none(),
            py::arg("filecontents") = py::none(), py::arg("offline") = false, py::arg("labels") = py::none(),
            py::arg("kafka") = py::none(), py::arg("http_fallback") = false, py::arg("gracedb_upload") = true,
            py::arg("skip_supervisor") = false,
            "Create an event. With kafka=<GraceDbKafkaProducer>: reserve a graceid over HTTP, publish the event "
            "over Kafka and wait for its delivery (the producer's flush_timeout); with http_fallback=True a failed "
            "Kafka path completes over HTTP. A reserved event that could not be finished raises "
            "KafkaUnfinishedEventError (.graceid, .may_still_be_delivered): finish it with "
            "upload_reserved_event(e.graceid, ...), never a new create_event. A producer of another instance "
            "than this service's raises KafkaProducerError before anything is reserved.")
        .def(
            "upload_reserved_event",
            [](PyGraceDb& self, const std::string& graceid, const std::string& group, const std::string& pipeline,
               const std::string& filename, const py::object& search, const py::object& filecontents, bool offline,
               const py::object& labels) {
                auto o = event_options(search, filecontents, offline, labels);
                py::gil_scoped_release nogil;
                return to_py(self.client.upload_reserved_event(graceid, group, pipeline, filename, o));
            },
            py::arg("graceid"), py::arg("group"), py::arg("pipeline"), py::arg("filename"),
            py::arg("search") = py::none(), py::arg("filecontents") = py::none(), py::arg("offline") = false,
            py::arg("labels") = py::none(),
            "Complete a reserved event over HTTP (idempotent by graceid; a 409 is returned, not raised): "
            "also how the event of a KafkaUnfinishedEventError is finished.")
        .def(
            "reserve_graceid",
            [](PyGraceDb& self, const std::string& group, const std::string& pipeline, std::optional<std::string> search) {
                py::gil_scoped_release nogil;
                return to_py(self.client.reserve_graceid(group, pipeline, search));
            },
            py::arg("group"), py::arg("pipeline"), py::arg("search") = py::none())
        .def(
            "event",
            [](PyGraceDb& self, const std::string& graceid) {
                py::gil_scoped_release nogil;
                return to_py(self.client.event(graceid));
            },
            py::arg("graceid"), "The event's JSON (GET).")
        .def(
            "get",
            [](PyGraceDb& self, const std::string& url) {
                py::gil_scoped_release nogil;
                return to_py(self.client.get(url));
            },
            py::arg("url"))
        // Follow-ups (ligo-gracedb 2.x's names), each waiting out the reservation window on a graceid this
        // client published over Kafka (reservation_wait; then EventNotUploadedError).
        .def(
            "write_log",
            [](PyGraceDb& self, const std::string& graceid, const std::string& message,
               const py::object& filename, const py::object& filecontents, const py::object& tag_name,
               const py::object& displayName) {
                WriteLogOptions o;
                if (!filename.is_none()) o.filename = py::str(filename).cast<std::string>();  // str or a path
                if (!filecontents.is_none()) o.filecontents = text_or_bytes(filecontents, "filecontents");
                o.tag_name = tag_names(tag_name, "tag_name");
                o.displayName = tag_names(displayName, "displayName");
                py::gil_scoped_release nogil;
                return to_py(self.client.write_log(graceid, message, o));
            },
            py::arg("graceid"), py::arg("message"), py::arg("filename") = py::none(),
            py::arg("filecontents") = py::none(), py::arg("tag_name") = py::none(),
            py::arg("displayName") = py::none(),
            "Add a log entry, optionally with a file (read from `filename`, or its bytes in `filecontents`, "
            "named `filename`) and tags (a str or a list; displayName one per tag): 201 and the entry.")
        .def(
            "logs",
            [](PyGraceDb& self, const std::string& graceid) {
                py::gil_scoped_release nogil;
                return to_py(self.client.logs(graceid));
            },
            py::arg("graceid"), "The event's log: {'numRows', 'log': [entries in order of N]}.")
        .def(
            "write_label",
            [](PyGraceDb& self, const std::string& graceid, const std::string& label) {
                py::gil_scoped_release nogil;
                return to_py(self.client.write_label(graceid, label));
            },
            py::arg("graceid"), py::arg("label"),
            "Apply a label (checked against the API root's labels first: ValueError): 201, or 200 with a "
            "warning when the event had it already.")
        .def(
            "remove_label",
            [](PyGraceDb& self, const std::string& graceid, const std::string& label) {
                py::gil_scoped_release nogil;
                return to_py(self.client.remove_label(graceid, label));
            },
            py::arg("graceid"), py::arg("label"),
            "Remove a label: 204; HTTPError 404 when the event lacks it.")
        .def(
            "labels",
            [](PyGraceDb& self, const std::string& graceid) {
                py::gil_scoped_release nogil;
                return to_py(self.client.labels(graceid));
            },
            py::arg("graceid"),
            "The event's labels: {'labels': [{'name', 'creator', 'created', 'self'}], ...}.")
        .def(
            "files",
            [](PyGraceDb& self, const std::string& graceid, const std::string& filename) {
                py::gil_scoped_release nogil;
                return to_py(self.client.files(graceid, filename));
            },
            py::arg("graceid"), py::arg("filename") = "",
            "With a file name: the file (its bytes as .content; 'name,N' is version N). Without: "
            "{name: url} for every file of the event.")
        .def_property_readonly("service_url", [](PyGraceDb& self) { return self.client.service_url(); })
        .def_property_readonly("api_root",
                               [](PyGraceDb& self) {
                                   std::string text;
                                   {
                                       py::gil_scoped_release nogil;
                                       text = self.client.api_root().dump();
                                   }
                                   return json_loads(text);
                               })
        .def_property_readonly("token_claims", [](PyGraceDb& self) {
            auto c = self.client.token_claims();
            return c ? py::object(claims_dict(*c)) : py::object(py::none());
        });
}

}  // namespace gracedb::python
