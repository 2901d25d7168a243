/* Metrics registry and Prometheus text exposition: see metrics.h. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "log.h"
#include "metrics.h"

const double bw_metrics_default_buckets[BW_METRICS_DEFAULT_BUCKETS_N] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

const double bw_metrics_reconcile_buckets[BW_METRICS_RECONCILE_BUCKETS_N] = {
    0.005, 0.01, 0.025, 0.05, 0.1,  0.15, 0.2,	0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6,
    0.7,   0.8,	 0.9,	1.0,  1.25, 1.5,  1.75, 2.0,  2.5, 3.0,	 3.5, 4.0,  4.5, 5,
    6,	   7,	 8,	9,    10,   15,	  20,	25,   30,  40,	 50,  60};

enum family_type {
	TYPE_COUNTER,
	TYPE_GAUGE,
	TYPE_HISTOGRAM,
};

static const char *const type_names[] = {"counter", "gauge", "histogram"};

/* One series: a tuple of label values and its value. Allocated in one block:
 * the struct, the histogram's buckets, then the label values' text. */
struct child {
	_Atomic(struct child *) next; /* published with release, read with acquire */
	const char *values[BW_METRICS_MAX_LABELS];
	_Atomic uint64_t value; /* counter or gauge: the bits of a double */
	/* guarded by the family's lock */
	bw_metrics_gauge_fn fn;
	void *arg;
	uint64_t count;
	double sum;
	uint64_t buckets[]; /* histogram: nbounds + 1 counts, not cumulative */
};

/* One metric. struct bw_metrics_counter, _gauge and _histogram are never
 * defined: their pointers are pointers to a struct family. */
struct family {
	_Atomic(struct family *) next;
	enum family_type type;
	char *name;
	char *help;
	size_t nlabels;
	char *labels[BW_METRICS_MAX_LABELS];
	double *bounds;
	size_t nbounds;
	pthread_mutex_t lock;
	int lock_ready;
	_Atomic(struct child *) children;
	struct child *tail; /* guarded by lock */
	size_t nchildren;   /* guarded by lock */
	atomic_int warned;
	/* a collector's: its series come from collect(collect_arg) at each
	 * render, called with lock held so a detach waits for it */
	int is_collector;
	bw_metrics_collect_fn collect; /* guarded by lock; NULL once detached */
	void *collect_arg;
};

struct bw_metrics {
	pthread_mutex_t lock; /* serialises registration */
	_Atomic(struct family *) families;
	struct family *tail; /* guarded by lock */
};

static const char *const histogram_suffixes[] = {"_bucket", "_sum", "_count"};

