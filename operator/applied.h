/*
 * What the service controller last applied for each Service, so that a
 * reconcile with nothing new to say (most of them: every pod and Deployment
 * status change wakes its Service) costs no API request. Server-side apply
 * is idempotent but not free: each one is a round trip and a managed-fields
 * computation in the API server.
 *
 * An entry holds a digest of the objects applied (Deployment, Service,
 * Ingress) and the Deployment's metadata.generation the apply returned. The
 * controller skips applying when the digest is the same, the cached
 * Deployment still has that generation (a spec edit by anyone else bumps
 * it, so drift in the Deployment is put back at once) or an older one (the
 * cache has not seen our apply's watch event yet: applying again would
 * write nothing new, and the event wakes the Service anyway), and the entry
 * is younger than a resync age (drift in the Service or Ingress, which
 * nothing here watches for, is put back within it). The caller passes the
 * generation of a cached Deployment it controls only: one made by someone
 * else starts again at 1.
 *
 * A restart empties the memo, and applying every Service again then cost
 * three requests each (a GET, two applies) for nothing. So the digest also
 * travels on the Deployment, as the annotation breakwater.io/applied: on a
 * Service's first reconcile in a process, a cached Deployment that carries
 * the digest of what would be applied now, and whose image, replicas,
 * paused flag and restart time are the ones to apply, is taken as applied
 * (service_controller.c); drift in any other field that happened while no
 * operator ran is put back at the resync age, as for the Service and
 * Ingress.
 *
 * At the resync age (BW_APPLIED_DUE) the controller reads the three objects
 * and writes only one that bw_applied_covers() finds changed: a converged
 * namespace gets reads, not writes. The core Service and the Ingress carry
 * the digest of themselves in the same annotation, so an image edit, which
 * changes the Deployment alone, leaves them unwritten.
 *
 * A status write is remembered too (bw_applied_status_written()), so that a
 * reconcile on a cache that has not seen it yet waits for its watch event.
 *
 * Ownership: keys are copied. Thread-safety: every call locks; any thread.
 */
#ifndef BW_OPERATOR_APPLIED_H
#define BW_OPERATOR_APPLIED_H

#include <time.h>

#include <jansson.h>

#define BW_APPLIED_DIGEST_LEN 32
#define BW_APPLIED_HEX_LEN    (2 * BW_APPLIED_DIGEST_LEN)
/* The objects of one apply, each with a digest of its own: the Deployment,
 * the core Service, the Ingress, the HTTPRoute (an absent one's is the
 * digest of no bytes). */
#define BW_APPLIED_PARTS 4

struct bw_applied;

struct bw_applied *bw_applied_new(void);
void bw_applied_free(struct bw_applied *memo);

/* 1 when key's last apply had this digest, returned this generation or a
 * later one (the cache is behind our own write), and happened less than
 * max_age_s before now; else 0. */
int bw_applied_same(struct bw_applied *memo, const char *key,
		    const unsigned char digest[BW_APPLIED_DIGEST_LEN], long generation, time_t now,
		    long max_age_s);

/* Records an apply, and with part (or NULL: not known) what each of its
 * objects was applied as; 0, or BW_ENOMEM (the next reconcile then applies
 * again). */
int bw_applied_record(struct bw_applied *memo, const char *key,
		      const unsigned char digest[BW_APPLIED_DIGEST_LEN],
		      const unsigned char part[BW_APPLIED_PARTS][BW_APPLIED_DIGEST_LEN],
		      long generation, time_t now);
/*
 * 1 when key's last apply, less than max_age_s before now, left object i
 * (0..BW_APPLIED_PARTS-1) as part says: written by this process with that
 * digest (or, for the digest of no bytes, made sure absent), or recorded so
 * at a restart from the Deployment's digest of them all. An image edit
 * changes the Deployment alone; the core Service, the Ingress and the
 * HTTPRoute applied moments ago are then neither read nor written. Drift in
 * them (someone deleted or edited an object no informer watches) is put
 * back at the resync age, when this is 0, as for an unchanged Service.
 */
int bw_applied_part_fresh(struct bw_applied *memo, const char *key, int i,
			  const unsigned char part[BW_APPLIED_DIGEST_LEN], time_t now,
			  long max_age_s);

/* 1 when key has an apply recorded, however old: this process applied it once. */
int bw_applied_known(struct bw_applied *memo, const char *key);

/* The digest as lowercase hex, NUL-terminated: the annotation's value. */
void bw_applied_hex(const unsigned char digest[BW_APPLIED_DIGEST_LEN],
		    char hex[BW_APPLIED_HEX_LEN + 1]);

/* Like bw_applied_same(), but tells the two ways of not being the same
 * apart: BW_APPLIED_FRESH (bw_applied_same() would say 1), BW_APPLIED_DUE
 * (same digest and generation, but the resync age has passed: the objects
 * are to be looked at, not written blindly) or BW_APPLIED_NEW (unknown, or
 * something else was applied). */
