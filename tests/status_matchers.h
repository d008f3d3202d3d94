// Status assertions and matchers for every test in the tree.
//
//   ASSERT_OK(store->Put(...));               // absl::Status or StatusOr
//   EXPECT_OK(engine.Recommend(request));
//   ASSERT_OK_AND_ASSIGN(auto rec, engine.Recommend(request));
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
//                           HasSubstr("count")));
//   EXPECT_THAT(engine.Recommend(r), IsOkAndHolds(Field(...)));
//
// Failures print the status (code and message), so a failed assertion says
// what went wrong, not just "false".
#ifndef AISLE_TESTS_STATUS_MATCHERS_H_
#define AISLE_TESTS_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aisle::testing {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

// Matches an OK Status or StatusOr.
MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& status = ::aisle::testing::GetStatus(arg);
  if (!status.ok()) *result_listener << "status: " << status;
  return status.ok();
}

// Matches a Status or StatusOr with `code` and a message matching
// `message` (a string is compared for equality; use HasSubstr for parts).
MATCHER_P2(StatusIs, code, message,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& status = ::aisle::testing::GetStatus(arg);
  *result_listener << "status: " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(
             ::testing::MatcherCast<const std::string&>(message),
             std::string(status.message()), result_listener);
}

// Matches an OK StatusOr whose value matches `inner`.
MATCHER_P(IsOkAndHolds, inner, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status: " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(inner, *arg, result_listener);
}

}  // namespace aisle::testing

#define AISLE_STATUS_CONCAT_INNER(a, b) a##b
#define AISLE_STATUS_CONCAT(a, b) AISLE_STATUS_CONCAT_INNER(a, b)

// Fatal / non-fatal: the Status or StatusOr is OK; prints it otherwise.
#define ASSERT_OK(expr) ASSERT_THAT(expr, ::aisle::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT(expr, ::aisle::testing::IsOk())

// ASSERT_OK_AND_ASSIGN(lhs, expr): asserts that the StatusOr `expr` is OK
// and moves its value into `lhs` (a declaration or an lvalue).
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                     \
  ASSERT_OK_AND_ASSIGN_IMPL(AISLE_STATUS_CONCAT(status_or_, __LINE__), lhs, \
                            expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(status_or, lhs, expr) \
  auto status_or = (expr);                              \
  ASSERT_TRUE(status_or.ok()) << status_or.status();    \
  lhs = std::move(status_or).value()

#endif  // AISLE_TESTS_STATUS_MATCHERS_H_
