/* Unit tests for lib/backoff.c: growth, cap, jitter bounds, reset, seeding,
 * the monotonic clock. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "backoff.h"
#include "check.h"

static void test_growth_and_cap(void)
{
	static const long want[] = {100, 200, 400, 800, 1000, 1000, 1000};
	struct bw_backoff b;
	size_t i;

	bw_backoff_init(&b, 100, 1000, 2.0, 0.0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		CHECK_INT(want[i], bw_backoff_next_ms(&b), "no jitter: step %zu is %ld ms", i,
			  want[i]);

	/* factor 3, and a cap that is not a power-of-two step */
	bw_backoff_init(&b, 10, 250, 3.0, 0.0);
	CHECK_INT(10, bw_backoff_next_ms(&b), "factor 3: 10");
	CHECK_INT(30, bw_backoff_next_ms(&b), "factor 3: 30");
	CHECK_INT(90, bw_backoff_next_ms(&b), "factor 3: 90");
	CHECK_INT(250, bw_backoff_next_ms(&b), "factor 3: capped at 250, not 270");
	CHECK_INT(250, bw_backoff_next_ms(&b), "factor 3: stays at the cap");
}

static void test_no_overflow(void)
{
	struct bw_backoff b;
	long d = 0;
	int i, ok = 1;

	/* a cap near LONG_MAX: doubling must stop at the cap, never wrap */
	bw_backoff_init(&b, 1, LONG_MAX, 2.0, 0.0);
	for (i = 0; i < 200; i++) {
		long next = bw_backoff_next_ms(&b);
		if (next < d)
			ok = 0;
		d = next;
	}
	CHECK(ok, "huge cap: delays never decrease");
	CHECK_INT(LONG_MAX, d, "huge cap: ends at the cap");

	/* an absurd factor jumps to the cap at once */
	bw_backoff_init(&b, 5, 60000, 1e300, 0.0);
	CHECK_INT(5, bw_backoff_next_ms(&b), "factor 1e300: first step is initial");
	CHECK_INT(60000, bw_backoff_next_ms(&b), "factor 1e300: then the cap");

	/* jitter on top of a cap at LONG_MAX saturates instead of overflowing */
	bw_backoff_init(&b, LONG_MAX, LONG_MAX, 2.0, 1.0);
	CHECK_INT(LONG_MAX, bw_backoff_next_ms(&b), "jitter at LONG_MAX saturates");
}

static void test_jitter_bounds(void)
{
	struct bw_backoff b;
	long base, d, lo_seen = LONG_MAX, hi_seen = 0;
	double sum = 0;
	int i, step, in_bounds = 1, n = 0;

	/* the watch's settings: 800 ms -> 30 s, factor 2, jitter 1.0 */
	bw_backoff_init(&b, 800, 30000, 2.0, 1.0);
	bw_backoff_seed(&b, 42);
	for (i = 0; i < 500; i++) {
		bw_backoff_reset(&b);
		base = 800;
		for (step = 0; step < 8; step++) {
			d = bw_backoff_next_ms(&b);
			if (d < base || d >= 2 * base)
				in_bounds = 0;
			if (step == 0) {
				sum += (double)d / base;
				n++;
				lo_seen = d < lo_seen ? d : lo_seen;
				hi_seen = d > hi_seen ? d : hi_seen;
			}
			base = base * 2 > 30000 ? 30000 : base * 2;
		}
	}
	CHECK(in_bounds, "jitter 1.0: every delay in [base, 2 * base), base capped at 30 s");
	CHECK(sum / n > 1.4 && sum / n < 1.6, "jitter 1.0: mean stretch %.3f is about 1.5",
	      sum / n);
	CHECK(lo_seen < 880 && hi_seen > 1520,
	      "jitter 1.0: delays spread over the range (%ld..%ld ms)", lo_seen, hi_seen);

	/* a small jitter stays small */
	bw_backoff_init(&b, 1000, 1000, 2.0, 0.1);
	in_bounds = 1;
	for (i = 0; i < 1000; i++) {
		d = bw_backoff_next_ms(&b);
		if (d < 1000 || d >= 1100)
			in_bounds = 0;
	}
	CHECK(in_bounds, "jitter 0.1 at the cap: every delay in [1000, 1100)");
}

static void test_reset(void)
{
	struct bw_backoff b;
	int i;

	bw_backoff_init(&b, 800, 30000, 2.0, 0.0);
	for (i = 0; i < 10; i++)
		bw_backoff_next_ms(&b);
	CHECK_INT(30000, bw_backoff_next_ms(&b), "before reset: at the cap");
	bw_backoff_reset(&b);
	CHECK_INT(800, bw_backoff_next_ms(&b), "after reset: back to initial");
	CHECK_INT(1600, bw_backoff_next_ms(&b), "after reset: grows again");
}

