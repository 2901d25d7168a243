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
 * it, so drift in the Deployment is put back at once), and the entry is
 * younger than a resync age (drift in the Service or Ingress, which nothing
 * here watches for, is put back within it).
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
 * Ownership: keys are copied. Thread-safety: every call locks; any thread.
 */
#ifndef BW_OPERATOR_APPLIED_H
#define BW_OPERATOR_APPLIED_H

#include <time.h>

#define BW_APPLIED_DIGEST_LEN 32
#define BW_APPLIED_HEX_LEN    (2 * BW_APPLIED_DIGEST_LEN)

struct bw_applied;

struct bw_applied *bw_applied_new(void);
void bw_applied_free(struct bw_applied *memo);

/* 1 when key's last apply had this digest and generation and happened less
 * than max_age_s before now; else 0. */
int bw_applied_same(struct bw_applied *memo, const char *key,
		    const unsigned char digest[BW_APPLIED_DIGEST_LEN], long generation, time_t now,
		    long max_age_s);

/* Records an apply; 0, or BW_ENOMEM (the next reconcile then applies again). */
int bw_applied_record(struct bw_applied *memo, const char *key,
		      const unsigned char digest[BW_APPLIED_DIGEST_LEN], long generation,
		      time_t now);

/* 1 when key has an entry, however old: this process applied it once. */
int bw_applied_known(struct bw_applied *memo, const char *key);

/* The digest as lowercase hex, NUL-terminated: the annotation's value. */
void bw_applied_hex(const unsigned char digest[BW_APPLIED_DIGEST_LEN],
		    char hex[BW_APPLIED_HEX_LEN + 1]);

/* Drops key's entry (the Service is gone). */
void bw_applied_forget(struct bw_applied *memo, const char *key);

/* How many entries there are. */
size_t bw_applied_count(struct bw_applied *memo);

#endif
