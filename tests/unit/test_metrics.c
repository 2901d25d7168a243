/* The metrics registry: rendered text compared in full against the expected
 * exposition, registration errors, label-count errors, and a concurrency run. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "log.h"
#include "metrics.h"

#define TRY(expr)                       \
	do {                            \
		int try_rc_ = (expr);   \
		if (try_rc_ != 0)       \
			return try_rc_; \
	} while (0)

/* A new registry; a failed check when there is none. */
static struct bw_metrics *new_registry(void)
{
	struct bw_metrics *reg = NULL;
	struct bw_error err = {0};

	CHECK_INT(0, bw_metrics_new(&reg, &err), "a new registry (%s)", err.message);
	return reg;
}

/* Renders reg; NULL (and a failed check) when render fails. */
static char *render(struct bw_metrics *reg, const char *what)
{
	struct bw_error err = {0};
	char *text = NULL;
	size_t len = 0;
	int rc = bw_metrics_render(reg, &text, &len, &err);

	CHECK_INT(0, rc, "%s: render (%s)", what, err.message);
	if (rc == 0)
		CHECK_INT(strlen(text), len, "%s: length", what);
	return text;
}

/* --- rendering cases ----------------------------------------------------- */

static int setup_counter_plain(struct bw_metrics *reg)
{
	struct bw_metrics_counter *c, *idle, *labelled;

	TRY(bw_metrics_register_counter(reg, "breakwater_requests_total", "Requests handled.", NULL,
					&c, NULL));
	TRY(bw_metrics_register_counter(reg, "breakwater_idle_total", "Never incremented.", NULL,
					&idle, NULL));
	/* a labelled metric with no series yet is left out */
	TRY(bw_metrics_register_counter(reg, "breakwater_unused_total", "No series yet.",
					BW_METRICS_LABELS("kind"), &labelled, NULL));
	TRY(bw_metrics_counter_inc(c));
	TRY(bw_metrics_counter_add(c, 2.5));
	return bw_metrics_counter_add(c, 0);
}

static const char expect_counter_plain[] = "# HELP breakwater_requests_total Requests handled.\n"
					   "# TYPE breakwater_requests_total counter\n"
					   "breakwater_requests_total 3.5\n"
					   "# HELP breakwater_idle_total Never incremented.\n"
					   "# TYPE breakwater_idle_total counter\n"
					   "breakwater_idle_total 0\n";

static int setup_counter_labels(struct bw_metrics *reg)
{
	struct bw_metrics_counter *c;
	const char *values[] = {"Service", "requeue"};

	TRY(bw_metrics_register_counter(reg, "controller_runtime_reconcile_total",
					"Total number of reconciliations per controller",
					BW_METRICS_LABELS("controller", "result"), &c, NULL));
	TRY(bw_metrics_counter_inc(c, "Service", "success"));
	TRY(bw_metrics_counter_inc(c, "Service", "error"));
	TRY(bw_metrics_counter_add(c, 3, "BreakerPolicy", "success"));
	TRY(bw_metrics_counter_inc(c, "Service", "success"));
	TRY(bw_metrics_counter_add_array(c, 2, 2, values));
	return bw_metrics_counter_inc(c, "Service", "success");
}

static const char expect_counter_labels[] =
    "# HELP controller_runtime_reconcile_total Total number of reconciliations per controller\n"
    "# TYPE controller_runtime_reconcile_total counter\n"
    "controller_runtime_reconcile_total{controller=\"Service\",result=\"success\"} 3\n"
    "controller_runtime_reconcile_total{controller=\"Service\",result=\"error\"} 1\n"
    "controller_runtime_reconcile_total{controller=\"BreakerPolicy\",result=\"success\"} 3\n"
    "controller_runtime_reconcile_total{controller=\"Service\",result=\"requeue\"} 2\n";

static int setup_gauges(struct bw_metrics *reg)
{
	struct bw_metrics_gauge *g, *q;

	TRY(bw_metrics_register_gauge(reg, "breakwater_breakers_open", "Open breakers.", NULL, &g,
				      NULL));
	TRY(bw_metrics_register_gauge(reg, "breakwater_queue_depth", "Items waiting.",
				      BW_METRICS_LABELS("queue"), &q, NULL));
	TRY(bw_metrics_gauge_set(g, 3));
	TRY(bw_metrics_gauge_add(g, 2));
	TRY(bw_metrics_gauge_sub(g, 0.5));
	TRY(bw_metrics_gauge_set(q, -2, "a"));
	TRY(bw_metrics_gauge_inc(q, "b"));
	TRY(bw_metrics_gauge_dec(q, "b"));
	TRY(bw_metrics_gauge_dec(q, "b"));
	TRY(bw_metrics_gauge_set(q, 5, "c"));
	TRY(bw_metrics_gauge_add(q, 1e-9, "c"));
	TRY(bw_metrics_gauge_set(q, 0, "c"));
	TRY(bw_metrics_gauge_set(q, 5, "d"));
	return bw_metrics_gauge_sub(q, (size_t)2, "d"); /* unsigned: still subtracts 2 */
}

static const char expect_gauges[] = "# HELP breakwater_breakers_open Open breakers.\n"
				    "# TYPE breakwater_breakers_open gauge\n"
				    "breakwater_breakers_open 4.5\n"
				    "# HELP breakwater_queue_depth Items waiting.\n"
				    "# TYPE breakwater_queue_depth gauge\n"
				    "breakwater_queue_depth{queue=\"a\"} -2\n"
				    "breakwater_queue_depth{queue=\"b\"} -1\n"
				    "breakwater_queue_depth{queue=\"c\"} 0\n"
				    "breakwater_queue_depth{queue=\"d\"} 3\n";

static int setup_numbers(struct bw_metrics *reg)
{
	static const struct {
		const char *label;
		double v;
	} numbers[] = {
	    {"tenth", 0.1},	   {"third", 1.0 / 3},	{"sum", 0.1 + 0.2},
	    {"small", 1e-7},	   {"big", 1e15},	{"int", 123456789012.0},
	    {"neg", -42},	   {"negzero", -0.0},	{"huge", 1e19},
	    {"tiny", 5e-324},	   {"frac", 1234.5678}, {"inf", INFINITY},
	    {"neginf", -INFINITY}, {"nan", NAN},
	};
	struct bw_metrics_gauge *g;

	TRY(bw_metrics_register_gauge(reg, "numbers", "How numbers print.", BW_METRICS_LABELS("v"),
				      &g, NULL));
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
		TRY(bw_metrics_gauge_set(g, numbers[i].v, numbers[i].label));
	return 0;
}

