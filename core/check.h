// AISLE_DCHECK(condition): states a REQUIRES precondition in code. Active
// in debug builds (no NDEBUG) and in sanitizer builds (AISLE_SANITIZE),
// where a violation prints the condition and its place and aborts; in
// optimised builds it compiles to nothing and the condition is not
// evaluated. It is for callers' bugs, never for input: requests and events
// from outside are validated by their owner (server/validation.cc) before
// they reach the engine, which only asserts what it relies on.
//
// AISLE_DCHECK_IS_ON is 1 where the checks run (tests of a precondition
// use it to run a death test only there).
#ifndef AISLE_CORE_CHECK_H_
#define AISLE_CORE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define AISLE_INTERNAL_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define AISLE_INTERNAL_SANITIZER 1
#endif

#if !defined(NDEBUG) || defined(AISLE_INTERNAL_SANITIZER)
#define AISLE_DCHECK_IS_ON 1
#else
#define AISLE_DCHECK_IS_ON 0
#endif

#if AISLE_DCHECK_IS_ON
#define AISLE_DCHECK(condition)                                                \
  do {                                                                         \
    if (!(condition)) {                                                        \
      std::fprintf(stderr, "%s:%d: REQUIRES failed: %s\n", __FILE__, __LINE__, \
                   #condition);                                                \
      std::abort();                                                            \
    }                                                                          \
  } while (false)
#else
#define AISLE_DCHECK(condition) \
  do {                          \
  } while (false && (condition))
#endif

#endif  // AISLE_CORE_CHECK_H_
