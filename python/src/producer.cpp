// gracedb_cpp.kafka.GraceDbKafkaProducer: its constructor's keyword arguments, produce() (dict, str or bytes;
// headers; on_delivery), flush, poll, ping, close, and the DeliveredMessage its on_delivery callbacks get.
//
// Threads and the GIL: every call that may wait releases the GIL; Ctrl-C ends a wait (the producer's
// interrupt hook runs Python's signal handlers between slices). on_delivery callbacks run on the thread that
// called produce/flush/poll/close (as in confluent-kafka) and take the GIL back; an exception they raise is
// kept and raised by the producer's next call (produce raises it before producing; flush, poll, ping and
// close after doing their work), one per call, so that none is lost. close() from another thread while a
// call runs: the call raises KafkaProducerError saying the client is closed, as does every later call.
#include <gracedb/kafka.hpp>

#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "bindings.hpp"
#include "client_args.hpp"
#include "common/deadline.hpp"
#include "convert.hpp"

namespace gracedb::python {

using namespace std::chrono_literals;
using kafka::Producer;
using kafka::ProducerOptions;

namespace {

constexpr auto kSlice = 100ms;

/// What a delivery report hands to on_delivery as `msg`: confluent-kafka's Message methods.
struct DeliveredMessage {
    std::string topic;
    std::int32_t partition;
    std::int64_t offset;
    std::optional<std::string> key;
    std::shared_ptr<const std::string> value;
    std::optional<std::string> error;
};

/// The Python side of one message's on_delivery. Destroyed wherever librdkafka drops the report, possibly
/// without the GIL: the destructor takes it.
struct DeliveryCallback {
    py::object callback;
    std::shared_ptr<const std::string> value;
    std::shared_ptr<CallbackErrors> errors;

    ~DeliveryCallback() {
        if (!python_alive()) {
            callback.release();  // the interpreter is gone: leak rather than touch it
            return;
        }
        py::gil_scoped_acquire gil;
        callback = py::object{};
    }

    void operator()(const kafka::DeliveryReport& r) {
        if (!python_alive()) return;
        py::gil_scoped_acquire gil;
        try {
            py::object err = py::none();
            if (r.error)
                err = py::reinterpret_borrow<py::object>(exception_types().delivery)(
                    "delivery to topic \"" + r.topic + "\"" + (r.key ? ", key \"" + *r.key + "\"" : std::string{}) +
                    " failed: " + *r.error);
            callback(err, DeliveredMessage{r.topic, r.partition, r.offset, r.key, value, r.error});
        } catch (py::error_already_set& e) {
            errors->keep(std::move(e));
        }
    }
};

void produce(PyProducer& self, const py::object& value, const py::object& topic, const py::object& key,
             const py::object& headers, const py::object& partition, const py::object& on_delivery) {
    self.errors()->raise_one();  // an earlier callback's exception: raised before anything is produced

    kafka::ProduceOptions o;
    o.topic = opt_str(topic, "topic");
    if (!key.is_none()) o.key = text_or_bytes(key, "key");
    if (!headers.is_none()) {
        py::object items = PyDict_Check(headers.ptr()) ? headers.attr("items")() : headers;
        for (auto item : items) {
            auto pair = py::reinterpret_borrow<py::tuple>(item);
            if (pair.size() != 2) throw py::value_error("headers: each header must be a (name, value) pair");
            o.headers.emplace_back(text_or_bytes(pair[0], "a header name"), text_or_bytes(pair[1], "a header value"));
        }
    }
    if (!partition.is_none()) {
        const auto p = partition.cast<long long>();
        if (p < -1 || p > std::numeric_limits<std::int32_t>::max())
            throw py::value_error("partition must be a partition number (>= 0), got " + std::to_string(p));
        o.partition = static_cast<std::int32_t>(p);
    }

    std::string json;
    std::string copy;
    std::string_view data;
    PyObject* v = value.ptr();
    if (PyDict_Check(v)) {
        // Sized like this thread's previous message: one allocation, no regrowth, for like events.
        thread_local std::size_t usual = 256;
        json.reserve(usual);
        append_json(json, value);
        usual = std::clamp<std::size_t>(json.size() + json.size() / 8, 256, 1 << 20);
        data = json;
    } else if (PyUnicode_Check(v)) {
        Py_ssize_t size = 0;
        const char* s = PyUnicode_AsUTF8AndSize(v, &size);
        if (!s) throw py::error_already_set();
        data = {s, static_cast<std::size_t>(size)};  // `value` keeps the buffer alive
    } else if (PyBytes_Check(v)) {
        data = {PyBytes_AS_STRING(v), static_cast<std::size_t>(PyBytes_GET_SIZE(v))};
    } else if (PyByteArray_Check(v) || PyMemoryView_Check(v)) {
        py::buffer_info info = py::reinterpret_borrow<py::buffer>(value).request();
        copy.assign(static_cast<const char*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize));
        data = copy;  // copied: another thread may change a bytearray while the GIL is released
    } else {
        throw py::type_error(std::string{"produce(): value must be a dict, str or bytes, not "} + Py_TYPE(v)->tp_name);
    }

