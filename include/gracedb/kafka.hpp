// Umbrella header: the whole Kafka part of gracedb-cpp.
#pragma once

#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/version.hpp>