static const char expect_numbers[] = "# HELP numbers How numbers print.\n"
				     "# TYPE numbers gauge\n"
				     "numbers{v=\"tenth\"} 0.1\n"
				     "numbers{v=\"third\"} 0.3333333333333333\n"
				     "numbers{v=\"sum\"} 0.30000000000000004\n"
				     "numbers{v=\"small\"} 1e-07\n"
				     "numbers{v=\"big\"} 1000000000000000\n"
				     "numbers{v=\"int\"} 123456789012\n"
				     "numbers{v=\"neg\"} -42\n"
				     "numbers{v=\"negzero\"} 0\n"
				     "numbers{v=\"huge\"} 1e+19\n"
				     "numbers{v=\"tiny\"} 5e-324\n"
				     "numbers{v=\"frac\"} 1234.5678\n"
				     "numbers{v=\"inf\"} +Inf\n"
				     "numbers{v=\"neginf\"} -Inf\n"
				     "numbers{v=\"nan\"} NaN\n";

static double read_int(void *arg)
{
	return *(int *)arg;
}

static int leader = 1, depth_service = 7, depth_policy;

static int setup_gauge_fns(struct bw_metrics *reg)
{
	struct bw_metrics_gauge *depth, *back;

	TRY(bw_metrics_register_gauge_fn(reg, "leader_election_master_status",
					 "1 when this replica is the leader.", read_int, &leader,
					 NULL, NULL));
	TRY(bw_metrics_register_gauge(reg, "workqueue_depth", "Current depth of workqueue",
				      BW_METRICS_LABELS("name"), &depth, NULL));
	TRY(bw_metrics_gauge_set_fn(depth, read_int, &depth_service, "service"));
	TRY(bw_metrics_gauge_set_fn(depth, read_int, &depth_policy, "breakerpolicy"));
	TRY(bw_metrics_gauge_set(depth, 99, "service")); /* ignored while a function is set */
	TRY(bw_metrics_gauge_set(depth, 4, "stored"));
	/* a function, then back to the stored value */
	TRY(bw_metrics_register_gauge(reg, "back_to_value", "Function removed.", NULL, &back,
				      NULL));
	TRY(bw_metrics_gauge_set(back, 2));
	TRY(bw_metrics_gauge_set_fn(back, read_int, &leader));
	return bw_metrics_gauge_set_fn(back, NULL, NULL);
}

static const char expect_gauge_fns[] =
    "# HELP leader_election_master_status 1 when this replica is the leader.\n"
    "# TYPE leader_election_master_status gauge\n"
    "leader_election_master_status 1\n"
    "# HELP workqueue_depth Current depth of workqueue\n"
    "# TYPE workqueue_depth gauge\n"
    "workqueue_depth{name=\"service\"} 7\n"
    "workqueue_depth{name=\"breakerpolicy\"} 0\n"
    "workqueue_depth{name=\"stored\"} 4\n"
    "# HELP back_to_value Function removed.\n"
    "# TYPE back_to_value gauge\n"
    "back_to_value 2\n";

static int setup_histogram_plain(struct bw_metrics *reg)
{
	static const double bounds[] = {1, 2, 5};
	static const double observations[] = {0.5, 1, 2, 3, 10, -1};
	struct bw_metrics_histogram *h;

	TRY(bw_metrics_register_histogram(reg, "breakwater_call_seconds", "Call latency.", NULL,
					  bounds, 3, &h, NULL));
	for (size_t i = 0; i < sizeof(observations) / sizeof(observations[0]); i++)
		TRY(bw_metrics_histogram_observe(h, observations[i]));
	return 0;
}

/* a value equal to a bound lands in that bucket */
static const char expect_histogram_plain[] = "# HELP breakwater_call_seconds Call latency.\n"
					     "# TYPE breakwater_call_seconds histogram\n"
					     "breakwater_call_seconds_bucket{le=\"1\"} 3\n"
					     "breakwater_call_seconds_bucket{le=\"2\"} 4\n"
					     "breakwater_call_seconds_bucket{le=\"5\"} 5\n"
					     "breakwater_call_seconds_bucket{le=\"+Inf\"} 6\n"
					     "breakwater_call_seconds_sum 15.5\n"
					     "breakwater_call_seconds_count 6\n";

static int setup_histogram_labels(struct bw_metrics *reg)
{
	static const double bounds[] = {0.25, 0.5, INFINITY};
	struct bw_metrics_histogram *h, *d;

	TRY(bw_metrics_register_histogram(reg, "reconcile_seconds", "Time per reconcile.",
					  BW_METRICS_LABELS("controller", "namespace"), bounds, 3,
					  &h, NULL));
	TRY(bw_metrics_histogram_observe(h, 0.25, "Service", "shop"));
	TRY(bw_metrics_histogram_observe(h, 0.3, "Service", "shop"));
	TRY(bw_metrics_histogram_observe(h, 100, "BreakerPolicy", "shop"));
	/* NULL bounds: the default buckets */
	TRY(bw_metrics_register_histogram(reg, "default_seconds", "Default buckets.", NULL, NULL, 0,
					  &d, NULL));
	return bw_metrics_histogram_observe(d, 0.005);
}

static const char expect_histogram_labels[] =
    "# HELP reconcile_seconds Time per reconcile.\n"
    "# TYPE reconcile_seconds histogram\n"
    "reconcile_seconds_bucket{controller=\"Service\",namespace=\"shop\",le=\"0.25\"} 1\n"
    "reconcile_seconds_bucket{controller=\"Service\",namespace=\"shop\",le=\"0.5\"} 2\n"
    "reconcile_seconds_bucket{controller=\"Service\",namespace=\"shop\",le=\"+Inf\"} 2\n"
    "reconcile_seconds_sum{controller=\"Service\",namespace=\"shop\"} 0.55\n"
    "reconcile_seconds_count{controller=\"Service\",namespace=\"shop\"} 2\n"
    "reconcile_seconds_bucket{controller=\"BreakerPolicy\",namespace=\"shop\",le=\"0.25\"} 0\n"
    "reconcile_seconds_bucket{controller=\"BreakerPolicy\",namespace=\"shop\",le=\"0.5\"} 0\n"
    "reconcile_seconds_bucket{controller=\"BreakerPolicy\",namespace=\"shop\",le=\"+Inf\"} 1\n"
    "reconcile_seconds_sum{controller=\"BreakerPolicy\",namespace=\"shop\"} 100\n"
    "reconcile_seconds_count{controller=\"BreakerPolicy\",namespace=\"shop\"} 1\n"
    "# HELP default_seconds Default buckets.\n"
    "# TYPE default_seconds histogram\n"
    "default_seconds_bucket{le=\"0.005\"} 1\n"
    "default_seconds_bucket{le=\"0.01\"} 1\n"
    "default_seconds_bucket{le=\"0.025\"} 1\n"
    "default_seconds_bucket{le=\"0.05\"} 1\n"
    "default_seconds_bucket{le=\"0.1\"} 1\n"
    "default_seconds_bucket{le=\"0.25\"} 1\n"
    "default_seconds_bucket{le=\"0.5\"} 1\n"
    "default_seconds_bucket{le=\"1\"} 1\n"
    "default_seconds_bucket{le=\"2.5\"} 1\n"
    "default_seconds_bucket{le=\"5\"} 1\n"
    "default_seconds_bucket{le=\"10\"} 1\n"
    "default_seconds_bucket{le=\"+Inf\"} 1\n"
    "default_seconds_sum 0.005\n"
    "default_seconds_count 1\n";

