// What the binding's source files share: the exception types, the producer object that the REST client's
// create_event takes, the REST client object, and the registration functions of each part.
#pragma once

#include <gracedb/kafka/producer.hpp>
#include <gracedb/rest/client.hpp>

#include <pybind11/pybind11.h>

#include <deque>
#include <memory>
#include <mutex>
#include <optional>

namespace gracedb::python {

namespace py = pybind11;

/// The Python exception classes (owned by the module; borrowed here).
struct ExceptionTypes {
    PyObject* kafka_error = nullptr;
    PyObject* authentication = nullptr;
    PyObject* token = nullptr;
    PyObject* producer = nullptr;
    PyObject* delivery = nullptr;
    PyObject* unfinished = nullptr;
    PyObject* consumer = nullptr;
    PyObject* connection = nullptr;
    PyObject* gracedb_error = nullptr;
    PyObject* http = nullptr;
    PyObject* not_uploaded = nullptr;
    PyObject* transport = nullptr;
    PyObject* credential = nullptr;
};
ExceptionTypes& exception_types();

/// Exceptions raised by Python on_delivery callbacks, kept until the producer's next call raises them.
struct CallbackErrors {
    std::mutex mutex;
    std::deque<py::error_already_set> pending;

    void keep(py::error_already_set&& e);
    /// Raises the oldest kept exception, if any (GIL held).
    void raise_one();
    bool empty();
};

/// GraceDbKafkaProducer: a kafka::Producer and the errors of its Python callbacks.
class PyProducer {
public:
    explicit PyProducer(kafka::ProducerOptions options);
    explicit PyProducer(kafka::Producer producer);
    ~PyProducer();
    PyProducer(const PyProducer&) = delete;
    PyProducer& operator=(const PyProducer&) = delete;

    kafka::Producer& get() { return producer_; }
    const std::shared_ptr<CallbackErrors>& errors() const { return errors_; }

private:
    kafka::Producer producer_;
    std::shared_ptr<CallbackErrors> errors_ = std::make_shared<CallbackErrors>();
};

/// GraceDb: the REST client (create_kafka_producer hands it to GraceDbKafkaProducer, which asks it for a
/// producer of its instance).
struct PyGraceDb {
    GraceDb client;
};

/// True while the interpreter can run Python code (not during its shutdown).
bool python_alive();

void bind_errors(py::module_& m);
void bind_kafka_helpers(py::module_& m);
void bind_producer(py::module_& m);
void bind_consumer(py::module_& m);
void bind_rest(py::module_& m);

}  // namespace gracedb::python
