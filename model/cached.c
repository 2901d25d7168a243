/* The cached items of breakwater's resources and their projections: see cached.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cached.h"
#include "confighash.h"
#include "deflate.h"
#include "registry.h"

const struct bw_resource bw_res_bw_services = {BW_API_GROUP, BW_API_VERSION_ONLY,
					       BW_PLURAL_SERVICES, BW_KIND_SERVICE, 1};
const struct bw_resource bw_res_bw_breakers = {BW_API_GROUP, BW_API_VERSION_ONLY,
					       BW_PLURAL_BREAKERS, BW_KIND_BREAKER, 1};

static const char *str_or_empty(const char *s)
{
	return s ? s : "";
}

/* "namespace/name" in a new string (free()), or NULL. */
static char *join_key(const char *ns, const char *name)
{
	size_t size = strlen(ns) + strlen(name) + 2;
	char *key = malloc(size);

	if (key)
		snprintf(key, size, "%s/%s", ns, name);
	return key;
}

/* The dictionary the cached texts are deflated against: a converged
 * Service as the API server returns it (keys in its order), its spec with
 * the fields most Services set, its status as the operator writes it. What
 * a text shares with it costs a few bits a match; a Breaker shares the
 * envelope. Changing it changes nothing outside this process's memory. */
static const char dictionary_text[] =
    "{\"apiVersion\":\"breakwater.io/v1alpha1\",\"kind\":\"Service\","
    "\"metadata\":{\"creationTimestamp\":\"2026-01-01T00:00:00Z\",\"generation\":1,"
    "\"name\":\"orders\",\"namespace\":\"shop\",\"resourceVersion\":\"100000\","
    "\"uid\":\"00000000-0000-4000-8000-000000000000\"},"
    "\"spec\":{\"configRollout\":\"Enabled\",\"dependsOn\":[\"payments\"],"
    "\"env\":[{\"name\":\"DJANGO_SETTINGS_MODULE\",\"value\":\"orders.settings\"}],"
    "\"healthCheck\":{\"failureThreshold\":3,\"initialDelaySeconds\":0,"
    "\"path\":\"/health/\",\"periodSeconds\":10,\"timeoutSeconds\":1},"
    "\"image\":\"registry.local/shop/orders:v1\",\"paused\":false,"
    "\"podSecurityContext\":{\"fsGroup\":10001,\"runAsNonRoot\":true,"
    "\"runAsUser\":10001,\"seccompProfile\":{\"type\":\"RuntimeDefault\"}},"
    "\"port\":8080,\"replicas\":1,\"resources\":{\"limits\":{\"memory\":\"256Mi\"},"
    "\"requests\":{\"cpu\":\"100m\",\"memory\":\"128Mi\"}},\"revisionHistoryLimit\":10,"
    "\"rollout\":{\"autoRollback\":true,\"maxSurge\":\"25%\",\"maxUnavailable\":0,"
    "\"progressDeadlineSeconds\":600},\"route\":{\"host\":\"shop.example\","
    "\"pathPrefix\":\"/orders\"},"
    "\"securityContext\":{\"allowPrivilegeEscalation\":false,"
    "\"capabilities\":{\"drop\":[\"ALL\"]},\"readOnlyRootFilesystem\":true}},"
    "\"status\":{\"availableReplicas\":1,"
    "\"conditions\":[{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
    "\"message\":\"1 of 1 replicas run registry.local/shop/orders:v1 and are available\","
    "\"observedGeneration\":1,\"reason\":\"RolloutComplete\",\"status\":\"True\","
    "\"type\":\"Ready\"},{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
    "\"message\":\"the last rollout completed\",\"observedGeneration\":1,"
    "\"reason\":\"RolloutComplete\",\"status\":\"True\",\"type\":\"Progressing\"},"
    "{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
    "\"message\":\"1 of 1 replicas available\",\"observedGeneration\":1,"
    "\"reason\":\"MinimumReplicasAvailable\",\"status\":\"True\","
    "\"type\":\"Available\"},{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
    "\"message\":\"the spec is rolled out\",\"observedGeneration\":1,"
    "\"reason\":\"RolloutComplete\",\"status\":\"False\",\"type\":\"Reconciling\"},"
    "{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
    "\"message\":\"nothing stands in the way of the spec\",\"observedGeneration\":1,"
    "\"reason\":\"RolloutComplete\",\"status\":\"False\",\"type\":\"Stalled\"},"
    "{\"lastTransitionTime\":\"2026-01-01T00:00:00Z\","
    "\"message\":\"0 of 0 dependencies exist\",\"observedGeneration\":1,"
    "\"reason\":\"NoDependencies\",\"status\":\"True\","
    "\"type\":\"DependenciesResolved\"}],\"currentRevision\":\"orders-0000000000\","
    "\"image\":\"registry.local/shop/orders:v1\",\"observedGeneration\":1,"
    "\"pods\":{\"configured\":1,\"stale\":0},\"readyReplicas\":1,\"replicas\":1,"
    "\"selector\":\"breakwater.io/service=orders\","
    "\"updateRevision\":\"orders-0000000000\",\"updatedReplicas\":1,"
    "\"url\":\"http://orders.shop.svc.cluster.local:8080\"}}";
