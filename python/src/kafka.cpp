// gracedb_cpp.kafka: GraceDbKafkaProducer, GraceDbKafkaConsumer, the token helpers and the topic utilities,
// with the specification's keyword arguments, defaults and return shapes.
//
// Threads and the GIL: every call that may wait (produce when the queue is full, flush, poll, ping, close,
// constructors that look for a token) releases the GIL. Long waits run in slices of at most 100 ms, between
// which Python's signal handlers run, so Ctrl-C ends a flush(-1) or a poll(60). on_delivery callbacks run on
// the thread that called produce/flush/poll/close (as in confluent-kafka) and take the GIL back; an exception
// they raise is kept and raised by the producer's next call (produce raises it before producing; flush, poll,
// ping and close after doing their work), one per call, so that none is lost.
//
// close() from another thread while a call runs (issue 22): the C++ core wakes that call, waits for it to
// leave and only then releases librdkafka's handle; the call raises KafkaConsumerError / KafkaProducerError
// saying the client is closed (a consumer's poll may return None), as does every later call. The C++ object
// lives as long as the Python object, which pybind11 keeps alive while any thread is inside one of its
// methods (the call holds `self`): nothing here is destroyed under a running call.
#include <gracedb/kafka.hpp>

#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "bindings.hpp"
#include "convert.hpp"

namespace gracedb::python {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using kafka::Consumer;
using kafka::ConsumerOptions;
using kafka::Producer;
using kafka::ProducerOptions;

namespace {

constexpr auto kSlice = 100ms;

std::optional<std::string> opt_str(const py::object& o, const char* what) {
    if (o.is_none()) return std::nullopt;
    if (!PyUnicode_Check(o.ptr()))
        throw py::type_error(std::string{what} + " must be a str or None, not " + Py_TYPE(o.ptr())->tp_name);
    return o.cast<std::string>();
}

bool resolve_reload(bool reload_cred, const py::object& auto_refresh_token) {
    if (auto_refresh_token.is_none()) return reload_cred;
    // Under -W error::DeprecationWarning the warning is an exception: raise it.
    if (PyErr_WarnEx(PyExc_DeprecationWarning, "auto_refresh_token is deprecated: use reload_cred", 2) < 0)
        throw py::error_already_set();
    return auto_refresh_token.cast<bool>();
}

/// The keyword arguments the producer and the consumer share (connection, TLS, token), as the Python
/// constructors take them.
struct ConnectionArgs {
    std::string bootstrap_servers;
    const py::object& instance_name;
    const py::object& service_url;
    bool use_ssl;
    const py::object& ca_cert_path;
    bool skip_hostname_verification;
    std::string token_scope;
    const py::object& token_audience;
    bool reload_cred;
    double reload_buffer;
    const py::object& auto_refresh_token;

