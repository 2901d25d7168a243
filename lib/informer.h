/*
 * The informer: a reflector feeding a store, and event handlers told of each
 * change, like client-go's shared informer. The store keeps only what the
 * caller's projection keeps (store.h), and a relist tells the handlers of
 * objects that were added, changed or deleted while the watch was down, and
 * of nothing else. A watch event the store cannot take in (out of memory, a
 * projection that fails) is not dropped: the informer relists at once (after
 * the reflector's short backoff), so the cache is never left wrong until some
 * later relist; the relist's changes reach the handlers as usual.
 *
 * Ownership: bw_informer_new() borrows the client and the handlers' ctx (they
 * must outlive the informer) and copies the options. Items passed to
 * handlers are borrowed for the call: bw_store_item_ref() one to keep it. The
 * store is owned by the informer (bw_informer_store() borrows it); items
 * taken from it stay valid after bw_informer_free().
 * Thread-safety: handlers run on the informer's thread, one at a time, and
 * must not block for long (enqueue a key and return). They are told after
 * the store changed: another thread may see the change in the store before
 * the handlers have run. Everything else may be
 * called from any thread, except add_handlers (before start only) and free.
 */
#ifndef BW_INFORMER_H
#define BW_INFORMER_H

#include "client.h"
#include "reflector.h"
#include "store.h"

#define BW_INFORMER_MAX_HANDLERS 8

struct bw_informer_handlers {
	void (*on_add)(const void *item, void *ctx);
	void (*on_update)(const void *old_item, const void *new_item, void *ctx);
	void (*on_delete)(const void *old_item, void *ctx);
	void *ctx;
};

struct bw_informer_options {
	struct bw_reflector_options watch; /* what to list and watch */
	bw_store_project_fn *project;	   /* required */
	void *project_arg;
	const struct bw_store_index *indexes;
	size_t n_indexes;
};

struct bw_informer;

int bw_informer_new(struct bw_informer **out, struct bw_client *client,
		    const struct bw_informer_options *opts, struct bw_error *err);
/* Stops, joins and frees. */
void bw_informer_free(struct bw_informer *inf);

/* Up to BW_INFORMER_MAX_HANDLERS sets; before bw_informer_start() only. */
int bw_informer_add_handlers(struct bw_informer *inf, const struct bw_informer_handlers *h,
			     struct bw_error *err);

int bw_informer_start(struct bw_informer *inf, struct bw_error *err);
void bw_informer_stop(struct bw_informer *inf);
/* Stops it and waits until its thread has ended, so none of its handlers
 * runs any more. An owner of several informers whose handlers read each
 * other's stores joins them all before freeing any. */
void bw_informer_join(struct bw_informer *inf);

struct bw_store *bw_informer_store(struct bw_informer *inf);
int bw_informer_has_synced(const struct bw_informer *inf);
/* Waits up to timeout_ms for the first complete list; 0 when synced,
 * BW_ETIMEDOUT otherwise. */
int bw_informer_wait_synced(const struct bw_informer *inf, long timeout_ms);
void bw_informer_stats(struct bw_informer *inf, struct bw_reflector_stats *out);

#endif
