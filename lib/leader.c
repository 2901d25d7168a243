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

struct bw_leader {
	struct bw_client *client;
	char *ns, *name, *identity;
	long lease_duration_ms, renew_deadline_ms, retry_period_ms;
	struct bw_leader_options cb; /* callbacks and ctx only */
	struct bw_backoff jitter;

	atomic_int leading;
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
		bw_leader_free(le);
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	}
	if (le->renew_deadline_ms >= le->lease_duration_ms) {
		bw_leader_free(le);
		return bw_error_set(err, BW_EINVAL,
				    "the renew deadline (%ld ms) must be shorter than the lease "
				    "duration (%ld ms)",
				    opts->renew_deadline_ms, opts->lease_duration_ms);
	}
	*out = le;
	return 0;
}

int bw_leader_is_leader(const struct bw_leader *le)
{
	return atomic_load(&le->leading);
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

/* A Kubernetes MicroTime for now: 2026-11-26T19:34:36.123456Z */
static void micro_time(char *buf, size_t size)
{
	struct timespec now;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%06ldZ", now.tv_nsec / 1000);
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

/* 1: we hold the lease now; 0: someone else does; < 0: could not tell. */
static int try_acquire_or_renew(struct bw_leader *le)
{
	json_t *lease = NULL, *spec, *fresh = NULL;
	const char *holder, *renew, *acquire;
	struct bw_error err;
	char now[64];
	long duration_s, transitions;
	int ret;

	micro_time(now, sizeof(now));
	ret = bw_client_get(le->client, &bw_res_leases, le->ns, le->name, NULL, &lease, &err);
	if (ret == BW_ENOTFOUND) {
		fresh = json_pack(
		    "{s:s, s:s, s:{s:s, s:s}, s:o}", "apiVersion", "coordination.k8s.io/v1", "kind",
		    "Lease", "metadata", "name", le->name, "namespace", le->ns, "spec",
		    lease_spec(le->identity, le->lease_duration_ms / 1000, now, now, 0));
		ret = bw_client_create(le->client, &bw_res_leases, le->ns, fresh, NULL, &err);
		json_decref(fresh);
		if (ret == 0) {
			observe(le, le->identity, now);
			return 1;
		}
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
	ret =
	    bw_client_update(le->client, &bw_res_leases, le->ns, le->name, NULL, lease, NULL, &err);
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

/* Gives the lease up, so a successor need not wait for it to expire. */
static void release(struct bw_leader *le)
{
	json_t *lease = NULL, *spec;
	struct bw_error err;
	const char *holder;
	char now[64];

	if (bw_client_get(le->client, &bw_res_leases, le->ns, le->name, NULL, &lease, &err) != 0)
		goto out;
	spec = json_object_get(lease, "spec");
	holder = json_string_value(json_object_get(spec, "holderIdentity"));
	if (!holder || strcmp(holder, le->identity) != 0)
		goto out;
	micro_time(now, sizeof(now));
	json_object_set_new(
	    lease, "spec",
	    lease_spec("", 1, now, now,
		       (long)json_integer_value(json_object_get(spec, "leaseTransitions"))));
	if (bw_client_update(le->client, &bw_res_leases, le->ns, le->name, NULL, lease, NULL,
			     &err) == 0)
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

static void lead(struct bw_leader *le)
{
	int64_t last_renew = bw_now_ms();

	atomic_store(&le->leading, 1);
	bw_log_info("leader", "%s became the leader (lease %s/%s)", le->identity, le->ns, le->name);
	if (le->cb.on_started_leading)
		le->cb.on_started_leading(le->cb.ctx);
	for (;;) {
		pause_ms(le, le->retry_period_ms);
		if (atomic_load(&le->stopping)) {
			release(le);
			break;
		}
		if (try_acquire_or_renew(le) == 1) {
			last_renew = bw_now_ms();
		} else if (bw_now_ms() - last_renew > le->renew_deadline_ms) {
			bw_log_error("leader", "%s lost the lease %s/%s: not renewed for %ld ms",
				     le->identity, le->ns, le->name, le->renew_deadline_ms);
			break;
		}
	}
	atomic_store(&le->leading, 0);
	if (le->cb.on_stopped_leading)
		le->cb.on_stopped_leading(le->cb.ctx);
}

static void *campaign(void *arg)
{
	struct bw_leader *le = arg;

	while (!atomic_load(&le->stopping)) {
		if (try_acquire_or_renew(le) == 1)
			lead(le);
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