static const struct bw_deflate_dict dictionary = {dictionary_text, sizeof(dictionary_text) - 1};

/* Custom resources are kept whole but compact: the reconcilers need every
 * field of the spec and the status they wrote. The text, without
 * managedFields and the last-applied annotation; NULL when out of memory. */
static char *compact_text(const json_t *obj)
{
	json_t *copy = json_copy((json_t *)obj), *meta = NULL, *ann;
	char *text;

	if (!copy)
		return NULL;
	meta = json_copy(json_object_get(copy, "metadata"));
	if (meta) {
		json_object_del(meta, "managedFields");
		ann = json_copy(json_object_get(meta, "annotations"));
		if (ann) {
			json_object_del(ann, "kubectl.kubernetes.io/last-applied-configuration");
			json_object_set_new(meta, "annotations", ann);
		}
		json_object_set_new(copy, "metadata", meta);
	}
	text = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	return text;
}

/* An object's text deflated, before it is packed into its item. */
struct packed_text {
	unsigned char *bytes;
	size_t size, len;
};

/* obj's compact text, deflated; 0, or BW_ENOMEM or BW_ETOOBIG. */
static int packed_text_make(const json_t *obj, struct packed_text *t)
{
	char *text = compact_text(obj);
	int ret;

	*t = (struct packed_text){0};
	if (!text)
		return BW_ENOMEM;
	t->len = strlen(text);
	ret = bw_deflate_text(text, t->len, &dictionary, &t->bytes, &t->size);
	free(text);
	return ret;
}

/* Copies the packed text into the item's room, reserved before with
 * bw_store_pack_reserve(pack, t->size). */
static void packed_text_store(struct bw_store_pack *pack, struct bw_cached_object *o,
			      const struct packed_text *t)
{
	unsigned char *bytes = bw_store_pack_mem(pack, t->size);

	if (bytes)
		memcpy(bytes, t->bytes, t->size);
	o->text = bytes;
	o->text_size = (unsigned)t->size;
	o->text_len = (unsigned)t->len;
}

