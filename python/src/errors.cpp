// The exception classes, with the specification's tree rooted in Python's Exception, and the translation of
// the C++ library's exceptions into them (std::invalid_argument becomes ValueError, by pybind11).
#include <gracedb/kafka/errors.hpp>
#include <gracedb/rest/errors.hpp>

#include "bindings.hpp"

namespace gracedb::python {

ExceptionTypes& exception_types() {
    static ExceptionTypes types;
    return types;
}

void CallbackErrors::keep(py::error_already_set&& e) {
    std::lock_guard lock{mutex};
    pending.push_back(std::move(e));
}

void CallbackErrors::raise_one() {
    std::optional<py::error_already_set> e;
    {
        std::lock_guard lock{mutex};
        if (pending.empty()) return;
        e.emplace(std::move(pending.front()));
        pending.pop_front();
    }
    throw std::move(*e);
}

bool CallbackErrors::empty() {
    std::lock_guard lock{mutex};
    return pending.empty();
}

bool python_alive() { return Py_IsInitialized() && !_Py_IsFinalizing(); }

namespace {

PyObject* new_exception(py::module_& m, const char* module_name, const char* name, PyObject* base,
                        const char* doc) {
    const std::string qualified = std::string{module_name} + "." + name;
    PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, base, nullptr);
    if (!type) throw py::error_already_set();
    m.add_object(name, py::handle(type));  // the module owns the new reference
    return type;
}

void set_error(PyObject* type, const std::exception& e) { PyErr_SetString(type, e.what()); }

}  // namespace

void bind_errors(py::module_& m) {
    auto& t = exception_types();
    const char* k = "gracedb_cpp.kafka";
    t.kafka_error = new_exception(m, k, "KafkaError", PyExc_Exception, "Base exception for Kafka-related errors.");
    t.authentication = new_exception(m, k, "KafkaAuthenticationError", t.kafka_error,
                                     "Kafka authentication failed (also raised by the next produce(), flush() or "
                                     "poll() after librdkafka reported an authentication failure).");
    t.token = new_exception(m, k, "KafkaTokenError", t.authentication,
                            "No usable SciToken: none found, malformed, expired, or not for this audience or "
                            "scope. The message lists the places looked at, never the token.");
    t.producer = new_exception(m, k, "KafkaProducerError", t.kafka_error, "The producer encountered an error.");
    t.delivery = new_exception(m, k, "KafkaMessageDeliveryError", t.producer,
                               "A message that was accepted could not be delivered.");
    t.unfinished = new_exception(
        m, k, "KafkaUnfinishedEventError", t.delivery,
        "create_event reserved .graceid but could not confirm the event's publication (nor complete it "
        "over HTTP). .may_still_be_delivered: the message may still reach the supervisor; then .retriable "
        "is False: do not call create_event again (a second graceid, a second event), finish this one "
        "with client.upload_reserved_event(e.graceid, group, pipeline, filename, ...) (idempotent: 409 "
        "means done).");
    t.consumer = new_exception(m, k, "KafkaConsumerError", t.kafka_error, "The consumer encountered an error.");
    t.connection = new_exception(m, k, "KafkaConnectionError", t.kafka_error,
                                 "No Kafka broker could be reached within the time allowed.");

    const char* r = "gracedb_cpp.rest";
    t.gracedb_error = new_exception(m, r, "GraceDbError", PyExc_Exception, "Base exception of the REST client.");
    t.http = new_exception(m, r, "HTTPError", t.gracedb_error,
                           "GraceDB answered with a final 4xx/5xx: see .status_code, .text and .response.");
    t.not_uploaded = new_exception(
        m, r, "EventNotUploadedError", t.http,
        "A follow-up on a graceid this client published over Kafka kept meeting 404 'Event not found.' for "
        "the whole reservation_wait: the supervisor has not uploaded the event. .graceid, .waited "
        "(seconds); nothing was created, so sending the call again later is safe.");
    py::tuple transport_bases = py::make_tuple(py::handle(t.gracedb_error), py::handle(PyExc_ConnectionError));
    t.transport = new_exception(m, r, "TransportError", transport_bases.ptr(),
                                "No HTTP answer at all: connection refused, DNS, TLS handshake, timeout.");
    t.credential = new_exception(m, r, "CredentialError", t.gracedb_error,
                                 "Credentials that cannot be used (an unreadable certificate, an expired token).");

    py::register_exception_translator([](std::exception_ptr p) {
        if (!p) return;
        auto& types = exception_types();
        try {
            std::rethrow_exception(p);
        } catch (const kafka::KafkaTokenError& e) {
            set_error(types.token, e);
        } catch (const kafka::KafkaAuthenticationError& e) {
            set_error(types.authentication, e);
        } catch (const kafka::KafkaUnfinishedEventError& e) {
            py::object exc = py::reinterpret_borrow<py::object>(types.unfinished)(e.what());
            exc.attr("graceid") = e.graceid();
            exc.attr("may_still_be_delivered") = e.may_still_be_delivered();
            exc.attr("retriable") = e.retriable();
            PyErr_SetObject(types.unfinished, exc.ptr());
        } catch (const kafka::KafkaMessageDeliveryError& e) {
            set_error(types.delivery, e);
        } catch (const kafka::KafkaProducerError& e) {
            set_error(types.producer, e);
        } catch (const kafka::KafkaConsumerError& e) {
            set_error(types.consumer, e);
        } catch (const kafka::KafkaConnectionError& e) {
            set_error(types.connection, e);
        } catch (const kafka::KafkaError& e) {
            set_error(types.kafka_error, e);
        } catch (const HTTPError& e) {
            const auto* late = dynamic_cast<const EventNotUploadedError*>(&e);
            PyObject* type = late ? types.not_uploaded : types.http;
            py::object exc = py::reinterpret_borrow<py::object>(type)(e.what());
            if (late) {
                exc.attr("graceid") = late->graceid();
                exc.attr("waited") = static_cast<double>(late->waited().count()) / 1000.0;
            }
            exc.attr("status_code") = e.status();
            exc.attr("text") = py::reinterpret_steal<py::object>(
                PyUnicode_DecodeUTF8(e.body().data(), static_cast<Py_ssize_t>(e.body().size()), "replace"));
            exc.attr("response") = py::module_::import("gracedb_cpp._core")
                                       .attr("Response")(e.status(), py::bytes(e.body()));
            PyErr_SetObject(type, exc.ptr());
        } catch (const TransportError& e) {
            set_error(types.transport, e);
        } catch (const CredentialError& e) {
            set_error(types.credential, e);
        } catch (const GraceDbError& e) {
            set_error(types.gracedb_error, e);
        }
        // Anything else goes on to pybind11's own translation (std::invalid_argument -> ValueError, ...).
    });
}

}  // namespace gracedb::python
