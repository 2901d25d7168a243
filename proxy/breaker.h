/*
 * The circuit-breaker state machine of one Breaker policy: CLOSED, OPEN,
 * HALF_OPEN. Pure: the caller passes the policy, the clock (milliseconds of
 * a monotonic clock; a value smaller than the last one is read as the last
 * one) and the outcome of each call; nothing here reads a clock or does I/O.
 * docs/breaker.md is the reference for the rules; tests/unit/data/breaker/
 * holds the conformance cases any other implementation can run.
 *
 * A call goes through bw_breaker_acquire() before it is made: the decision
 * allows or refuses it and hands out a permit; when the call is over, its
 * outcome goes to bw_breaker_record() with that permit. The permit ties the
 * outcome to the state that let the call through: the outcome of a call let
 * through before a transition (a CLOSED call that ends after the circuit
 * opened) counts for nothing, so it cannot close a circuit or use up a
 * HALF_OPEN trial it did not take.
 *
 * Rules in short (docs/breaker.md has them in full):
 *   CLOSED     every call is allowed. It opens when failureThreshold calls
 *              in a row failed, or when the window holds at least
 *              minimumCalls calls and failures * 100 >= failureRateThreshold
 *              * calls, or slow calls * 100 >= slowCall.rateThreshold *
 *              calls (slow: duration >= slowCall.durationMs, failed or not).
 *   OPEN       calls are refused with the time left; after the open time it
 *              is HALF_OPEN. The open time starts at openSeconds and is
 *              multiplied by backoffMultiplier, up to maxOpenSeconds, each
 *              time a HALF_OPEN round fails; closing resets it.
 *   HALF_OPEN  halfOpenCalls trial calls are allowed, others refused. A
 *              failed trial opens again at once; once every trial
 *              succeeded, it opens again if slow trials * 100 >=
 *              slowCall.rateThreshold * halfOpenCalls, else it closes with
 *              an empty window.
 * Modes: MetricsOnly runs the same machine but never refuses (the decision
 * says would_refuse); ForcedOpen refuses every call (state OPEN);
 * ForcedClosed allows every call (state CLOSED); Disabled allows every
 * call (state DISABLED). The forced modes and Disabled compute nothing.
 *
 * Ownership: struct bw_breaker is the caller's; it owns its window buffer
 * (bw_breaker_release()). Thread-safety: none; one breaker, one thread (or
 * the caller's lock).
 */
#ifndef BW_PROXY_BREAKER_H
#define BW_PROXY_BREAKER_H

#include <stdint.h>

#include "error.h"
#include "policy.h"

enum bw_breaker_state {
	BW_BREAKER_CLOSED,
	BW_BREAKER_OPEN,
	BW_BREAKER_HALF_OPEN,
	BW_BREAKER_DISABLED,
};

enum bw_breaker_outcome {
	BW_OUTCOME_SUCCESS,
	BW_OUTCOME_FAILURE,
	/* the call did not say anything about the dependency (the client went
	 * away first): counted nowhere; a HALF_OPEN trial slot is given back */
	BW_OUTCOME_IGNORED,
};

/* Why the last transition happened. */
enum bw_breaker_reason {
	BW_REASON_NONE,
	BW_REASON_CONSECUTIVE_FAILURES, /* CLOSED -> OPEN */
	BW_REASON_FAILURE_RATE,		/* CLOSED -> OPEN */
	BW_REASON_SLOW_CALL_RATE,	/* CLOSED -> OPEN */
	BW_REASON_OPEN_ELAPSED,		/* OPEN -> HALF_OPEN */
	BW_REASON_TRIAL_FAILED,		/* HALF_OPEN -> OPEN */
	BW_REASON_TRIALS_SLOW,		/* HALF_OPEN -> OPEN */
	BW_REASON_TRIALS_SUCCEEDED,	/* HALF_OPEN -> CLOSED */
	BW_REASON_POLICY_CHANGED,	/* any -> the new mode's state */
};

