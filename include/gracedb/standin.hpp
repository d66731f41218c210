// Forwarding header, kept for one release: the stand-in moved to <gracedb/testing/standin.hpp> and to the
// library gracedb::testing (link it: find_package(gracedb CONFIG REQUIRED COMPONENTS testing)).
#pragma once

#include <gracedb/testing/standin.hpp>