    if (!on_delivery.is_none()) {
        if (!PyCallable_Check(on_delivery.ptr()))
            throw py::type_error("on_delivery must be a callable on_delivery(err, msg)");
        auto cb = std::make_shared<DeliveryCallback>();
        cb->callback = on_delivery;
        cb->value = std::make_shared<const std::string>(data);
        cb->errors = self.errors();
        o.on_delivery = [cb](const kafka::DeliveryReport& r) { (*cb)(r); };
    }
    py::gil_scoped_release nogil;
    self.get().produce(data, std::move(o));
}

}  // namespace

PyProducer::PyProducer(ProducerOptions options) : producer_{std::move(options)} {}

PyProducer::PyProducer(Producer producer) : producer_{std::move(producer)} {}

PyProducer::~PyProducer() {
    // The producer's destructor closes with flush_timeout and may run on_delivery callbacks: without the GIL,
    // which the callbacks take back. Not close(): its flush runs the interrupt hook, which would run (and
    // here swallow) a pending Ctrl-C's handler and then leave the closing to a second flush with the GIL
    // held; the C++ destructor never calls the hook and logs what it could not deliver.
    if (python_alive() && PyGILState_Check()) {
        py::gil_scoped_release nogil;
        kafka::Producer closing{std::move(producer_)};
    }
    if (python_alive() && !errors_->empty()) {
        PyGILState_STATE s = PyGILState_Ensure();
        while (!errors_->empty()) {
            try {
                errors_->raise_one();
            } catch (py::error_already_set& e) {
                e.discard_as_unraisable("on_delivery of a GraceDbKafkaProducer destroyed before its next call");
            }
        }
        PyGILState_Release(s);
    }
}