static int setup_histogram_reconcile(struct bw_metrics *reg)
{
	struct bw_metrics_histogram *h;

	TRY(bw_metrics_register_histogram(reg, "controller_runtime_reconcile_time_seconds",
					  "Length of time per reconciliation per controller", NULL,
					  bw_metrics_reconcile_buckets,
					  BW_METRICS_RECONCILE_BUCKETS_N, &h, NULL));
	TRY(bw_metrics_histogram_observe(h, 0.7));
	TRY(bw_metrics_histogram_observe(h, 1.25));
	return bw_metrics_histogram_observe(h, 60);
}

#define RT "controller_runtime_reconcile_time_seconds"
static const char expect_histogram_reconcile[] =
    "# HELP " RT " Length of time per reconciliation per controller\n"
    "# TYPE " RT " histogram\n" RT "_bucket{le=\"0.005\"} 0\n" RT "_bucket{le=\"0.01\"} 0\n" RT
    "_bucket{le=\"0.025\"} 0\n" RT "_bucket{le=\"0.05\"} 0\n" RT "_bucket{le=\"0.1\"} 0\n" RT
    "_bucket{le=\"0.15\"} 0\n" RT "_bucket{le=\"0.2\"} 0\n" RT "_bucket{le=\"0.25\"} 0\n" RT
    "_bucket{le=\"0.3\"} 0\n" RT "_bucket{le=\"0.35\"} 0\n" RT "_bucket{le=\"0.4\"} 0\n" RT
    "_bucket{le=\"0.45\"} 0\n" RT "_bucket{le=\"0.5\"} 0\n" RT "_bucket{le=\"0.6\"} 0\n" RT
    "_bucket{le=\"0.7\"} 1\n" RT "_bucket{le=\"0.8\"} 1\n" RT "_bucket{le=\"0.9\"} 1\n" RT
    "_bucket{le=\"1\"} 1\n" RT "_bucket{le=\"1.25\"} 2\n" RT "_bucket{le=\"1.5\"} 2\n" RT
    "_bucket{le=\"1.75\"} 2\n" RT "_bucket{le=\"2\"} 2\n" RT "_bucket{le=\"2.5\"} 2\n" RT
    "_bucket{le=\"3\"} 2\n" RT "_bucket{le=\"3.5\"} 2\n" RT "_bucket{le=\"4\"} 2\n" RT
    "_bucket{le=\"4.5\"} 2\n" RT "_bucket{le=\"5\"} 2\n" RT "_bucket{le=\"6\"} 2\n" RT
    "_bucket{le=\"7\"} 2\n" RT "_bucket{le=\"8\"} 2\n" RT "_bucket{le=\"9\"} 2\n" RT
    "_bucket{le=\"10\"} 2\n" RT "_bucket{le=\"15\"} 2\n" RT "_bucket{le=\"20\"} 2\n" RT
    "_bucket{le=\"25\"} 2\n" RT "_bucket{le=\"30\"} 2\n" RT "_bucket{le=\"40\"} 2\n" RT
    "_bucket{le=\"50\"} 2\n" RT "_bucket{le=\"60\"} 3\n" RT "_bucket{le=\"+Inf\"} 3\n" RT
    "_sum 61.95\n" RT "_count 3\n";

static int setup_exponential(struct bw_metrics *reg)
{
	struct bw_metrics_histogram *h;
	double bounds[4];

	TRY(bw_metrics_buckets_exponential(bounds, 4, 0.001, 10, NULL));
	TRY(bw_metrics_register_histogram(reg, "exp_seconds", "Exponential buckets.", NULL, bounds,
					  4, &h, NULL));
	return bw_metrics_histogram_observe(h, 0.5);
}

static const char expect_exponential[] = "# HELP exp_seconds Exponential buckets.\n"
					 "# TYPE exp_seconds histogram\n"
					 "exp_seconds_bucket{le=\"0.001\"} 0\n"
					 "exp_seconds_bucket{le=\"0.01\"} 0\n"
					 "exp_seconds_bucket{le=\"0.1\"} 0\n"
					 "exp_seconds_bucket{le=\"1\"} 1\n"
					 "exp_seconds_bucket{le=\"+Inf\"} 1\n"
					 "exp_seconds_sum 0.5\n"
					 "exp_seconds_count 1\n";

static int setup_escaping(struct bw_metrics *reg)
{
	struct bw_metrics_counter *c;

	TRY(bw_metrics_register_counter(reg, "escaped_total",
					"Line one\nback\\slash \"quoted\" {braces}",
					BW_METRICS_LABELS("v", "w"), &c, NULL));
	TRY(bw_metrics_counter_inc(c, "a\"b", "c\\d"));
	TRY(bw_metrics_counter_inc(c, "e\nf", "caf\xc3\xa9"));
	return bw_metrics_counter_inc(c, "", "x,y=z}");
}

static const char expect_escaping[] =
    "# HELP escaped_total Line one\\nback\\\\slash \"quoted\" {braces}\n"
    "# TYPE escaped_total counter\n"
    "escaped_total{v=\"a\\\"b\",w=\"c\\\\d\"} 1\n"
    "escaped_total{v=\"e\\nf\",w=\"caf\xc3\xa9\"} 1\n"
    "escaped_total{v=\"\",w=\"x,y=z}\"} 1\n";

static int setup_order(struct bw_metrics *reg)
{
	struct bw_metrics_gauge *z;
	struct bw_metrics_counter *a;
	struct bw_metrics_histogram *m;
	static const double one[] = {1};

	TRY(bw_metrics_register_gauge(reg, "zz", "Registered first.", NULL, &z, NULL));
	TRY(bw_metrics_register_counter(reg, "aa_total", "Registered second.", NULL, &a, NULL));
	TRY(bw_metrics_register_histogram(reg, "mm", "Registered third.", NULL, one, 1, &m, NULL));
	TRY(bw_metrics_counter_inc(a));
	return bw_metrics_gauge_set(z, 1);
}

