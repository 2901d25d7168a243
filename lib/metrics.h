/*
 * Metrics: a registry of counters, gauges and histograms, rendered in the
 * Prometheus text exposition format 0.0.4 (what a /metrics endpoint serves
 * with "Content-Type: text/plain; version=0.0.4; charset=utf-8").
 *
 *   struct bw_metrics *reg;
 *   bw_metrics_new(&reg, &err);
 *   struct bw_metrics_counter *reconciles;
 *   struct bw_metrics_histogram *reconcile_time;
 *
 *   bw_metrics_register_counter(reg, "controller_runtime_reconcile_total",
 *                               "Total number of reconciliations per controller",
 *                               BW_METRICS_LABELS("controller", "result"), &reconciles, &err);
 *   bw_metrics_register_histogram(reg, "controller_runtime_reconcile_time_seconds",
 *                                 "Length of time per reconciliation per controller",
 *                                 BW_METRICS_LABELS("controller"), bw_metrics_reconcile_buckets,
 *                                 BW_METRICS_RECONCILE_BUCKETS_N, &reconcile_time, &err);
 *
 *   bw_metrics_counter_inc(reconciles, "Service", "success");
 *   bw_metrics_histogram_observe(reconcile_time, 0.042, "Service");
 *
 *   bw_metrics_render(reg, &text, &len, &err);   ... free(text);
 *
 * A metric (a "family") has a name, HELP text and 0 to BW_METRICS_MAX_LABELS
 * label names. It holds one series (a "child") per tuple of label values,
 * created on first use; a metric without labels has its one series from
 * registration, so it renders as 0 before any update. A labelled metric with
 * no series yet is left out of the output, as the Go client does.
 *
 * Label values are given to the update macros after the value, one string per
 * label name, in the order of registration. A wrong count, or a NULL value,
 * is refused with BW_EINVAL and a warning logged once per metric; a value
 * that is not a string does not compile. Each macro has an _array form taking
 * (size_t n, const char *const *values) for code that builds values at run time.
 * (A metric without labels is updated with no label arguments at all, as in
 * bw_metrics_gauge_set(g, 1): accepted by gcc and clang, and by C23.)
 *
 * Update functions return 0, BW_EINVAL (NULL metric, wrong label values,
 * a counter decreased), BW_ENOMEM, or BW_ETOOBIG when a metric already has
 * BW_METRICS_MAX_CHILDREN series (a bound on memory: use labels with few values).
 * Callers usually ignore the result; every failure is also logged once per metric.
 *
 * Ownership: the registry owns every metric; metric handles are borrowed and
 * valid until bw_metrics_free(). Names, HELP text, label names and label
 * values are copied. bw_metrics_render() returns a malloc'd text the caller
 * frees with free(). A gauge function's arg is borrowed: it must stay valid
 * for as long as the function is set.
 *
 * Thread-safety: every function but bw_metrics_free() may be called from any
 * thread at any time, including registration while rendering. Counters and
 * gauges are lock-free atomics (lookup of an existing series takes no lock;
 * creating one takes its metric's mutex). A histogram observation takes its
 * metric's mutex, so a rendered histogram series is always self-consistent
 * (its +Inf bucket equals its _count, and its _sum matches). Rendering reads
 * each series once without stopping updates: series may come from slightly
 * different instants. Gauge functions are called from the rendering thread
 * with no lock held. bw_metrics_free() must be called once no other thread
 * uses the registry.
 *
 * Numbers print in the C locale's format (do not setlocale(LC_NUMERIC)).
 */
#ifndef BW_METRICS_H
#define BW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define BW_METRICS_MAX_LABELS	4    /* label names per metric */
#define BW_METRICS_MAX_CHILDREN 1000 /* series (label-value tuples) per metric */
#define BW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define BW_METRICS_TEXT_MAX	((size_t)64 << 20) /* cap on a rendered text */

struct bw_metrics;
struct bw_metrics_counter;
struct bw_metrics_gauge;
struct bw_metrics_histogram;

/* A gauge function: returns the current value; called at each render. */
typedef double (*bw_metrics_gauge_fn)(void *arg);

/* A NULL-terminated list of label names for registration:
 * BW_METRICS_LABELS("controller", "result"). Pass NULL for no labels. */
#define BW_METRICS_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The Prometheus client's default buckets: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10. */
#define BW_METRICS_DEFAULT_BUCKETS_N 11
extern const double bw_metrics_default_buckets[BW_METRICS_DEFAULT_BUCKETS_N];

