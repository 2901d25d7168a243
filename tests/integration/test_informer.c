/*
 * The informer against the real API server:
 *  - it syncs, and sees adds, updates and deletes;
 *  - its watch survives the API server being restarted (etcd data kept):
 *    objects created before, and right after, the restart are each seen
 *    added exactly once, and an update and a delete made after it are seen
 *    once each;
 *  - a watch whose resourceVersion was compacted away gets 410 and relists,
 *    and the relist reports exactly what changed meanwhile;
 *  - an event the store refuses (a projection that fails) makes it relist
 *    at once, and the store converges;
 *  - a metadata-only informer (the operator's pods) gets each object as
 *    PartialObjectMetadata, its labels kept and its body left out, from a
 *    streamed list, a paged list and the watch alike;
 *  - bw_informer_join() returns only once a handler under way has ended, so
 *    an owner whose handlers read another informer's store can join them
 *    all, then free them (the operator's shutdown once freed a store that a
 *    running handler then read).
 */
#include <pthread.h>
#include <stdatomic.h>

#include "informer.h"
#include "itest.h"

static char ns[128];

/* The projection: name, namespace and resourceVersion are kept by the store;
 * the item holds the ConfigMap's data.value. */
struct cm_item {
	const char *value;
};

static void *project_configmap(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const char *value =
	    json_string_value(json_object_get(json_object_get(obj, "data"), "value"));
	struct cm_item *item;

	(void)arg;
	bw_store_pack_reserve_str(pack, value ? value : "");
	item = bw_store_pack_alloc(pack, sizeof(*item));
	if (item)
		item->value = bw_store_pack_str(pack, value ? value : "");
	return item;
}

/* Counts events per object name, so a test can say "exactly once". */
#define MAX_NAMES 64
struct tally {
	pthread_mutex_t lock;
	char names[MAX_NAMES][64];
	int adds[MAX_NAMES], updates[MAX_NAMES], deletes[MAX_NAMES];
	int n;
};

static int *slot(struct tally *t, const char *name, int kind)
{
	int i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->names[i], name) == 0)
			break;
	if (i == t->n && t->n < MAX_NAMES)
		snprintf(t->names[t->n++], sizeof(t->names[0]), "%s", name);
	if (i >= MAX_NAMES)
		i = MAX_NAMES - 1;
	return kind == 0 ? &t->adds[i] : kind == 1 ? &t->updates[i] : &t->deletes[i];
}

static int count_of(struct tally *t, const char *name, int kind)
{
	int v;

	pthread_mutex_lock(&t->lock);
	v = *slot(t, name, kind);
	pthread_mutex_unlock(&t->lock);
	return v;
}

struct wait_told {
	struct tally *t;
	const char *name;
	int kind;
};

static int is_told(void *ctx)
{
	struct wait_told *w = ctx;

	return count_of(w->t, w->name, w->kind) > 0;
}

/* The handlers' count of name's events of a kind, once there is one (up to
 * 10 s): handlers are told after the store changed (informer.h), so a test
 * that saw the store change waits for them before it counts. */
static int told(struct tally *t, const char *name, int kind)
{
	struct wait_told w = {t, name, kind};

	itest_eventually(10000, is_told, &w);
	return count_of(t, name, kind);
}

static void bump(struct tally *t, const void *item, int kind)
{
	pthread_mutex_lock(&t->lock);
	(*slot(t, bw_store_item_name(item), kind))++;
	pthread_mutex_unlock(&t->lock);
}

static void on_add(const void *item, void *ctx)
{
	bump(ctx, item, 0);
}

static void on_update(const void *old_item, const void *new_item, void *ctx)
{
	(void)old_item;
	bump(ctx, new_item, 1);
}

static void on_delete(const void *old_item, void *ctx)
{
	bump(ctx, old_item, 2);
}

static struct bw_informer *start_informer_stall(struct bw_client *c, const struct bw_resource *res,
						struct tally *t, long backoff_max_ms, long stall_ms)
{
	struct bw_informer_options opts = {
	    .watch = {.resource = res,
		      .namespace = ns,
		      .label_selector = "itest=informer",
		      .backoff_max_ms = backoff_max_ms,
		      .stall_timeout_ms = stall_ms},
	    .project = project_configmap,
	};
	struct bw_informer_handlers h = {on_add, on_update, on_delete, t};
	struct bw_informer *inf = NULL;
	struct bw_error err;