static const char expect_order[] = "# HELP zz Registered first.\n"
				   "# TYPE zz gauge\n"
				   "zz 1\n"
				   "# HELP aa_total Registered second.\n"
				   "# TYPE aa_total counter\n"
				   "aa_total 1\n"
				   "# HELP mm Registered third.\n"
				   "# TYPE mm histogram\n"
				   "mm_bucket{le=\"1\"} 0\n"
				   "mm_bucket{le=\"+Inf\"} 0\n"
				   "mm_sum 0\n"
				   "mm_count 0\n";

static int setup_nothing(struct bw_metrics *reg)
{
	(void)reg;
	return 0;
}

static const struct {
	const char *name;
	int (*setup)(struct bw_metrics *reg);
	const char *expected;
} render_cases[] = {
    {"empty registry", setup_nothing, ""},
    {"counters without labels", setup_counter_plain, expect_counter_plain},
    {"counter with labels", setup_counter_labels, expect_counter_labels},
    {"gauges", setup_gauges, expect_gauges},
    {"number formats", setup_numbers, expect_numbers},
    {"gauge functions", setup_gauge_fns, expect_gauge_fns},
    {"histogram without labels", setup_histogram_plain, expect_histogram_plain},
    {"histograms with labels and default buckets", setup_histogram_labels, expect_histogram_labels},
    {"histogram with reconcile buckets", setup_histogram_reconcile, expect_histogram_reconcile},
    {"histogram with exponential buckets", setup_exponential, expect_exponential},
    {"escaping", setup_escaping, expect_escaping},
    {"registration order", setup_order, expect_order},
};

static void test_render_cases(void)
{
	for (size_t i = 0; i < sizeof(render_cases) / sizeof(render_cases[0]); i++) {
		struct bw_metrics *reg = new_registry();
		char *text;

		CHECK_INT(0, render_cases[i].setup(reg), "%s: setup", render_cases[i].name);
		text = render(reg, render_cases[i].name);
		CHECK_STR(render_cases[i].expected, text, "%s: text", render_cases[i].name);
		free(text);
		bw_metrics_free(reg);
	}
}

static void test_gauge_fn_live(void)
{
	struct bw_metrics *reg = new_registry();
	int value = 1;
	char *text;

	CHECK_INT(0,
		  bw_metrics_register_gauge_fn(reg, "live", "Read at render.", read_int, &value,
					       NULL, NULL),
		  "register a gauge function");
	text = render(reg, "gauge function");
	CHECK_STR("# HELP live Read at render.\n# TYPE live gauge\nlive 1\n", text,
		  "gauge function: first render");
	free(text);
	value = 12;
	text = render(reg, "gauge function");
	CHECK_STR("# HELP live Read at render.\n# TYPE live gauge\nlive 12\n", text,
		  "gauge function: evaluated again at the next render");
	free(text);
	bw_metrics_free(reg);
}

/* --- registration errors ------------------------------------------------- */

static const double bad_equal[] = {1, 1};
static const double bad_down[] = {2, 1};
static const double bad_nan[] = {1, NAN};
static const double bad_neginf[] = {-INFINITY, 1};

static const struct {
	char kind; /* c counter, g gauge, h histogram */
	const char *name, *help;
	const char *const *labels;
	const double *bounds;
	size_t nbounds;
	int code;
	const char *message; /* the whole message, or NULL when code is 0 */
} registrations[] = {
    {'c', "", "h", NULL, NULL, 0, BW_EINVAL,
     "metric name \"\" is invalid: want [a-zA-Z_:][a-zA-Z0-9_:]*"},
    {'c', NULL, "h", NULL, NULL, 0, BW_EINVAL,
     "metric name \"(null)\" is invalid: want [a-zA-Z_:][a-zA-Z0-9_:]*"},
    {'c', "1abc", "h", NULL, NULL, 0, BW_EINVAL,
     "metric name \"1abc\" is invalid: want [a-zA-Z_:][a-zA-Z0-9_:]*"},
    {'g', "a-b", "h", NULL, NULL, 0, BW_EINVAL,
     "metric name \"a-b\" is invalid: want [a-zA-Z_:][a-zA-Z0-9_:]*"},
    {'h', "a b", "h", NULL, NULL, 0, BW_EINVAL,
     "metric name \"a b\" is invalid: want [a-zA-Z_:][a-zA-Z0-9_:]*"},
    {'c', "caf\xc3\xa9", "h", NULL, NULL, 0, BW_EINVAL,
     "metric name \"caf\xc3\xa9\" is invalid: want [a-zA-Z_:][a-zA-Z0-9_:]*"},
    {'c', "no_help", NULL, NULL, NULL, 0, BW_EINVAL, "metric \"no_help\" needs HELP text"},
    {'g', "no_help", "", NULL, NULL, 0, BW_EINVAL, "metric \"no_help\" needs HELP text"},
    {'c', "l_total", "h", BW_METRICS_LABELS("a:b"), NULL, 0, BW_EINVAL,
     "metric \"l_total\": label name \"a:b\" is invalid: want [a-zA-Z_][a-zA-Z0-9_]*"},
    {'c', "l_total", "h", BW_METRICS_LABELS("ok", "1a"), NULL, 0, BW_EINVAL,
     "metric \"l_total\": label name \"1a\" is invalid: want [a-zA-Z_][a-zA-Z0-9_]*"},
    {'c', "l_total", "h", BW_METRICS_LABELS(""), NULL, 0, BW_EINVAL,
     "metric \"l_total\": label name \"\" is invalid: want [a-zA-Z_][a-zA-Z0-9_]*"},
    {'g', "l", "h", BW_METRICS_LABELS("__name__"), NULL, 0, BW_EINVAL,
     "metric \"l\": label name \"__name__\" is reserved: names starting with \"__\" are "
     "Prometheus's"},
    {'c', "l_total", "h", BW_METRICS_LABELS("a", "b", "c", "d", "e"), NULL, 0, BW_EINVAL,
     "metric \"l_total\": more than 4 label names"},
    {'c', "l_total", "h", BW_METRICS_LABELS("a", "b", "a"), NULL, 0, BW_EINVAL,
     "metric \"l_total\": label name \"a\" is repeated"},
    {'h', "l_seconds", "h", BW_METRICS_LABELS("le"), NULL, 0, BW_EINVAL,
     "histogram \"l_seconds\": label name \"le\" is reserved for the bucket bounds"},
    {'h', "b_seconds", "h", NULL, bad_equal, 2, BW_EINVAL,
     "histogram \"b_seconds\": bucket bounds must increase, but bound 1 (1) follows 1"},
    {'h', "b_seconds", "h", NULL, bad_down, 2, BW_EINVAL,
     "histogram \"b_seconds\": bucket bounds must increase, but bound 1 (1) follows 2"},
    {'h', "b_seconds", "h", NULL, bad_nan, 2, BW_EINVAL,
     "histogram \"b_seconds\": bucket bound 1 is not a finite number"},
    {'h', "b_seconds", "h", NULL, bad_neginf, 2, BW_EINVAL,
     "histogram \"b_seconds\": bucket bound 0 is not a finite number"},
    {'c', "taken_total", "h", NULL, NULL, 0, BW_EINVAL,
     "metric \"taken_total\" is already registered"},
    {'g', "taken_total", "other help", BW_METRICS_LABELS("x"), NULL, 0, BW_EINVAL,
     "metric \"taken_total\" is already registered"},
    {'c', "lat_seconds_count", "h", NULL, NULL, 0, BW_EINVAL,
     "metric \"lat_seconds_count\" clashes with histogram \"lat_seconds\": a histogram NAME "
     "also exposes NAME_bucket, NAME_sum and NAME_count"},
    {'h', "queue", "h", NULL, NULL, 0, BW_EINVAL,
     "metric \"queue\" clashes with gauge \"queue_sum\": a histogram NAME also exposes "
     "NAME_bucket, NAME_sum and NAME_count"},
    /* accepted */
    {'g', "ns:sub:metric", "Colons are allowed in metric names.", NULL, NULL, 0, 0, NULL},
    {'c', "le_total", "le is an ordinary label outside histograms.", BW_METRICS_LABELS("le"), NULL,
     0, 0, NULL},
    {'h', "lat_seconds_bucket_ms", "Only exact suffixes clash.",
     BW_METRICS_LABELS("a", "b", "c", "d"), NULL, 0, 0, NULL},
    {'g', "_under", "Leading underscore.", BW_METRICS_LABELS("_x", "Y9"), NULL, 0, 0, NULL},
};

