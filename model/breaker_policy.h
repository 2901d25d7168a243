/*
 * A Breaker policy's fields, their defaults and ranges, and the names of its
 * modes and window types: defined once for the operator, which applies the
 * defaults when it writes breakers.json (registry.h,
 * bw_registry_breaker_policy()), and for the sidecar, which reads that file
 * (proxy/policy.c). docs/breaker.md says what each field means.
 *
 * BW_BREAKER_INT_FIELDS(X) expands X(parent, key, default, min, max, member)
 * once per integer field: parent is "slidingWindow", "slowCall" or NULL (the
 * spec itself), member the field of the sidecar's struct bw_breaker_policy.
 * maxOpenSeconds is not among them: its default depends on openSeconds.
 */
#ifndef BW_MODEL_BREAKER_POLICY_H
#define BW_MODEL_BREAKER_POLICY_H

#define BW_BREAKER_INT_FIELDS(X)                                              \
	X(NULL, "failureThreshold", 5, 1, 1000, failure_threshold)            \
	X(NULL, "failureRateThreshold", 50, 1, 100, failure_rate_threshold)   \
	X(NULL, "minimumCalls", 20, 1, 100000, minimum_calls)                 \
	X("slidingWindow", "size", 100, 1, 100000, window_size)               \
	X("slowCall", "durationMs", 2000, 1, 600000, slow_call_duration_ms)   \
	X("slowCall", "rateThreshold", 100, 1, 100, slow_call_rate_threshold) \
	X(NULL, "openSeconds", 60, 1, 86400, open_seconds)                    \
	X(NULL, "backoffMultiplier", 2, 1, 10, backoff_multiplier)            \
	X(NULL, "halfOpenCalls", 1, 1, 1000, half_open_calls)

/* maxOpenSeconds when absent: this, or openSeconds when that is larger. */
#define BW_BREAKER_DEFAULT_MAX_OPEN_SECONDS 600

/* spec.mode's values (the first is the default), in the order of the
 * sidecar's enum bw_breaker_mode; spec.slidingWindow.type's (the first is
 * the default), in the order of its enum bw_window_type. */
#define BW_BREAKER_MODE_NAMES	"Enforce", "MetricsOnly", "ForcedOpen", "ForcedClosed", "Disabled"
#define BW_BREAKER_WINDOW_NAMES "Count", "Time"

#endif