enum bw_applied_state { BW_APPLIED_NEW, BW_APPLIED_FRESH, BW_APPLIED_DUE };
enum bw_applied_state bw_applied_state(struct bw_applied *memo, const char *key,
				       const unsigned char digest[BW_APPLIED_DIGEST_LEN],
				       long generation, time_t now, long max_age_s);

/*
 * Whether live, an object as the API server returns it, already holds every
 * field of desired, what would be applied, with the same value: then a
 * server-side apply of desired changes nothing the applier sets, and the
 * write can be left out. Objects: each member of desired is in live and
 * covered (live may have more: defaults, status, other managers' fields).
 * Arrays: the same length, element by element covered (an extra element in
 * live is someone's change, and an atomic list would lose it to the apply).
 * Anything else: equal (1 and 1.0 differ, as "1" and 1 do). A member
 * missing from live is covered only by a value the API server leaves out
 * (false, 0, "", null, {} or []: omitempty). Fields the
 * applier no longer sets are not seen here: the caller compares a digest of
 * what was applied last (the breakwater.io/applied annotation) as part of
 * desired. Pure; a NULL live covers only such a value.
 */
int bw_applied_covers(const json_t *live, const json_t *desired);
/* The same, and where not: path (size bytes, cut to fit) gets the place of
 * the first difference, ".spec.ports[0].port", for a debug log. */
int bw_applied_covers_at(const json_t *live, const json_t *desired, char *path, size_t size);

/*
 * A status write of key succeeded, computed from the Service at resourceVersion
 * based_on. Until the cache has the object the write made, it still holds
 * based_on: a reconcile then would decide from a status that is no longer
 * there (its write would be refused, 409, and its events said twice).
 * bw_applied_status_behind() tells that the cache (at resourceVersion cached)
 * is behind such a write: the watch event of the write wakes the Service
 * again. Only for BW_APPLIED_STATUS_WAIT_S seconds after the write: a write
 * the API server found to change nothing makes no new version and no event,
 * and the Service must not wait for it for ever.
 */
#define BW_APPLIED_STATUS_WAIT_S 3
void bw_applied_status_written(struct bw_applied *memo, const char *key, const char *based_on,
			       time_t now);
int bw_applied_status_behind(struct bw_applied *memo, const char *key, const char *cached,
			     time_t now);

/*
 * A rollout moves a Service's counts (replicas, updatedReplicas, ready,
 * available, pods) several times a second, each a status write and its
 * watch event, for no decision anyone takes on them. So a status that
 * differs from the last only in those counts and in its conditions'
 * messages (bw_applied_status_progress_only(), pure) waits until
 * BW_APPLIED_STATUS_HOLD_S have passed since the Service's last status
 * write: bw_applied_status_hold_ms() says how long, 0 when it may be
 * written now. A new generation observed, a condition's status or reason,
 * an image or revision is written at once, with the counts of the moment.
 */
#define BW_APPLIED_STATUS_HOLD_S 2
int bw_applied_status_progress_only(const json_t *old_status, const json_t *new_status);
long bw_applied_status_hold_ms(struct bw_applied *memo, const char *key, time_t now);
/*
 * The revision history (history.c) lists a Service's ControllerRevisions
 * on every spec change and when a rollout completes, to number the new one
 * and prune past the limit. This process is the only writer of them (a
 * lost lease ends it), so what a sync left is known: after a sync, uid's
 * newest revision is newest and it controls count revisions.
 * bw_applied_history_settled() is 1 when a sync of update (current: the
 * last completed one, or NULL) under limit would do nothing by that record:
 * update is already the newest and the others are within the limit. Then
 * the list is left out, the completion of a new Service's first rollout
 * among them. A revision someone deleted by hand is pruned by the next list
 * (its delete finds it gone); a new uid (the Service made again) is unknown.
 */
void bw_applied_history_synced(struct bw_applied *memo, const char *key, const char *uid,
			       const char *newest, long number, long count);
/*
 * A spec change makes a new template, whose revision is new (its name is a
 * hash of it) unless the template comes back (an undo): the next number
 * is then the known newest's + 1, and nothing is pruned while the others
 * stay within limit. bw_applied_history_next() returns that number (and
 * *count, the revisions known) when uid's history is known with its
 * newest's number, update is not that newest, and adding update keeps the
 * others (all but update and current) within limit; else 0: list. The
 * caller creates the revision with a create that cannot update, and lists
 * after all when it exists (the template came back).
 */
long bw_applied_history_next(struct bw_applied *memo, const char *key, const char *uid,
			     const char *update, const char *current, long limit, long *count);
int bw_applied_history_settled(struct bw_applied *memo, const char *key, const char *uid,
			       const char *update, const char *current, long limit);

/* Drops key's entry (the Service is gone). */
void bw_applied_forget(struct bw_applied *memo, const char *key);

/* How many entries there are. */
size_t bw_applied_count(struct bw_applied *memo);

#endif
