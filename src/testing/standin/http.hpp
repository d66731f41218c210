// Private to the stand-in: answers in the real server's shapes, and form fields of a request.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace gracedb::standin {

inline void reply_json(httplib::Response& res, int status, const nlohmann::json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
}

// Django's HttpResponse* and DRF's Response("text"): the body is the text itself.
inline void reply_text(httplib::Response& res, int status, const std::string& text) {
    res.status = status;
    res.set_content(text, "text/html; charset=utf-8");
}

// Every value of a form field (multipart or urlencoded).
inline std::vector<std::string> field_values(const httplib::Request& req, const std::string& name) {
    std::vector<std::string> out;
    if (req.is_multipart_form_data()) {
        auto [b, e] = req.files.equal_range(name);
        for (auto it = b; it != e; ++it)
            if (it->second.filename.empty()) out.push_back(it->second.content);
    } else {
        auto [b, e] = req.params.equal_range(name);
        for (auto it = b; it != e; ++it) out.push_back(it->second);
    }
    return out;
}

inline std::optional<std::string> field(const httplib::Request& req, const std::string& name) {
    auto v = field_values(req, name);
    if (v.empty()) return std::nullopt;
    return v.front();
}

// The eventFile part of a multipart request (a part with a file name, as Django's FILES).
inline const httplib::MultipartFormData* event_file_part(const httplib::Request& req) {
    if (!req.is_multipart_form_data()) return nullptr;
    auto [b, e] = req.files.equal_range("eventFile");
    for (auto it = b; it != e; ++it)
        if (!it->second.filename.empty()) return &it->second;
    return nullptr;
}

}  // namespace gracedb::standin
