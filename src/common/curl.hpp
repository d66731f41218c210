// Private: ownership of libcurl handles. One stateless deleter per handle type and one unique_ptr alias each,
// used by every source that touches libcurl (the REST client, the URL parser).
#pragma once

#include <curl/curl.h>

#include <memory>

namespace gracedb::detail {

struct CurlDeleter {
    void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
    void operator()(curl_mime* m) const noexcept { curl_mime_free(m); }
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
    void operator()(CURLU* u) const noexcept { curl_url_cleanup(u); }
    void operator()(char* s) const noexcept { curl_free(s); }  // strings libcurl allocated
};

using CurlEasy = std::unique_ptr<CURL, CurlDeleter>;
using CurlMime = std::unique_ptr<curl_mime, CurlDeleter>;
using CurlList = std::unique_ptr<curl_slist, CurlDeleter>;
using CurlUrl = std::unique_ptr<CURLU, CurlDeleter>;
using CurlString = std::unique_ptr<char, CurlDeleter>;

/// curl_global_init, once per process, before the first handle.
void curl_global_init_once();

}  // namespace gracedb::detail