	if (bw_informer_new(&inf, c, &opts, &err) || bw_informer_add_handlers(inf, &h, &err) ||
	    bw_informer_start(inf, &err)) {
		printf("not ok - start an informer: %s\n", err.message);
		exit(1);
	}
	return inf;
}

static struct bw_informer *start_informer(struct bw_client *c, const struct bw_resource *res,
					  struct tally *t, long backoff_max_ms)
{
	return start_informer_stall(c, res, t, backoff_max_ms, 0);
}

static int create_cm(struct bw_client *c, const char *name, const char *value)
{
	json_t *cm = itest_configmap(name, "informer", value);
	struct bw_error err;
	int ret = bw_client_create(c, &bw_res_configmaps, ns, cm, NULL, &err);

	if (ret)
		printf("# create %s: %s\n", name, err.message);
	json_decref(cm);
	return ret;
}

static int update_cm(struct bw_client *c, const char *name, const char *value)
{
	json_t *patch = json_pack("{s:{s:s}}", "data", "value", value);
	int ret = bw_client_patch(c, &bw_res_configmaps, ns, name, NULL, BW_PATCH_MERGE, patch,
				  NULL, NULL, NULL);

	json_decref(patch);
	return ret;
}

struct wait_value {
	struct bw_informer *inf;
	const char *name, *value; /* value NULL: wait until absent */
};

static int has_value(void *ctx)
{
	struct wait_value *w = ctx;
	const struct cm_item *item = bw_store_get(bw_informer_store(w->inf), ns, w->name);
	int ok = w->value ? item && strcmp(item->value, w->value) == 0 : item == NULL;

	bw_store_item_put(item);
	return ok;
}

static int wait_value(struct bw_informer *inf, const char *name, const char *value)
{
	struct wait_value w = {inf, name, value};

	return itest_eventually(30000, has_value, &w);
}

static void test_basic(struct bw_client *c)
{
	struct tally t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct bw_informer *inf;

	create_cm(c, "pre-existing", "1");
	inf = start_informer(c, &bw_res_configmaps, &t, 0);
	CHECK_INT(0, bw_informer_wait_synced(inf, 10000), "the informer syncs");
	CHECK_INT(1, count_of(&t, "pre-existing", 0), "the initial list is an add");

	create_cm(c, "fresh", "1");
	CHECK(wait_value(inf, "fresh", "1"), "a created object reaches the store");
	update_cm(c, "fresh", "2");
	CHECK(wait_value(inf, "fresh", "2"), "an update reaches the store");
	bw_client_delete(c, &bw_res_configmaps, ns, "fresh", NULL, NULL);
	CHECK(wait_value(inf, "fresh", NULL), "a delete reaches the store");
	CHECK_INT(1, count_of(&t, "fresh", 0), "one add event");
	CHECK_INT(1, count_of(&t, "fresh", 1), "one update event");
	CHECK_INT(1, told(&t, "fresh", 2), "one delete event");
	CHECK_INT(1, bw_store_count(bw_informer_store(inf)), "the store holds what the server has");
	bw_informer_free(inf);
	bw_client_delete(c, &bw_res_configmaps, ns, "pre-existing", NULL, NULL);
}

