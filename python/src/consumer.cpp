// gracedb_cpp.kafka's consumer (_GraceDbKafkaConsumer; the Python class GraceDbKafkaConsumer adds stream()):
// its constructor's keyword arguments, poll, subscribe, commit, wait_for_assignment, pause/resume, close.
//
// Every call that may wait releases the GIL; Ctrl-C ends a wait (the consumer's interrupt hook runs Python's
// signal handlers between slices). close() from another thread while a call runs: the call raises
// KafkaConsumerError saying the client is closed (a poll may return None), as does every later call.
#include <gracedb/kafka.hpp>

#include <pybind11/stl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "bindings.hpp"
#include "client_args.hpp"
#include "convert.hpp"

namespace gracedb::python {

using kafka::Consumer;
using kafka::ConsumerOptions;

namespace {

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

/// What the interrupt hook of a consumer looks at: stop() of its stream() (only while the stream polls).
struct StreamStop {
    std::atomic<bool> requested{false};
    std::atomic<bool> streaming{false};
};

/// Marks a poll of stream() for as long as it runs.
struct Streaming {
    StreamStop& stop;
    Streaming(StreamStop& s, bool on) : stop{s} { stop.streaming.store(on); }
    ~Streaming() { stop.streaming.store(false); }
    Streaming(const Streaming&) = delete;
    Streaming& operator=(const Streaming&) = delete;
};

/// Thrown by the hook to end a stream's poll once stop() was called: the poll returns None.
struct StreamStopped {};

/// GraceDbKafkaConsumer's state: the consumer, whose interrupt hook runs Python's signal handlers (so Ctrl-C
/// ends its waits) and ends a stream's poll after stop().
class PyConsumer {
public:
    explicit PyConsumer(ConsumerOptions options) : consumer_{with_hook(std::move(options), stream_)} {}
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
    StreamStop& stream() { return *stream_; }

    /// One message or None within `timeout`: one call of the consumer's poll, without the GIL. With
    /// `stoppable`, returns None as soon as stop() was called (stream() polls this way).
    py::object poll(std::chrono::milliseconds timeout, bool stoppable) {
        std::optional<kafka::Message> m;
        {
            py::gil_scoped_release nogil;
            const Streaming streaming{*stream_, stoppable};
            try {
                m = consumer_->poll(timeout);
            } catch (const StreamStopped&) {
            }
        }
        if (m) return message_dict(*m);
        return py::none();
    }

private:
    static ConsumerOptions with_hook(ConsumerOptions o, const std::shared_ptr<StreamStop>& stream) {
        o.interrupt = [stream] {
            // stream()'s own SIGINT/SIGTERM handler calls stop(): looked at right after it ran.
            run_signal_handlers();
            if (stream->streaming.load() && stream->requested.load()) throw StreamStopped{};
        };
        return o;
    }

    std::shared_ptr<StreamStop> stream_ = std::make_shared<StreamStop>();
    std::optional<Consumer> consumer_;
};

}  // namespace

void bind_consumer(py::module_& m) {
    // --- the consumer ----------------------------------------------------------------------------------
    py::class_<PyConsumer>(m, "_GraceDbKafkaConsumer")
        .def(py::init([](std::string bootstrap_servers, const py::object& topics, const py::object& instance_name,
                         const py::object& service_url, const py::object& group_id, bool use_ssl,
                         const py::object& ca_cert_path, bool skip_hostname_verification, std::string token_scope,
                         const py::object& token_audience, bool reload_cred, double reload_buffer,
                         const py::object& auto_refresh_token, std::string auto_offset_reset,
                         const py::object& since_gps, const py::object& until_gps, const py::kwargs& config) {
                 ConsumerOptions o;
                 connection(std::move(bootstrap_servers), instance_name, service_url, use_ssl, ca_cert_path,
                            skip_hostname_verification, std::move(token_scope), token_audience, reload_cred,
                            reload_buffer, auto_refresh_token)
                     .apply_to(o);
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
        .def("_reset_stop", [](PyConsumer& self) { self.stream().requested.store(false); })
        .def_property_readonly("_stop_requested", [](PyConsumer& self) { return self.stream().requested.load(); })
        .def(
            "stop", [](PyConsumer& self) { self.stream().requested.store(true); },
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
                const auto ms = seconds_to_ms(timeout, "timeout");
                py::gil_scoped_release nogil;
                return self.get().wait_for_assignment(ms);
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
