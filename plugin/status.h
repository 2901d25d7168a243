/*
 * What `kubectl breakwater status` and `history` show, built from what was
 * read (the Service, the namespace's Breakers, its history) and printed as
 * text for an 80-column terminal or as JSON; and when `status --watch`
 * stops. Pure: no API call here.
 *
 * Ownership: arguments are borrowed; returned json_t are the caller's.
 * Thread-safety: none needed.
 */
#ifndef BW_PLUGIN_STATUS_H
#define BW_PLUGIN_STATUS_H

#include <stdio.h>

#include <jansson.h>

#include "history.h"

/* The status summary (its fields are in docs/plugin.md, "-o json"):
 * namespace, name, generation, observedGeneration, state (Ready, Stalled,
 * InProgress), image, runningImage, paused, restartAt, replicas {desired,
 * current, updated, ready, available}, currentRevision and updateRevision
 * ({name, revision} or null), conditions [{type, status, reason, message}]
 * (Ready, Progressing, Available, Reconciling, Stalled first), breakers
 * {dependencies: [{name, target, mode}], unprotected: [dependency...],
 * self: [{name, mode}]}. breakers is the namespace's Breakers (an array;
 * NULL: none). NULL only when out of memory. */
json_t *bw_plugin_status_summary(const json_t *service, const json_t *breakers,
				 const struct bw_plugin_history *h);

/* The summary as text. */
void bw_plugin_status_print(FILE *out, const json_t *summary);

/* Where a rollout stands, as `kubectl rollout status` judges it: 1 when
 * Ready is True at the Service's generation (done), -1 when Stalled is
 * True at it (failed), 0 while neither. */
int bw_plugin_status_verdict(const json_t *service);

/* The history: [{revision, name, image, changes: [field...], current,
 * update, spec}] oldest first, current/update/spec true for the revision
 * that status.currentRevision, status.updateRevision and the spec name. */
json_t *bw_plugin_history_summary(const json_t *service, const struct bw_plugin_history *h);

/* The history as a table. */
void bw_plugin_history_print(FILE *out, const json_t *summary);

#endif
