// GraceDb's follow-up calls on an event (logs, labels, files), with ligo-gracedb 2.x's names; the
// endpoints as the GraceDB server serves them are described in src/testing/standin/NOTES.md.
#include <gracedb/rest/client.hpp>

#include "client/rest/impl.hpp"

namespace gracedb {

namespace {

// Percent-encodes a label or file name for a URL path (RFC 3986 unreserved characters stay; the server
// decodes the rest, e.g. "p_astro.json,1" arrives as it was).
std::string encode_path_part(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : s) {
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '_' || c == '.' || c == '~' || c == ',';
        if (unreserved) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

}  // namespace

std::string GraceDb::Impl::templated(const char* name, const std::string& graceid, const char* placeholder,
                                     const std::string& value) {
    std::string filled = templated(name, graceid);
    const std::string p{placeholder};
    const auto pos = filled.find(p);
    if (pos == std::string::npos)
        throw GraceDbError("the API template \"" + std::string{name} + "\" of " + shown_url + " has no " + p);
    return filled.replace(pos, p.size(), encode_path_part(value));
}

Response GraceDb::write_log(const std::string& graceid, const std::string& message,
                            const WriteLogOptions& o) {
    if (o.filecontents && !o.filename)
        throw std::invalid_argument("write_log(" + graceid + "): filecontents needs a filename (the name the "
                                    "file gets in GraceDB)");
    const auto url = impl_->templated("event-log-template", graceid);
    // Always multipart (a QueryDict on the server, whose getlist reads repeated tagname fields), with or
    // without a file, as ligo-gracedb sends it when there is one.
    std::vector<Field> form = {{"comment", message, {}}};
    for (const auto& t : o.tag_name.names) form.push_back({"tagname", t, {}});
    for (const auto& d : o.displayName.names) form.push_back({"displayName", d, {}});
    if (o.filename) {
        std::string contents;
        if (o.filecontents) {
            contents = *o.filecontents;
        } else {
            std::ifstream in{*o.filename, std::ios::binary};
            if (!in)
                throw std::invalid_argument("write_log(" + graceid + "): cannot read the file \"" +
                                            *o.filename + "\": check the path, or pass its bytes in " +
                                            "WriteLogOptions::filecontents");
            std::ostringstream ss;
            ss << in.rdbuf();
            contents = ss.str();
        }
        auto base = std::filesystem::path{*o.filename}.filename().string();
        form.push_back({"upload", std::move(contents), std::move(base)});
    }
    // Not idempotent: retried only after a 429, or a 404 "Event not found." in the reservation window.
    return impl_->followup(graceid, "write_log",
                           [&] { return impl_->request("POST", url, &form, true, false); });
}

Response GraceDb::logs(const std::string& graceid) {
    const auto url = impl_->templated("event-log-template", graceid);
    return impl_->followup(graceid, "logs", [&] { return impl_->request("GET", url, nullptr, false, true); });
}

Response GraceDb::write_label(const std::string& graceid, const std::string& label) {
    const auto url = impl_->templated("event-label-template", graceid, "{label}", label);
    impl_->check_label(label);
    return impl_->followup(graceid, "write_label",
                           [&] { return impl_->request("PUT", url, nullptr, false, true); });
}

Response GraceDb::remove_label(const std::string& graceid, const std::string& label) {
    const auto url = impl_->templated("event-label-template", graceid, "{label}", label);
    return impl_->followup(graceid, "remove_label",
                           [&] { return impl_->request("DELETE", url, nullptr, false, true); });
}

Response GraceDb::labels(const std::string& graceid) {
    const auto url = impl_->templated("event-label-template", graceid, "{label}", "");
    return impl_->followup(graceid, "labels",
                           [&] { return impl_->request("GET", url, nullptr, false, true); });
}

Response GraceDb::files(const std::string& graceid, const std::string& filename) {
    const auto url = impl_->templated("files-template", graceid, "{filename}", filename);
    return impl_->followup(graceid, "files",
                           [&] { return impl_->request("GET", url, nullptr, false, true); });
}

}  // namespace gracedb