static int register_kind(struct bw_metrics *reg, size_t i, void **out, struct bw_error *err)
{
	switch (registrations[i].kind) {
	case 'c':
		return bw_metrics_register_counter(reg, registrations[i].name,
						   registrations[i].help, registrations[i].labels,
						   (struct bw_metrics_counter **)out, err);
	case 'g':
		return bw_metrics_register_gauge(reg, registrations[i].name, registrations[i].help,
						 registrations[i].labels,
						 (struct bw_metrics_gauge **)out, err);
	default:
		return bw_metrics_register_histogram(
		    reg, registrations[i].name, registrations[i].help, registrations[i].labels,
		    registrations[i].bounds, registrations[i].nbounds,
		    (struct bw_metrics_histogram **)out, err);
	}
}

static void test_registration_errors(void)
{
	struct bw_metrics *reg = new_registry();
	struct bw_metrics_counter *taken;
	struct bw_metrics_histogram *lat;
	struct bw_metrics_gauge *queue;
	struct bw_error err = {0};
	char *text;

	CHECK_INT(0, bw_metrics_register_counter(reg, "taken_total", "Taken.", NULL, &taken, &err),
		  "register taken_total");
	CHECK_INT(0,
		  bw_metrics_register_histogram(reg, "lat_seconds", "Latency.", NULL, NULL, 0, &lat,
						&err),
		  "register lat_seconds");
	CHECK_INT(0, bw_metrics_register_gauge(reg, "queue_sum", "Sum.", NULL, &queue, &err),
		  "register queue_sum");

	for (size_t i = 0; i < sizeof(registrations) / sizeof(registrations[0]); i++) {
		void *out = &err; /* anything not NULL */
		int rc;

		bw_error_clear(&err);
		rc = register_kind(reg, i, &out, &err);
		CHECK_INT(registrations[i].code, rc, "registration %zu (%s): result", i,
			  registrations[i].name ? registrations[i].name : "(null)");
		CHECK_INT(registrations[i].code, err.code, "registration %zu: error code", i);
		if (registrations[i].code) {
			CHECK_STR(registrations[i].message, err.message,
				  "registration %zu: message", i);
			CHECK(out == NULL, "registration %zu: out is NULL on error", i);
		} else {
			CHECK(out != NULL, "registration %zu: out is set", i);
		}
	}

	CHECK_INT(BW_EINVAL, bw_metrics_register_counter(NULL, "x_total", "h", NULL, &taken, &err),
		  "a NULL registry is refused");
	CHECK_INT(BW_EINVAL,
		  bw_metrics_register_gauge_fn(reg, "fn_gauge", "h", NULL, NULL, NULL, &err),
		  "a gauge function needs a function");
	CHECK_STR("gauge \"fn_gauge\" needs a function", err.message, "gauge function message");

	/* failed registrations left nothing behind */
	text = render(reg, "after registration errors");
	CHECK_STR("# HELP taken_total Taken.\n"
		  "# TYPE taken_total counter\n"
		  "taken_total 0\n"
		  "# HELP lat_seconds Latency.\n"
		  "# TYPE lat_seconds histogram\n"
		  "lat_seconds_bucket{le=\"0.005\"} 0\n"
		  "lat_seconds_bucket{le=\"0.01\"} 0\n"
		  "lat_seconds_bucket{le=\"0.025\"} 0\n"
		  "lat_seconds_bucket{le=\"0.05\"} 0\n"
		  "lat_seconds_bucket{le=\"0.1\"} 0\n"
		  "lat_seconds_bucket{le=\"0.25\"} 0\n"
		  "lat_seconds_bucket{le=\"0.5\"} 0\n"
		  "lat_seconds_bucket{le=\"1\"} 0\n"
		  "lat_seconds_bucket{le=\"2.5\"} 0\n"
		  "lat_seconds_bucket{le=\"5\"} 0\n"
		  "lat_seconds_bucket{le=\"10\"} 0\n"
		  "lat_seconds_bucket{le=\"+Inf\"} 0\n"
		  "lat_seconds_sum 0\n"
		  "lat_seconds_count 0\n"
		  "# HELP queue_sum Sum.\n"
		  "# TYPE queue_sum gauge\n"
		  "queue_sum 0\n"
		  "# HELP ns:sub:metric Colons are allowed in metric names.\n"
		  "# TYPE ns:sub:metric gauge\n"
		  "ns:sub:metric 0\n",
		  text, "failed registrations are not rendered");
	free(text);
	bw_metrics_free(reg);
}

/* --- update errors ------------------------------------------------------- */

/* How many times needle occurs in haystack. */
static int count_of(const char *haystack, const char *needle)
{
	int n = 0;

	while (haystack && (haystack = strstr(haystack, needle)) != NULL) {
		n++;
		haystack += strlen(needle);
	}
	return n;
}