struct bw_breaker_permit {
	uint64_t epoch; /* the breaker's epoch when the call was let through */
	int counted;	/* 0: the outcome counts for nothing (MetricsOnly's would-be refusals) */
	int trial;	/* a HALF_OPEN trial */
};

struct bw_breaker_decision {
	int allowed;
	int would_refuse;		 /* MetricsOnly: Enforce would have refused this call */
	int64_t retry_after_ms;		 /* when refused (or would_refuse): a hint, >= 1 */
	struct bw_breaker_permit permit; /* for bw_breaker_record() when allowed */
};

/* The sliding window: counts of calls, failures and slow calls. */
struct bw_breaker_window {
	enum bw_window_type type;
	int size;
	uint64_t calls, failures, slow;
	/* Count: a ring of `size` bytes (bit 0 failed, bit 1 slow) */
	unsigned char *ring;
	/* Time: per-second buckets, oldest first, grown as needed up to `size` */
	struct bw_breaker_bucket {
		int64_t second;
		uint32_t calls, failures, slow;
	} * buckets;
	int head, len, cap;
};

struct bw_breaker {
	struct bw_breaker_policy policy;
	enum bw_breaker_state state;
	enum bw_breaker_reason reason; /* of the last transition */
	uint64_t epoch;		       /* bumped on every transition and window reset */
	uint64_t transitions;	       /* how many so far */
	int64_t now_ms;		       /* the latest clock seen */
	int64_t changed_ms;	       /* when the state last changed */
	int consecutive_failures;
	struct bw_breaker_window window;
	/* OPEN */
	int64_t open_ms;    /* the current open time; grows by the back-off */
	int64_t open_until; /* when OPEN ends */
	/* HALF_OPEN */
	int trials_started, trials_succeeded, trials_slow;
};

/* A breaker for policy, CLOSED (or the mode's state) at now_ms. BW_ENOMEM. */
int bw_breaker_init(struct bw_breaker *b, const struct bw_breaker_policy *policy, int64_t now_ms,
		    struct bw_error *err);
void bw_breaker_release(struct bw_breaker *b);

/*
 * A new policy for a running breaker (docs/breaker.md, "Policy changes"):
 * the same behaviour (only name or generation differ) keeps everything; a
 * forced mode or Disabled, or leaving one, starts over in the new mode's
 * state; between Enforce and MetricsOnly or with other thresholds, CLOSED
 * stays CLOSED (the window is emptied only when its type or size changed),
 * OPEN stays OPEN but ends no later than maxOpenSeconds after it opened,
 * HALF_OPEN starts a new round of trials. Returns 1 when the state changed,
 * 0 when not, BW_ENOMEM (the breaker keeps its old policy).
 */
int bw_breaker_set_policy(struct bw_breaker *b, const struct bw_breaker_policy *policy,
			  int64_t now_ms, struct bw_error *err);

/* Time-driven transitions (OPEN -> HALF_OPEN when the open time is over).
 * acquire does it too; call it to see a transition with no calls. Returns
 * 1 when the state changed. */
int bw_breaker_advance(struct bw_breaker *b, int64_t now_ms);

/* May a call go now? Fills *d; returns 1 when the state changed first. */
int bw_breaker_acquire(struct bw_breaker *b, int64_t now_ms, struct bw_breaker_decision *d);

/* The outcome of an allowed call that took duration_ms. Returns 1 when the
 * state changed. */
int bw_breaker_record(struct bw_breaker *b, int64_t now_ms, const struct bw_breaker_permit *p,
		      enum bw_breaker_outcome outcome, int64_t duration_ms);

enum bw_breaker_state bw_breaker_state(const struct bw_breaker *b);

/* "CLOSED", "OPEN", "HALF_OPEN", "DISABLED"; "ConsecutiveFailures", ... */
const char *bw_breaker_state_name(enum bw_breaker_state state);
const char *bw_breaker_reason_name(enum bw_breaker_reason reason);

#endif
