/* Leader election on a Lease: see leader.h. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "leader.h"
#include "log.h"
#include "rfc3339.h"
#include "thread.h"

struct bw_leader {
	struct bw_client *client;
	char *ns, *name, *identity;
	long lease_duration_ms, renew_deadline_ms, retry_period_ms;
	struct bw_leader_options cb; /* callbacks and ctx only */
	struct bw_backoff jitter;

	atomic_int leading;
	/* Monotonic ms until which leading is safe: renew_deadline after the
	 * start of the last successful renew; 0 when not leading. */
	_Atomic int64_t valid_until_ms;
	atomic_int stopping;
	int started;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;

	/* The lease as last seen, and when (local monotonic clock): expiry is
	 * judged from when we saw it change, never from its timestamps. */
	char observed_holder[256];
	char observed_renew[64];
	int64_t observed_ms;
	char reported_leader[256];
};

void bw_leader_default_identity(char *buf, size_t size)
{
	char host[128] = "unknown";
	struct bw_backoff r;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	bw_backoff_init(&r, 1, 1, 1.0, 0.0);
	snprintf(buf, size, "%s_%ld_%06x", host, (long)getpid(),
		 (unsigned)(bw_backoff_rand(&r) * 0xffffff));
}

int bw_leader_new(struct bw_leader **out, struct bw_client *client,
		  const struct bw_leader_options *opts, struct bw_error *err)
{
	struct bw_leader *le;
	pthread_condattr_t attr;
	int ret;

	*out = NULL;
	if (!opts || !opts->namespace || !opts->name || !opts->identity || !*opts->identity)
		return bw_error_set(err, BW_EINVAL,
				    "leader election needs a lease namespace, name and identity");
	le = calloc(1, sizeof(*le));
	if (!le)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	le->client = client;
	le->ns = strdup(opts->namespace);
	le->name = strdup(opts->name);
	le->identity = strdup(opts->identity);
	le->lease_duration_ms = opts->lease_duration_ms > 0 ? opts->lease_duration_ms : 15000;
	le->renew_deadline_ms = opts->renew_deadline_ms > 0 ? opts->renew_deadline_ms : 10000;
	le->retry_period_ms = opts->retry_period_ms > 0 ? opts->retry_period_ms : 2000;
	le->cb = *opts;
	bw_backoff_init(&le->jitter, 1, 1, 1.0, 0.0);
	pthread_mutex_init(&le->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&le->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (!le->ns || !le->name || !le->identity) {
		ret = bw_error_set(err, BW_ENOMEM, "out of memory");
		goto fail;
	}
	/* the Lease holds whole seconds: that is what other candidates wait */
	if (le->lease_duration_ms % 1000 != 0 || le->lease_duration_ms < 2000) {
		ret = bw_error_set(err, BW_EINVAL,
				   "the lease duration (%ld ms) must be a whole number of seconds, "
				   "at least 2",
				   le->lease_duration_ms);
		goto fail;
	}
	if (le->renew_deadline_ms >= le->lease_duration_ms) {
		ret = bw_error_set(err, BW_EINVAL,
				   "the renew deadline (%ld ms) must be shorter than the lease "
				   "duration (%ld ms), or two leaders could act at once",
				   le->renew_deadline_ms, le->lease_duration_ms);
		goto fail;
	}
	if (le->retry_period_ms >= le->renew_deadline_ms) {
		ret = bw_error_set(err, BW_EINVAL,
				   "the retry period (%ld ms) must be shorter than the renew "
				   "deadline (%ld ms)",
				   le->retry_period_ms, le->renew_deadline_ms);
		goto fail;
	}
	*out = le;
	return 0;
fail:
	bw_leader_free(le);
	return ret;
}

int bw_leader_is_leader(const struct bw_leader *le)
{
	return atomic_load(&le->leading);
}

int bw_leader_lease_valid(const struct bw_leader *le)
{
	return bw_now_ms() < atomic_load(&le->valid_until_ms);
}

static void pause_ms(struct bw_leader *le, long ms)
{
	struct timespec until;

	bw_deadline_after_ms(&until, ms);
	pthread_mutex_lock(&le->lock);
	while (!atomic_load(&le->stopping) &&
	       pthread_cond_timedwait(&le->wake, &le->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&le->lock);
}

static void report_leader(struct bw_leader *le, const char *holder)
{
	if (!holder || !*holder || strcmp(holder, le->reported_leader) == 0)
		return;
	snprintf(le->reported_leader, sizeof(le->reported_leader), "%s", holder);
	bw_log_info("leader", "lease %s/%s is held by %s", le->ns, le->name, holder);
	if (le->cb.on_new_leader)
		le->cb.on_new_leader(holder, le->cb.ctx);
}

static void observe(struct bw_leader *le, const char *holder, const char *renew)
{
	holder = holder ? holder : "";
	renew = renew ? renew : "";
	if (strcmp(holder, le->observed_holder) != 0 || strcmp(renew, le->observed_renew) != 0 ||
	    le->observed_ms == 0) {
		snprintf(le->observed_holder, sizeof(le->observed_holder), "%s", holder);
		snprintf(le->observed_renew, sizeof(le->observed_renew), "%s", renew);
		le->observed_ms = bw_now_ms();
	}
}

static json_t *lease_spec(const char *holder, long duration_s, const char *acquire,
			  const char *renew, long transitions)
{
	return json_pack("{s:s, s:I, s:s, s:s, s:I}", "holderIdentity", holder,
			 "leaseDurationSeconds", (json_int_t)duration_s, "acquireTime", acquire,
			 "renewTime", renew, "leaseTransitions", (json_int_t)transitions);
}

/* One request of an attempt, bounded by what is left until deadline_ms
 * (monotonic) and never retried: a renew that cannot finish in time must not
 * keep a leader believing it leads. out (may be NULL) gets the JSON body. */
static int lease_request(struct bw_leader *le, const char *method, const json_t *body,
			 int64_t deadline_ms, json_t **out, struct bw_error *err)
{
	char path[512];
	struct bw_request req = {.method = method, .path = path, .no_retry = 1};
	struct bw_response resp = {0};
	char *text = NULL;
	int64_t left = deadline_ms - bw_now_ms();
	int ret;

	if (out)
		*out = NULL;
	if (left <= 0)
		return bw_error_set(err, BW_ETIMEDOUT,
				    "%s lease %s/%s: no time left before the "
				    "renew deadline",
				    method, le->ns, le->name);
	if ((ret = bw_client_path(path, sizeof(path), &bw_res_leases, le->ns,
				  strcmp(method, "POST") == 0 ? NULL : le->name, NULL, err)) != 0)
		return ret;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return bw_error_set(err, BW_ENOMEM, "out of memory");
		req.body = text;
		req.body_len = strlen(text);
	}
	req.timeout_ms = (long)left;
	ret = bw_client_do(le->client, &req, &resp, err);
	if (ret == 0 && out) {
		*out = json_loadb(resp.body ? resp.body : "", resp.len, 0, NULL);
		if (!*out)
			ret = bw_error_set(err, BW_EPARSE, "%s lease %s/%s: response is not JSON",
					   method, le->ns, le->name);
	}
	bw_response_release(&resp);
	free(text);
	return ret;
}

/* 1: we hold the lease now; 0: someone else does; < 0: could not tell. Every
 * request ends by deadline_ms (monotonic). */
static int try_acquire_or_renew(struct bw_leader *le, int64_t deadline_ms)
{
	json_t *lease = NULL, *spec, *fresh = NULL;
	const char *holder, *renew, *acquire;
	struct bw_error err;
	char now[64];
	long duration_s, transitions;
	int ret;

	bw_rfc3339_now(now, sizeof(now), 6); /* a MicroTime */
	ret = lease_request(le, "GET", NULL, deadline_ms, &lease, &err);
	if (ret == BW_ENOTFOUND) {
		fresh = json_pack(
		    "{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1", "kind",
		    "Lease", "metadata", "name", le->name, "namespace", le->ns, "spec",
		    lease_spec(le->identity, le->lease_duration_ms / 1000, now, now, 0));
		ret = lease_request(le, "POST", fresh, deadline_ms, NULL, &err);
		json_decref(fresh);
		if (ret == 0) {
			observe(le, le->identity, now);
			return 1;
		}
		if (ret != BW_ECONFLICT)
			bw_log_warn("leader", "creating lease %s/%s: %s", le->ns, le->name,
				    err.message);
		return ret == BW_ECONFLICT ? 0 : ret;
	}
	if (ret != 0) {
		bw_log_warn("leader", "reading lease %s/%s: %s", le->ns, le->name, err.message);
		return ret;
	}
	spec = json_object_get(lease, "spec");
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	renew = json_string_value(json_object_get(spec, "renewTime"));
	acquire = json_string_value(json_object_get(spec, "acquireTime"));
	duration_s = (long)json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	transitions = (long)json_integer_value(json_object_get(spec, "leaseTransitions"));
	observe(le, holder, renew);
	report_leader(le, holder);

	if (holder && *holder && strcmp(holder, le->identity) != 0 &&
	    le->observed_ms + duration_s * 1000 > bw_now_ms()) {
		ret = 0; /* held by someone else, and not expired */
		goto out;
	}
	if (!holder || strcmp(holder, le->identity) != 0) {
		acquire = now;
		transitions++;
	}
	json_object_set_new(lease, "spec",
			    lease_spec(le->identity, le->lease_duration_ms / 1000,
				       acquire ? acquire : now, now, transitions));
	ret = lease_request(le, "PUT", lease, deadline_ms, NULL, &err);
	if (ret == 0) {
		observe(le, le->identity, now);
		report_leader(le, le->identity);
		ret = 1;
	} else if (ret == BW_ECONFLICT) {
		ret = 0; /* someone else wrote it first */
	} else {
		bw_log_warn("leader", "updating lease %s/%s: %s", le->ns, le->name, err.message);
	}
out:
	json_decref(lease);
	return ret;
}

/* Gives the lease up, so a successor need not wait for it to expire; only
 * while we still hold it (before deadline_ms). */
static void release(struct bw_leader *le, int64_t deadline_ms)
{
	json_t *lease = NULL, *spec;
	struct bw_error err;
	const char *holder;
	char now[64];

	if (lease_request(le, "GET", NULL, deadline_ms, &lease, &err) != 0)
		goto out;
	spec = json_object_get(lease, "spec");
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	if (!holder || strcmp(holder, le->identity) != 0)
		goto out;
	bw_rfc3339_now(now, sizeof(now), 6); /* a MicroTime */
	json_object_set_new(
	    lease, "spec",
	    lease_spec("", 1, now, now,
		       (long)json_integer_value(json_object_get(spec, "leaseTransitions"))));
	if (lease_request(le, "PUT", lease, deadline_ms, NULL, &err) == 0)
		bw_log_info("leader", "released lease %s/%s", le->ns, le->name);
	else
		bw_log_warn("leader", "releasing lease %s/%s: %s", le->ns, le->name, err.message);
out:
	json_decref(lease);
}

static long jittered(struct bw_leader *le, long ms)
{
	return ms + (long)(bw_backoff_rand(&le->jitter) * (double)ms * 0.2);
}

/* Leads until the lease is lost or we stop. deadline_ms (monotonic) is when
 * leading must end unless a renew succeeds: renew_deadline after the start
 * of the last successful attempt. The start, not the answer, because the
 * write may have landed (and another candidate seen it, and started its
 * lease_duration clock) as soon as it was sent. Each attempt ends by the
 * deadline, so leading ends by it too, lease_duration - renew_deadline
 * before any other candidate can take the lease. */
static void lead(struct bw_leader *le, int64_t deadline_ms)
{
	atomic_store(&le->valid_until_ms, deadline_ms);
	atomic_store(&le->leading, 1);
	bw_log_info("leader", "%s became the leader (lease %s/%s)", le->identity, le->ns, le->name);
	if (le->cb.on_started_leading)
		le->cb.on_started_leading(le->cb.ctx);
	for (;;) {
		int64_t start, left = deadline_ms - bw_now_ms();

		pause_ms(le,
			 left < le->retry_period_ms ? (left > 0 ? left : 0) : le->retry_period_ms);
		if (atomic_load(&le->stopping)) {
			release(le, deadline_ms);
			break;
		}
		start = bw_now_ms();
		if (start >= deadline_ms) {
			bw_log_error("leader", "%s lost the lease %s/%s: not renewed within %ld ms",
				     le->identity, le->ns, le->name, le->renew_deadline_ms);
			break;
		}
		if (try_acquire_or_renew(le, deadline_ms) == 1) {
			deadline_ms = start + le->renew_deadline_ms;
			atomic_store(&le->valid_until_ms, deadline_ms);
		} else if (strcmp(le->observed_holder, le->identity) != 0) {
			bw_log_error("leader", "%s lost the lease %s/%s: it names %s now",
				     le->identity, le->ns, le->name,
				     *le->observed_holder ? le->observed_holder : "no one");
			break;
		} else if (bw_now_ms() >= deadline_ms) {
			bw_log_error("leader", "%s lost the lease %s/%s: not renewed within %ld ms",
				     le->identity, le->ns, le->name, le->renew_deadline_ms);
			break;
		}
	}
	atomic_store(&le->valid_until_ms, 0);
	atomic_store(&le->leading, 0);
	if (le->cb.on_stopped_leading)
		le->cb.on_stopped_leading(le->cb.ctx);
}

static void *campaign(void *arg)
{
	struct bw_leader *le = arg;

	bw_thread_name("leader", NULL);
	while (!atomic_load(&le->stopping)) {
		int64_t start = bw_now_ms();

		if (try_acquire_or_renew(le, start + le->renew_deadline_ms) == 1)
			lead(le, start + le->renew_deadline_ms);
		else
			pause_ms(le, jittered(le, le->retry_period_ms));
	}
	return NULL;
}

int bw_leader_start(struct bw_leader *le, struct bw_error *err)
{
	int rc = pthread_create(&le->thread, NULL, campaign, le);

	if (rc != 0)
		return bw_error_set(err, BW_ENOMEM, "cannot start leader election: %s",
				    strerror(rc));
	le->started = 1;
	return 0;
}

void bw_leader_stop(struct bw_leader *le)
{
	pthread_mutex_lock(&le->lock);
	atomic_store(&le->stopping, 1);
	pthread_cond_broadcast(&le->wake);
	pthread_mutex_unlock(&le->lock);
	if (le->started) {
		pthread_join(le->thread, NULL);
		le->started = 0;
	}
}

void bw_leader_free(struct bw_leader *le)
{
	if (!le)
		return;
	bw_leader_stop(le);
	pthread_mutex_destroy(&le->lock);
	pthread_cond_destroy(&le->wake);
	free(le->ns);
	free(le->name);
	free(le->identity);
	free(le);
}
