// The GraceDB stand-in without a broker: HTTP on loopback, no authentication configured.
#include <gracedb/rest.hpp>
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