    template <class Options>
    void apply(Options& o) {
        o.bootstrap_servers = std::move(bootstrap_servers);
        o.instance_name = opt_str(instance_name, "instance_name");
        o.service_url = opt_str(service_url, "service_url");
        o.use_ssl = use_ssl;
        o.ca_cert_path = opt_str(ca_cert_path, "ca_cert_path");
        o.skip_hostname_verification = skip_hostname_verification;
        o.token_scope = std::move(token_scope);
        o.token_audience = opt_str(token_audience, "token_audience");
        o.reload_cred = resolve_reload(reload_cred, auto_refresh_token);
        o.reload_buffer = seconds_to_ms(reload_buffer, "reload_buffer");
    }
};

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

/// Flushes in slices until nothing is queued or `timeout` (negative: no limit) has passed, running Python's
/// signal handlers in between. Delivery failures of intermediate slices are gathered and raised at the end,
/// as one flush would; a connection error only counts when the whole time is up.
int sliced_flush(Producer& p, std::chrono::milliseconds timeout) {
    const bool forever = timeout < 0ms;
    const auto deadline = Clock::now() + (forever ? 0ms : timeout);
    std::string failures;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        const auto slice = forever ? kSlice : std::clamp(left, 0ms, kSlice);
        const bool last = !forever && left <= kSlice;
        int remaining = 0;
        try {
            py::gil_scoped_release nogil;
            remaining = p.flush(slice);
        } catch (const kafka::KafkaMessageDeliveryError& e) {
            failures += (failures.empty() ? "" : "; ") + std::string{e.what()};
            remaining = static_cast<int>(p.pending_messages());
        } catch (const kafka::KafkaConnectionError&) {
            if (last) {
                if (!failures.empty()) throw kafka::KafkaMessageDeliveryError(failures);
                throw;
            }
            remaining = static_cast<int>(p.pending_messages());
        }
        if (remaining == 0 || last) {
            if (!failures.empty()) throw kafka::KafkaMessageDeliveryError(failures);
            return remaining;
        }
        check_signals();
    }
}

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

py::dict ping_dict(const kafka::PingResult& r) {
    py::dict d;
    d["topic"] = r.topic;
    d["partition"] = r.partition;
    d["offset"] = r.offset;
    d["message"] = json_loads(r.message.dump());
    return d;
}

/// since_gps / until_gps: None, or a number of GPS seconds (TypeError otherwise; ValueError for a bad one
/// comes from the consumer).
std::optional<double> gps_seconds(const py::object& value, const char* name) {
    if (value.is_none()) return std::nullopt;
    // A number: int, float, or anything that converts itself with __float__ (numpy scalars, lal.LIGOTimeGPS,
    // astropy's GPS times); not bool, not a string.
    if (py::isinstance<py::bool_>(value) || !py::hasattr(value, "__float__"))
        throw py::type_error(std::string{name} + " must be a number of GPS seconds or None");
    return value.attr("__float__")().cast<double>();
}

/// GraceDbKafkaConsumer's state: the consumer and the stop flag of its stream().
class PyConsumer {
public:
    explicit PyConsumer(ConsumerOptions options) : consumer_{std::move(options)} {}
    ~PyConsumer() {
        // The consumer's destructor leaves the group (bounded by its deadline): without the GIL.
        if (python_alive() && PyGILState_Check()) {
            py::gil_scoped_release nogil;
            consumer_.reset();
        }
    }
    PyConsumer(const PyConsumer&) = delete;
    PyConsumer& operator=(const PyConsumer&) = delete;

    Consumer& get() { return *consumer_; }
    std::atomic<bool> stop{false};

    /// One message or None within `timeout`, in slices between which signal handlers run. With
    /// `stoppable`, returns None as soon as stop() was called (stream() polls this way).
    py::object poll(std::chrono::milliseconds timeout, bool stoppable) {
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            std::optional<kafka::Message> m;
            {
                py::gil_scoped_release nogil;
                m = consumer_->poll(std::clamp(left, 0ms, kSlice));
            }
            if (m) return message_dict(*m);
            check_signals();
            if ((stoppable && stop.load()) || Clock::now() >= deadline || consumer_->replay_finished())
                return py::none();
        }
    }

private:
    std::optional<Consumer> consumer_;
};

}  // namespace

PyProducer::PyProducer(ProducerOptions options) : producer_{std::move(options)} {}

