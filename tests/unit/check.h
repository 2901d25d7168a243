/*
 * A tiny unit-test harness. Each CHECK prints "ok - ..." or "not ok - ..."
 * (tests/run.sh counts those lines); a test program returns check_exit().
 *
 *   CHECK(cond, "name %d", i);          passes when cond is true
 *   CHECK_INT(expected, actual, "name") compares two integers
 *   CHECK_STR(expected, actual, "name") compares two strings (NULL-safe)
 *
 * Not thread-safe: call CHECK from the test's main thread.
 */
#ifndef BW_TEST_CHECK_H
#define BW_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed_count;

#define CHECK(cond, ...)                                                         \
	do {                                                                     \
		int check_ok_ = (cond) ? 1 : 0;                                  \
		printf("%s - ", check_ok_ ? "ok" : "not ok");                    \
		printf(__VA_ARGS__);                                             \
		printf("\n");                                                    \
		if (!check_ok_) {                                                \
			check_failed_count++;                                    \
			printf("    at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                                \
	} while (0)

#define CHECK_INT(expected, actual, ...)                                                    \
	do {                                                                                \
		long long check_e_ = (long long)(expected), check_a_ = (long long)(actual); \
		CHECK(check_e_ == check_a_, __VA_ARGS__);                                   \
		if (check_e_ != check_a_)                                                   \
			printf("    expected %lld, got %lld\n", check_e_, check_a_);        \
	} while (0)

#define CHECK_STR(expected, actual, ...)                                                        \
	do {                                                                                    \
		const char *check_e_ = (expected), *check_a_ = (actual);                        \
		int check_same_ = (!check_e_ && !check_a_) ||                                   \
				  (check_e_ && check_a_ && strcmp(check_e_, check_a_) == 0);    \
		CHECK(check_same_, __VA_ARGS__);                                                \
		if (!check_same_)                                                               \
			printf("    expected \"%s\", got \"%s\"\n",                             \
			       check_e_ ? check_e_ : "(null)", check_a_ ? check_a_ : "(null)"); \
	} while (0)

static inline int check_exit(void)
{
	fflush(stdout);
	return check_failed_count ? 1 : 0;
}

#endif