static void test_update_errors(void)
{
	struct bw_metrics *reg = new_registry();
	struct bw_metrics_counter *c, *plain;
	struct bw_metrics_gauge *g;
	struct bw_metrics_histogram *h;
	const char *two[] = {"a", "b"};
	char *text, *logged = NULL;
	size_t logged_len = 0;
	FILE *log = open_memstream(&logged, &logged_len);

	/* the warnings go to a buffer, to check them (and keep them off the test output) */
	CHECK(log != NULL, "open_memstream");
	bw_log_configure(BW_LOG_INFO, BW_LOG_TEXT, log);

	bw_metrics_register_counter(reg, "two_total", "Two labels.", BW_METRICS_LABELS("x", "y"),
				    &c, NULL);
	bw_metrics_register_counter(reg, "plain_total", "No labels.", NULL, &plain, NULL);
	bw_metrics_register_gauge(reg, "g", "One label.", BW_METRICS_LABELS("x"), &g, NULL);
	bw_metrics_register_histogram(reg, "h", "One label.", BW_METRICS_LABELS("x"), NULL, 0, &h,
				      NULL);

	CHECK_INT(BW_EINVAL, bw_metrics_counter_inc(c, "a"), "one label value of two");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_inc(c, "a", "b", "c"), "three label values of two");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_inc(c), "no label values of two");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_inc(c, "a", NULL), "a NULL label value");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_add_array(c, 1, 2, NULL), "a NULL values array");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_add_array(c, 1, 1, two), "array: count 1 of 2");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_add(c, -1, "a", "b"), "a counter cannot go down");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_add(c, NAN, "a", "b"), "a counter refuses NaN");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_inc(plain, "a"), "a label value for no labels");
	CHECK_INT(BW_EINVAL, bw_metrics_gauge_set(g, 1), "gauge: no label value of one");
	CHECK_INT(BW_EINVAL, bw_metrics_gauge_add(g, 1, "a", "b"), "gauge: two values of one");
	CHECK_INT(BW_EINVAL, bw_metrics_gauge_set_fn(g, read_int, &leader),
		  "gauge function: no label value of one");
	CHECK_INT(BW_EINVAL, bw_metrics_histogram_observe(h, 1), "histogram: no label value");
	CHECK_INT(BW_EINVAL, bw_metrics_histogram_observe(h, 1, "a", "b"), "histogram: two values");
	CHECK_INT(BW_EINVAL, bw_metrics_counter_inc((struct bw_metrics_counter *)NULL),
		  "a NULL counter");
	CHECK_INT(BW_EINVAL, bw_metrics_gauge_set((struct bw_metrics_gauge *)NULL, 1),
		  "a NULL gauge");
	CHECK_INT(BW_EINVAL, bw_metrics_histogram_observe((struct bw_metrics_histogram *)NULL, 1),
		  "a NULL histogram");
	CHECK_INT(0, bw_metrics_counter_add_array(c, 1, 2, two), "array: the right count");

	text = render(reg, "after update errors");
	CHECK_STR("# HELP two_total Two labels.\n"
		  "# TYPE two_total counter\n"
		  "two_total{x=\"a\",y=\"b\"} 1\n"
		  "# HELP plain_total No labels.\n"
		  "# TYPE plain_total counter\n"
		  "plain_total 0\n",
		  text, "refused updates changed nothing");
	free(text);

	bw_log_configure(BW_LOG_INFO, BW_LOG_TEXT, NULL);
	if (log)
		fclose(log);
	CHECK_INT(1,
		  count_of(logged, "warn  metrics: counter \"two_total\": takes 2 label values, "
				   "got 1; update dropped (logged once per metric)\n"),
		  "a wrong label count is logged");
	CHECK_INT(1, count_of(logged, "\"two_total\""), "and logged once per metric");
	CHECK_INT(1, count_of(logged, "counter \"plain_total\": takes 0 label values, got 1"),
		  "label values for a metric without labels are logged");
	CHECK_INT(1, count_of(logged, "gauge \"g\": takes 1 label values, got 0"),
		  "a gauge's wrong label count is logged");
	CHECK_INT(1, count_of(logged, "histogram \"h\": takes 1 label values, got 0"),
		  "a histogram's wrong label count is logged");
	free(logged);

	CHECK_INT(BW_EINVAL, bw_metrics_render(reg, NULL, NULL, NULL), "render needs out and len");
	bw_metrics_free(reg);
	bw_metrics_free(NULL);
}

static void test_series_cap(void)
{
	struct bw_metrics *reg = new_registry();
	struct bw_metrics_gauge *g;
	char label[16], *logged = NULL;
	size_t logged_len = 0;
	FILE *log = open_memstream(&logged, &logged_len);
	int failures = 0;

	bw_log_configure(BW_LOG_INFO, BW_LOG_TEXT, log);

	bw_metrics_register_gauge(reg, "many", "Many series.", BW_METRICS_LABELS("i"), &g, NULL);
	for (int i = 0; i < BW_METRICS_MAX_CHILDREN; i++) {
		snprintf(label, sizeof(label), "%d", i);
		if (bw_metrics_gauge_set(g, i, label) != 0)
			failures++;
	}
	CHECK_INT(0, failures, "%d series are allowed", BW_METRICS_MAX_CHILDREN);
	CHECK_INT(BW_ETOOBIG, bw_metrics_gauge_set(g, 1, "one more"), "one more series is refused");
	CHECK_INT(0, bw_metrics_gauge_set(g, 1, "0"), "an existing series still updates");
	bw_log_configure(BW_LOG_INFO, BW_LOG_TEXT, NULL);
	if (log)
		fclose(log);
	CHECK_INT(
	    1,
	    count_of(logged, "gauge \"many\": has 1000 series, the most allowed; update dropped"),
	    "the cap is logged");
	free(logged);
	bw_metrics_free(reg);
}

/* --- bucket helpers ------------------------------------------------------ */

static void test_buckets(void)
{
	double b[4] = {0};
	struct bw_error err = {0};

	CHECK_INT(0, bw_metrics_buckets_exponential(b, 4, 1, 2, &err), "exponential");
	CHECK(b[0] == 1 && b[1] == 2 && b[2] == 4 && b[3] == 8, "exponential 1 2 4 8");
	CHECK_INT(0, bw_metrics_buckets_linear(b, 3, 0.5, 0.5, &err), "linear");
	CHECK(b[0] == 0.5 && b[1] == 1 && b[2] == 1.5, "linear 0.5 1 1.5");
	CHECK_INT(BW_EINVAL, bw_metrics_buckets_exponential(b, 4, 1, 1, &err),
		  "exponential factor 1");
	CHECK_STR("exponential buckets need count >= 1, start > 0 and factor > 1 (got count 4, "
		  "start 1, factor 1)",
		  err.message, "exponential message");
	CHECK_INT(BW_EINVAL, bw_metrics_buckets_exponential(b, 4, 0, 2, &err),
		  "exponential start 0");
	CHECK_INT(BW_EINVAL, bw_metrics_buckets_exponential(b, 0, 1, 2, &err),
		  "exponential count 0");
	CHECK_INT(BW_EINVAL, bw_metrics_buckets_exponential(b, 4, 1e300, 1e300, &err),
		  "exponential overflow");
	CHECK_INT(BW_EINVAL, bw_metrics_buckets_linear(b, 3, 0, 0, &err), "linear width 0");
	CHECK_INT(BW_EINVAL, bw_metrics_buckets_linear(b, 3, NAN, 1, &err), "linear start NaN");
	CHECK_INT(11, BW_METRICS_DEFAULT_BUCKETS_N, "11 default buckets");
	CHECK(bw_metrics_default_buckets[0] == 0.005 && bw_metrics_default_buckets[10] == 10,
	      "default buckets 0.005 to 10");
	CHECK_INT(40, BW_METRICS_RECONCILE_BUCKETS_N, "40 reconcile buckets");
}