void *bw_project_breaker(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	struct bw_cached_breaker *item = NULL;
	struct bw_breaker_view v;
	struct packed_text text;

	(void)arg;
	if (packed_text_make(obj, &text) != 0)
		return NULL;
	bw_breaker_view_read(obj, &v);
	bw_store_pack_reserve(pack, text.size);
	bw_store_pack_reserve_str(pack, v.ns);
	bw_store_pack_reserve_str(pack, v.name);
	bw_store_pack_reserve_str(pack, v.created);
	bw_store_pack_reserve_str(pack, v.target);
	item = bw_store_pack_alloc(pack, sizeof(*item));
	if (item) {
		packed_text_store(pack, &item->object, &text);
		item->object.generation = (long)json_integer_value(
		    json_object_get(json_object_get(obj, "metadata"), "generation"));
		item->view = v;
		item->view.ns = bw_store_pack_str(pack, v.ns);
		item->view.name = bw_store_pack_str(pack, v.name);
		item->view.created = bw_store_pack_str(pack, v.created);
		item->view.target = bw_store_pack_str(pack, v.target);
	}
	free(text.bytes);
	return item;
}

/* Reserves the view's strings and its dependsOn array. */
static void reserve_view(struct bw_store_pack *pack, const struct bw_service_view *v)
{
	bw_store_pack_reserve_str(pack, v->ns);
	bw_store_pack_reserve_str(pack, v->name);
	bw_store_pack_reserve_str(pack, v->created);
	bw_store_pack_reserve_str(pack, v->route_host);
	bw_store_pack_reserve_str(pack, v->route_path);
	if (v->n_depends_on)
		bw_store_pack_reserve(pack, v->n_depends_on * sizeof(char *));
	for (size_t i = 0; i < v->n_depends_on; i++)
		bw_store_pack_reserve_str(pack, v->depends_on[i]);
}

/* Copies the view into the packed item: every string into the reserved room. */
static void pack_view(struct bw_store_pack *pack, struct bw_service_view *to,
		      const struct bw_service_view *v)
{
	const char **deps =
	    v->n_depends_on ? bw_store_pack_mem(pack, v->n_depends_on * sizeof(char *)) : NULL;

	*to = *v;
	to->ns = bw_store_pack_str(pack, v->ns);
	to->name = bw_store_pack_str(pack, v->name);
	to->created = bw_store_pack_str(pack, v->created);
	to->route_host = bw_store_pack_str(pack, v->route_host);
	to->route_path = bw_store_pack_str(pack, v->route_path);
	for (size_t i = 0; deps && i < v->n_depends_on; i++)
		deps[i] = bw_store_pack_str(pack, v->depends_on[i]);
	to->depends_on = deps;
	to->n_depends_on = deps ? v->n_depends_on : 0;
}

/* --- config rollouts (confighash.h): the Services a ConfigMap or Secret
 * change wakes --- */

/* The by-config index values of spec (a Service's, in ns), NULL-terminated
 * in *out, *n of them; past BW_STORE_INDEX_MAX one more, "namespace/ *"
 * without the space, which the index then holds instead. None when config
 * rollouts are disabled: nothing to wake. 0, or -1 out of memory. */
