/*
 * The service controller's decisions, as pure functions: given what a
 * breakwater Service asks for (spec), what it last said (status), what the
 * cache holds of its Deployment and pods, and the clock, what to apply, which
 * events to record and which status to write. No I/O, no cache, no clock of
 * its own: the reconciler (service_controller.c) gathers the inputs, calls
 * these, and does the writing. As everything is derived from status and
 * cluster state, an operator that restarts decides what one that never
 * stopped would have (tests/unit/data/rollout/ shows it step by step).
 *
 *   bw_rollout_decide  revision bookkeeping (docs/resources.md): a rollout
 *                      starts when the template of the spec (its revision,
 *                      model/revision.h: image, env, probes, any pod field)
 *                      differs from status.currentRevision, the last one
 *                      rolled out; currentRevision (and status.image)
 *                      follow once the new template is fully available. A
 *                      rollout past its progress deadline is recorded in
 *                      status (failedRevision, failedImage) in one reconcile
 *                      and reverted to the whole current revision's
 *                      template in the next (autoRollback). Then the
 *                      conditions and events.
 *   bw_rollout_blocked the conditions when the controller cannot act
 *                      (an ownership conflict, a refused spec).
 *   bw_repair_decide   pods that missed the webhook's injection, or carry an
 *                      outdated one, and whether to restart them now (with
 *                      --repair-pods), with back-off (docs/webhook.md).
 *
 * The inputs are plain structs filled by the caller: nothing here knows how
 * the cache stores a Service, a Deployment or a pod. Times are RFC 3339 UTC
 * text, as in the objects, with the seconds since the epoch the caller read
 * from them (the decisions compare and copy the text and subtract seconds).
 *
 * Ownership: every input pointer is borrowed and must outlive the decision,
 * whose const char * fields may point into the inputs; the decision owns
 * its message buffers. Thread-safety: pure functions; any thread.
 */
#ifndef BW_OPERATOR_ROLLOUT_H
#define BW_OPERATOR_ROLLOUT_H

#include <stddef.h>

#define BW_ROLLOUT_EVENT_MAX	    512	 /* an event's message, bytes with the NUL */
#define BW_ROLLOUT_CONDITION_MAX    6144 /* a condition's message (a route: 1024 characters) */
#define BW_ROLLOUT_EVENTS	    4
#define BW_ROLLOUT_CONDITIONS	    7
#define BW_ROLLOUT_DEFAULT_DEADLINE 600 /* progressDeadlineSeconds when unset */

/* A time as read from an object: text NULL (and secs -1) when absent;
 * secs -1 when the text is not RFC 3339 UTC. */
struct bw_rollout_time {
	const char *text;
	long long secs;
};

/* An IntOrString of the rollout settings (maxUnavailable). */
struct bw_rollout_amount {
	long value;
	int percent; /* value is a percentage of the replicas */
};

/* What the Service asks for and last said. */
struct bw_rollout_service {
	long generation;
	const char *image; /* spec.image; NULL: missing (the spec is invalid) */
	long replicas;	   /* spec.replicas, the CRD's default (1) applied */
	int paused;
	long progress_deadline_s; /* 0: BW_ROLLOUT_DEFAULT_DEADLINE */
	int auto_rollback;
	struct bw_rollout_amount max_unavailable;
	const char *route_prefix, *route_host; /* spec.route, for messages; NULL: none */
	/* the revision of the spec's template (revision.h): the update revision */
	const char *revision;
	/* status as last written */
	const char *status_image, *last_good, *failed;
	const char *status_revision; /* status.currentRevision: the last rolled out */
	const char *failed_revision; /* status.failedRevision */
	const char *ready_reason;    /* the Ready condition's reason, or NULL */
};

/* The Service's Deployment as cached, when it controls one. */
struct bw_rollout_deployment {
	long generation, observed_generation;
	long spec_replicas, replicas, updated, ready, available;
	const char *image;		     /* the "app" container's */
	const char *progressing;	     /* the Progressing condition's reason, or "" */
	struct bw_rollout_time restarted_at; /* the pod template's breakwater.io/restartedAt */
	const char *revision; /* its breakwater.io/revision: the template it runs; NULL: none */
};

