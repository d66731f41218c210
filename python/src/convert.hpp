// Conversions between Python objects and what the C++ library takes and gives: JSON text, durations,
// librdkafka settings, and one converter per result struct (message, ping, outbox resume, token claims).
// Every function here runs with the GIL held.
#pragma once

#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/client.hpp>
#include <gracedb/scitoken.hpp>

#include <pybind11/pybind11.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gracedb::python {

namespace py = pybind11;

/// Appends the JSON text of a dict (or list, str, int, float, bool, None inside it) to `out`, as json.dumps
/// would accept it: TypeError for an object JSON cannot hold, ValueError for NaN/Infinity (not JSON) and for
/// nesting deeper than 500 (json.dumps: a circular reference).
void append_json(std::string& out, py::handle value);

/// Seconds (int or float, as in the Python API) to milliseconds; ValueError when negative (unless
/// `allow_negative`) or not finite. `what` names the argument in the message.
std::chrono::milliseconds seconds_to_ms(double seconds, const char* what, bool allow_negative = false);

/// The **kafka_config of a constructor: {"linger.ms": 5, "enable.idempotence": True} -> librdkafka's strings.
/// ValueError for a value that is a callable or None (confluent-kafka's callbacks have no place here).
std::map<std::string, std::string> kafka_config(const py::kwargs& config);

/// str or bytes -> std::string (for keys, header values, file contents); TypeError otherwise.
std::string text_or_bytes(py::handle value, const char* what);

/// "test" or ["gstlal", "test"] -> a list of pipeline names.
std::vector<std::string> pipelines(py::handle topics, const char* what);

/// The spec's message dict: topic, partition, offset, key, value, timestamp (ms since the epoch), headers.
/// `value` is the parsed JSON when the message is JSON, else str when it is UTF-8, else bytes; keys and header
/// values are str when UTF-8, else bytes.
py::dict message_dict(const kafka::Message& m);

/// Producer::ping()'s result: {'topic', 'partition', 'offset', 'message'} (the message parsed).
py::dict ping_dict(const kafka::PingResult& r);

/// GraceDb::resume_outbox()'s result: {'completed', 'failed', 'busy', 'other_service', 'errors'}.
py::dict outbox_resume_dict(const OutboxResumeResult& r);

/// The claims of a token as a dict (exp, iat, nbf as seconds since the epoch). Never the token.
py::dict claims_dict(const TokenClaims& claims);

/// JSON text -> Python object (json.loads).
py::object json_loads(const std::string& text);

/// Seconds since the epoch of a time point.
double epoch_seconds(std::chrono::system_clock::time_point t);

}  // namespace gracedb::python
