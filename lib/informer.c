/* The informer: reflector -> store -> handlers. See informer.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "informer.h"
#include "log.h"

struct bw_informer {
	struct bw_store *store;
	struct bw_reflector *reflector;
	struct bw_informer_handlers handlers[BW_INFORMER_MAX_HANDLERS];
	size_t n_handlers;
	struct bw_store_replace *replace; /* the list being taken in */
	const char *what;		  /* the resource, for messages */
};

static void notify(struct bw_informer *inf, const struct bw_store_change *c)
{
	for (size_t i = 0; i < inf->n_handlers; i++) {
		const struct bw_informer_handlers *h = &inf->handlers[i];

		switch (c->event) {
		case BW_STORE_ADDED:
			if (h->on_add)
				h->on_add(c->new_item, h->ctx);
			break;
		case BW_STORE_UPDATED:
			if (h->on_update)
				h->on_update(c->old_item, c->new_item, h->ctx);
			break;
		case BW_STORE_DELETED:
			if (h->on_delete)
				h->on_delete(c->old_item, h->ctx);
			break;
		default:
			break;
		}
	}
}

static int on_list_begin(void *ctx)
{
	struct bw_informer *inf = ctx;
	struct bw_error err;

	bw_store_replace_abort(inf->replace);
	inf->replace = NULL;
	if (bw_store_replace_begin(inf->store, 0, &inf->replace, &err) != 0) {
		bw_log_error("informer", "%s: %s", inf->what, err.message);
		return err.code;
	}
	return 0;
}

static int on_list_item(json_t *obj, void *ctx)
{
	struct bw_informer *inf = ctx;
	struct bw_error err;
	int ret = bw_store_replace_add(inf->replace, obj, &err);

	if (ret == BW_EINVAL) {
		/* one malformed object must not keep the whole cache from syncing */
		bw_log_warn("informer", "%s: skipping an object: %s", inf->what, err.message);
		return 0;
	}
	if (ret != 0)
		bw_log_error("informer", "%s: %s", inf->what, err.message);
	return ret;
}

static int on_list_end(int complete, const char *rv, void *ctx)
{
	struct bw_informer *inf = ctx;
	struct bw_store_changes changes = {0};
	struct bw_error err;
	int ret;

	(void)rv;
	if (!complete) {
		bw_store_replace_abort(inf->replace);
		inf->replace = NULL;
		return 0;
	}
	ret = bw_store_replace_commit(inf->replace, &changes, &err);
	inf->replace = NULL;
	if (ret != 0) {
		bw_log_error("informer", "%s: %s", inf->what, err.message);
		return ret;
	}
	for (size_t i = 0; i < changes.count; i++)
		notify(inf, &changes.v[i]);
	bw_log_debug("informer",
		     "%s: list taken in: %zu added, %zu updated, %zu deleted, %zu unchanged",
		     inf->what, changes.added, changes.updated, changes.deleted, changes.unchanged);
	bw_store_changes_release(&changes);
	return 0;
}

/* An event the store cannot take in (out of memory, a projection that
 * fails) is refused: dropping it would leave the cache wrong until some
 * later relist, so the reflector relists now. */
static int on_event(enum bw_watch_type type, json_t *obj, void *ctx)
{
	struct bw_informer *inf = ctx;
	struct bw_store_change change = {0};
	struct bw_error err;
	int ret;

	if (type == BW_WATCH_DELETED) {
		json_t *meta = json_object_get(obj, "metadata");
		const char *ns = json_string_value(json_object_get(meta, "namespace"));
		const char *name = json_string_value(json_object_get(meta, "name"));

		if (!name)
			return 0;
		change.old_item = bw_store_delete(inf->store, ns, name);
		if (change.old_item) {
			change.event = BW_STORE_DELETED;
			notify(inf, &change);
		}
		bw_store_change_release(&change);
		return 0;
	}
	ret = bw_store_upsert(inf->store, obj, &change, &err);
	if (ret != 0) {
		bw_log_warn("informer", "%s: %s %s", inf->what, bw_watch_type_name(type),
			    err.message);
		return ret;
	}
	notify(inf, &change);
	bw_store_change_release(&change);
	return 0;
}

int bw_informer_new(struct bw_informer **out, struct bw_client *client,
		    const struct bw_informer_options *opts, struct bw_error *err)
{
	struct bw_reflector_handlers rh = {
	    .list_begin = on_list_begin,
	    .list_item = on_list_item,
	    .list_end = on_list_end,
	    .event = on_event,
	};
	struct bw_informer *inf;
	int ret;

	*out = NULL;
	if (!opts || !opts->project || !opts->watch.resource)
		return bw_error_set(err, BW_EINVAL,
				    "an informer needs a resource and a projection");
	inf = calloc(1, sizeof(*inf));
	if (!inf)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	inf->what = opts->watch.resource->resource;
	ret = bw_store_new(&inf->store, opts->project, opts->project_arg, opts->indexes,
			   opts->n_indexes, err);
	if (ret) {
		goto fail;
	}
	rh.ctx = inf;
	if ((ret = bw_reflector_new(&inf->reflector, client, &opts->watch, &rh, err)) != 0)
		goto fail;
	*out = inf;
	return 0;
fail:
	bw_informer_free(inf);
	return ret;
}

void bw_informer_free(struct bw_informer *inf)
{
	if (!inf)
		return;
	bw_reflector_free(inf->reflector); /* stops and joins first */
	bw_store_replace_abort(inf->replace);
	bw_store_free(inf->store);
	free(inf);
}

int bw_informer_add_handlers(struct bw_informer *inf, const struct bw_informer_handlers *h,
			     struct bw_error *err)
{
	if (inf->n_handlers >= BW_INFORMER_MAX_HANDLERS)
		return bw_error_set(err, BW_EINVAL, "%s informer: more than %d handler sets",
				    inf->what, BW_INFORMER_MAX_HANDLERS);
	inf->handlers[inf->n_handlers++] = *h;
	return 0;
}

int bw_informer_start(struct bw_informer *inf, struct bw_error *err)
{
	return bw_reflector_start(inf->reflector, err);
}

void bw_informer_stop(struct bw_informer *inf)
{
	bw_reflector_stop(inf->reflector);
}

void bw_informer_join(struct bw_informer *inf)
{
	bw_reflector_join(inf->reflector);
}

struct bw_store *bw_informer_store(struct bw_informer *inf)
{
	return inf->store;
}

int bw_informer_has_synced(const struct bw_informer *inf)
{
	return bw_reflector_has_synced(inf->reflector);
}

int bw_informer_wait_synced(const struct bw_informer *inf, long timeout_ms)
{
	int64_t deadline = bw_now_ms() + timeout_ms;
	struct timespec tick = {0, 10 * 1000000L};

	while (!bw_informer_has_synced(inf)) {
		if (bw_now_ms() >= deadline)
			return BW_ETIMEDOUT;
		nanosleep(&tick, NULL);
	}
	return 0;
}

void bw_informer_stats(struct bw_informer *inf, struct bw_reflector_stats *out)
{
	bw_reflector_stats(inf->reflector, out);
}