static uint64_t double_bits(double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

static double bits_double(uint64_t bits)
{
	double v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(p, &old, double_bits(bits_double(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

/* --- names --------------------------------------------------------------- */

static int name_char_ok(char c, int first, int colon)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return 1;
	if (c == ':')
		return colon;
	return !first && c >= '0' && c <= '9';
}

static int name_ok(const char *name, int colon)
{
	if (!name || !*name)
		return 0;
	for (size_t i = 0; name[i]; i++) {
		if (!name_char_ok(name[i], i == 0, colon))
			return 0;
	}
	return 1;
}

/* True when name is base followed by one of a histogram's suffixes. */
static int is_histogram_series(const char *name, const char *base)
{
	size_t n = strlen(base);

	if (strncmp(name, base, n) != 0)
		return 0;
	for (size_t i = 0; i < sizeof(histogram_suffixes) / sizeof(histogram_suffixes[0]); i++) {
		if (strcmp(name + n, histogram_suffixes[i]) == 0)
			return 1;
	}
	return 0;
}

static int names_clash(const struct family *have, enum family_type type, const char *name)
{
	return strcmp(have->name, name) == 0 ||
	       (have->type == TYPE_HISTOGRAM && is_histogram_series(name, have->name)) ||
	       (type == TYPE_HISTOGRAM && is_histogram_series(have->name, name));
}

static int check_labels(const char *name, enum family_type type, const char *const *labels,
			size_t *nlabels, struct bw_error *err)
{
	size_t n = 0;

	for (; labels && labels[n]; n++) {
		const char *label = labels[n];

		if (n == BW_METRICS_MAX_LABELS)
			return bw_error_set(err, BW_EINVAL,
					    "metric \"%s\": more than %d label names", name,
					    BW_METRICS_MAX_LABELS);
		if (!name_ok(label, 0))
			return bw_error_set(err, BW_EINVAL,
					    "metric \"%s\": label name \"%s\" is invalid: want "
					    "[a-zA-Z_][a-zA-Z0-9_]*",
					    name, label);
		if (strncmp(label, "__", 2) == 0)
			return bw_error_set(err, BW_EINVAL,
					    "metric \"%s\": label name \"%s\" is reserved: names "
					    "starting with \"__\" are Prometheus's",
					    name, label);
		if (type == TYPE_HISTOGRAM && strcmp(label, "le") == 0)
			return bw_error_set(err, BW_EINVAL,
					    "histogram \"%s\": label name \"le\" is reserved for "
					    "the bucket bounds",
					    name);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(labels[i], label) == 0)
				return bw_error_set(err, BW_EINVAL,
						    "metric \"%s\": label name \"%s\" is repeated",
						    name, label);
		}
	}
	*nlabels = n;
	return 0;
}

/* Checks bounds; *nbounds loses a trailing +Inf. */
static int check_bounds(const char *name, const double *bounds, size_t *nbounds,
			struct bw_error *err)
{
	size_t n = *nbounds;

	if (n > 0 && isinf(bounds[n - 1]) && bounds[n - 1] > 0)
		n--;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(bounds[i]))
			return bw_error_set(err, BW_EINVAL,
					    "histogram \"%s\": bucket bound %zu is not a finite "
					    "number",
					    name, i);
		if (i > 0 && !(bounds[i] > bounds[i - 1]))
			return bw_error_set(err, BW_EINVAL,
					    "histogram \"%s\": bucket bounds must increase, but "
					    "bound %zu (%g) follows %g",
					    name, i, bounds[i], bounds[i - 1]);
	}
	*nbounds = n;
	return 0;
}

/* --- bucket helpers ------------------------------------------------------ */

int bw_metrics_buckets_exponential(double *bounds, size_t count, double start, double factor,
				   struct bw_error *err)
{
	if (!bounds || count < 1 || !isfinite(start) || !(start > 0) || !isfinite(factor) ||
	    !(factor > 1))
		return bw_error_set(err, BW_EINVAL,
				    "exponential buckets need count >= 1, start > 0 and factor > "
				    "1 (got count %zu, start %g, factor %g)",
				    count, start, factor);
	for (size_t i = 0; i < count; i++) {
		if (!isfinite(start))
			return bw_error_set(err, BW_EINVAL,
					    "exponential buckets overflow at bucket %zu", i);
		bounds[i] = start;
		start *= factor;
	}
	return 0;
}

int bw_metrics_buckets_linear(double *bounds, size_t count, double start, double width,
			      struct bw_error *err)
{
	if (!bounds || count < 1 || !isfinite(start) || !isfinite(width) || !(width > 0))
		return bw_error_set(err, BW_EINVAL,
				    "linear buckets need count >= 1 and width > 0 (got count %zu, "
				    "start %g, width %g)",
				    count, start, width);
	for (size_t i = 0; i < count; i++) {
		if (!isfinite(start))
			return bw_error_set(err, BW_EINVAL, "linear buckets overflow at bucket %zu",
					    i);
		bounds[i] = start;
		start += width;
	}
	return 0;
}

/* --- series -------------------------------------------------------------- */

static struct family *counter_family(struct bw_metrics_counter *counter)
{
	return (struct family *)(void *)counter;
}

static struct family *gauge_family(struct bw_metrics_gauge *gauge)
{
	return (struct family *)(void *)gauge;
}

static struct family *histogram_family(struct bw_metrics_histogram *hist)
{
	return (struct family *)(void *)hist;
}

static struct child *child_alloc(const struct family *fam, const char *const *values)
{
	size_t lens[BW_METRICS_MAX_LABELS];
	size_t nbuckets = fam->type == TYPE_HISTOGRAM ? fam->nbounds + 1 : 0;
	size_t size = sizeof(struct child) + nbuckets * sizeof(uint64_t);
	struct child *c;
	char *p;

