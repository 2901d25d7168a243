/*
 * The breaker state machine (breaker.h). Every decision is made from the
 * arguments and the struct: no clock, no I/O, no globals.
 */
#include <stdlib.h>
#include <string.h>

#include "breaker.h"

#define TIME_BUCKETS_MIN 16
/* HALF_OPEN with every trial taken: the trials decide soon, so try again shortly. */
#define HALF_OPEN_RETRY_MS 1000

static const char *const state_names[] = {"CLOSED", "OPEN", "HALF_OPEN", "DISABLED"};
static const char *const reason_names[] = {
    "None",	   "ConsecutiveFailures", "FailureRate",     "SlowCallRate",  "OpenElapsed",
    "TrialFailed", "TrialsSlow",	  "TrialsSucceeded", "PolicyChanged",
};

const char *bw_breaker_state_name(enum bw_breaker_state state)
{
	return (unsigned)state < 4 ? state_names[state] : "?";
}

const char *bw_breaker_reason_name(enum bw_breaker_reason reason)
{
	return (unsigned)reason < sizeof(reason_names) / sizeof(reason_names[0])
		   ? reason_names[reason]
		   : "?";
}

enum bw_breaker_state bw_breaker_state(const struct bw_breaker *b)
{
	return b->state;
}

/* Enforce and MetricsOnly run the machine; the other modes compute nothing. */
static int computes(enum bw_breaker_mode mode)
{
	return mode == BW_MODE_ENFORCE || mode == BW_MODE_METRICS_ONLY;
}

static enum bw_breaker_state mode_state(enum bw_breaker_mode mode)
{
	switch (mode) {
	case BW_MODE_FORCED_OPEN:
		return BW_BREAKER_OPEN;
	case BW_MODE_DISABLED:
		return BW_BREAKER_DISABLED;
	default:
		return BW_BREAKER_CLOSED;
	}
}

/* ---- the sliding window ---- */

static int window_init(struct bw_breaker_window *w, enum bw_window_type type, int size)
{
	memset(w, 0, sizeof(*w));
	w->type = type;
	w->size = size;
	if (type == BW_WINDOW_COUNT) {
		w->ring = calloc((size_t)size, 1);
		return w->ring ? 0 : BW_ENOMEM;
	}
	return 0; /* time buckets are allocated as calls come */
}

static void window_release(struct bw_breaker_window *w)
{
	free(w->ring);
	free(w->buckets);
	memset(w, 0, sizeof(*w));
}

static void window_clear(struct bw_breaker_window *w)
{
	w->calls = w->failures = w->slow = 0;
	w->head = w->len = 0;
}

static struct bw_breaker_bucket *bucket_at(struct bw_breaker_window *w, int i)
{
	return &w->buckets[(w->head + i) % w->cap];
}

static void drop_oldest_bucket(struct bw_breaker_window *w)
{
	struct bw_breaker_bucket *old = bucket_at(w, 0);

	w->calls -= old->calls;
	w->failures -= old->failures;
	w->slow -= old->slow;
	w->head = (w->head + 1) % w->cap;
	w->len--;
}

/* Time window: forgets the seconds before now's last `size` seconds. */
static void window_expire(struct bw_breaker_window *w, int64_t now_ms)
{
	int64_t first = now_ms / 1000 - w->size + 1;

	while (w->type == BW_WINDOW_TIME && w->len && bucket_at(w, 0)->second < first)
		drop_oldest_bucket(w);
}

/* Room for one more bucket: grows the ring (up to size); when that fails,
 * the oldest second is forgotten early rather than the newest call. */
static void bucket_room(struct bw_breaker_window *w)
{
	struct bw_breaker_bucket *grown;
	int cap, i;

	if (w->len < w->cap)
		return;
	cap = w->cap ? w->cap * 2 : TIME_BUCKETS_MIN;
	if (cap > w->size)
		cap = w->size;
	if (cap > w->cap && (grown = malloc((size_t)cap * sizeof(*grown)))) {
		for (i = 0; i < w->len; i++)
			grown[i] = *bucket_at(w, i);
		free(w->buckets);
		w->buckets = grown;
		w->cap = cap;
		w->head = 0;
		return;
	}
	if (w->len)
		drop_oldest_bucket(w);
}

static void window_add(struct bw_breaker_window *w, int64_t now_ms, int failed, int slow)
{
	struct bw_breaker_bucket *last;
	unsigned char bits = (unsigned char)((failed ? 1 : 0) | (slow ? 2 : 0)), old;

	if (w->type == BW_WINDOW_COUNT) {
		if (w->len == w->size) { /* full: the oldest call leaves */
			old = w->ring[w->head];
			w->calls--;
			w->failures -= old & 1;
			w->slow -= (old >> 1) & 1;
			w->ring[w->head] = bits;
			w->head = (w->head + 1) % w->size;
		} else {
			w->ring[(w->head + w->len) % w->size] = bits;
			w->len++;
		}
	} else {
		window_expire(w, now_ms);
		last = w->len ? bucket_at(w, w->len - 1) : NULL;
		if (!last || last->second != now_ms / 1000) {
			bucket_room(w);
			if (!w->cap)
				return; /* no memory for even one bucket: the call is not counted */
			w->len++;
			last = bucket_at(w, w->len - 1);
			memset(last, 0, sizeof(*last));
			last->second = now_ms / 1000;
		}
		last->calls++;
		last->failures += failed ? 1 : 0;
		last->slow += slow ? 1 : 0;
	}
	w->calls++;
	w->failures += failed ? 1 : 0;
	w->slow += slow ? 1 : 0;
}

