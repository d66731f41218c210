// Fuzz target: the GraceDB stand-in's request handling (the HTTP parsing of cpp-httplib, then our routes: the
// client checks, form validation by exact names, reservations, reserved uploads, events, files), through a real
// loopback connection to one stand-in that lives for the whole run (authentication off, events in memory).
// The first input byte picks the shape: 0 the raw bytes as the whole request; otherwise one of the API's routes
// with the rest of the input as its multipart/form-data body (the form's fields parsed by the server), or as its
// path's tail. Properties: every answer is an HTTP/1.1 status line with a 3-digit status; no answer is a 5xx
// (a handler that threw, or the stand-in breaking on input it should refuse with a 4xx); afterwards the
// stand-in still answers its API root with 200 on a new connection.
#include <gracedb/testing/standin.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

gracedb::StandIn& standin() {
    static gracedb::StandIn s{gracedb::StandInOptions{}};
    return s;
}

// Sends `request` on a new connection and returns what came back until the server closed it or `wait_ms` of
// silence (an incomplete raw request is not answered: the server waits for the rest). The sending side is not
// shut down: cpp-httplib does not answer a client that half-closed its connection.
std::string exchange(const std::string& request, int wait_ms) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) std::abort();
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(standin().port()));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::perror("fuzz_standin_request: connect");
        std::abort();  // the stand-in stopped listening
    }
    for (std::size_t done = 0; done < request.size();) {
        const auto n = ::send(fd, request.data() + done, request.size() - done, MSG_NOSIGNAL);
        if (n <= 0) break;  // the server may close early on garbage: that is an answer too
        done += static_cast<std::size_t>(n);
    }
    std::string got;
    for (int waited = 0; waited < wait_ms;) {
        pollfd p{fd, POLLIN, 0};
        const int r = ::poll(&p, 1, 50);
        if (r == 0) {
            waited += 50;
            continue;
        }
        char buf[8192];
        const auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return got;
}

void check_answers(const std::string& got) {
    // Each answer's status line (several when the input held several requests).
    for (std::size_t at = got.find("HTTP/1.1 "); at != std::string::npos; at = got.find("HTTP/1.1 ", at + 1)) {
        if (at + 12 > got.size()) std::abort();
        const std::string code = got.substr(at + 9, 3);
        for (char c : code)
            if (c < '0' || c > '9') std::abort();
        if (code[0] == '5') {
            std::fprintf(stderr, "fuzz_standin_request: a 5xx answer:\n%s\n", got.substr(at, 400).c_str());
            std::abort();
        }
    }
}

const char* const kRoutes[] = {
    "POST /api/events/",         "POST /api/reservations/", "POST /api/reservations/G1/upload/",
    "POST /api/v2/reservations/", "GET /api/events/",       "GET /api/events/G",
    "GET /api/events/G1/files/", "GET /api/",               "POST /api/reservations/"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view rest{reinterpret_cast<const char*>(data) + 1, size - 1};
    std::string request;
    if (data[0] == 0) {
        request = std::string{rest};
    } else {
        const std::string route = kRoutes[data[0] % (sizeof kRoutes / sizeof kRoutes[0])];
        if (route.rfind("GET", 0) == 0) {
            // The rest is the path's tail (up to a line break), as a client could send it.
            const std::string tail{rest.substr(0, rest.find_first_of("\r\n "))};
            request = route + tail + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: fuzz\r\nConnection: close\r\n\r\n";
        } else {
            const std::string body{rest};
            request = route + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: fuzz\r\nConnection: close\r\n"
                              "Content-Type: multipart/form-data; boundary=FUZZ\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
        }
    }
    check_answers(exchange(request, data[0] == 0 ? 200 : 3000));
    const std::string root =
        exchange("GET /api/ HTTP/1.1\r\nHost: localhost\r\nUser-Agent: fuzz\r\nConnection: close\r\n\r\n", 3000);
    if (root.rfind("HTTP/1.1 200", 0) != 0) {
        std::fprintf(stderr, "fuzz_standin_request: the API root no longer answers 200:\n%s\n", root.substr(0, 300).c_str());
        std::abort();
    }
    return 0;
}
