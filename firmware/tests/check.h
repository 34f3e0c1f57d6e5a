// check.h - a tiny assert-based test runner for the host-side firmware tests
// (no framework to install).  TEST(name) defines and registers a test;
// CHECK(cond) and CHECK_EQ(a, b) record a failure with file and line and
// carry on; main() runs every test and prints "N passed, N failed".
#ifndef ECG_TEST_CHECK_H
#define ECG_TEST_CHECK_H

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Test {
  const char* name;
  std::function<void()> body;
};

inline std::vector<Test>& registry() {
  static std::vector<Test> tests;
  return tests;
}

inline int& failures_in_current_test() {
  static int n = 0;
  return n;
}

struct Registrar {
  Registrar(const char* name, std::function<void()> body) { registry().push_back(Test{name, body}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  std::printf("    %s:%d: %s\n", file, line, what.c_str());
  ++failures_in_current_test();
}

inline int run_all() {
  int passed = 0, failed = 0;
  for (const Test& t : registry()) {
    failures_in_current_test() = 0;
    t.body();
    if (failures_in_current_test() == 0) {
      ++passed;
      std::printf("PASS %s\n", t.name);
    } else {
      ++failed;
      std::printf("FAIL %s\n", t.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace check

#define CHECK_CONCAT_(a, b) a##b
#define CHECK_CONCAT(a, b) CHECK_CONCAT_(a, b)
#define TEST(name)                                                        \
  static void name();                                                     \
  static check::Registrar CHECK_CONCAT(registrar_, name)(#name, &name);   \
  static void name()
#define CHECK(cond) \
  ((cond) ? (void)0 : check::fail(__FILE__, __LINE__, "CHECK(" #cond ") is false"))
#define CHECK_EQ(a, b)                                                                           \
  (((a) == (b)) ? (void)0                                                                        \
                : check::fail(__FILE__, __LINE__,                                                \
                              std::string("CHECK_EQ(" #a ", " #b "): ") + std::to_string(a) + " != " + \
                                  std::to_string(b)))

#endif  // ECG_TEST_CHECK_H