/* ---- transitions ---- */

static int64_t clock_at(struct bw_breaker *b, int64_t now_ms)
{
	if (now_ms > b->now_ms)
		b->now_ms = now_ms;
	return b->now_ms;
}

static void enter(struct bw_breaker *b, enum bw_breaker_state state, enum bw_breaker_reason reason,
		  int64_t now_ms)
{
	b->state = state;
	b->reason = reason;
	b->epoch++;
	b->transitions++;
	b->changed_ms = now_ms;
	b->trials_started = b->trials_succeeded = b->trials_slow = 0;
	if (state == BW_BREAKER_CLOSED || state == BW_BREAKER_DISABLED) {
		b->consecutive_failures = 0;
		window_clear(&b->window);
	}
}

static void open_circuit(struct bw_breaker *b, enum bw_breaker_reason reason, int64_t now_ms)
{
	int64_t max_ms = (int64_t)b->policy.max_open_seconds * 1000;

	if (b->state == BW_BREAKER_HALF_OPEN) /* a failed round: back off */
		b->open_ms *= b->policy.backoff_multiplier;
	else
		b->open_ms = (int64_t)b->policy.open_seconds * 1000;
	if (b->open_ms > max_ms)
		b->open_ms = max_ms;
	b->open_until = now_ms + b->open_ms;
	enter(b, BW_BREAKER_OPEN, reason, now_ms);
}

static void close_circuit(struct bw_breaker *b, enum bw_breaker_reason reason, int64_t now_ms)
{
	b->open_ms = (int64_t)b->policy.open_seconds * 1000;
	enter(b, BW_BREAKER_CLOSED, reason, now_ms);
}

int bw_breaker_init(struct bw_breaker *b, const struct bw_breaker_policy *policy, int64_t now_ms,
		    struct bw_error *err)
{
	memset(b, 0, sizeof(*b));
	b->policy = *policy;
	if (window_init(&b->window, policy->window_type, policy->window_size))
		return bw_error_set(err, BW_ENOMEM, "breaker %s: out of memory", policy->name);
	b->now_ms = now_ms > 0 ? now_ms : 0;
	b->changed_ms = b->now_ms;
	b->state = mode_state(policy->mode);
	b->open_ms = (int64_t)policy->open_seconds * 1000;
	if (b->state == BW_BREAKER_OPEN)
		b->open_until = INT64_MAX;
	return 0;
}

void bw_breaker_release(struct bw_breaker *b)
{
	if (b)
		window_release(&b->window);
}

int bw_breaker_advance(struct bw_breaker *b, int64_t now_ms)
{
	int64_t now = clock_at(b, now_ms);

	if (!computes(b->policy.mode))
		return 0;
	window_expire(&b->window, now);
	if (b->state == BW_BREAKER_OPEN && now >= b->open_until) {
		enter(b, BW_BREAKER_HALF_OPEN, BW_REASON_OPEN_ELAPSED, now);
		return 1;
	}
	return 0;
}

int bw_breaker_acquire(struct bw_breaker *b, int64_t now_ms, struct bw_breaker_decision *d)
{
	int changed = bw_breaker_advance(b, now_ms);
	int64_t now = b->now_ms;

	memset(d, 0, sizeof(*d));
	d->permit.epoch = b->epoch;
	switch (b->policy.mode) {
	case BW_MODE_FORCED_OPEN:
		d->retry_after_ms = (int64_t)b->policy.open_seconds * 1000;
		return changed;
	case BW_MODE_FORCED_CLOSED:
	case BW_MODE_DISABLED:
		d->allowed = 1; /* counted for nothing */
		return changed;
	default:
		break;
	}
	if (b->state == BW_BREAKER_CLOSED) {
		d->allowed = d->permit.counted = 1;
	} else if (b->state == BW_BREAKER_OPEN) {
		d->retry_after_ms = b->open_until - now;
	} else if (b->trials_started < b->policy.half_open_calls) {
		b->trials_started++;
		d->allowed = d->permit.counted = d->permit.trial = 1;
	} else {
		d->retry_after_ms = HALF_OPEN_RETRY_MS;
	}
	if (!d->allowed && d->retry_after_ms < 1)
		d->retry_after_ms = 1;
	if (!d->allowed && b->policy.mode == BW_MODE_METRICS_ONLY)
		d->allowed = d->would_refuse = 1; /* let through, outcome not counted */
	return changed;
}

