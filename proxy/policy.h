/*
 * Breaker policies as the webhook injects them: `breakers.json` of the
 * namespace's `breakwater-registry` ConfigMap, mounted in the pod (by
 * default /etc/breakwater/breakers.json). Its shape (docs/resources.md,
 * written by model/registry.c):
 *
 *   {"namespace": NS,
 *    "breakers": {NAME: {target, generation, failureThreshold,
 *                        failureRateThreshold, minimumCalls,
 *                        slidingWindow {type, size}, slowCall {durationMs,
 *                        rateThreshold}, openSeconds, maxOpenSeconds,
 *                        backoffMultiplier, halfOpenCalls, mode}}}
 *
 * The operator writes every field with its default applied; a field that is
 * absent here takes the CRD's default all the same (a hand-written file, an
 * older operator), and the ranges are the CRD's (maxOpenSeconds: at least
 * openSeconds, at most INT32_MAX, as model/registry.c accepts it). Unknown
 * keys are ignored, so a newer operator's file still loads. Messages name
 * the field: "breakers.payments.slidingWindow.size: 0 is out of range
 * 1..100000".
 *
 * Pure functions: no I/O. Ownership: JSON arguments are borrowed for the
 * call; a struct bw_policy_set owns its items (bw_policy_set_release()).
 * Thread-safety: any thread; a set is not locked.
 */
#ifndef BW_PROXY_POLICY_H
#define BW_PROXY_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

/* The largest breakers.json accepted: a ConfigMap holds at most 1 MiB. */
#define BW_POLICY_MAX_BYTES (1024 * 1024)

enum bw_breaker_mode {
	BW_MODE_ENFORCE,
	BW_MODE_METRICS_ONLY,
	BW_MODE_FORCED_OPEN,
	BW_MODE_FORCED_CLOSED,
	BW_MODE_DISABLED,
};

enum bw_window_type {
	BW_WINDOW_COUNT, /* the last size calls */
	BW_WINDOW_TIME,	 /* the calls of the last size seconds */
};

/* One Breaker's policy, every field set (defaults applied). */
struct bw_breaker_policy {
	char name[254];	 /* the Breaker's metadata.name (a DNS subdomain) */
	char target[64]; /* the Service whose callers it protects (a DNS label) */
	int64_t generation;
	int failure_threshold;	    /* consecutive failures that open, 1..1000 */
	int failure_rate_threshold; /* percent, 1..100 */
	int minimum_calls;	    /* calls in the window before rates count, 1..100000 */
	enum bw_window_type window_type;
	int window_size;	      /* calls or seconds, 1..100000 */
	int slow_call_duration_ms;    /* a call this long or longer is slow, 1..600000 */
	int slow_call_rate_threshold; /* percent, 1..100 */
	int open_seconds;	      /* 1..86400 */
	int max_open_seconds;	      /* open_seconds..INT32_MAX */
	int backoff_multiplier;	      /* 1..10 */
	int half_open_calls;	      /* 1..1000 */
	enum bw_breaker_mode mode;
};

/* Every policy of one breakers.json, in the file's key order (sorted). */
struct bw_policy_set {
	char namespace[64];
	struct bw_breaker_policy *items; /* owned */
	size_t n;
};

/* Fills *p with the CRD's defaults (name, target empty; generation 0). */
void bw_policy_defaults(struct bw_breaker_policy *p);

/*
 * One entry of the "breakers" map: name is its key, entry its value.
 * Errors name the field as "breakers.NAME.FIELD": BW_EINVAL for a wrong
 * type, a value out of range, an unknown mode or window type, a missing or
 * over-long target, a name longer than 253 bytes. *p is only written on
 * success.
 */
int bw_policy_parse_entry(const char *name, const json_t *entry, struct bw_breaker_policy *p,
			  struct bw_error *err);

/*
 * A whole breakers.json text of len bytes. All or nothing: any bad entry
 * fails the whole file (the caller keeps the policies it had), so a pod
 * never runs half a configuration. Two entries with the same target (the
 * operator never writes them) are refused too. Errors: BW_ETOOBIG (more than
 * BW_POLICY_MAX_BYTES, or a shape too deep or large), BW_EPARSE (not JSON:
 * line and column), BW_EINVAL (wrong shape, naming the field), BW_ENOMEM.
 * On success *set owns its items; on failure *set is empty.
 */
int bw_policy_parse(const char *text, size_t len, struct bw_policy_set *set, struct bw_error *err);

/* Frees the items; the set is empty afterwards. NULL is allowed. */
void bw_policy_set_release(struct bw_policy_set *set);

/* The policy protecting target, borrowed from set; NULL when none. */
const struct bw_breaker_policy *bw_policy_find_target(const struct bw_policy_set *set,
						      const char *target);

/* True when a and b behave the same: every field but name and generation equal. */
int bw_policy_same_behaviour(const struct bw_breaker_policy *a, const struct bw_breaker_policy *b);

/* "Enforce", "MetricsOnly", ... and "Count", "Time": the JSON spellings. */
const char *bw_policy_mode_name(enum bw_breaker_mode mode);
const char *bw_policy_window_name(enum bw_window_type type);

#endif
