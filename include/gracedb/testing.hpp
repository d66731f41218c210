// Umbrella header of the testing library (gracedb::testing): the GraceDB stand-in, the mock Kafka cluster,
// test SciTokens and the embedded sandbox.
#pragma once

#include <gracedb/testing/mock_cluster.hpp>
#include <gracedb/testing/sandbox.hpp>
#include <gracedb/testing/standin.hpp>
#include <gracedb/testing/tokens.hpp>
