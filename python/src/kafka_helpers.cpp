// gracedb_cpp.kafka's helpers: the topic utilities (derive_instance_name, make_topic_name, parse_topic_name)
// and the SciToken helpers (get_scitoken_for_kafka, create_oauth_callback, SciTokenRefreshManager).
#include <gracedb/kafka.hpp>

#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings.hpp"
#include "convert.hpp"

namespace gracedb::python {

void bind_kafka_helpers(py::module_& m) {
    // --- topic utilities -------------------------------------------------------------------------------
    m.def("derive_instance_name", [](const std::string& url) { return kafka::derive_instance_name(url); },
          py::arg("service_url"),
          "The GraceDB instance name of a service URL: the first label of its host "
          "('https://gracedb-dev.ligo.org/api/' -> 'gracedb-dev'). ValueError when it has none.");
    m.def("make_topic_name",
          [](const std::string& instance, const std::string& pipeline) {
              return kafka::make_topic_name(instance, pipeline);
          },
          py::arg("instance_name"), py::arg("pipeline"),
          "'<instance_name>.<pipeline>'. ValueError when that is not a legal, namespaced Kafka topic.");
    m.def("parse_topic_name",
          [](const std::string& topic) {
              auto [instance, pipeline] = kafka::parse_topic_name(topic);
              return py::make_tuple(instance, pipeline);
          },
          py::arg("namespaced_topic"),
          "('gracedb-dev', 'gstlal') from 'gracedb-dev.gstlal' (split at the first dot). ValueError without a dot.");

    // --- authentication helpers ------------------------------------------------------------------------
    m.def("get_scitoken_for_kafka",
          [](const std::string& broker_url, const std::string& scope, std::optional<std::string> audience) {
              py::gil_scoped_release nogil;
              return kafka::get_scitoken_for_kafka(broker_url, scope, std::move(audience));
          },
          py::arg("broker_url"), py::arg("scope") = "kafka.produce", py::arg("audience") = py::none(),
          "The serialized SciToken that WLCG discovery finds for this broker (audience: the broker's host name "
          "unless given). KafkaTokenError, listing the places looked at, when there is none.");

    py::class_<kafka::OAuthCallback>(m, "OAuthCallback",
                                     "An OAUTHBEARER token callback: callback(config) -> (token, expiry), expiry in "
                                     "seconds since the epoch.")
        .def(
            "__call__",
            [](const kafka::OAuthCallback& cb, const py::object& config) {
                std::string text = config.is_none() ? std::string{} : config.cast<std::string>();
                kafka::OAuthToken t;
                {
                    py::gil_scoped_release nogil;
                    t = cb(text);
                }
                return py::make_tuple(t.token, epoch_seconds(t.expiry));
            },
            py::arg("config") = py::none());
    m.def("create_oauth_callback",
          [](const std::string& broker_url, const std::string& scope, std::optional<std::string> audience) {
              return kafka::create_oauth_callback(broker_url, scope, std::move(audience));
          },
          py::arg("broker_url"), py::arg("scope") = "kafka.produce", py::arg("audience") = py::none(),
          "A callback that discovers a token on every call and returns (token_str, expiry_time).");

    py::class_<kafka::SciTokenRefreshManager>(
        m, "SciTokenRefreshManager",
        "Keeps a long-running client supplied with a valid token: re-reads it from disk refresh_buffer seconds "
        "before it expires. Thread-safe.")
        .def(py::init([](std::string broker_url, std::string scope, std::optional<std::string> audience,
                         double refresh_buffer) {
                 const auto buffer = seconds_to_ms(refresh_buffer, "refresh_buffer");
                 py::gil_scoped_release nogil;
                 return kafka::SciTokenRefreshManager(std::move(broker_url), std::move(scope), std::move(audience),
                                                      buffer);
             }),
             py::arg("broker_url"), py::arg("scope") = "kafka.produce", py::arg("audience") = py::none(),
             py::arg("refresh_buffer") = 300)
        .def("get_token", &kafka::SciTokenRefreshManager::get_token, py::call_guard<py::gil_scoped_release>(),
             "The current token, re-read from disk first when due. KafkaTokenError once nothing valid is left.")
        .def("create_callback", &kafka::SciTokenRefreshManager::create_callback,
             "An OAuth callback sharing this manager's state.")
        .def_property_readonly("claims", [](const kafka::SciTokenRefreshManager& s) { return claims_dict(s.claims()); })
        .def_property_readonly("next_refresh",
                               [](const kafka::SciTokenRefreshManager& s) { return epoch_seconds(s.next_refresh()); })
        .def_property_readonly("refresh_count", &kafka::SciTokenRefreshManager::refresh_count);
}

}  // namespace gracedb::python