static void test_apiserver_restart(struct bw_client *c)
{
	struct tally t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct bw_reflector_stats st;
	struct bw_informer *inf;
	char name[32];
	int ok = 1;

	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "before-%d", i);
		ok &= create_cm(c, name, "1") == 0;
	}
	/* a short backoff cap keeps the test quick; the default is 30 s */
	inf = start_informer(c, &bw_res_configmaps, &t, 2000);
	CHECK_INT(0, bw_informer_wait_synced(inf, 10000), "synced before the restart");
	CHECK(ok, "10 objects created before the restart");

	CHECK_INT(0, itest_cluster("restart kube-apiserver"), "the API server is restarted");
	/* Written as soon as the server answers: most likely before the
	 * informer's backed-off watch is back, so only a resumed watch or a
	 * relist can deliver them. */
	ok = 1;
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "after-%d", i);
		ok &= create_cm(c, name, "1") == 0;
	}
	ok &= update_cm(c, "before-3", "2") == 0;
	ok &= bw_client_delete(c, &bw_res_configmaps, ns, "before-4", NULL, NULL) == 0;
	CHECK(ok, "10 creates, an update and a delete right after the restart");

	CHECK(wait_value(inf, "after-9", "1"), "objects created after the restart are seen");
	CHECK(wait_value(inf, "before-3", "2"), "the update is seen");
	CHECK(wait_value(inf, "before-4", NULL), "the delete is seen");
	itest_sleep_ms(1500); /* room for a duplicate to show up, if there were one */

	ok = 1;
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "before-%d", i);
		if (count_of(&t, name, 0) != 1) {
			printf("# %s: %d adds\n", name, count_of(&t, name, 0));
			ok = 0;
		}
		snprintf(name, sizeof(name), "after-%d", i);
		if (count_of(&t, name, 0) != 1) {
			printf("# %s: %d adds\n", name, count_of(&t, name, 0));
			ok = 0;
		}
	}
	CHECK(ok, "every object was added exactly once: none missed, none repeated");
	CHECK_INT(1, count_of(&t, "before-3", 1), "the update was seen exactly once");
	CHECK_INT(0, count_of(&t, "before-5", 1), "an untouched object saw no update");
	CHECK_INT(1, count_of(&t, "before-4", 2), "the delete was seen exactly once");
	CHECK_INT(19, bw_store_count(bw_informer_store(inf)), "the store holds the 19 objects");
	bw_informer_stats(inf, &st);
	CHECK(st.watches >= 2, "the watch was re-established (%llu watches, %llu lists)",
	      (unsigned long long)st.watches, (unsigned long long)st.lists);
	bw_informer_free(inf);
}

static int stalled_twice(void *ctx)
{
	struct bw_reflector_stats st;

	bw_informer_stats(ctx, &st);
	return st.stalls >= 2;
}

/* A watch that stays silent (no event, no bookmark) for the stall timeout is
 * restarted, and events still flow afterwards. */
static void test_stall(struct bw_client *c)
{
	struct tally t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct bw_reflector_stats st;
	struct bw_informer *inf;

	inf = start_informer_stall(c, &bw_res_configmaps, &t, 2000, 1000);
	CHECK_INT(0, bw_informer_wait_synced(inf, 10000),
		  "an informer with a 1 s stall timeout syncs");
	CHECK(itest_eventually(10000, stalled_twice, inf), "its silent watch is restarted, twice");
	create_cm(c, "after-stall", "1");
	CHECK(wait_value(inf, "after-stall", "1"), "events still arrive after the restarts");
	CHECK_INT(1, told(&t, "after-stall", 0), "exactly once");
	bw_informer_stats(inf, &st);
	CHECK(st.lists == 1, "restarting a stalled watch needs no relist (%llu lists)",
	      (unsigned long long)st.lists);
	bw_informer_free(inf);
}

static const struct bw_resource podtemplates = {"", "v1", "podtemplates", "PodTemplate", 1};

static int create_podtemplate(struct bw_client *c, const char *name)
{
	json_t *pt = json_pack("{s:s, s:s, s:{s:s, s:{s:s}}, s:{s:{s:[{s:s, s:s}]}}}", "apiVersion",
			       "v1", "kind", "PodTemplate", "metadata", "name", name, "labels",
			       "itest", "informer", "template", "spec", "containers", "name", "c",
			       "image", "registry.local/x:1");
	struct bw_error err;
	int ret = bw_client_create(c, &podtemplates, ns, pt, NULL, &err);

	if (ret)
		printf("# create podtemplate %s: %s\n", name, err.message);
	json_decref(pt);
	return ret;
}

/* What a metadata-only informer got of a PodTemplate: its kind, whether the
 * body came too, and its itest label. */
struct meta_item {
	const char *kind, *label;
	int has_body;
};

static void *project_meta(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const char *label = json_string_value(
	    json_object_get(json_object_get(json_object_get(obj, "metadata"), "labels"), "itest"));
	struct meta_item *item;

	(void)arg;
	bw_store_pack_reserve_str(pack, kind ? kind : "");
	bw_store_pack_reserve_str(pack, label ? label : "");
	item = bw_store_pack_alloc(pack, sizeof(*item));
	if (item) {
		item->kind = bw_store_pack_str(pack, kind ? kind : "");
		item->label = bw_store_pack_str(pack, label ? label : "");
		item->has_body = json_object_get(obj, "template") != NULL;
	}
	return item;
}