/* --- concurrency --------------------------------------------------------- */

#define THREADS	   4
#define INCREMENTS 100000

struct worker {
	pthread_t thread;
	const char *name;
	struct bw_metrics_counter *total, *halves, *own;
	struct bw_metrics_gauge *inflight;
	struct bw_metrics_histogram *latency;
	int failures;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < INCREMENTS; i++) {
		int rc = bw_metrics_counter_inc(w->total, "Service", "success");

		rc |= bw_metrics_counter_add(w->halves, 0.5);
		rc |= bw_metrics_counter_inc(w->own, w->name);
		rc |= bw_metrics_gauge_inc(w->inflight);
		rc |= bw_metrics_histogram_observe(w->latency, (i % 2) ? 1.0 : 0.25, "Service");
		rc |= bw_metrics_gauge_dec(w->inflight);
		if (rc)
			w->failures++;
	}
	return NULL;
}

/* A copy of text without the lines that mention word. */
static char *drop_lines(const char *text, const char *word)
{
	char *copy = calloc(1, text ? strlen(text) + 1 : 1);
	size_t n = 0;

	while (copy && text && *text) {
		const char *end = strchr(text, '\n');
		size_t len = end ? (size_t)(end - text) + 1 : strlen(text);
		const char *hit = strstr(text, word);

		if (!hit || hit >= text + len) {
			memcpy(copy + n, text, len);
			n += len;
		}
		text += len;
	}
	return copy;
}

struct renderer {
	pthread_t thread;
	struct bw_metrics *reg;
	atomic_int *stop;
	atomic_int renders;
	int failures;
};

static void *render_loop(void *arg)
{
	struct renderer *r = arg;

	while (!atomic_load(r->stop)) {
		char *text = NULL;
		size_t len;

		if (bw_metrics_render(r->reg, &text, &len, NULL) != 0 || strlen(text) != len)
			r->failures++;
		atomic_fetch_add(&r->renders, 1);
		free(text);
	}
	return NULL;
}

static void test_concurrency(void)
{
	static const char *names[THREADS] = {"w0", "w1", "w2", "w3"};
	static const double bounds[] = {0.5};
	struct bw_metrics *reg = new_registry();
	struct worker workers[THREADS];
	struct renderer r = {0};
	struct bw_metrics_counter *total, *halves, *own;
	struct bw_metrics_gauge *inflight, *late;
	struct bw_metrics_histogram *latency;
	atomic_int stop = 0;
	int failures = 0, started = 0;
	char *text, *others;

	bw_metrics_register_counter(reg, "reconcile_total", "Reconciles.",
				    BW_METRICS_LABELS("controller", "result"), &total, NULL);
	bw_metrics_register_counter(reg, "halves_total", "Halves.", NULL, &halves, NULL);
	bw_metrics_register_counter(reg, "own_total", "One series per thread.",
				    BW_METRICS_LABELS("thread"), &own, NULL);
	bw_metrics_register_gauge(reg, "inflight", "In flight.", NULL, &inflight, NULL);
	bw_metrics_register_histogram(reg, "latency_seconds", "Latency.",
				      BW_METRICS_LABELS("controller"), bounds, 1, &latency, NULL);

	r.reg = reg;
	r.stop = &stop;
	if (pthread_create(&r.thread, NULL, render_loop, &r) != 0)
		failures++;
	/* the renderer runs before the updates start, or it might not run
	 * until they are over */
	for (int i = 0; i < 10000 && !failures && atomic_load(&r.renders) == 0; i++)
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	for (int i = 0; i < THREADS; i++) {
		workers[i] = (struct worker){.name = names[i],
					     .total = total,
					     .halves = halves,
					     .own = own,
					     .inflight = inflight,
					     .latency = latency};
		if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) == 0)
			started++;
	}
	/* registration while others update and render */
	if (bw_metrics_register_gauge(reg, "late", "Registered while running.", NULL, &late,
				      NULL) != 0)
		failures++;
	for (int i = 0; i < started; i++) {
		pthread_join(workers[i].thread, NULL);
		failures += workers[i].failures;
	}
	atomic_store(&stop, 1);
	pthread_join(r.thread, NULL);
	CHECK_INT(THREADS, started, "%d threads started", THREADS);
	CHECK_INT(0, failures, "no update failed");
	CHECK_INT(0, r.failures, "no concurrent render failed");
	CHECK(atomic_load(&r.renders) > 0, "rendered %d times while updating",
	      atomic_load(&r.renders));

	text = render(reg, "after the threads");
	others = drop_lines(text, "own_total");
	CHECK_STR("# HELP reconcile_total Reconciles.\n"
		  "# TYPE reconcile_total counter\n"
		  "reconcile_total{controller=\"Service\",result=\"success\"} 400000\n"
		  "# HELP halves_total Halves.\n"
		  "# TYPE halves_total counter\n"
		  "halves_total 200000\n"
		  "# HELP inflight In flight.\n"
		  "# TYPE inflight gauge\n"
		  "inflight 0\n"
		  "# HELP latency_seconds Latency.\n"
		  "# TYPE latency_seconds histogram\n"
		  "latency_seconds_bucket{controller=\"Service\",le=\"0.5\"} 200000\n"
		  "latency_seconds_bucket{controller=\"Service\",le=\"+Inf\"} 400000\n"
		  "latency_seconds_sum{controller=\"Service\"} 250000\n"
		  "latency_seconds_count{controller=\"Service\"} 400000\n"
		  "# HELP late Registered while running.\n"
		  "# TYPE late gauge\n"
		  "late 0\n",
		  others, "4 threads x 100000 increments: exact totals");
	/* own_total's series appear in whichever order the threads created them */
	for (int i = 0; i < THREADS; i++) {
		char line[64];

		snprintf(line, sizeof(line), "own_total{thread=\"%s\"} 100000\n", names[i]);
		CHECK(text && strstr(text, line), "thread %s: its own series counts 100000",
		      names[i]);
	}
	free(others);
	free(text);
	bw_metrics_free(reg);
}

