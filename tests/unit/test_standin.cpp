// The GraceDB stand-in without a broker: HTTP on loopback, no authentication configured.
#include <gracedb/rest.hpp>
#include <gracedb/testing/standin.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

using namespace gracedb;

TEST(StandIn, EventsAndReservationsSurviveARestartWithAStoreFile) {
    const auto store = std::filesystem::temp_directory_path() / ("gracedb-standin-" + std::to_string(::getpid()) + ".json");
    std::filesystem::remove(store);
    std::string created, reserved;
    {
        StandIn standin{{.store_file = store.string()}};
        GraceDb client{standin.service_url(), {.force_noauth = true}};
        created = client.create_event("CBC", "gstlal", "a.xml", {.filecontents = std::string("\0bytes\xff", 7)}).json()["graceid"];
        reserved = client.reserve_graceid("Burst", "CWB").json()["graceid"];
    }
    StandIn again{{.store_file = store.string()}};
    EXPECT_EQ(again.event_count(), 1u);
    EXPECT_EQ(again.event_file(created), std::string("\0bytes\xff", 7)) << "binary file kept byte-exact";
    GraceDb client{again.service_url(), {.force_noauth = true}};
    auto up = client.upload_reserved_event(reserved, "Burst", "CWB", "b.txt", {.filecontents = "b"});
    EXPECT_EQ(up.status, 201) << "the reservation survived the restart";
    const std::string next = client.reserve_graceid("CBC", "gstlal").json()["graceid"];
    EXPECT_NE(next, created);
    EXPECT_NE(next, reserved) << "graceids are not handed out twice across a restart";
    std::filesystem::remove(store);
}

#include "itest.hpp"

TEST(StandIn, X509ClientCertificatesAuthenticateTheRestClient) {
    using gracedb::testing::run_command;
    const auto dir = std::filesystem::temp_directory_path() / ("gracedb-x509-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto d = dir.string();
    run_command("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj '/CN=test CA' -keyout ca.key"
                " -out ca.pem 2>&1 && openssl req -newkey rsa:2048 -nodes -subj '/CN=localhost' -keyout server.key"
                " -out server.csr 2>&1 && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext &&"
                " openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile san.ext"
                " -out server.pem 2>&1 && openssl req -newkey rsa:2048 -nodes -subj '/CN=x509-user' -keyout client.key"
                " -out client.csr 2>&1 && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
                " -days 1 -out client.pem 2>&1");
    StandIn standin{{.store_file = std::nullopt,
                     .tls_cert_file = d + "/server.pem",
                     .tls_key_file = d + "/server.key",
                     .client_ca_file = d + "/ca.pem"}};
    ASSERT_EQ(standin.service_url().rfind("https://localhost:", 0), 0u) << standin.service_url();
    GraceDb client{standin.service_url(),
                   {.cred_cert = d + "/client.pem", .cred_key = d + "/client.key", .ca_cert_path = d + "/ca.pem"}};
    auto r = client.create_event("CBC", "gstlal", "x.xml", {.filecontents = "x"});
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.json()["submitter"], "x509-user") << "the certificate's CN is the submitter";

    GraceDb no_cert{standin.service_url(), {.force_noauth = true, .ca_cert_path = d + "/ca.pem", .max_retries = 0}};
    EXPECT_THROW(no_cert.event(r.json()["graceid"]), TransportError) << "the server refuses a client without a certificate";
    GraceDb wrong_ca{standin.service_url(), {.cred_cert = d + "/client.pem", .cred_key = d + "/client.key",
                                             .max_retries = 0}};
    EXPECT_THROW(wrong_ca.event(r.json()["graceid"]), TransportError) << "TLS verification is on by default";
    EXPECT_THROW((GraceDb{standin.service_url(), {.cred_cert = d + "/client.pem"}}), std::invalid_argument)
        << "half an X.509 pair";
    EXPECT_THROW((GraceDb{standin.service_url(), {.cred_cert = d + "/none.pem", .cred_key = d + "/none.key"}}),
                 CredentialError);
    std::filesystem::remove_all(dir);
}
