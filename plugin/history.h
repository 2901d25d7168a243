/*
 * A Service's history as `kubectl breakwater` reads it: its
 * ControllerRevisions (the layout is in model/revision.h) in revision
 * order, what changed from one to the next, which one the current spec
 * matches, the revision an undo goes back to and the JSON Patch that
 * writes it. Pure: the API calls are plugin/cli.c's.
 *
 * Ownership: a struct bw_plugin_history holds a reference to the list it
 * was read from; its names and templates are borrowed from it until
 * bw_plugin_history_release(). Returned json_t are the caller's.
 * Thread-safety: none needed (one per command).
 */
#ifndef BW_PLUGIN_HISTORY_H
#define BW_PLUGIN_HISTORY_H

#include <stddef.h>

#include <jansson.h>

#include "error.h"
#include "revision.h"

struct bw_plugin_revision {
	long long revision;
	const char *name;	/* metadata.name */
	const json_t *template; /* data.spec */
	char hash[BW_REVISION_HASH_LEN + 1];
};

struct bw_plugin_history {
	struct bw_plugin_revision *items; /* by revision, oldest first */
	size_t n;
	size_t skipped; /* owned by the Service but without data.spec or revision */
	json_t *list;	/* the items it was read from */
	/* the revision whose template is the current spec's, or -1 */
	long spec_index;
};

/* Reads the ControllerRevisions in items (an array, as listed) that the
 * Service (its JSON as read) owns: an ownerReference with its uid. The
 * others are ignored; owned ones without a data.spec object or a positive
 * revision are counted in skipped. BW_EINVAL when service has no uid or
 * items is not an array, BW_ENOMEM. */
int bw_plugin_history_read(struct bw_plugin_history *h, const json_t *service, const json_t *items,
			   struct bw_error *err);
void bw_plugin_history_release(struct bw_plugin_history *h);

/* The index of revision name, or -1. */
long bw_plugin_history_find(const struct bw_plugin_history *h, const char *name);

/* The top-level template fields that differ between revision index and
 * the one before it, sorted, as a new array of strings ([] for the first). */
json_t *bw_plugin_history_changes(const struct bw_plugin_history *h, size_t index);

/* The fields that differ between two templates (either may be NULL: {}). */
json_t *bw_plugin_template_diff(const json_t *a, const json_t *b);

/* The revision an undo goes to: to_revision when it is > 0, else the
 * newest one older than the revision matching the current spec (or the
 * newest of all when no revision matches it: the spec was edited since).
 * *index is set. Errors (BW_ENOTFOUND) name what is missing: no
 * revisions, "revision 7 not found, the Service has 1..4", nothing older
 * than the current one. */
int bw_plugin_undo_target(const struct bw_plugin_history *h, const char *service,
			  long long to_revision, size_t *index, struct bw_error *err);

/* The JSON Patch an undo sends: metadata.resourceVersion set to the one
 * read (the API server then refuses the write with 409 Conflict when the
 * Service changed since: optimistic concurrency) and spec replaced by
 * bw_revision_undo_spec(spec, template). NULL with err set on bad input. */
json_t *bw_plugin_undo_patch(const json_t *service, const json_t *template, struct bw_error *err);

#endif