static int config_keys(const char *ns, const json_t *spec, char ***out, size_t *n)
{
	struct bw_config_refs refs;
	char **keys = NULL, name[400];
	size_t i;

	*out = NULL;
	*n = 0;
	if (!ns || !bw_config_rollout_enabled(spec))
		return 0;
	if (bw_config_refs_of(spec, &refs) != 0 || !(keys = calloc(refs.n + 2, sizeof(*keys))))
		goto fail;
	for (i = 0; i < refs.n; i++) {
		snprintf(name, sizeof(name), "%s/%s", bw_config_kind_name(refs.v[i].kind),
			 refs.v[i].name);
		if (!(keys[i] = join_key(ns, name)))
			goto fail;
	}
	if (refs.n > BW_STORE_INDEX_MAX && !(keys[refs.n] = join_key(ns, "*")))
		goto fail;
	*n = refs.n;
	*out = keys;
	bw_config_refs_release(&refs);
	return 0;
fail:
	for (i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
	bw_config_refs_release(&refs);
	return -1;
}

/* Packs keys (config_keys) into the item, after bw_store_pack_alloc. */
static void pack_config_keys(struct bw_store_pack *pack, struct bw_cached_service *item,
			     char **keys, size_t n)
{
	size_t slots = n > BW_STORE_INDEX_MAX ? n + 1 : n;
	const char **packed = slots ? bw_store_pack_mem(pack, slots * sizeof(char *)) : NULL;

	for (size_t i = 0; packed && i < slots; i++)
		packed[i] = bw_store_pack_str(pack, keys[i]);
	item->config_keys = packed;
	item->n_config = packed ? n : 0;
}

static void reserve_config_keys(struct bw_store_pack *pack, char **keys, size_t n)
{
	size_t slots = n > BW_STORE_INDEX_MAX ? n + 1 : n;

	bw_store_pack_reserve(pack, slots * sizeof(char *));
	for (size_t i = 0; i < slots; i++)
		bw_store_pack_reserve_str(pack, keys[i]);
}

static void free_config_keys(char **keys)
{
	for (size_t i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
}

size_t bw_index_config(const void *item, const char **values, size_t max, void *arg)
{
	const struct bw_cached_service *o = item;
	size_t i;

	(void)arg;
	if (o->n_config > max) { /* one value stands for all: "namespace/ *" */
		values[0] = o->config_keys[o->n_config];
		return max > 0 ? 1 : 0;
	}
	for (i = 0; i < o->n_config; i++)
		values[i] = o->config_keys[i];
	return i;
}

void *bw_project_config(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	char digest[BW_CONFIG_DIGEST_LEN + 1];
	struct bw_cached_config *c;

	(void)arg;
	if (bw_config_digest(obj, digest) != 0)
		return NULL;
	c = bw_store_pack_alloc(pack, sizeof(*c));
	if (c)
		memcpy(c->digest, digest, sizeof(digest));
	return c;
}

void *bw_project_service(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *meta = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec"),
		     *replicas;
	const char *ns = json_string_value(json_object_get(meta, "namespace"));
	const char *image = str_or_empty(json_string_value(json_object_get(spec, "image")));
	struct bw_cached_service *item = NULL;
	struct bw_service_view v = {0};
	struct packed_text text = {0};
	char *entry_text = NULL, **keys = NULL, **ckeys = NULL;
	size_t n_config = 0;
	const char **packed;
	json_t *entry = NULL;
	size_t i, n = 0, slots;

	(void)arg;
	if (packed_text_make(obj, &text) != 0 || bw_service_view_read(obj, &v) != 0)
		goto out;
	if (ns && bw_registry_service_entry(obj, ns, &entry, NULL) == 0 && entry)
		entry_text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(entry);
	keys = calloc(v.n_depends_on + 2, sizeof(*keys)); /* the "*" key, a NULL */
	if (!keys)
		goto out;
	for (i = 0; i < v.n_depends_on; i++) {
		if (v.depends_on[i] && ns && !(keys[n++] = join_key(ns, v.depends_on[i])))
			goto out;
	}
	if (n > BW_STORE_INDEX_MAX && !(keys[n] = join_key(ns, "*")))
		goto out;
	slots = n > BW_STORE_INDEX_MAX ? n + 1 : n;
	if (config_keys(ns, spec, &ckeys, &n_config) != 0)
		goto out;
	reserve_config_keys(pack, ckeys, n_config);
	bw_store_pack_reserve(pack, text.size);
	bw_store_pack_reserve_str(pack, entry_text);
	bw_store_pack_reserve_str(pack, image);
	reserve_view(pack, &v);
	bw_store_pack_reserve(pack, slots * sizeof(char *));
	for (i = 0; i < slots; i++)
		bw_store_pack_reserve_str(pack, keys[i]);
	item = bw_store_pack_alloc(pack, sizeof(*item));
	if (!item)
		goto out;
	packed_text_store(pack, &item->object, &text);
	item->object.generation = (long)json_integer_value(json_object_get(meta, "generation"));
	pack_view(pack, &item->view, &v);
	item->image = bw_store_pack_str(pack, image);
	replicas = json_object_get(spec, "replicas");
	item->replicas = replicas ? (long)json_integer_value(replicas) : 1;
	item->registry_entry = bw_store_pack_str(pack, entry_text);
	packed = slots ? bw_store_pack_mem(pack, slots * sizeof(char *)) : NULL;
	for (i = 0; packed && i < slots; i++)
		packed[i] = bw_store_pack_str(pack, keys[i]);
	item->dependency_keys = packed;
	item->n_dependencies = n;
	pack_config_keys(pack, item, ckeys, n_config);
out:
	free_config_keys(ckeys);
	for (i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
	bw_service_view_release(&v);
	free(entry_text);
	free(text.bytes);
	return item;
}

size_t bw_index_dependency(const void *item, const char **values, size_t max, void *arg)
{
	const struct bw_cached_service *o = item;
	size_t i;

	(void)arg;
	if (o->n_dependencies > max) { /* one value stands for all: "namespace/ *" */
		values[0] = o->dependency_keys[o->n_dependencies];
		return max > 0 ? 1 : 0;
	}
	for (i = 0; i < o->n_dependencies; i++)
		values[i] = o->dependency_keys[i];
	return i;
}

size_t bw_index_service(const void *item, const char **values, size_t max, void *arg)
{
	const struct bw_cached_pod *p = item;

	(void)arg;
	if (max == 0)
		return 0;
	values[0] = p->service_key;
	return 1;
}

json_t *bw_cached_object_parse(const struct bw_cached_object *item)
{
	char *text;
	json_t *obj;

	if (!item || !item->text)
		return NULL;
	text = bw_inflate_text(item->text, item->text_size, item->text_len, &dictionary);
	obj = text ? json_loadb(text, item->text_len, JSON_ALLOW_NUL, NULL) : NULL;
	free(text);
	return obj;
}

static const char *condition_field(const json_t *conditions, const char *type, const char *field)
{
	size_t i;
	json_t *c;

	json_array_foreach(conditions, i, c)
	{
		const char *t = json_string_value(json_object_get(c, "type"));

		if (t && strcmp(t, type) == 0)
			return json_string_value(json_object_get(c, field));
	}
	return NULL;
}

static const char *controller_uid(const json_t *meta)
{
	size_t i;
	json_t *ref;

	json_array_foreach(json_object_get(meta, "ownerReferences"), i, ref)
	{
		if (json_is_true(json_object_get(ref, "controller")))
			return json_string_value(json_object_get(ref, "uid"));
	}
	return NULL;
}

static const char *app_image(const json_t *deployment)
{
	json_t *containers = json_object_get(
	    json_object_get(json_object_get(json_object_get(deployment, "spec"), "template"),
			    "spec"),
	    "containers");
	size_t i;
	json_t *c;

	json_array_foreach(containers, i, c)
	{
		const char *name = json_string_value(json_object_get(c, "name"));

		if (name && strcmp(name, BW_APP_CONTAINER) == 0)
			return json_string_value(json_object_get(c, "image"));
	}
	return json_string_value(json_object_get(json_array_get(containers, 0), "image"));
}

static long int_at(const json_t *obj, const char *key)
{
	return (long)json_integer_value(json_object_get(obj, key));
}

/* s as a static string when it is one of known (a NULL-terminated list),
 * else NULL: a Deployment's condition reasons and statuses are a handful of
 * words, not worth 20-odd bytes in each of 10,000 items. */
static const char *interned(const char *s, const char *const *known)
{
	for (; *known; known++)
		if (strcmp(s, *known) == 0)
			return *known;
	return NULL;
}

/* s packed into the item, or the static copy of it in known. */
static void reserve_word(struct bw_store_pack *pack, const char *s, const char *const *known)
{
	if (!interned(s, known))
		bw_store_pack_reserve_str(pack, s);
}

static const char *pack_word(struct bw_store_pack *pack, const char *s, const char *const *known)
{
	const char *word = interned(s, known);

	return word ? word : bw_store_pack_str(pack, s);
}

static const char *const progressing_reasons[] = {"",
						  "NewReplicaSetAvailable",
						  "ReplicaSetUpdated",
						  "NewReplicaSetCreated",
						  "FoundNewReplicaSet",
						  "ProgressDeadlineExceeded",
						  "DeploymentPaused",
						  "DeploymentResumed",
						  NULL};
static const char *const condition_statuses[] = {"", "True", "False", "Unknown", NULL};

void *bw_project_deployment(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *meta = json_object_get(obj, "metadata"), *spec = json_object_get(obj, "spec"),
		     *status = json_object_get(obj, "status"),
		     *conds = json_object_get(status, "conditions");
	const char *image = str_or_empty(app_image(obj));
	const char *progressing = str_or_empty(condition_field(conds, "Progressing", "reason"));
	const char *available = str_or_empty(condition_field(conds, "Available", "status"));
	const char *owner = str_or_empty(controller_uid(meta));
	const char *uid = str_or_empty(json_string_value(json_object_get(meta, "uid")));
	const char *restarted_at = str_or_empty(json_string_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(spec, "template"), "metadata"),
			    "annotations"),
	    BW_ANNOTATION_RESTARTED_AT)));
	const char *applied = str_or_empty(json_string_value(
	    json_object_get(json_object_get(meta, "annotations"), BW_ANNOTATION_APPLIED)));
	const char *revision = str_or_empty(json_string_value(
	    json_object_get(json_object_get(meta, "annotations"), BW_ANNOTATION_REVISION)));
	struct bw_cached_deployment *d;

	(void)arg;
	bw_store_pack_reserve_str(pack, applied);
	bw_store_pack_reserve_str(pack, revision);
	bw_store_pack_reserve_str(pack, image);
	reserve_word(pack, progressing, progressing_reasons);
	reserve_word(pack, available, condition_statuses);
	bw_store_pack_reserve_str(pack, owner);
	bw_store_pack_reserve_str(pack, uid);
	bw_store_pack_reserve_str(pack, restarted_at);
	d = bw_store_pack_alloc(pack, sizeof(*d));
	if (!d)
		return NULL;
	d->generation = int_at(meta, "generation");
	d->observed_generation = int_at(status, "observedGeneration");
	d->spec_replicas = json_object_get(spec, "replicas") ? int_at(spec, "replicas") : 1;
	d->replicas = int_at(status, "replicas");
	d->updated = int_at(status, "updatedReplicas");
	d->ready = int_at(status, "readyReplicas");
	d->available = int_at(status, "availableReplicas");
	d->paused = json_is_true(json_object_get(spec, "paused"));
	d->image = bw_store_pack_str(pack, image);
	d->progressing = pack_word(pack, progressing, progressing_reasons);
	d->available_status = pack_word(pack, available, condition_statuses);
	d->owner_uid = bw_store_pack_str(pack, owner);
	d->uid = bw_store_pack_str(pack, uid);
	d->restarted_at = bw_store_pack_str(pack, restarted_at);
	d->applied = bw_store_pack_str(pack, applied);
	d->revision = bw_store_pack_str(pack, revision);
	return d;
}

