/*
 * Exponential backoff with jitter and a cap, as client-go's wait.Backoff
 * does it, and a monotonic clock.
 *
 *   struct bw_backoff b;
 *   bw_backoff_init(&b, 800, 30000, 2.0, 1.0);   (the watch: 0.8 s .. 30 s)
 *   for (;;) {
 *           if (try_something() == 0) {
 *                   bw_backoff_reset(&b);
 *                   continue;
 *           }
 *           sleep_ms(bw_backoff_next_ms(&b));
 *   }
 *
 * The base delay starts at initial_ms and is multiplied by factor at each
 * step, up to max_ms. The delay returned is the base delay stretched by a
 * random part: base * (1 + r * jitter) with r uniform in [0, 1). As in
 * client-go, the cap bounds the base delay and the jitter comes on top, so
 * clients stuck at the cap still spread out: with jitter 1.0 a delay at the
 * cap lies in [max_ms, 2 * max_ms).
 *
 * Ownership: struct bw_backoff is a plain value owned by the caller; it holds
 * no pointers and needs no release.
 * Thread-safety: a struct bw_backoff is not locked; one thread uses it at a
 * time. Its random source is inside it (a xorshift generator), so separate
 * structs in separate threads need no locking and share no state.
 * bw_backoff_rand_thread() and bw_backoff_os_seed() may be called from any
 * thread.
 * bw_now_ms(), bw_now_ns() and bw_deadline_after_ms() may be called from
 * any thread.
 */
#ifndef BW_BACKOFF_H
#define BW_BACKOFF_H

#include <stdint.h>
#include <time.h>

struct bw_backoff {
	long initial_ms; /* the first base delay */
	long max_ms;	 /* the cap on the base delay */
	double factor;	 /* growth per step, >= 1 */
	double jitter;	 /* random stretch, >= 0: delay * (1 + r * jitter) */
	long current_ms; /* the base delay the next step returns */
	uint64_t rng;	 /* xorshift64* state, never 0 */
};

/* Sets up *b and seeds its random source from the OS (getrandom), mixed with
 * a process-wide counter, so two structs, or two processes started at the
 * same instant, still differ.
 * Arguments out of range are clamped rather than refused: a negative
 * initial_ms becomes 0, max_ms below initial_ms becomes initial_ms, a factor
 * below 1 (or NaN) becomes 1, a negative (or NaN) jitter becomes 0. */
void bw_backoff_init(struct bw_backoff *b, long initial_ms, long max_ms, double factor,
		     double jitter);

/* Reseeds the random source; the same seed gives the same delays (tests). */
void bw_backoff_seed(struct bw_backoff *b, uint64_t seed);

/* Returns the next delay in milliseconds and advances to the following step. */
long bw_backoff_next_ms(struct bw_backoff *b);

/* Goes back to the first step (call it after a success). Keeps the seed. */
void bw_backoff_reset(struct bw_backoff *b);

/* A random number in [0, 1) from b's generator (advances it). */
double bw_backoff_rand(struct bw_backoff *b);

/* A random number in [0, 1) from a generator of the calling thread's own,
 * seeded from the OS on the thread's first call: for jitter where no struct
 * bw_backoff is at hand. Thread-safe. */
double bw_backoff_rand_thread(void);

/* 64 random bits from the OS (getrandom), or from the clock, the pid and a
 * counter when the OS has none to give. For seeds, not for secrets. */
uint64_t bw_backoff_os_seed(void);

/* CLOCK_MONOTONIC, in milliseconds and in nanoseconds: for deadlines and
 * durations, never for wall-clock time. */
int64_t bw_now_ms(void);
int64_t bw_now_ns(void);

/* *until = CLOCK_MONOTONIC now + ms: the deadline for pthread_cond_timedwait
 * on a condition variable set to that clock. */
void bw_deadline_after_ms(struct timespec *until, long ms);

#endif
