// Test support: the message of the exception a call throws, for tests that check what the message says;
// the test fails (and the message is empty) when the call throws nothing or another exception.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace gracedb::testing {

/// The what() of the `E` that `f` throws; a failure of the test if it throws none.
template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected an exception of the awaited type";
    return {};
}

/// The message of the std::invalid_argument that `f` throws.
template <class F>
std::string invalid_argument_message(F&& f) {
    return message_of<std::invalid_argument>(std::forward<F>(f));
}

}  // namespace gracedb::testing