	for (size_t i = 0; i < fam->nlabels; i++) {
		lens[i] = strlen(values[i]) + 1;
		size += lens[i];
	}
	c = calloc(1, size);
	if (!c)
		return NULL;
	atomic_init(&c->next, NULL);
	atomic_init(&c->value, double_bits(0));
	p = (char *)c + sizeof(struct child) + nbuckets * sizeof(uint64_t);
	for (size_t i = 0; i < fam->nlabels; i++) {
		memcpy(p, values[i], lens[i]);
		c->values[i] = p;
		p += lens[i];
	}
	return c;
}

static struct child *child_find(struct child *c, size_t n, const char *const *values)
{
	for (; c; c = atomic_load_explicit(&c->next, memory_order_acquire)) {
		size_t i = 0;

		while (i < n && strcmp(c->values[i], values[i]) == 0)
			i++;
		if (i == n)
			return c;
	}
	return NULL;
}

/* Logs the first failed update of a metric (later ones only return their
 * code), so a wrong call is never silent. */
static int update_failed(struct family *fam, int code, const char *what)
{
	if (!atomic_exchange(&fam->warned, 1))
		bw_log_warn("metrics", "%s \"%s\": %s; update dropped (logged once per metric)",
			    type_names[fam->type], fam->name, what);
	return code;
}

/* Finds or creates the series for values; 0 or a BW_E* code (logged once). */
static int child_get(struct family *fam, size_t n, const char *const *values, struct child **out)
{
	struct child *c;
	char what[80];
	int rc = 0;

	*out = NULL;
	if (n != fam->nlabels || (n > 0 && !values)) {
		snprintf(what, sizeof(what), "takes %zu label values, got %zu", fam->nlabels, n);
		return update_failed(fam, BW_EINVAL, what);
	}
	for (size_t i = 0; i < n; i++) {
		if (!values[i])
			return update_failed(fam, BW_EINVAL, "a label value is NULL");
	}
	c = child_find(atomic_load_explicit(&fam->children, memory_order_acquire), n, values);
	if (c) {
		*out = c;
		return 0;
	}

	pthread_mutex_lock(&fam->lock);
	c = child_find(atomic_load_explicit(&fam->children, memory_order_acquire), n, values);
	if (c)
		goto out;
	if (fam->nchildren >= BW_METRICS_MAX_CHILDREN) {
		rc = BW_ETOOBIG;
		goto out;
	}
	c = child_alloc(fam, values);
	if (!c) {
		rc = BW_ENOMEM;
		goto out;
	}
	if (fam->tail)
		atomic_store_explicit(&fam->tail->next, c, memory_order_release);
	else
		atomic_store_explicit(&fam->children, c, memory_order_release);
	fam->tail = c;
	fam->nchildren++;
out:
	pthread_mutex_unlock(&fam->lock);
	if (rc == BW_ETOOBIG) {
		snprintf(what, sizeof(what), "has %d series, the most allowed",
			 BW_METRICS_MAX_CHILDREN);
		return update_failed(fam, rc, what);
	}
	if (rc)
		return update_failed(fam, rc, "out of memory");
	*out = c;
	return 0;
}

int bw_metrics_counter_add_array(struct bw_metrics_counter *counter, double v, size_t n,
				 const char *const *values)
{
	struct family *fam = counter_family(counter);
	struct child *c;
	int rc;

	if (!fam)
		return BW_EINVAL;
	if (!(v >= 0))
		return update_failed(fam, BW_EINVAL,
				     "a counter only goes up (got a negative or NaN)");
	rc = child_get(fam, n, values, &c);
	if (rc)
		return rc;
	atomic_add_double(&c->value, v);
	return 0;
}

int bw_metrics_gauge_set_array(struct bw_metrics_gauge *gauge, double v, size_t n,
			       const char *const *values)
{
	struct family *fam = gauge_family(gauge);
	struct child *c;
	int rc;

	if (!fam)
		return BW_EINVAL;
	rc = child_get(fam, n, values, &c);
	if (rc)
		return rc;
	atomic_store_explicit(&c->value, double_bits(v), memory_order_relaxed);
	return 0;
}

int bw_metrics_gauge_add_array(struct bw_metrics_gauge *gauge, double v, size_t n,
			       const char *const *values)
{
	struct family *fam = gauge_family(gauge);
	struct child *c;
	int rc;

	if (!fam)
		return BW_EINVAL;
	rc = child_get(fam, n, values, &c);
	if (rc)
		return rc;
	atomic_add_double(&c->value, v);
	return 0;
}