/* --- collectors ---------------------------------------------------------- */

struct queue_state {
	double depth[2];
	uint64_t cumulative[2][3];
	uint64_t count[2];
	double sum[2];
	int wrong; /* emit a wrong series too */
	int calls;
};

static void collect_depth(struct bw_metrics_sink *sink, void *arg)
{
	struct queue_state *q = arg;

	q->calls++;
	bw_metrics_sink_value(sink, q->depth[0], "service");
	bw_metrics_sink_value(sink, q->depth[1], "breaker");
	if (q->wrong) {
		CHECK_INT(BW_EINVAL, bw_metrics_sink_value(sink, 1, "a", "b"),
			  "a collected series with two values for one label is refused");
		CHECK_INT(BW_EINVAL, bw_metrics_sink_histogram(sink, q->cumulative[0], 1, 1, "x"),
			  "a histogram series in a gauge's collector is refused");
	}
}

static void collect_durations(struct bw_metrics_sink *sink, void *arg)
{
	struct queue_state *q = arg;

	bw_metrics_sink_histogram(sink, q->cumulative[0], q->count[0], q->sum[0], "service");
	bw_metrics_sink_histogram(sink, q->cumulative[1], q->count[1], q->sum[1], "breaker");
}

static void collect_nothing(struct bw_metrics_sink *sink, void *arg)
{
	(void)sink;
	(void)arg;
}

static void test_collectors(void)
{
	static const double bounds[] = {0.001, 0.1, 10};
	struct queue_state q = {.depth = {3, 0},
				.cumulative = {{1, 4, 5}, {0, 0, 0}},
				.count = {6, 0},
				.sum = {12.5, 0}};
	struct bw_metrics *reg = new_registry();
	struct bw_metrics_collector *depth = NULL;
	struct bw_metrics_counter *c;
	struct bw_error err;
	char *text;

	CHECK_INT(0,
		  bw_metrics_register_collector(
		      reg, BW_METRICS_GAUGE, "workqueue_depth", "Current depth of workqueue",
		      BW_METRICS_LABELS("name"), NULL, 0, collect_depth, &q, &depth, &err),
		  "a gauge collector registers");
	CHECK_INT(0,
		  bw_metrics_register_collector(
		      reg, BW_METRICS_HISTOGRAM, "workqueue_work_duration_seconds",
		      "How long processing takes.", BW_METRICS_LABELS("name"), bounds, 3,
		      collect_durations, &q, NULL, &err),
		  "a histogram collector registers");
	CHECK_INT(0,
		  bw_metrics_register_collector(reg, BW_METRICS_COUNTER, "idle_total", "Nothing.",
						NULL, NULL, 0, collect_nothing, NULL, NULL, &err),
		  "a collector that emits nothing registers");
	CHECK_INT(BW_EINVAL,
		  bw_metrics_register_counter(reg, "workqueue_depth", "Again.", NULL, &c, &err),
		  "a collector's name is taken in the registry");
	CHECK_INT(BW_EINVAL,
		  bw_metrics_register_counter(reg, "workqueue_work_duration_seconds_count", "x",
					      NULL, &c, &err),
		  "and a collected histogram's series names too");
	CHECK_INT(BW_EINVAL,
		  bw_metrics_register_collector(reg, BW_METRICS_GAUGE, "no_fn", "x", NULL, NULL, 0,
						NULL, NULL, NULL, &err),
		  "a collector needs a function");
	CHECK_INT(BW_EINVAL,
		  bw_metrics_register_collector(reg, BW_METRICS_GAUGE, "bad-name", "x", NULL, NULL,
						0, collect_nothing, NULL, NULL, &err),
		  "a collector's name is checked like any other");

	text = render(reg, "collectors");
	CHECK_STR("# HELP workqueue_depth Current depth of workqueue\n"
		  "# TYPE workqueue_depth gauge\n"
		  "workqueue_depth{name=\"service\"} 3\n"
		  "workqueue_depth{name=\"breaker\"} 0\n"
		  "# HELP workqueue_work_duration_seconds How long processing takes.\n"
		  "# TYPE workqueue_work_duration_seconds histogram\n"
		  "workqueue_work_duration_seconds_bucket{name=\"service\",le=\"0.001\"} 1\n"
		  "workqueue_work_duration_seconds_bucket{name=\"service\",le=\"0.1\"} 4\n"
		  "workqueue_work_duration_seconds_bucket{name=\"service\",le=\"10\"} 5\n"
		  "workqueue_work_duration_seconds_bucket{name=\"service\",le=\"+Inf\"} 6\n"
		  "workqueue_work_duration_seconds_sum{name=\"service\"} 12.5\n"
		  "workqueue_work_duration_seconds_count{name=\"service\"} 6\n"
		  "workqueue_work_duration_seconds_bucket{name=\"breaker\",le=\"0.001\"} 0\n"
		  "workqueue_work_duration_seconds_bucket{name=\"breaker\",le=\"0.1\"} 0\n"
		  "workqueue_work_duration_seconds_bucket{name=\"breaker\",le=\"10\"} 0\n"
		  "workqueue_work_duration_seconds_bucket{name=\"breaker\",le=\"+Inf\"} 0\n"
		  "workqueue_work_duration_seconds_sum{name=\"breaker\"} 0\n"
		  "workqueue_work_duration_seconds_count{name=\"breaker\"} 0\n",
		  text,
		  "collected series render with one HELP and TYPE each; an empty one is left out");
	free(text);

	q.depth[0] = 7;
	q.wrong = 1;
	text = render(reg, "collectors again");
	CHECK(text && strstr(text, "workqueue_depth{name=\"service\"} 7\n") != NULL,
	      "each render reads the state anew");
	CHECK(text && !strstr(text, "name=\"a\""), "a refused series is not rendered");
	free(text);

	bw_metrics_collector_detach(depth);
	q.calls = 0;
	text = render(reg, "after detach");
	CHECK_INT(0, q.calls, "a detached collector is not called");
	CHECK(text && !strstr(text, "workqueue_depth"), "and its metric is left out");
	CHECK(text && strstr(text, "workqueue_work_duration_seconds_count{name=\"service\"} 6"),
	      "the other collectors still render");
	free(text);
	bw_metrics_collector_detach(NULL);
	bw_metrics_free(reg);
}

int main(void)
{
	test_render_cases();
	test_gauge_fn_live();
	test_registration_errors();
	test_update_errors();
	test_series_cap();
	test_buckets();
	test_concurrency();
	test_collectors();
	return check_exit();
}
