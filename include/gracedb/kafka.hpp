// Umbrella header: the whole Kafka part of gracedb-cpp.
#pragma once

#include <gracedb/kafka/auth.hpp>
#include <gracedb/kafka/connection.hpp>
#include <gracedb/kafka/consumer.hpp>
#include <gracedb/kafka/errors.hpp>
#include <gracedb/kafka/producer.hpp>
#include <gracedb/kafka/topics.hpp>
#include <gracedb/log.hpp>
#include <gracedb/scitoken.hpp>
#include <gracedb/version.hpp>