int bw_metrics_gauge_set_fn_array(struct bw_metrics_gauge *gauge, bw_metrics_gauge_fn fn, void *arg,
				  size_t n, const char *const *values)
{
	struct family *fam = gauge_family(gauge);
	struct child *c;
	int rc;

	if (!fam)
		return BW_EINVAL;
	rc = child_get(fam, n, values, &c);
	if (rc)
		return rc;
	pthread_mutex_lock(&fam->lock);
	c->fn = fn;
	c->arg = fn ? arg : NULL;
	pthread_mutex_unlock(&fam->lock);
	return 0;
}

/* The first bucket whose bound is >= v; nbounds (the +Inf bucket) if none, or for NaN. */
static size_t bucket_index(const double *bounds, size_t nbounds, double v)
{
	size_t lo = 0, hi = nbounds;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

int bw_metrics_histogram_observe_array(struct bw_metrics_histogram *hist, double v, size_t n,
				       const char *const *values)
{
	struct family *fam = histogram_family(hist);
	struct child *c;
	size_t i;
	int rc;

	if (!fam)
		return BW_EINVAL;
	rc = child_get(fam, n, values, &c);
	if (rc)
		return rc;
	i = bucket_index(fam->bounds, fam->nbounds, v);
	pthread_mutex_lock(&fam->lock);
	c->buckets[i]++;
	c->count++;
	c->sum += v;
	pthread_mutex_unlock(&fam->lock);
	return 0;
}

/* --- registry ------------------------------------------------------------ */

static void family_free(struct family *fam)
{
	struct child *c, *next;

	if (!fam)
		return;
	for (c = atomic_load_explicit(&fam->children, memory_order_acquire); c; c = next) {
		next = atomic_load_explicit(&c->next, memory_order_relaxed);
		free(c);
	}
	for (size_t i = 0; i < fam->nlabels; i++)
		free(fam->labels[i]);
	if (fam->lock_ready)
		pthread_mutex_destroy(&fam->lock);
	free(fam->bounds);
	free(fam->help);
	free(fam->name);
	free(fam);
}

int bw_metrics_new(struct bw_metrics **out, struct bw_error *err)
{
	struct bw_metrics *reg = calloc(1, sizeof(*reg));

	*out = NULL;
	if (!reg)
		return bw_error_set(err, BW_ENOMEM, "metrics: out of memory");
	if (pthread_mutex_init(&reg->lock, NULL) != 0) {
		free(reg);
		return bw_error_set(err, BW_ENOMEM, "metrics: no mutex for the registry");
	}
	atomic_init(&reg->families, NULL);
	*out = reg;
	return 0;
}

void bw_metrics_free(struct bw_metrics *reg)
{
	struct family *fam, *next;

	if (!reg)
		return;
	for (fam = atomic_load_explicit(&reg->families, memory_order_acquire); fam; fam = next) {
		next = atomic_load_explicit(&fam->next, memory_order_relaxed);
		family_free(fam);
	}
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

/* A family and, without labels, its one series; NULL when out of memory. */
static struct family *family_alloc(enum family_type type, const char *name, const char *help,
				   const char *const *labels, size_t nlabels, const double *bounds,
				   size_t nbounds)
{
	struct family *fam = calloc(1, sizeof(*fam));
	struct child *c;

	if (!fam)
		return NULL;
	atomic_init(&fam->next, NULL);
	atomic_init(&fam->children, NULL);
	atomic_init(&fam->warned, 0);
	fam->type = type;
	fam->name = strdup(name);
	fam->help = strdup(help);
	if (!fam->name || !fam->help)
		goto fail;
	for (; fam->nlabels < nlabels; fam->nlabels++) {
		fam->labels[fam->nlabels] = strdup(labels[fam->nlabels]);
		if (!fam->labels[fam->nlabels])
			goto fail;
	}
	if (type == TYPE_HISTOGRAM && nbounds > 0) {
		fam->bounds = malloc(nbounds * sizeof(double));
		if (!fam->bounds)
			goto fail;
		memcpy(fam->bounds, bounds, nbounds * sizeof(double));
	}
	fam->nbounds = nbounds;
	if (pthread_mutex_init(&fam->lock, NULL) != 0)
		goto fail;
	fam->lock_ready = 1;
	if (nlabels == 0) {
		c = child_alloc(fam, NULL);
		if (!c)
			goto fail;
		atomic_init(&fam->children, c);
		fam->tail = c;
		fam->nchildren = 1;
	}
	return fam;
fail:
	family_free(fam);
	return NULL;
}

/* Checks a registration and makes its family, not yet in the registry. */
static int family_new(struct bw_metrics *reg, enum family_type type, const char *name,
		      const char *help, const char *const *labels, const double *bounds,
		      size_t nbounds, struct family **out, struct bw_error *err)
{
	size_t nlabels = 0;
	int rc;

	*out = NULL;
	if (!reg)
		return bw_error_set(err, BW_EINVAL, "metrics: registration needs a registry");
	if (!name_ok(name, 1))
		return bw_error_set(err, BW_EINVAL,
				    "metric name \"%s\" is invalid: want [a-zA-Z_:][a-zA-Z0-9_:]*",
				    name ? name : "(null)");
	if (!help || !*help)
		return bw_error_set(err, BW_EINVAL, "metric \"%s\" needs HELP text", name);
	rc = check_labels(name, type, labels, &nlabels, err);
	if (rc)
		return rc;
	if (type == TYPE_HISTOGRAM) {
		if (!bounds || nbounds == 0) {
			bounds = bw_metrics_default_buckets;
			nbounds = BW_METRICS_DEFAULT_BUCKETS_N;
		}
		rc = check_bounds(name, bounds, &nbounds, err);
		if (rc)
			return rc;
	}
	*out = family_alloc(type, name, help, labels, nlabels, bounds, nbounds);
	if (!*out)
		return bw_error_set(err, BW_ENOMEM, "metric \"%s\": out of memory", name);
	return 0;
}

/* Appends fam to the registry unless its name is taken; on error frees fam. */
static int family_publish(struct bw_metrics *reg, struct family *fam, struct bw_error *err)
{
	struct family *have;
	int rc = 0;

	pthread_mutex_lock(&reg->lock);
	for (have = atomic_load_explicit(&reg->families, memory_order_acquire); have;
	     have = atomic_load_explicit(&have->next, memory_order_acquire)) {
		if (!names_clash(have, fam->type, fam->name))
			continue;
		if (strcmp(have->name, fam->name) == 0)
			rc = bw_error_set(err, BW_EINVAL, "metric \"%s\" is already registered",
					  fam->name);
		else
			rc = bw_error_set(err, BW_EINVAL,
					  "metric \"%s\" clashes with %s \"%s\": a histogram "
					  "NAME also exposes NAME_bucket, NAME_sum and NAME_count",
					  fam->name, type_names[have->type], have->name);
		goto out;
	}
	if (reg->tail)
		atomic_store_explicit(&reg->tail->next, fam, memory_order_release);
	else
		atomic_store_explicit(&reg->families, fam, memory_order_release);
	reg->tail = fam;
out:
	pthread_mutex_unlock(&reg->lock);
	if (rc)
		family_free(fam);
	return rc;
}

/* What a kind of metric sets before its family is visible: a gauge's
 * function, or a collector's. */
struct family_init {
	bw_metrics_gauge_fn gauge_fn;
	bw_metrics_collect_fn collect;
	void *arg;
};

/* Checks, makes and publishes a family; on error *out is NULL and nothing
 * is registered. */
static int family_register(struct bw_metrics *reg, enum family_type type, const char *name,
			   const char *help, const char *const *labels, const double *bounds,
			   size_t nbounds, const struct family_init *init, struct family **out,
			   struct bw_error *err)
{
	struct family *fam;
	int rc = family_new(reg, type, name, help, labels, bounds, nbounds, &fam, err);

	*out = NULL;
	if (rc)
		return rc;
	/* not yet visible to other threads: no lock needed */
	if (init && init->gauge_fn) {
		struct child *c = atomic_load_explicit(&fam->children, memory_order_relaxed);

		c->fn = init->gauge_fn;
		c->arg = init->arg;
	}
	if (init && init->collect) {
		fam->is_collector = 1;
		fam->collect = init->collect;
		fam->collect_arg = init->arg;
	}
	if ((rc = family_publish(reg, fam, err)) == 0)
		*out = fam;
	return rc;
}

int bw_metrics_register_counter(struct bw_metrics *reg, const char *name, const char *help,
				const char *const *labels, struct bw_metrics_counter **out,
				struct bw_error *err)
{
	struct family *fam;
	int rc = family_register(reg, TYPE_COUNTER, name, help, labels, NULL, 0, NULL, &fam, err);

	if (out)
		*out = (struct bw_metrics_counter *)(void *)fam;
	return rc;
}

int bw_metrics_register_gauge(struct bw_metrics *reg, const char *name, const char *help,
			      const char *const *labels, struct bw_metrics_gauge **out,
			      struct bw_error *err)
{
	struct family *fam;
	int rc = family_register(reg, TYPE_GAUGE, name, help, labels, NULL, 0, NULL, &fam, err);

	if (out)
		*out = (struct bw_metrics_gauge *)(void *)fam;
	return rc;
}

int bw_metrics_register_gauge_fn(struct bw_metrics *reg, const char *name, const char *help,
				 bw_metrics_gauge_fn fn, void *arg, struct bw_metrics_gauge **out,
				 struct bw_error *err)
{
	struct family_init init = {.gauge_fn = fn, .arg = arg};
	struct family *fam = NULL;
	int rc;

	if (!fn)
		rc = bw_error_set(err, BW_EINVAL, "gauge \"%s\" needs a function",
				  name ? name : "(null)");
	else
		rc = family_register(reg, TYPE_GAUGE, name, help, NULL, NULL, 0, &init, &fam, err);
	if (out)
		*out = (struct bw_metrics_gauge *)(void *)fam;
	return rc;
}

int bw_metrics_register_histogram(struct bw_metrics *reg, const char *name, const char *help,
				  const char *const *labels, const double *bounds, size_t nbounds,
				  struct bw_metrics_histogram **out, struct bw_error *err)
{
	struct family *fam;
	int rc = family_register(reg, TYPE_HISTOGRAM, name, help, labels, bounds, nbounds, NULL,
				 &fam, err);

	if (out)
		*out = (struct bw_metrics_histogram *)(void *)fam;
	return rc;
}

/* --- exposition ---------------------------------------------------------- */

/* The exposition text: a capped buffer; a failed append is kept in
 * buf.error and the render checks it once at the end. */
struct text {
	struct bw_buf buf;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	bw_buf_append(&t->buf, s, n);
}

static void text_puts(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* Appends s escaped: backslash and newline always, double quote when quote is set. */
static void text_escaped(struct text *t, const char *s, int quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = NULL;

		if (*s == '\\')
			esc = "\\\\";
		else if (*s == '\n')
			esc = "\\n";
		else if (*s == '"' && quote)
			esc = "\\\"";
		if (!esc)
			continue;
		text_add(t, run, (size_t)(s - run));
		text_add(t, esc, 2);
		run = s + 1;
	}
	text_add(t, run, (size_t)(s - run));
}

/* Prometheus's float format (Go's 'g', -1): integers without exponent,
 * otherwise the shortest text that reads back as the same double, "+Inf",
 * "-Inf", "NaN". A normal double whose shortest form has up to 15 digits
 * prints as exactly that with %.15g, so only subnormals start lower. */
static void format_double(char *buf, size_t size, double v)
{
	if (v != v) {
		snprintf(buf, size, "NaN");
	} else if (!isfinite(v)) {
		snprintf(buf, size, "%s", v > 0 ? "+Inf" : "-Inf");
	} else if (v == 0) {
		snprintf(buf, size, "0");
	} else if (v > -9e18 && v < 9e18 && v == (double)(long long)v) {
		snprintf(buf, size, "%lld", (long long)v);
	} else {
		for (int prec = (v < 0 ? -v : v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
			snprintf(buf, size, "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	}
}

static void text_double(struct text *t, double v)
{
	char buf[40];

	format_double(buf, sizeof(buf), v);
	text_puts(t, buf);
}

static void text_u64(struct text *t, uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	text_puts(t, buf);
}

/* name{labels[,le="bound"]} */
static void text_series(struct text *t, const struct family *fam, const char *suffix,
			const char *const *values, const char *le)
{
	text_puts(t, fam->name);
	text_puts(t, suffix);
	if (fam->nlabels == 0 && !le)
		return;
	text_add(t, "{", 1);
	for (size_t i = 0; i < fam->nlabels; i++) {
		if (i > 0)
			text_add(t, ",", 1);
		text_puts(t, fam->labels[i]);
		text_add(t, "=\"", 2);
		text_escaped(t, values[i], 1);
		text_add(t, "\"", 1);
	}
	if (le) {
		if (fam->nlabels > 0)
			text_add(t, ",", 1);
		text_add(t, "le=\"", 4);
		text_puts(t, le);
		text_add(t, "\"", 1);
	}
	text_add(t, "}", 1);
}

static void render_value(struct text *t, struct family *fam, struct child *c)
{
	bw_metrics_gauge_fn fn = NULL;
	void *arg = NULL;
	double v;

	if (fam->type == TYPE_GAUGE) {
		pthread_mutex_lock(&fam->lock);
		fn = c->fn;
		arg = c->arg;
		pthread_mutex_unlock(&fam->lock);
	}
	v = fn ? fn(arg) : bits_double(atomic_load_explicit(&c->value, memory_order_relaxed));
	text_series(t, fam, "", c->values, NULL);
	text_add(t, " ", 1);
	text_double(t, v);
	text_add(t, "\n", 1);
}

/* One histogram series from cumulative counts: nbounds buckets, then +Inf (count). */
static void text_histogram(struct text *t, const struct family *fam, const char *const *values,
			   const uint64_t *cumulative, uint64_t count, double sum)
{
	char le[40];

	for (size_t i = 0; i <= fam->nbounds; i++) {
		if (i < fam->nbounds)
			format_double(le, sizeof(le), fam->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		text_series(t, fam, "_bucket", values, le);
		text_add(t, " ", 1);
		text_u64(t, i < fam->nbounds ? cumulative[i] : count);
		text_add(t, "\n", 1);
	}
	text_series(t, fam, "_sum", values, NULL);
	text_add(t, " ", 1);
	text_double(t, sum);
	text_add(t, "\n", 1);
	text_series(t, fam, "_count", values, NULL);
	text_add(t, " ", 1);
	text_u64(t, count);
	text_add(t, "\n", 1);
}

/* scratch holds nbounds + 1 counts. */
static void render_histogram(struct text *t, struct family *fam, struct child *c, uint64_t *scratch)
{
	uint64_t count, cumulative = 0;
	double sum;

	pthread_mutex_lock(&fam->lock);
	memcpy(scratch, c->buckets, (fam->nbounds + 1) * sizeof(uint64_t));
	count = c->count;
	sum = c->sum;
	pthread_mutex_unlock(&fam->lock);

	for (size_t i = 0; i < fam->nbounds; i++) {
		cumulative += scratch[i];
		scratch[i] = cumulative;
	}
	text_histogram(t, fam, c->values, scratch, count, sum);
}

static void text_header(struct text *t, const struct family *fam)
{
	text_add(t, "# HELP ", 7);
	text_puts(t, fam->name);
	text_add(t, " ", 1);
	text_escaped(t, fam->help, 0);
	text_add(t, "\n# TYPE ", 8);
	text_puts(t, fam->name);
	text_add(t, " ", 1);
	text_puts(t, type_names[fam->type]);
	text_add(t, "\n", 1);
}

/* --- collectors ---------------------------------------------------------- */

struct bw_metrics_sink {
	struct text *t;
	struct family *fam;
	int header_done; /* HELP and TYPE come with the first series */
};

static int sink_series(struct bw_metrics_sink *sink, int histogram, size_t n,
		       const char *const *values)
{
	struct family *fam = sink->fam;

	if ((fam->type == TYPE_HISTOGRAM) != histogram)
		return update_failed(fam, BW_EINVAL, "a series of another type was collected");
	if (n != fam->nlabels || (n > 0 && !values))
		return update_failed(fam, BW_EINVAL, "wrong number of label values collected");
	for (size_t i = 0; i < n; i++) {
		if (!values[i])
			return update_failed(fam, BW_EINVAL, "a collected label value is NULL");
	}
	if (!sink->header_done) {
		text_header(sink->t, fam);
		sink->header_done = 1;
	}
	return 0;
}

int bw_metrics_sink_value_array(struct bw_metrics_sink *sink, double v, size_t n,
				const char *const *values)
{
	int rc;

	if (!sink)
		return BW_EINVAL;
	if ((rc = sink_series(sink, 0, n, values)) != 0)
		return rc;
	text_series(sink->t, sink->fam, "", values, NULL);
	text_add(sink->t, " ", 1);
	text_double(sink->t, v);
	text_add(sink->t, "\n", 1);
	return sink->t->buf.error;
}

int bw_metrics_sink_histogram_array(struct bw_metrics_sink *sink, const uint64_t *cumulative,
				    uint64_t count, double sum, size_t n, const char *const *values)
{
	int rc;

	if (!sink || !cumulative)
		return BW_EINVAL;
	if ((rc = sink_series(sink, 1, n, values)) != 0)
		return rc;
	text_histogram(sink->t, sink->fam, values, cumulative, count, sum);
	return sink->t->buf.error;
}

static void render_collected(struct text *t, struct family *fam)
{
	struct bw_metrics_sink sink = {t, fam, 0};

	pthread_mutex_lock(&fam->lock);
	if (fam->collect)
		fam->collect(&sink, fam->collect_arg);
	pthread_mutex_unlock(&fam->lock);
}

int bw_metrics_register_collector(struct bw_metrics *reg, enum bw_metrics_type type,
				  const char *name, const char *help, const char *const *labels,
				  const double *bounds, size_t nbounds, bw_metrics_collect_fn fn,
				  void *arg, struct bw_metrics_collector **out,
				  struct bw_error *err)
{
	static const enum family_type types[] = {
	    [BW_METRICS_COUNTER] = TYPE_COUNTER,
	    [BW_METRICS_GAUGE] = TYPE_GAUGE,
	    [BW_METRICS_HISTOGRAM] = TYPE_HISTOGRAM,
	};
	struct family_init init = {.collect = fn, .arg = arg};
	struct family *fam;
	int rc;

	if (out)
		*out = NULL;
	if ((unsigned)type >= sizeof(types) / sizeof(types[0]) || !fn)
		return bw_error_set(err, BW_EINVAL,
				    "metric \"%s\": a collector needs a type and "
				    "a function",
				    name ? name : "(null)");
	rc = family_register(reg, types[type], name, help, labels, bounds, nbounds, &init, &fam,
			     err);
	if (out)
		*out = (struct bw_metrics_collector *)(void *)fam;
	return rc;
}

void bw_metrics_collector_detach(struct bw_metrics_collector *collector)
{
	struct family *fam = (struct family *)(void *)collector;

	if (!fam)
		return;
	pthread_mutex_lock(&fam->lock);
	fam->collect = NULL;
	fam->collect_arg = NULL;
	pthread_mutex_unlock(&fam->lock);
}

static int render_family(struct text *t, struct family *fam)
{
	struct child *c = atomic_load_explicit(&fam->children, memory_order_acquire);
	uint64_t *scratch = NULL;
	int rc = 0;

	if (fam->is_collector) {
		render_collected(t, fam);
		return 0;
	}
	if (!c)
		goto out;
	if (fam->type == TYPE_HISTOGRAM) {
		scratch = malloc((fam->nbounds + 1) * sizeof(uint64_t));
		if (!scratch) {
			rc = BW_ENOMEM;
			goto out;
		}
	}
	text_header(t, fam);
	for (; c; c = atomic_load_explicit(&c->next, memory_order_acquire)) {
		if (fam->type == TYPE_HISTOGRAM)
			render_histogram(t, fam, c, scratch);
		else
			render_value(t, fam, c);
	}
out:
	free(scratch);
	return rc;
}

int bw_metrics_render(struct bw_metrics *reg, char **out, size_t *len, struct bw_error *err)
{
	struct text t;
	struct family *fam;
	int rc = 0;

	bw_buf_init(&t.buf, BW_METRICS_TEXT_MAX);
	if (out)
		*out = NULL;
	if (len)
		*len = 0;
	if (!reg || !out || !len)
		return bw_error_set(err, BW_EINVAL,
				    "metrics: render needs a registry, out and len");
	for (fam = atomic_load_explicit(&reg->families, memory_order_acquire); fam;
	     fam = atomic_load_explicit(&fam->next, memory_order_acquire)) {
		rc = render_family(&t, fam);
		if (rc || t.buf.error)
			break;
	}
	if (rc)
		rc = bw_error_set(err, rc, "metrics: out of memory rendering the metrics");
	else if (t.buf.error)
		rc = bw_buf_error(&t.buf, "metrics: the exposition text", err);
	else if (!(*out = bw_buf_steal(&t.buf, len)))
		rc = bw_error_set(err, BW_ENOMEM, "metrics: out of memory rendering the metrics");
	bw_buf_release(&t.buf);
	return rc;
}