void *bw_project_pod(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *meta = json_object_get(obj, "metadata");
	const char *service =
	    json_string_value(json_object_get(json_object_get(meta, "labels"), BW_LABEL_SERVICE));
	const char *injected = json_string_value(
	    json_object_get(json_object_get(meta, "annotations"), BW_ANNOTATION_INJECTED));
	const char *ns = str_or_empty(json_string_value(json_object_get(meta, "namespace")));
	struct bw_cached_pod *p;
	char *key;

	(void)arg;
	if (!service || json_object_get(meta, "deletionTimestamp"))
		return NULL;
	key = join_key(ns, service);
	if (!key)
		return NULL;
	bw_store_pack_reserve_str(pack, service);
	bw_store_pack_reserve_str(pack, key);
	bw_store_pack_reserve_str(pack, str_or_empty(injected));
	p = bw_store_pack_alloc(pack, sizeof(*p));
	if (p) {
		p->service = bw_store_pack_str(pack, service);
		p->service_key = bw_store_pack_str(pack, key);
		p->injected = bw_store_pack_str(pack, str_or_empty(injected));
	}
	free(key);
	return p;
}

void *bw_project_registry(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *data = json_object_get(obj, "data");
	const char *reg = str_or_empty(json_string_value(json_object_get(data, BW_REGISTRY_KEY)));
	const char *brk =
	    str_or_empty(json_string_value(json_object_get(data, BW_REGISTRY_BREAKERS_KEY)));
	struct bw_cached_registry *r;

	(void)arg;
	r = bw_store_pack_alloc(pack, sizeof(*r));
	if (r) {
		bw_registry_digest(reg, brk, r->digest);
		r->bytes = strlen(reg) + strlen(brk);
	}
	return r;
}

