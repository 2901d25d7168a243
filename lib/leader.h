/*
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection package does it: a candidate takes the lease when it is
 * free or has not been renewed for lease_duration (measured on the local
 * clock from when the candidate last saw the lease change, so clock skew
 * between machines does not matter), renews it every retry_period, and
 * gives up leading when it has not renewed for renew_deadline. On a graceful
 * stop the leader releases the lease (empty holder, 1 s duration) so a
 * successor takes over at once instead of after lease_duration.
 *
 * Two leaders never overlap as long as the local clocks run at about the
 * same rate: leading ends renew_deadline after the start of the last renew
 * that succeeded, and every lease request is bounded by what is left of that
 * (a per-request timeout, no retries), so a hung or partitioned API server
 * cannot keep a leader believing it leads; another candidate takes over no
 * sooner than lease_duration after it saw that renew. The margin,
 * lease_duration - renew_deadline (5 s by default), is what on_stopped_leading
 * has to stop every write in: exiting the process, as client-go's users do,
 * is the safe answer. A request already sent may still be delayed in the
 * network beyond it: Leases give no fencing.
 *
 * Ownership: the client and the callbacks' ctx are borrowed and must outlive
 * the elector; strings in the options are copied.
 * Thread-safety: the elector runs in a thread of its own; callbacks are
 * called from it. bw_leader_is_leader() and bw_leader_stop() may be called
 * from any thread; free must not race with them.
 */
#ifndef BW_LEADER_H
#define BW_LEADER_H

#include "client.h"

struct bw_leader_options {
	const char *namespace;	/* of the Lease */
	const char *name;	/* of the Lease */
	const char *identity;	/* this candidate: unique per process (host_pid_random) */
	long lease_duration_ms; /* default 15000; whole seconds (the Lease holds seconds) */
	long renew_deadline_ms; /* default 10000; less than lease_duration_ms */
	long retry_period_ms;	/* default 2000; less than renew_deadline_ms */
	/* Called when this candidate becomes the leader. */
	void (*on_started_leading)(void *ctx);
	/* Called when it stops leading (lost the lease, or stopped), by the
	 * renew deadline at the latest. The process must stop acting as leader
	 * at once: in-flight writes too (exit, unless it was a graceful stop). */
	void (*on_stopped_leading)(void *ctx);
	/* Called when the leader changes to someone (identity, may be ours). */
	void (*on_new_leader)(const char *identity, void *ctx);
	void *ctx;
};

struct bw_leader;

int bw_leader_new(struct bw_leader **out, struct bw_client *client,
		  const struct bw_leader_options *opts, struct bw_error *err);
/* Starts campaigning in a thread of its own. */
int bw_leader_start(struct bw_leader *le, struct bw_error *err);
/* Stops campaigning; a leader releases the lease first. Waits for the thread. */
void bw_leader_stop(struct bw_leader *le);
/* Stops (see above) and frees. */
void bw_leader_free(struct bw_leader *le);

int bw_leader_is_leader(const struct bw_leader *le);

/* 1 while this candidate leads and its last successful renew started less
 * than the renew deadline ago. It reads the monotonic clock, not the leader
 * thread's state, so it turns 0 the moment the deadline passes even if that
 * thread has not run since (a process resumed from SIGSTOP sees 0 at once).
 * Thread-safe; meant for a bw_client write guard. */
int bw_leader_lease_valid(const struct bw_leader *le);

/* Writes a unique identity "host_pid_random" into buf. */
void bw_leader_default_identity(char *buf, size_t size);

#endif