struct meta_wait {
	struct bw_informer *inf;
	const char *name;
};

static int meta_present(void *ctx)
{
	struct meta_wait *w = ctx;
	const void *item = bw_store_get(bw_informer_store(w->inf), ns, w->name);

	bw_store_item_put(item);
	return item != NULL;
}

static void check_meta_item(struct bw_informer *inf, const char *name, const char *how)
{
	const struct meta_item *m = bw_store_get(bw_informer_store(inf), ns, name);

	CHECK(m && strcmp(m->kind, "PartialObjectMetadata") == 0,
	      "%s: a PartialObjectMetadata (%s)", how, m ? m->kind : "absent");
	CHECK(m && strcmp(m->label, "informer") == 0, "%s: its labels kept", how);
	CHECK(m && !m->has_body, "%s: its template left out", how);
	bw_store_item_put(m);
}

static void test_metadata_only(struct bw_client *c)
{
	for (int paged = 0; paged < 2; paged++) {
		char listed[64], watched[64];
		struct bw_informer_options opts = {
		    .watch = {.resource = &podtemplates,
			      .namespace = ns,
			      .label_selector = "itest=informer",
			      .metadata_only = 1,
			      .paged_lists = paged},
		    .project = project_meta,
		};
		struct bw_informer *inf = NULL;
		struct bw_error err;
		struct meta_wait w;

		snprintf(listed, sizeof(listed), "meta-listed-%d", paged);
		snprintf(watched, sizeof(watched), "meta-watched-%d", paged);
		create_podtemplate(c, listed);
		if (bw_informer_new(&inf, c, &opts, &err) || bw_informer_start(inf, &err)) {
			printf("not ok - start a metadata-only informer: %s\n", err.message);
			exit(1);
		}
		CHECK_INT(0, bw_informer_wait_synced(inf, 10000), "a metadata-only informer syncs");
		check_meta_item(inf, listed, paged ? "a paged list" : "a streamed list");
		create_podtemplate(c, watched);
		w = (struct meta_wait){inf, watched};
		CHECK(itest_eventually(30000, meta_present, &w), "a created object is watched");
		check_meta_item(inf, watched, "the watch");
		bw_informer_free(inf);
		bw_client_delete(c, &podtemplates, ns, listed, NULL, NULL);
		bw_client_delete(c, &podtemplates, ns, watched, NULL, NULL);
	}
}

/* A projection that fails once when armed, for objects whose value starts
 * with "fail": an item over the store's 16 MiB cap (BW_ETOOBIG), as an
 * allocation failure would (BW_ENOMEM). */
static atomic_int fail_armed;

static void *project_flaky(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const char *value =
	    json_string_value(json_object_get(json_object_get(obj, "data"), "value"));
	int armed = 1;

	if (value && strncmp(value, "fail", 4) == 0 &&
	    atomic_compare_exchange_strong(&fail_armed, &armed, 0)) {
		bw_store_pack_alloc(pack, (size_t)1 << 25);
		return NULL;
	}
	return project_configmap(pack, obj, arg);
}

static uint64_t lists_of(struct bw_informer *inf)
{
	struct bw_reflector_stats st;

	bw_informer_stats(inf, &st);
	return st.lists;
}

/* What a handler sees of the counters while it is told of an update: a
 * reader who sees the store changed must see the list that changed it
 * counted (CI once saw the store first, the count after). */
struct lists_seen {
	struct bw_informer *inf;
	_Atomic uint64_t lists;
};

static void note_lists(const void *old_item, const void *new_item, void *ctx)
{
	struct lists_seen *seen = ctx;

	(void)old_item;
	(void)new_item;
	atomic_store(&seen->lists, lists_of(seen->inf));
}

/* An event the store refuses is not dropped until some later relist: the
 * informer relists at once and the store converges. */