void bw_registry_digest(const char *registry_json, const char *breakers_json,
			unsigned char digest[BW_REGISTRY_DIGEST_LEN])
{
	const char *reg = str_or_empty(registry_json), *brk = str_or_empty(breakers_json);
	EVP_MD_CTX *h = EVP_MD_CTX_new();

	/* the NUL between the two keeps ("ab", "") apart from ("a", "b") */
	if (!h || !EVP_DigestInit_ex(h, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(h, reg, strlen(reg) + 1) || !EVP_DigestUpdate(h, brk, strlen(brk)) ||
	    !EVP_DigestFinal_ex(h, digest, NULL))
		memset(digest, 0, BW_REGISTRY_DIGEST_LEN); /* compares unequal: a write */
	EVP_MD_CTX_free(h);
}

/* Namespaces are cached for their labels: the webhook's opt-in. */
void *bw_project_namespace(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	json_t *labels = json_object_get(json_object_get(obj, "metadata"), "labels");
	char *text = json_is_object(labels) ? json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS)
					    : strdup("{}");
	struct bw_cached_namespace *n = NULL;

	(void)arg;
	if (!text)
		return NULL;
	bw_store_pack_reserve_str(pack, text);
	n = bw_store_pack_alloc(pack, sizeof(*n));
	if (n) {
		n->labels_json = bw_store_pack_str(pack, text);
		n->terminating =
		    json_object_get(json_object_get(obj, "metadata"), "deletionTimestamp") != NULL;
	}
	free(text);
	return n;
}

