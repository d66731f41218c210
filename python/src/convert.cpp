#include "convert.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>

#include <pybind11/stl.h>

namespace gracedb::python {

namespace {

constexpr int kMaxDepth = 500;

void append_escaped(std::string& out, py::handle str) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(str.ptr(), &size);
    if (!data) throw py::error_already_set();  // e.g. a lone surrogate
    out.push_back('"');
    const char* chunk = data;
    const char* const end = data + size;
    static constexpr char hex[] = "0123456789abcdef";
    for (const char* p = data; p != end; ++p) {
        const auto c = static_cast<unsigned char>(*p);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(chunk, static_cast<std::size_t>(p - chunk));
        chunk = p + 1;
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                out += "\\u00";
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0xF]);
        }
    }
    out.append(chunk, static_cast<std::size_t>(end - chunk));
    out.push_back('"');
}

void append_float(std::string& out, double d) {
    if (!std::isfinite(d))
        throw py::value_error("produce(): the dict holds the float " + std::string{std::isnan(d) ? "NaN" : "Infinity"} +
                              ", which JSON cannot represent; replace it (e.g. with None) before producing");
    // float.__repr__, which is what json.dumps writes.
    char* text = PyOS_double_to_string(d, 'r', 0, Py_DTSF_ADD_DOT_0, nullptr);
    if (!text) throw py::error_already_set();
    out += text;
    PyMem_Free(text);
}

void append_int(std::string& out, py::handle value) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow == 0) {
        if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
        char digits[24];
        const auto r = std::to_chars(digits, digits + sizeof digits, v);
        out.append(digits, r.ptr);
        return;
    }
    out += py::str(value).cast<std::string>();  // arbitrary precision, as json.dumps writes it
}

// A dict key as json.dumps turns it into a string.
void append_key(std::string& out, py::handle key) {
    if (PyUnicode_Check(key.ptr())) return append_escaped(out, key);
    out.push_back('"');
    if (key.ptr() == Py_True) out += "true";
    else if (key.ptr() == Py_False) out += "false";
    else if (key.is_none()) out += "null";
    else if (PyLong_Check(key.ptr())) append_int(out, key);
    else if (PyFloat_Check(key.ptr())) append_float(out, PyFloat_AS_DOUBLE(key.ptr()));
    else
        throw py::type_error(std::string{"produce(): dict keys must be str, int, float, bool or None, not "} +
                             Py_TYPE(key.ptr())->tp_name);
    out.push_back('"');
}

void append_value(std::string& out, py::handle value, int depth) {
    PyObject* o = value.ptr();
    if (depth > kMaxDepth)
        throw py::value_error("produce(): the dict is nested more than 500 levels deep (a circular reference?)");
    if (o == Py_None) {
        out += "null";
    } else if (o == Py_True) {
        out += "true";
    } else if (o == Py_False) {
        out += "false";
    } else if (PyUnicode_Check(o)) {
        append_escaped(out, value);
    } else if (PyLong_Check(o)) {
        append_int(out, value);
    } else if (PyFloat_Check(o)) {
        append_float(out, PyFloat_AS_DOUBLE(o));
    } else if (PyDict_Check(o)) {
        out.push_back('{');
        PyObject* k = nullptr;
        PyObject* v = nullptr;
        Py_ssize_t pos = 0;
        bool first = true;
        while (PyDict_Next(o, &pos, &k, &v)) {
            if (!first) out.push_back(',');
            first = false;
            append_key(out, k);
            out.push_back(':');
            append_value(out, v, depth + 1);
        }
        out.push_back('}');
    } else if (PyList_Check(o) || PyTuple_Check(o)) {
        out.push_back('[');
        const bool list = PyList_Check(o);
        for (Py_ssize_t i = 0, n = list ? PyList_GET_SIZE(o) : PyTuple_GET_SIZE(o); i < n; ++i) {
            if (i) out.push_back(',');
            append_value(out, list ? PyList_GET_ITEM(o, i) : PyTuple_GET_ITEM(o, i), depth + 1);
            if (list) n = PyList_GET_SIZE(o);
        }
        out.push_back(']');
    } else {
        throw py::type_error(std::string{"produce(): Object of type "} + Py_TYPE(o)->tp_name +
                             " is not JSON serializable (a dict may hold dict, list, tuple, str, int, float, bool "
                             "and None)");
    }
}

// str when the bytes are UTF-8, else bytes.
py::object text_or_raw(const std::string& s) {
    PyObject* u = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
    if (u) return py::reinterpret_steal<py::object>(u);
    PyErr_Clear();
    return py::bytes(s);
}

bool may_be_json(const std::string& s) {
    for (char c : s) {
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        return c == '{' || c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' ||
               c == 'n';
    }
    return false;
}

}  // namespace

void append_json(std::string& out, py::handle value) { append_value(out, value, 0); }

std::chrono::milliseconds seconds_to_ms(double seconds, const char* what, bool allow_negative) {
    if (!std::isfinite(seconds)) throw py::value_error(std::string{what} + " must be a finite number of seconds");
    if (seconds < 0 && !allow_negative)
        throw py::value_error(std::string{what} + " must not be negative (got " + std::to_string(seconds) + ")");
    return std::chrono::milliseconds{std::llround(seconds * 1000.0)};
}