/* What the rules that need other Services found (rules.h). */
struct bw_rollout_peers {
	const char
	    *route_holder;   /* "namespace/name" of the older Service holding the route, or "" */
	const char *missing; /* the dependsOn names with no Service, "a, b", or "" */
	size_t dependencies; /* how many dependsOn names there are */
};

struct bw_rollout_event {
	const char *type; /* "Normal" or "Warning" */
	const char *reason;
	char message[BW_ROLLOUT_EVENT_MAX];
};

struct bw_rollout_condition {
	const char *type, *status, *reason;
	char message[BW_ROLLOUT_CONDITION_MAX];
};

struct bw_rollout_decision {
	int invalid; /* the spec cannot be acted on: record events, nothing else */
	/* the image the Deployment is to run (for messages), and the revision
	 * whose template it is rendered from: the update revision (the spec
	 * as it is), or while a rollback is in effect the current one */
	const char *deploy_image, *deploy_revision;
	/* withhold the Ingress: another Service holds the route */
	int withhold_ingress;
	/* to record before writing anything, in order */
	struct bw_rollout_event events[BW_ROLLOUT_EVENTS];
	size_t n_events;
	/* to record once the writes succeeded (the rollout completed) */
	struct bw_rollout_event done_events[BW_ROLLOUT_EVENTS];
	size_t n_done_events;
	/* the status to write (with the pods' of bw_repair_decide); NULL: left out */
	long observed_generation;
	const char *image, *last_good, *failed;
	const char *current_revision, *update_revision, *failed_revision;
	long replicas, updated, ready, available;
	struct bw_rollout_condition conditions[BW_ROLLOUT_CONDITIONS];
	size_t n_conditions;
};

/* Decides for svc; d NULL when the Service controls no Deployment (yet). */
void bw_rollout_decide(const struct bw_rollout_service *svc, const struct bw_rollout_deployment *d,
		       const struct bw_rollout_peers *peers, struct bw_rollout_decision *out);

/* The controller could not do its work and cannot until someone changes
 * something: an ownership conflict (another owner's Deployment or Ingress of
 * that name), a spec the API server refused, or spec.image missing. The
 * conditions to write over the last status, in out (3 of them): Ready False,
 * Reconciling False and Stalled True, each with reason (CamelCase) and
 * message, so that kstatus reads Failed. Returns the count. */
size_t bw_rollout_blocked(const char *reason, const char *message,
			  struct bw_rollout_condition out[3]);

/* What the pods of a Service carry, and what the repair needs to know. */
struct bw_repair_input {
	const char *const *injected; /* each pod's breakwater.io/injected, "" when none */
	size_t n_pods;
	const char *expected; /* the generation pods should carry now; NULL: unknown */
	int repair_pods;      /* --repair-pods: restart stale pods */
	struct bw_rollout_time status_restarted_at; /* status.podsRestartedAt */
	long long status_restarts;		    /* status.podsRestarts */
	struct bw_rollout_time now;		    /* the clock */
};

/* Pods that missed injection are restarted at once the first time; if the
 * new ones miss it too (the webhook is still unreachable), the next restart
 * waits 15 s, then 30 s, doubling up to 10 minutes, so an absent webhook
 * causes no churn and a brief gap (a CA the API server had not yet loaded)
 * is repaired in seconds. Outdated pods alone prove the webhook injects:
 * they are restarted at once. */
#define BW_REPAIR_FIRST_WAIT_S 15
#define BW_REPAIR_MAX_WAIT_S   600

struct bw_repair_decision {
	long configured, missed, outdated, stale;
	/* the restart time to put in the pod template and status.podsRestartedAt
	 * (now, when restarting), or NULL; points into the input */
	const char *restarted_at;
	long long restarts;    /* status.podsRestarts: restarts in a row; 0 leaves it out */
	int restart;	       /* restart the pods now (restarted_at is the clock's) */
	long requeue_after_ms; /* look again then (nothing else may wake the Service); 0: no */
	struct bw_rollout_event events[BW_ROLLOUT_EVENTS];
	size_t n_events;
};

/* How long after the n-th restart in a row the next may come, in seconds. */
long long bw_repair_wait_s(long long n);

/* Decides for the pods of a Service; d NULL when it controls no Deployment. */
void bw_repair_decide(const struct bw_repair_input *in, const struct bw_rollout_deployment *d,
		      struct bw_repair_decision *out);

#endif