void *bw_project_ingress(struct bw_store_pack *pack, const json_t *obj, void *arg)
{
	const json_t *lb = json_array_get(
	    json_object_get(json_object_get(json_object_get(obj, "status"), "loadBalancer"),
			    "ingress"),
	    0);
	const char *addr = json_string_value(json_object_get(lb, "ip"));
	struct bw_cached_ingress *in;

	(void)arg;
	if (!addr || !*addr)
		addr = json_string_value(json_object_get(lb, "hostname"));
	if (!addr || strlen(addr) > 253) /* an address, not a text of any size */
		addr = "";
	bw_store_pack_reserve_str(pack, addr);
	in = bw_store_pack_alloc(pack, sizeof(*in));
	if (in)
		in->address = bw_store_pack_str(pack, addr);
	return in;
}

int bw_namespace_terminating(struct bw_store *namespaces, const char *ns)
{
	const struct bw_cached_namespace *n =
	    namespaces && ns ? bw_store_get(namespaces, NULL, ns) : NULL;
	int terminating = n && n->terminating;

	bw_store_item_put(n);
	return terminating;
}

int bw_service_may_hold_route(struct bw_store *namespaces, const struct bw_cached_service *o,
			      const char *prefix)
{
	return o->view.route_path && strcmp(o->view.route_path, prefix) == 0 &&
	       !bw_namespace_terminating(namespaces, o->view.ns);
}
