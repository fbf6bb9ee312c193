// Checks shared by the C++ test programs: `check` any condition, `expect_error` a
// gnntrack::Error with its status and message; `failures` counts the failed ones.
#ifndef GNNTRACK_TEST_EXPECT_HPP
#define GNNTRACK_TEST_EXPECT_HPP

#include <gnntrack.hpp>

#include <cstring>
#include <iostream>
#include <string>

namespace test {

inline int failures = 0;

inline void check(bool ok, const std::string& what) {
    if (!ok) {
        std::cerr << "FAILED: " << what << "\n";
        ++failures;
    }
}

// Runs `body`, expecting a gnntrack::Error with `status` and a message containing `needle`.
template <typename F>
void expect_error(const std::string& what, gnntrack_status status, const char* needle, F body) {
    try {
        body();
        check(false, what + ": no exception");
    } catch (const gnntrack::Error& e) {
        std::cout << what << " -> " << e.status_name() << ": " << e.what() << "\n";
        check(e.status() == status && std::strstr(e.what(), needle) != nullptr,
              what + ": got " + e.status_name() + " `" + e.what() + "`");
    }
}

}  // namespace test

#endif