static void test_seed(void)
{
	struct bw_backoff a, b, c;
	int i, same = 1, differ = 0, in_range = 1;
	double r, sum = 0;

	bw_backoff_init(&a, 800, 30000, 2.0, 1.0);
	bw_backoff_init(&b, 800, 30000, 2.0, 1.0);
	bw_backoff_init(&c, 800, 30000, 2.0, 1.0);
	CHECK(a.rng != b.rng && b.rng != c.rng, "automatic seeds differ between structs");
	bw_backoff_seed(&a, 7);
	bw_backoff_seed(&b, 7);
	bw_backoff_seed(&c, 8);
	for (i = 0; i < 20; i++) {
		long da = bw_backoff_next_ms(&a), db = bw_backoff_next_ms(&b);
		if (da != db)
			same = 0;
		if (da != bw_backoff_next_ms(&c))
			differ = 1;
	}
	CHECK(same, "the same seed gives the same delays");
	CHECK(differ, "another seed gives other delays");

	bw_backoff_seed(&a, 0); /* 0 must not stall xorshift */
	for (i = 0; i < 100000; i++) {
		r = bw_backoff_rand(&a);
		if (!(r >= 0.0 && r < 1.0))
			in_range = 0;
		sum += r;
	}
	CHECK(in_range, "rand is in [0, 1), seed 0 included");
	CHECK(sum / 100000 > 0.49 && sum / 100000 < 0.51, "rand mean %.4f is about 0.5",
	      sum / 100000);
}

static void test_clamps(void)
{
	struct bw_backoff b;

	bw_backoff_init(&b, -5, -10, 0.5, -1.0);
	CHECK_INT(0, b.initial_ms, "negative initial becomes 0");
	CHECK_INT(0, b.max_ms, "max below initial becomes initial");
	CHECK(b.factor == 1.0, "factor below 1 becomes 1");
	CHECK(b.jitter == 0.0, "negative jitter becomes 0");
	bw_backoff_init(&b, 50, 40, 0.0, 0.0);
	CHECK_INT(50, bw_backoff_next_ms(&b), "factor 0: constant delay");
	CHECK_INT(50, bw_backoff_next_ms(&b), "factor 0: still constant");
	bw_backoff_init(&b, 50, 1000, strtod("nan", NULL), strtod("nan", NULL));
	CHECK(b.factor == 1.0 && b.jitter == 0.0, "NaN factor and jitter are clamped");
}

static void test_clock(void)
{
	struct timespec ts = {0, 20 * 1000000};
	int64_t t0 = bw_now_ms(), n0 = bw_now_ns(), t1, n1, n2, prev, now;
	int i, monotonic = 1;

	nanosleep(&ts, NULL);
	n1 = bw_now_ns();
	t1 = bw_now_ms();
	n2 = bw_now_ns();
	CHECK(t1 - t0 >= 19 && t1 - t0 < 5000, "bw_now_ms advances with time (%lld ms)",
	      (long long)(t1 - t0));
	CHECK(n1 - n0 >= 19000000, "bw_now_ns advances with time");
	/* read between two readings of the ns clock: however long either call
	 * took, the ms reading lies between them */
	CHECK(t1 >= n1 / 1000000 && t1 <= n2 / 1000000, "ms and ns agree");
	prev = bw_now_ns();
	for (i = 0; i < 10000; i++) {
		now = bw_now_ns();
		if (now < prev)
			monotonic = 0;
		prev = now;
	}
	CHECK(monotonic, "bw_now_ns never goes back");
}

static void test_deadline(void)
{
	long steps[] = {0, 1, 999, 1000, 1500, 61999};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct timespec until;
		int64_t before = bw_now_ns(), after, at;

		bw_deadline_after_ms(&until, steps[i]);
		after = bw_now_ns();
		at = (int64_t)until.tv_sec * 1000000000 + until.tv_nsec;
		CHECK(until.tv_nsec >= 0 && until.tv_nsec < 1000000000L,
		      "deadline after %ld ms: nanoseconds normalised", steps[i]);
		CHECK(at >= before + steps[i] * 1000000LL && at <= after + steps[i] * 1000000LL,
		      "deadline after %ld ms: that far past the monotonic now", steps[i]);
	}
}

int main(void)
{
	test_growth_and_cap();
	test_no_overflow();
	test_jitter_bounds();
	test_reset();
	test_seed();
	test_clamps();
	test_clock();
	test_deadline();
	return check_exit();
}