std::map<std::string, std::string> kafka_config(const py::kwargs& config) {
    std::map<std::string, std::string> out;
    for (auto [k, v] : config) {
        const auto key = py::str(k).cast<std::string>();
        PyObject* o = v.ptr();
        if (o == Py_True || o == Py_False) {
            out[key] = o == Py_True ? "true" : "false";
        } else if (PyUnicode_Check(o)) {
            out[key] = v.cast<std::string>();
        } else if (PyLong_Check(o)) {
            std::string text;
            append_int(text, v);
            out[key] = text;
        } else if (PyFloat_Check(o)) {
            std::string text;
            append_float(text, PyFloat_AS_DOUBLE(o));
            out[key] = text;
        } else if (PyBytes_Check(o)) {
            out[key] = v.cast<std::string>();
        } else if (PyCallable_Check(o)) {
            throw py::value_error("kafka_config: \"" + key +
                                  "\" is a callable; librdkafka settings here are strings, numbers or booleans "
                                  "(tokens, delivery reports and errors are handled by gracedb_cpp itself: use "
                                  "produce(on_delivery=...) for delivery reports)");
        } else {
            throw py::value_error("kafka_config: \"" + key + "\" must be a str, int, float or bool, not " +
                                  Py_TYPE(o)->tp_name + " (e.g. **{\"linger.ms\": 5})");
        }
    }
    return out;
}

std::string text_or_bytes(py::handle value, const char* what) {
    if (PyUnicode_Check(value.ptr())) return value.cast<std::string>();
    if (PyBytes_Check(value.ptr())) return value.cast<std::string>();
    if (PyByteArray_Check(value.ptr()))
        return {PyByteArray_AS_STRING(value.ptr()), static_cast<std::size_t>(PyByteArray_GET_SIZE(value.ptr()))};
    throw py::type_error(std::string{what} + " must be str or bytes, not " + Py_TYPE(value.ptr())->tp_name);
}

std::vector<std::string> pipelines(py::handle topics, const char* what) {
    if (PyUnicode_Check(topics.ptr())) return {topics.cast<std::string>()};
    std::vector<std::string> out;
    if (PyList_Check(topics.ptr()) || PyTuple_Check(topics.ptr())) {
        for (auto t : topics) {
            if (!PyUnicode_Check(t.ptr()))
                throw py::type_error(std::string{what} + ": every pipeline name must be a str, not " +
                                     Py_TYPE(t.ptr())->tp_name);
            out.push_back(t.cast<std::string>());
        }
        return out;
    }
    throw py::type_error(std::string{what} + " must be a str or a list of str, not " + Py_TYPE(topics.ptr())->tp_name);
}

py::object json_loads(const std::string& text) {
    static PyObject* loads = [] {
        py::object f = py::module_::import("json").attr("loads");
        return f.release().ptr();  // kept for the life of the process
    }();
    return py::reinterpret_borrow<py::object>(loads)(py::str(text));
}

py::dict message_dict(const kafka::Message& m) {
    py::dict d;
    d["topic"] = m.topic;
    d["partition"] = m.partition;
    d["offset"] = m.offset;
    d["key"] = m.key ? text_or_raw(*m.key) : py::none();
    py::object value;
    if (may_be_json(m.value)) {
        try {
            value = json_loads(m.value);
        } catch (py::error_already_set&) {
            value = py::object{};  // not JSON (or not UTF-8): the text or the bytes
        }
    }
    d["value"] = value ? value : text_or_raw(m.value);
    d["timestamp"] = m.timestamp ? py::int_(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               m.timestamp->time_since_epoch())
                                               .count())
                                 : py::object(py::none());
    py::dict headers;
    for (const auto& [k, v] : m.headers) headers[text_or_raw(k)] = v ? text_or_raw(*v) : py::none();
    d["headers"] = headers;
    return d;
}

double epoch_seconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

py::dict claims_dict(const TokenClaims& c) {
    py::dict d;
    d["iss"] = c.iss;
    d["sub"] = c.sub;
    d["aud"] = c.aud;
    d["scope"] = c.scope;
    auto when = [](const auto& t) { return t ? py::object(py::float_(epoch_seconds(*t))) : py::object(py::none()); };
    d["exp"] = when(c.exp);
    d["iat"] = when(c.iat);
    d["nbf"] = when(c.nbf);
    d["ver"] = c.ver;
    return d;
}

py::dict ping_dict(const kafka::PingResult& r) {
    py::dict d;
    d["topic"] = r.topic;
    d["partition"] = r.partition;
    d["offset"] = r.offset;
    d["message"] = json_loads(r.message.dump());
    return d;
}

py::dict outbox_resume_dict(const OutboxResumeResult& r) {
    py::dict d;
    d["completed"] = r.completed;
    d["failed"] = r.failed;
    d["busy"] = r.busy;
    d["other_service"] = r.other_service;
    d["errors"] = r.errors;
    return d;
}

}  // namespace gracedb::python