void bind_producer(py::module_& m) {
    // --- delivery reports ------------------------------------------------------------------------------
    py::class_<DeliveredMessage>(m, "DeliveredMessage",
                                 "The message of a delivery report (confluent-kafka's Message methods).")
        .def("topic", [](const DeliveredMessage& d) { return d.topic; })
        .def("partition", [](const DeliveredMessage& d) { return d.partition; })
        .def("offset", [](const DeliveredMessage& d) { return d.offset; })
        .def("key", [](const DeliveredMessage& d) { return d.key ? py::object(py::bytes(*d.key)) : py::none(); })
        .def("value", [](const DeliveredMessage& d) { return d.value ? py::object(py::bytes(*d.value)) : py::none(); })
        .def("error", [](const DeliveredMessage& d) { return d.error; })
        .def("__repr__", [](const DeliveredMessage& d) {
            return "<DeliveredMessage " + d.topic + "[" + std::to_string(d.partition) + "]@" +
                   std::to_string(d.offset) + (d.error ? " error: " + *d.error : std::string{}) + ">";
        });

    // --- the producer ----------------------------------------------------------------------------------
    py::class_<PyProducer>(m, "GraceDbKafkaProducer",
                           "Kafka producer with SciToken authentication for GraceDB events (the C++ library's "
                           "gracedb::kafka::Producer).")
        .def(py::init([](std::string bootstrap_servers, const py::object& topic, const py::object& instance_name,
                         const py::object& service_url, bool use_ssl, const py::object& ca_cert_path,
                         bool skip_hostname_verification, std::string token_scope, const py::object& token_audience,
                         bool reload_cred, double reload_buffer, double flush_timeout, bool guaranteed_delivery,
                         const py::object& auto_refresh_token, const PyGraceDb* client,
                         const py::kwargs& config) {
                 ProducerOptions o;
                 connection(std::move(bootstrap_servers), instance_name, service_url, use_ssl, ca_cert_path,
                            skip_hostname_verification, std::move(token_scope), token_audience, reload_cred,
                            reload_buffer, auto_refresh_token)
                     .apply_to(o);
                 o.topic = opt_str(topic, "topic");
                 o.flush_timeout = seconds_to_ms(flush_timeout, "flush_timeout");
                 o.guaranteed_delivery = guaranteed_delivery;
                 o.kafka_config = kafka_config(config);
                 o.interrupt = run_signal_handlers;  // Ctrl-C ends flush, ping and close
                 py::gil_scoped_release nogil;
                 // GraceDb.create_kafka_producer passes itself: its C++ create_kafka_producer names the
                 // instance with its URL unless the options name one.
                 if (client)
                     return std::make_unique<PyProducer>(client->client.create_kafka_producer(std::move(o)));
                 return std::make_unique<PyProducer>(std::move(o));
             }),
             py::arg("bootstrap_servers"), py::arg("topic") = py::none(), py::arg("instance_name") = py::none(),
             py::arg("service_url") = py::none(), py::arg("use_ssl") = true, py::arg("ca_cert_path") = py::none(),
             py::arg("skip_hostname_verification") = false, py::arg("token_scope") = "kafka.produce",
             py::arg("token_audience") = py::none(), py::arg("reload_cred") = true, py::arg("reload_buffer") = 300,
             py::arg("flush_timeout") = 10, py::arg("guaranteed_delivery") = true,
             py::arg("auto_refresh_token") = py::none(), py::kw_only(), py::arg("_client") = py::none())
        .def("produce", &produce, py::arg("value"), py::arg("topic") = py::none(), py::arg("key") = py::none(),
             py::arg("headers") = py::none(), py::arg("partition") = py::none(), py::arg("on_delivery") = py::none(),
             "Produce a message: a dict (sent as JSON), a str (UTF-8) or bytes. ValueError without a topic.")
        .def(
            "flush",
            [](PyProducer& self, double timeout) {
                const bool forever = timeout < 0;
                const auto ms = forever ? 0ms : seconds_to_ms(timeout, "timeout");
                int left = 0;
                {
                    py::gil_scoped_release nogil;  // Ctrl-C: the interrupt hook
                    left = forever ? self.get().flush() : self.get().flush(ms);
                }
                self.errors()->raise_one();
                return left;
            },
            py::arg("timeout") = -1,
            "Wait for the queued messages' delivery (timeout seconds; -1: no limit); returns how many are left.")
        .def(
            "poll",
            [](PyProducer& self, double timeout) {
                // Producer::poll calls no interrupt hook: a long poll runs in slices, Ctrl-C between them.
                const auto deadline = detail::Deadline::after(seconds_to_ms(timeout, "timeout"));
                int served = 0;
                for (;;) {
                    {
                        py::gil_scoped_release nogil;
                        served += self.get().poll(deadline.slice(kSlice));
                    }
                    self.errors()->raise_one();
                    if (served > 0 || deadline.expired()) return served;
                    run_signal_handlers();
                }
            },
            py::arg("timeout") = 0, "Serve delivery reports for at most timeout seconds; returns how many.")
        .def(
            "ping",
            [](PyProducer& self, const py::object& topic, double timeout) {
                auto pipeline = opt_str(topic, "topic");
                const auto ms = seconds_to_ms(timeout, "timeout");
                kafka::PingResult r;
                {
                    py::gil_scoped_release nogil;
                    r = self.get().ping(std::move(pipeline), ms);
                }
                self.errors()->raise_one();
                return ping_dict(r);
            },
            py::arg("topic") = py::none(), py::arg("timeout") = 10,
            "Send a test message and wait for its delivery: {'topic', 'partition', 'offset', 'message'}.")
        .def(
            "close",
            [](PyProducer& self, double timeout) {
                const auto ms = seconds_to_ms(timeout, "timeout");
                {
                    py::gil_scoped_release nogil;  // Ctrl-C during its flush: the interrupt hook
                    self.get().close(ms);
                }
                self.errors()->raise_one();
            },
            py::arg("timeout") = 30, "Flush (at most timeout seconds) and release the producer. Idempotent.")
        .def_property_readonly("pending_messages", [](PyProducer& self) { return self.get().pending_messages(); },
                               "Number of messages currently pending delivery.")
        .def("__len__", [](PyProducer& self) { return self.get().pending_messages(); })
        .def_property_readonly("instance_name", [](PyProducer& self) { return self.get().instance_name(); })
        .def_property_readonly("default_topic", [](PyProducer& self) { return self.get().default_topic(); })
        .def_property_readonly("flush_timeout",
                               [](PyProducer& self) { return static_cast<double>(self.get().flush_timeout().count()) / 1000.0; })
        .def_property_readonly("token_claims",
                               [](PyProducer& self) {
                                   auto c = self.get().token_claims();
                                   return c ? py::object(claims_dict(*c)) : py::object(py::none());
                               })
        .def_property_readonly("token_refresh_count", [](PyProducer& self) { return self.get().token_refresh_count(); })
        .def("topic_for", [](PyProducer& self, const std::string& pipeline) { return self.get().topic_for(pipeline); },
             py::arg("pipeline"), "The namespaced topic of a pipeline.")
        .def("__enter__", [](py::object self) { return self; })
        .def("__exit__", [](const py::object& self, const py::object&, const py::object&, const py::object&) {
            self.attr("close")();  // an error of close() is raised, with the block's exception as its context
            return false;
        });

}

}  // namespace gracedb::python