static void test_store_failure(struct bw_client *c)
{
	struct tally t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct lists_seen seen = {0};
	struct bw_informer_handlers watcher = {NULL, note_lists, NULL, &seen};
	struct bw_informer_options opts = {
	    .watch = {.resource = &bw_res_configmaps,
		      .namespace = ns,
		      .label_selector = "itest=informer",
		      .backoff_max_ms = 2000},
	    .project = project_flaky,
	};
	struct bw_informer_handlers h = {on_add, on_update, on_delete, &t};
	struct bw_informer *inf = NULL;
	struct bw_error err;
	uint64_t lists;

	create_cm(c, "flaky", "v1");
	if (bw_informer_new(&inf, c, &opts, &err)) {
		printf("not ok - create an informer: %s\n", err.message);
		exit(1);
	}
	seen.inf = inf;
	/* the watcher first: once the tally shows the update, it has run */
	if (bw_informer_add_handlers(inf, &watcher, &err) ||
	    bw_informer_add_handlers(inf, &h, &err) || bw_informer_start(inf, &err)) {
		printf("not ok - start an informer: %s\n", err.message);
		exit(1);
	}
	CHECK_INT(0, bw_informer_wait_synced(inf, 10000), "a flaky-projection informer syncs");
	lists = lists_of(inf);

	atomic_store(&fail_armed, 1);
	update_cm(c, "flaky", "fail-v2");
	CHECK(wait_value(inf, "flaky", "fail-v2"),
	      "an update the store refused once still reaches the store");
	CHECK(atomic_load(&fail_armed) == 0, "the projection did fail once");
	CHECK(lists_of(inf) > lists, "through a relist (%llu lists, %llu before)",
	      (unsigned long long)lists_of(inf), (unsigned long long)lists);
	CHECK_INT(1, told(&t, "flaky", 1), "the handlers were told of the update once");
	CHECK(atomic_load(&seen.lists) > lists,
	      "a handler told of the update sees the relist counted (%llu lists, %llu before)",
	      (unsigned long long)atomic_load(&seen.lists), (unsigned long long)lists);

	lists = lists_of(inf);
	atomic_store(&fail_armed, 1);
	create_cm(c, "flaky-new", "fail-new");
	CHECK(wait_value(inf, "flaky-new", "fail-new"),
	      "an object whose add the store refused once still reaches the store");
	CHECK(lists_of(inf) > lists, "through a relist");
	CHECK_INT(1, told(&t, "flaky-new", 0), "the handlers were told of the add once");
	CHECK_INT(2, bw_store_count(bw_informer_store(inf)), "the store holds what the server has");
	bw_informer_free(inf);
	bw_client_delete(c, &bw_res_configmaps, ns, "flaky", NULL, NULL);
	bw_client_delete(c, &bw_res_configmaps, ns, "flaky-new", NULL, NULL);
}

static int relisted_after_gone(void *ctx)
{
	struct bw_reflector_stats st;

	bw_informer_stats(ctx, &st);
	return st.relists_gone >= 1 && st.lists >= 2;
}

/* Pod templates are served without the API server's watch cache in the local
 * cluster (--watch-cache-sizes podtemplates#0), so a watch goes to etcd and
 * a compacted resourceVersion is answered with 410 Gone. */
static void test_compacted(struct bw_client *c)
{
	struct tally t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct bw_reflector_stats st;
	struct bw_informer *inf;

	create_podtemplate(c, "kept");
	create_podtemplate(c, "doomed");
	inf = start_informer(c, &podtemplates, &t, 2000);
	CHECK_INT(0, bw_informer_wait_synced(inf, 10000), "a pod-template informer syncs");

	/* History moves on (a write the informer does not watch), then, with
	 * the API server down and the watch broken, it is compacted past the
	 * informer's resourceVersion. */
	create_cm(c, "revision-bump", "1");
	CHECK_INT(0, itest_cluster("stop kube-apiserver"), "the API server is stopped");
	CHECK_INT(0, itest_cluster("compact"), "etcd is compacted");
	CHECK_INT(0, itest_cluster("start kube-apiserver"), "the API server is started");
	create_podtemplate(c, "born-later");
	bw_client_delete(c, &podtemplates, ns, "doomed", NULL, NULL);

	CHECK(itest_eventually(30000, relisted_after_gone, inf), "the watch got 410 and relisted");
	CHECK(wait_value(inf, "doomed", NULL), "the relist removed the object deleted meanwhile");
	CHECK_INT(1, told(&t, "doomed", 2), "and told the handlers once");
	CHECK_INT(1, told(&t, "born-later", 0), "the object created meanwhile was added once");
	CHECK_INT(1, count_of(&t, "kept", 0), "the untouched object was not added again");
	CHECK_INT(0, count_of(&t, "kept", 1), "nor updated");
	bw_informer_stats(inf, &st);
	printf("# pod templates: %llu lists, %llu relists on 410, %llu watches\n",
	       (unsigned long long)st.lists, (unsigned long long)st.relists_gone,
	       (unsigned long long)st.watches);
	bw_informer_free(inf);
}