/* CLOSED: the outcome into the counts, and whether they open the circuit. */
static int record_closed(struct bw_breaker *b, int64_t now, int failed, int slow)
{
	const struct bw_breaker_policy *p = &b->policy;
	const struct bw_breaker_window *w = &b->window;

	b->consecutive_failures = failed ? b->consecutive_failures + 1 : 0;
	window_add(&b->window, now, failed, slow);
	if (b->consecutive_failures >= p->failure_threshold)
		open_circuit(b, BW_REASON_CONSECUTIVE_FAILURES, now);
	else if (w->calls < (uint64_t)p->minimum_calls)
		return 0;
	else if (w->failures * 100 >= (uint64_t)p->failure_rate_threshold * w->calls)
		open_circuit(b, BW_REASON_FAILURE_RATE, now);
	else if (w->slow * 100 >= (uint64_t)p->slow_call_rate_threshold * w->calls)
		open_circuit(b, BW_REASON_SLOW_CALL_RATE, now);
	else
		return 0;
	return 1;
}

/* HALF_OPEN: one trial's outcome. */
static int record_trial(struct bw_breaker *b, int64_t now, int failed, int slow)
{
	const struct bw_breaker_policy *p = &b->policy;

	if (failed) {
		open_circuit(b, BW_REASON_TRIAL_FAILED, now);
		return 1;
	}
	b->trials_succeeded++;
	b->trials_slow += slow ? 1 : 0;
	if (b->trials_succeeded < p->half_open_calls)
		return 0;
	if ((int64_t)b->trials_slow * 100 >=
	    (int64_t)p->slow_call_rate_threshold * p->half_open_calls)
		open_circuit(b, BW_REASON_TRIALS_SLOW, now);
	else
		close_circuit(b, BW_REASON_TRIALS_SUCCEEDED, now);
	return 1;
}

int bw_breaker_record(struct bw_breaker *b, int64_t now_ms, const struct bw_breaker_permit *p,
		      enum bw_breaker_outcome outcome, int64_t duration_ms)
{
	int changed = bw_breaker_advance(b, now_ms);
	int failed = outcome == BW_OUTCOME_FAILURE;
	int slow = duration_ms >= b->policy.slow_call_duration_ms;

	/* a permit of another epoch was let through by a state that is gone */
	if (!computes(b->policy.mode) || !p || !p->counted || p->epoch != b->epoch)
		return changed;
	if (b->state == BW_BREAKER_HALF_OPEN && p->trial) {
		if (outcome == BW_OUTCOME_IGNORED) {
			b->trials_started--; /* the slot goes to the next call */
			return changed;
		}
		return record_trial(b, b->now_ms, failed, slow) | changed;
	}
	if (b->state == BW_BREAKER_CLOSED && outcome != BW_OUTCOME_IGNORED)
		return record_closed(b, b->now_ms, failed, slow) | changed;
	return changed;
}

int bw_breaker_set_policy(struct bw_breaker *b, const struct bw_breaker_policy *policy,
			  int64_t now_ms, struct bw_error *err)
{
	int64_t now = clock_at(b, now_ms), max_ms;
	struct bw_breaker_window fresh;
	enum bw_breaker_state before = b->state;
	int new_window;

	if (bw_policy_same_behaviour(&b->policy, policy)) {
		b->policy = *policy; /* name, generation */
		return 0;
	}
	new_window = policy->window_type != b->policy.window_type ||
		     policy->window_size != b->policy.window_size;
	if (new_window && window_init(&fresh, policy->window_type, policy->window_size))
		return bw_error_set(err, BW_ENOMEM, "breaker %s: out of memory", policy->name);
	if (new_window) {
		window_release(&b->window);
		b->window = fresh;
		b->epoch++; /* calls in flight belong to the old window */
	}

	if (!computes(policy->mode) || !computes(b->policy.mode)) {
		/* into or out of a forced mode or Disabled: start over */
		b->policy = *policy;
		b->open_ms = (int64_t)policy->open_seconds * 1000;
		b->open_until = mode_state(policy->mode) == BW_BREAKER_OPEN ? INT64_MAX : 0;
		if (mode_state(policy->mode) != before) {
			enter(b, mode_state(policy->mode), BW_REASON_POLICY_CHANGED, now);
		} else { /* the same state, counted afresh: not a transition */
			b->epoch++;
			b->trials_started = b->trials_succeeded = b->trials_slow = 0;
		}
		window_clear(&b->window);
		b->consecutive_failures = 0;
		return b->state != before;
	}

	b->policy = *policy;
	switch (b->state) {
	case BW_BREAKER_OPEN:
		/* ends no later than the new maxOpenSeconds after it opened */
		max_ms = (int64_t)policy->max_open_seconds * 1000;
		if (b->open_ms > max_ms)
			b->open_ms = max_ms;
		if (b->open_until > b->changed_ms + max_ms)
			b->open_until = b->changed_ms + max_ms;
		return bw_breaker_advance(b, now);
	case BW_BREAKER_HALF_OPEN:
		/* a new round of trials: those in flight count for nothing */
		b->epoch++;
		b->trials_started = b->trials_succeeded = b->trials_slow = 0;
		return 0;
	default:
		return 0; /* CLOSED: the new thresholds apply from the next call */
	}
}