/* controller-runtime's reconcile-time buckets: 0.005 to 60 seconds. */
#define BW_METRICS_RECONCILE_BUCKETS_N 40
extern const double bw_metrics_reconcile_buckets[BW_METRICS_RECONCILE_BUCKETS_N];

/* Fills bounds[0..count) with start, start*factor, start*factor^2, ...
 * BW_EINVAL unless count >= 1, start > 0 and factor > 1 (all finite). */
int bw_metrics_buckets_exponential(double *bounds, size_t count, double start, double factor,
				   struct bw_error *err);

/* Fills bounds[0..count) with start, start+width, start+2*width, ...
 * BW_EINVAL unless count >= 1 and width > 0 (all finite). */
int bw_metrics_buckets_linear(double *bounds, size_t count, double start, double width,
			      struct bw_error *err);

/* A new, empty registry in *out; BW_ENOMEM (and *out NULL) when out of memory. */
int bw_metrics_new(struct bw_metrics **out, struct bw_error *err);

/* Frees the registry and every metric in it; NULL is a no-op. */
void bw_metrics_free(struct bw_metrics *reg);

/*
 * Registration: name must match [a-zA-Z_:][a-zA-Z0-9_:]* and be unused (a
 * histogram also reserves name_bucket, name_sum and name_count); help must
 * not be empty; labels is NULL or a NULL-terminated list of at most
 * BW_METRICS_MAX_LABELS distinct names matching [a-zA-Z_][a-zA-Z0-9_]*, not
 * starting with "__" (and not "le" for a histogram). Counters are named
 * with "_total" by the caller. On success *out is the new metric; on error
 * (BW_EINVAL naming what is wrong, BW_ENOMEM) *out is NULL and nothing is
 * registered.
 */
int bw_metrics_register_counter(struct bw_metrics *reg, const char *name, const char *help,
				const char *const *labels, struct bw_metrics_counter **out,
				struct bw_error *err);
int bw_metrics_register_gauge(struct bw_metrics *reg, const char *name, const char *help,
			      const char *const *labels, struct bw_metrics_gauge **out,
			      struct bw_error *err);

/* A gauge without labels whose value is fn(arg) at each render (queue depth,
 * leader status). out may be NULL. */
int bw_metrics_register_gauge_fn(struct bw_metrics *reg, const char *name, const char *help,
				 bw_metrics_gauge_fn fn, void *arg, struct bw_metrics_gauge **out,
				 struct bw_error *err);

/* bounds: strictly increasing finite upper bounds (inclusive: an observation
 * equal to a bound counts in that bucket); a trailing +Inf is dropped, as the
 * +Inf bucket is always there. bounds NULL or nbounds 0: the default buckets.
 * The bounds are copied. */
int bw_metrics_register_histogram(struct bw_metrics *reg, const char *name, const char *help,
				  const char *const *labels, const double *bounds, size_t nbounds,
				  struct bw_metrics_histogram **out, struct bw_error *err);

/* Adds v (>= 0) to a counter's series. */
int bw_metrics_counter_add_array(struct bw_metrics_counter *counter, double v, size_t n,
				 const char *const *values);
/* Sets a gauge's series to v. */
int bw_metrics_gauge_set_array(struct bw_metrics_gauge *gauge, double v, size_t n,
			       const char *const *values);
/* Adds v (may be negative) to a gauge's series. */
int bw_metrics_gauge_add_array(struct bw_metrics_gauge *gauge, double v, size_t n,
			       const char *const *values);
/* Makes a gauge's series report fn(arg) at each render; fn NULL goes back to
 * the stored value. While a function is set, set/add change only the stored value. */
int bw_metrics_gauge_set_fn_array(struct bw_metrics_gauge *gauge, bw_metrics_gauge_fn fn, void *arg,
				  size_t n, const char *const *values);
/* Records one observation in a histogram's series. */
int bw_metrics_histogram_observe_array(struct bw_metrics_histogram *hist, double v, size_t n,
				       const char *const *values);

/* The label values of an update macro, as (count, array). Internal. */
#define BW_METRICS_NVALUES_(...) \
	(sizeof((const char *const[]){NULL, __VA_ARGS__}) / sizeof(const char *) - 1)