/* A handler that reads another informer's store, slowly, as the operator's
 * pod handler looks up its Breakers. */
struct slow_reader {
	struct bw_informer *other;
	atomic_int entered, finished, reads;
};

static void on_add_slow(const void *item, void *ctx)
{
	struct slow_reader *r = ctx;
	const void *found;

	if (strcmp(bw_store_item_name(item), "slow-trigger") != 0)
		return;
	atomic_store(&r->entered, 1);
	itest_sleep_ms(500);
	/* under ASan, a read of a freed store here is a heap-use-after-free */
	found = bw_store_get(bw_informer_store(r->other), ns, "pre-existing-other");
	atomic_fetch_add(&r->reads, found != NULL);
	bw_store_item_put(found);
	atomic_store(&r->finished, 1);
}

static int slow_entered(void *ctx)
{
	return atomic_load(&((struct slow_reader *)ctx)->entered);
}

static void test_join_waits_for_handlers(struct bw_client *c)
{
	struct tally t = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct slow_reader r = {0};
	struct bw_informer_options opts = {
	    .watch = {.resource = &bw_res_configmaps,
		      .namespace = ns,
		      .label_selector = "itest=informer"},
	    .project = project_configmap,
	};
	struct bw_informer_handlers h = {on_add_slow, NULL, NULL, &r};
	struct bw_informer *inf = NULL;
	struct bw_error err;

	create_cm(c, "pre-existing-other", "1");
	r.other = start_informer(c, &bw_res_configmaps, &t, 0);
	CHECK_INT(0, bw_informer_wait_synced(r.other, 10000), "the informer read from syncs");
	if (bw_informer_new(&inf, c, &opts, &err) || bw_informer_add_handlers(inf, &h, &err) ||
	    bw_informer_start(inf, &err)) {
		printf("not ok - start an informer: %s\n", err.message);
		exit(1);
	}
	CHECK_INT(0, bw_informer_wait_synced(inf, 10000), "the slow-handler informer syncs");
	create_cm(c, "slow-trigger", "1");
	CHECK(itest_eventually(30000, slow_entered, &r), "its handler is under way");

	/* the operator's shutdown: join every informer, then free them */
	bw_informer_join(inf);
	CHECK(atomic_load(&r.finished), "bw_informer_join returned only after the handler ended");
	bw_informer_join(r.other);
	bw_informer_free(r.other);
	bw_informer_free(inf);
	CHECK_INT(1, atomic_load(&r.reads), "the handler read the other store while it existed");
	bw_client_delete(c, &bw_res_configmaps, ns, "slow-trigger", NULL, NULL);
	bw_client_delete(c, &bw_res_configmaps, ns, "pre-existing-other", NULL, NULL);
}

int main(void)
{
	struct bw_client *c;

	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	c = itest_client();
	if (itest_namespace(c, "informer", ns, sizeof(ns)) != 0)
		return 1;
	test_basic(c);
	test_metadata_only(c);
	test_store_failure(c);
	test_join_waits_for_handlers(c);
	/* the tsan suite skips the two restarts of the API server: they take
	 * most of the run and the ASan run covers them. The restart comes
	 * before the stall, whose object it would count. */
	if (getenv("BREAKWATER_SKIP_RESTARTS"))
		printf("# BREAKWATER_SKIP_RESTARTS: the API server restarts are skipped\n");
	else
		test_apiserver_restart(c);
	test_stall(c);
	if (!getenv("BREAKWATER_SKIP_RESTARTS"))
		test_compacted(c);
	itest_delete_namespace(c, ns);
	bw_client_free(c);
	return check_exit();
}
