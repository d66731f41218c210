// GraceDb::Impl and the API root: read once and refreshed when a name is missing, its links and URL
// templates, and the check of groups, pipelines, searches and labels against its vocabularies.
#include "common/text.hpp"
#include "client/rest/impl.hpp"

namespace gracedb {

std::shared_ptr<const nlohmann::json> GraceDb::Impl::fetch_root() {
    Response r = request("GET", url, nullptr, false, true);
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("links") || !j["links"].is_object())
        throw GraceDbError("the API root " + shown_url + " did not answer with links and templates: " +
                           r.body.substr(0, 200));
    root_fetched = Clock::now();
    return std::make_shared<const nlohmann::json>(std::move(j));
}

std::shared_ptr<const nlohmann::json> GraceDb::Impl::current_root() {
    std::lock_guard lock{root_mutex};
    if (!root) {
        root = fetch_root();
        first_root = root;
    }
    return root;
}

std::shared_ptr<const nlohmann::json> GraceDb::Impl::fresh_root() {
    std::lock_guard lock{root_mutex};
    if (!root || Clock::now() - root_fetched >= kRootRefresh) {
        root = fetch_root();
        if (!first_root) first_root = root;
    }
    return root;
}

const nlohmann::json& GraceDb::Impl::get_root() {
    current_root();
    std::lock_guard lock{root_mutex};
    return *first_root;
}

std::string GraceDb::Impl::link(const char* name) {
    const auto snapshot = current_root();
    const auto& r = *snapshot;
    const auto& links = r.at("links");
    if (!links.contains(name) || !links.at(name).is_string())
        throw GraceDbError(std::string{"the API root of "} + shown_url + " has no link \"" + name + "\"");
    return links.at(name).get<std::string>();
}

std::string GraceDb::Impl::templated(const char* name, const std::string& graceid) {
    const auto snapshot = current_root();
    const auto& r = *snapshot;
    if (!r.contains("templates") || !r.at("templates").contains(name) ||
        !r.at("templates").at(name).is_string())
        throw GraceDbError(std::string{"the API root of "} + shown_url + " has no template \"" + name + "\"");
    return fill_template(r.at("templates").at(name).get<std::string>(), graceid);
}

namespace {

// The message naming `value` and the allowed names when the root's list `key` lacks it; nullopt when it has
// it (or when the root has no such list: an old server is not checked for it).
std::optional<std::string> vocabulary_problem(const nlohmann::json& r, const char* key, const char* what,
                                              const std::string& value, const std::string& shown_url) {
    if (!r.contains(key) || !r.at(key).is_array()) return std::nullopt;
    std::vector<std::string> allowed;
    for (const auto& v : r.at(key))
        if (v.is_string()) {
            if (v.get_ref<const std::string&>() == value) return std::nullopt;
            allowed.push_back(v.get<std::string>());
        }
    return std::string{what} + " \"" + value + "\" is not one of the " + key + " of " + shown_url +
           " (exact, case-sensitive names): " + detail::join_quoted(allowed);
}

}  // namespace

void GraceDb::Impl::check_label(const std::string& label) {
    if (!vocabulary_problem(*current_root(), "labels", "label", label, shown_url)) return;
    // GraceDB may have gained the label since the root was read: judge it on a fresh root.
    if (auto p = vocabulary_problem(*fresh_root(), "labels", "label", label, shown_url))
        throw std::invalid_argument(*p);
}

void GraceDb::Impl::check_vocabulary(const std::string& group, const std::string& pipeline,
                                     const std::optional<std::string>& search,
                                     const std::vector<std::string>& labels) {
    // The first unknown name in `r`, as the message that names it and the allowed ones; nullopt if none.
    auto problem = [&](const nlohmann::json& r) -> std::optional<std::string> {
        auto check = [&](const char* key, const char* what, const std::string& value) {
            return vocabulary_problem(r, key, what, value, shown_url);
        };
        if (auto p = check("groups", "group", group)) return p;
        if (auto p = check("pipelines", "pipeline", pipeline)) return p;
        if (search)
            if (auto p = check("searches", "search", *search)) return p;
        for (const auto& l : labels)
            if (auto p = check("labels", "label", l)) return p;
        return std::nullopt;
    };
    if (!problem(*current_root())) return;
    // GraceDB may have gained the name since the root was read: judge it on a fresh root.
    if (auto p = problem(*fresh_root())) throw std::invalid_argument(*p);
}

}  // namespace gracedb