#define BW_METRICS_VALUES_(...) ((const char *const[]){NULL, __VA_ARGS__} + 1)
#define BW_METRICS_ARGS_(...)	BW_METRICS_NVALUES_(__VA_ARGS__), BW_METRICS_VALUES_(__VA_ARGS__)

/* Updates, label values last: bw_metrics_counter_inc(reconciles, "Service", "success"). */
#define bw_metrics_counter_inc(counter, ...) \
	bw_metrics_counter_add_array((counter), 1.0, BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_counter_add(counter, v, ...) \
	bw_metrics_counter_add_array((counter), (v), BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_gauge_set(gauge, v, ...) \
	bw_metrics_gauge_set_array((gauge), (v), BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_gauge_add(gauge, v, ...) \
	bw_metrics_gauge_add_array((gauge), (v), BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_gauge_sub(gauge, v, ...) \
	bw_metrics_gauge_add_array((gauge), -(double)(v), BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_gauge_inc(gauge, ...) \
	bw_metrics_gauge_add_array((gauge), 1.0, BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_gauge_dec(gauge, ...) \
	bw_metrics_gauge_add_array((gauge), -1.0, BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_gauge_set_fn(gauge, fn, arg, ...) \
	bw_metrics_gauge_set_fn_array((gauge), (fn), (arg), BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_histogram_observe(hist, v, ...) \
	bw_metrics_histogram_observe_array((hist), (v), BW_METRICS_ARGS_(__VA_ARGS__))

/*
 * Collectors: a metric whose series are read at render time from state kept
 * elsewhere (a work queue's counters, an informer's statistics) rather than
 * updated as things happen, so that state is not counted twice. The family
 * (name, HELP, type, label names, histogram bounds) is registered and checked
 * as any other; at each render fn(sink, arg) is called, from the rendering
 * thread with the metric's lock held, and emits the series with the sink
 * functions below (label values as in the update functions). A collector
 * that emits nothing leaves its metric out of the output. fn must not call
 * into the registry other than through the sink.
 *
 * arg is borrowed: call bw_metrics_collector_detach() before freeing it.
 * After detach returns, fn is not running and is never called again; the
 * metric stays registered (its name stays taken) and renders nothing.
 */
enum bw_metrics_type {
	BW_METRICS_COUNTER,
	BW_METRICS_GAUGE,
	BW_METRICS_HISTOGRAM,
};
struct bw_metrics_collector;
struct bw_metrics_sink;
typedef void (*bw_metrics_collect_fn)(struct bw_metrics_sink *sink, void *arg);

/* bounds as for bw_metrics_register_histogram (histograms only). out may be NULL. */
int bw_metrics_register_collector(struct bw_metrics *reg, enum bw_metrics_type type,
				  const char *name, const char *help, const char *const *labels,
				  const double *bounds, size_t nbounds, bw_metrics_collect_fn fn,
				  void *arg, struct bw_metrics_collector **out,
				  struct bw_error *err);
void bw_metrics_collector_detach(struct bw_metrics_collector *collector);

/* In a collector: one counter or gauge series. 0, or BW_EINVAL (wrong label
 * values, a histogram's collector: logged once per metric), or the text's
 * BW_ENOMEM/BW_ETOOBIG (the render fails then). */
int bw_metrics_sink_value_array(struct bw_metrics_sink *sink, double v, size_t n,
				const char *const *values);
/* In a histogram's collector: one series; cumulative[i] counts the
 * observations <= bound i (one per bound), count is the +Inf bucket. */
int bw_metrics_sink_histogram_array(struct bw_metrics_sink *sink, const uint64_t *cumulative,
				    uint64_t count, double sum, size_t n,
				    const char *const *values);
#define bw_metrics_sink_value(sink, v, ...) \
	bw_metrics_sink_value_array((sink), (v), BW_METRICS_ARGS_(__VA_ARGS__))
#define bw_metrics_sink_histogram(sink, cumulative, count, sum, ...)          \
	bw_metrics_sink_histogram_array((sink), (cumulative), (count), (sum), \
					BW_METRICS_ARGS_(__VA_ARGS__))

/* Renders every metric, in registration order, series in creation order, as
 * the text format 0.0.4. On success *out is a NUL-terminated malloc'd text
 * (free() it) and *len its length; on error (BW_ENOMEM, or BW_ETOOBIG past
 * BW_METRICS_TEXT_MAX bytes) *out is NULL. */
int bw_metrics_render(struct bw_metrics *reg, char **out, size_t *len, struct bw_error *err);

#endif
