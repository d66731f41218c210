// Umbrella header: the GraceDB REST client (the parts event submission needs).
#pragma once

#include <gracedb/rest/client.hpp>
#include <gracedb/rest/errors.hpp>
#include <gracedb/rest/outbox.hpp>
#include <gracedb/version.hpp>
