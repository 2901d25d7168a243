/* Exponential backoff with jitter, and the monotonic clock: see backoff.h. */
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"

/* Makes every automatic seed differ, even for structs set up in the same
 * nanosecond by different threads. */
static atomic_uint_fast64_t seed_counter;

/* splitmix64: spreads any seed (0, 1, 2, ...) over the whole state space. */
static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

int64_t bw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t bw_now_ms(void)
{
	return bw_now_ns() / 1000000;
}

void bw_deadline_after_ms(struct timespec *until, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, until);
	until->tv_sec += ms / 1000;
	until->tv_nsec += (ms % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
}

void bw_backoff_seed(struct bw_backoff *b, uint64_t seed)
{
	b->rng = splitmix64(seed);
	if (!b->rng)
		b->rng = 0x2545f4914f6cdd1dULL; /* xorshift must not start at 0 */
}

double bw_backoff_rand(struct bw_backoff *b)
{
	uint64_t x = b->rng;

	/* xorshift64* (Vigna): the top 53 bits make a double in [0, 1) */
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	b->rng = x;
	return (double)((x * 0x2545f4914f6cdd1dULL) >> 11) * 0x1.0p-53;
}

uint64_t bw_backoff_os_seed(void)
{
	uint64_t seed = 0;

	/* GRND_NONBLOCK: never wait for the entropy pool at boot; the
	 * fallback below still differs between processes */
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) == (ssize_t)sizeof(seed))
		return seed;
	return (uint64_t)bw_now_ns() ^ splitmix64((uint64_t)getpid()) ^
	       splitmix64(atomic_fetch_add(&seed_counter, 1) + 0x5bd1e995ULL);
}

double bw_backoff_rand_thread(void)
{
	static _Thread_local struct bw_backoff r;
	static _Thread_local int seeded;

	if (!seeded) {
		bw_backoff_seed(&r, bw_backoff_os_seed());
		seeded = 1;
	}
	return bw_backoff_rand(&r);
}

void bw_backoff_init(struct bw_backoff *b, long initial_ms, long max_ms, double factor,
		     double jitter)
{
	uint64_t n = atomic_fetch_add(&seed_counter, 1);

	if (initial_ms < 0)
		initial_ms = 0;
	if (max_ms < initial_ms)
		max_ms = initial_ms;
	if (!(factor >= 1.0)) /* also catches NaN */
		factor = 1.0;
	if (!(jitter >= 0.0))
		jitter = 0.0;
	b->initial_ms = initial_ms;
	b->max_ms = max_ms;
	b->factor = factor;
	b->jitter = jitter;
	b->current_ms = initial_ms;
	bw_backoff_seed(b, bw_backoff_os_seed() ^ splitmix64(n) ^ (uint64_t)(uintptr_t)b);
}

void bw_backoff_reset(struct bw_backoff *b)
{
	b->current_ms = b->initial_ms;
}

long bw_backoff_next_ms(struct bw_backoff *b)
{
	long base = b->current_ms;
	double next = (double)base * b->factor;
	double delay;

	/* the base delay grows up to the cap; compared as doubles so a huge
	 * factor cannot overflow a long */
	b->current_ms = next >= (double)b->max_ms ? b->max_ms : (long)next;
	if (b->jitter <= 0.0)
		return base;
	delay = (double)base * (1.0 + bw_backoff_rand(b) * b->jitter);
	if (delay >= (double)LONG_MAX)
		return LONG_MAX;
	return (long)delay;
}