PyProducer::~PyProducer() {
    // The producer's destructor closes with flush_timeout and may run on_delivery callbacks: without the GIL,
    // which the callbacks take back.
    if (python_alive() && PyGILState_Check()) {
        py::gil_scoped_release nogil;
        try {
            producer_.close(producer_.flush_timeout());
        } catch (const std::exception& e) {
            PyGILState_STATE s = PyGILState_Ensure();
            PySys_WriteStderr("gracedb_cpp: GraceDbKafkaProducer destroyed without close(): %.900s\n", e.what());
            PyGILState_Release(s);
        }
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

void bind_kafka(py::module_& m) {
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
                         const py::object& auto_refresh_token, const py::kwargs& config) {
                 ProducerOptions o;
                 ConnectionArgs{std::move(bootstrap_servers), instance_name, service_url, use_ssl, ca_cert_path,
                                skip_hostname_verification, std::move(token_scope), token_audience, reload_cred,
                                reload_buffer, auto_refresh_token}
                     .apply(o);
                 o.topic = opt_str(topic, "topic");
                 o.flush_timeout = seconds_to_ms(flush_timeout, "flush_timeout");
                 o.guaranteed_delivery = guaranteed_delivery;
                 o.kafka_config = kafka_config(config);
                 py::gil_scoped_release nogil;
                 return std::make_unique<PyProducer>(std::move(o));
             }),
             py::arg("bootstrap_servers"), py::arg("topic") = py::none(), py::arg("instance_name") = py::none(),
             py::arg("service_url") = py::none(), py::arg("use_ssl") = true, py::arg("ca_cert_path") = py::none(),
             py::arg("skip_hostname_verification") = false, py::arg("token_scope") = "kafka.produce",
             py::arg("token_audience") = py::none(), py::arg("reload_cred") = true, py::arg("reload_buffer") = 300,
             py::arg("flush_timeout") = 10, py::arg("guaranteed_delivery") = true,
             py::arg("auto_refresh_token") = py::none())
        .def("produce", &produce, py::arg("value"), py::arg("topic") = py::none(), py::arg("key") = py::none(),
             py::arg("headers") = py::none(), py::arg("partition") = py::none(), py::arg("on_delivery") = py::none(),
             "Produce a message: a dict (sent as JSON), a str (UTF-8) or bytes. ValueError without a topic.")
        .def(
            "flush",
            [](PyProducer& self, double timeout) {
                const auto ms = timeout < 0 ? -1ms : seconds_to_ms(timeout, "timeout");
                const int left = sliced_flush(self.get(), ms);
                self.errors()->raise_one();
                return left;
            },
            py::arg("timeout") = -1,
            "Wait for the queued messages' delivery (timeout seconds; -1: no limit); returns how many are left.")
        .def(
            "poll",
            [](PyProducer& self, double timeout) {
                const auto deadline = Clock::now() + seconds_to_ms(timeout, "timeout");
                int served = 0;
                for (;;) {
                    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                    {
                        py::gil_scoped_release nogil;
                        served += self.get().poll(std::clamp(left, 0ms, kSlice));
                    }
                    self.errors()->raise_one();
                    if (served > 0 || Clock::now() >= deadline) return served;
                    check_signals();
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
                const auto deadline = Clock::now() + ms;
                std::exception_ptr first;
                try {
                    sliced_flush(self.get(), ms);  // Ctrl-C may end this part
                } catch (const kafka::KafkaError&) {
                    first = std::current_exception();
                }
                try {
                    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                    py::gil_scoped_release nogil;
                    self.get().close(std::max(left, 0ms));
                } catch (...) {
                    if (!first) throw;
                }
                if (first) std::rethrow_exception(first);
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

    // --- the consumer ----------------------------------------------------------------------------------
    py::class_<PyConsumer>(m, "_GraceDbKafkaConsumer")
        .def(py::init([](std::string bootstrap_servers, const py::object& topics, const py::object& instance_name,
                         const py::object& service_url, const py::object& group_id, bool use_ssl,
                         const py::object& ca_cert_path, bool skip_hostname_verification, std::string token_scope,
                         const py::object& token_audience, bool reload_cred, double reload_buffer,
                         const py::object& auto_refresh_token, std::string auto_offset_reset,
                         const py::object& since_gps, const py::object& until_gps, const py::kwargs& config) {
                 ConsumerOptions o;
                 ConnectionArgs{std::move(bootstrap_servers), instance_name, service_url, use_ssl, ca_cert_path,
                                skip_hostname_verification, std::move(token_scope), token_audience, reload_cred,
                                reload_buffer, auto_refresh_token}
                     .apply(o);
                 if (!topics.is_none()) o.topics = pipelines(topics, "topics");
                 o.group_id = opt_str(group_id, "group_id");
                 o.auto_offset_reset = std::move(auto_offset_reset);
                 o.since_gps = gps_seconds(since_gps, "since_gps");
                 o.until_gps = gps_seconds(until_gps, "until_gps");
                 o.kafka_config = kafka_config(config);
                 py::gil_scoped_release nogil;
                 return std::make_unique<PyConsumer>(std::move(o));
             }),
             py::arg("bootstrap_servers"), py::arg("topics") = py::none(), py::arg("instance_name") = py::none(),
             py::arg("service_url") = py::none(), py::arg("group_id") = py::none(), py::arg("use_ssl") = true,
             py::arg("ca_cert_path") = py::none(), py::arg("skip_hostname_verification") = false,
             py::arg("token_scope") = "kafka.consume", py::arg("token_audience") = py::none(),
             py::arg("reload_cred") = true, py::arg("reload_buffer") = 300, py::arg("auto_refresh_token") = py::none(),
             py::arg("auto_offset_reset") = "latest", py::arg("since_gps") = py::none(),
             py::arg("until_gps") = py::none())
        .def_property_readonly(
            "replay_finished", [](PyConsumer& self) { return self.get().replay_finished(); },
            "True when until_gps is set and every assigned partition has reached it: nothing more will come.")
        .def(
            "subscribe",
            [](PyConsumer& self, const py::object& topics) {
                auto names = pipelines(topics, "topics");
                py::gil_scoped_release nogil;
                self.get().subscribe(names);
            },
            py::arg("topics"), "Subscribe to pipeline(s), namespaced for you, replacing the previous subscription.")
        .def(
            "poll",
            [](PyConsumer& self, double timeout) { return self.poll(seconds_to_ms(timeout, "timeout"), false); },
            py::arg("timeout") = 1.0,
            "One message dict (topic, partition, offset, key, value, timestamp, headers), or None within timeout "
            "seconds.")
        .def(
            "_stream_poll",
            [](PyConsumer& self, double timeout) { return self.poll(seconds_to_ms(timeout, "timeout"), true); },
            py::arg("timeout"))
        .def("_reset_stop", [](PyConsumer& self) { self.stop.store(false); })
        .def_property_readonly("_stop_requested", [](PyConsumer& self) { return self.stop.load(); })
        .def(
            "stop", [](PyConsumer& self) { self.stop.store(true); },
            "Signal the stream() loop to stop at its next poll (callable from any thread and signal handler).")
        .def(
            "commit",
            [](PyConsumer& self, const py::object& message) {
                if (message.is_none()) {
                    py::gil_scoped_release nogil;
                    self.get().commit();
                    return;
                }
                kafka::Message msg;
                msg.topic = message["topic"].cast<std::string>();
                msg.partition = message["partition"].cast<std::int32_t>();
                msg.offset = message["offset"].cast<std::int64_t>();
                py::gil_scoped_release nogil;
                self.get().commit(msg);
            },
            py::arg("message") = py::none(),
            "Mark a message dict (and everything before it in its partition), or everything returned so far, as "
            "processed (synchronous commit).")
        .def(
            "wait_for_assignment",
            [](PyConsumer& self, double timeout) {
                const auto deadline = Clock::now() + seconds_to_ms(timeout, "timeout");
                for (;;) {
                    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
                    bool ok = false;
                    {
                        py::gil_scoped_release nogil;
                        ok = self.get().wait_for_assignment(std::clamp(left, 0ms, 250ms));
                    }
                    if (ok) return true;
                    if (Clock::now() >= deadline) return false;
                    check_signals();
                }
            },
            py::arg("timeout") = 10.0,
            "Poll until partitions are assigned (messages meanwhile are kept for poll()); False if not within "
            "timeout seconds.")
        .def("assignment", [](PyConsumer& self) { return self.get().assignment(); })
        .def(
            "pause", [](PyConsumer& self, const std::string& topic, std::int32_t partition) {
                self.get().pause(topic, partition);
            },
            py::arg("topic"), py::arg("partition"))
        .def(
            "resume", [](PyConsumer& self, const std::string& topic, std::int32_t partition) {
                self.get().resume(topic, partition);
            },
            py::arg("topic"), py::arg("partition"))
        .def(
            "close",
            [](PyConsumer& self, double timeout) {
                const auto ms = seconds_to_ms(timeout, "timeout");
                py::gil_scoped_release nogil;
                self.get().close(ms);
            },
            py::arg("timeout") = 10.0, "Leave the group and close, within timeout seconds.")
        .def_property_readonly("group_id", [](PyConsumer& self) { return self.get().group_id(); })
        .def_property_readonly("instance_name", [](PyConsumer& self) { return self.get().instance_name(); })
        .def_property_readonly("token_claims", [](PyConsumer& self) {
            auto c = self.get().token_claims();
            return c ? py::object(claims_dict(*c)) : py::object(py::none());
        });
}

}  // namespace gracedb::python
