/* A Service's history for kubectl breakwater (plugin/history.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "confighash.h"
#include "json.h"

static int owned_by(const json_t *cr, const char *uid)
{
	const json_t *refs = bw_json_get(bw_json_get(cr, "metadata"), "ownerReferences"), *ref;
	size_t i;

	json_array_foreach(refs, i, ref)
	{
		const char *u = json_string_value(bw_json_get(ref, "uid"));

		if (u && strcmp(u, uid) == 0)
			return 1;
	}
	return 0;
}

static int by_revision(const void *a, const void *b)
{
	const struct bw_plugin_revision *x = a, *y = b;

	if (x->revision != y->revision)
		return x->revision < y->revision ? -1 : 1;
	return strcmp(x->name, y->name);
}

int bw_plugin_history_read(struct bw_plugin_history *h, const json_t *service, const json_t *items,
			   struct bw_error *err)
{
	const char *uid = json_string_value(bw_json_get(bw_json_get(service, "metadata"), "uid"));
	const json_t *spec = bw_json_get(service, "spec"), *cr;
	json_t *current = NULL;
	char spec_hash[BW_REVISION_HASH_LEN + 1] = "";
	size_t i;

	memset(h, 0, sizeof(*h));
	h->spec_index = -1;
	if (!uid)
		return bw_error_set(err, BW_EINVAL, "the Service has no metadata.uid");
	if (!json_is_array(items))
		return bw_error_set(err, BW_EINVAL, "the ControllerRevisions are not a list");
	h->list = json_incref((json_t *)items);
	if (json_array_size(items) &&
	    !(h->items = calloc(json_array_size(items), sizeof(*h->items))))
		goto nomem;
	json_array_foreach(items, i, cr)
	{
		struct bw_plugin_revision *r = &h->items[h->n];
		const json_t *rev = bw_json_get(cr, "revision");
		json_t *t;

		if (!owned_by(cr, uid))
			continue;
		r->name = json_string_value(bw_json_get(bw_json_get(cr, "metadata"), "name"));
		r->template = bw_json_get(bw_json_get(cr, "data"), "spec");
		if (!r->name || !json_is_object(r->template) || !json_is_integer(rev) ||
		    json_integer_value(rev) < 1) {
			h->skipped++;
			continue;
		}
		r->revision = json_integer_value(rev);
		/* the template of data.spec: a revision written with a kept field
		 * in it still hashes as the operator's would */
		if (!(t = bw_revision_template(r->template)))
			goto nomem;
		/* nor the operator's config hash (model/confighash.h): a
		 * revision made by new ConfigMap or Secret content has the
		 * spec of the one before it, and undo is about the spec */
		json_object_del(t, BW_CONFIG_HASH_FIELD);
		if (bw_revision_hash(t, r->hash) != 0) {
			json_decref(t);
			goto nomem;
		}
		json_decref(t);
		h->n++;
	}
	if (h->n)
		qsort(h->items, h->n, sizeof(*h->items), by_revision);
	if (json_is_object(spec)) {
		if (!(current = bw_revision_template(spec)) ||
		    bw_revision_hash(current, spec_hash) != 0)
			goto nomem;
		json_decref(current);
		/* the newest one with the same template: a revision rolled out
		 * again (an undo) keeps its hash */
		for (i = h->n; i-- > 0;)
			if (strcmp(h->items[i].hash, spec_hash) == 0) {
				h->spec_index = (long)i;
				break;
			}
	}
	return 0;
nomem:
	json_decref(current);
	bw_plugin_history_release(h);
	return bw_error_set(err, BW_ENOMEM, "out of memory reading the ControllerRevisions");
}

void bw_plugin_history_release(struct bw_plugin_history *h)
{
	free(h->items);
	json_decref(h->list);
	memset(h, 0, sizeof(*h));
	h->spec_index = -1;
}

long bw_plugin_history_find(const struct bw_plugin_history *h, const char *name)
{
	for (size_t i = 0; name && i < h->n; i++)
		if (strcmp(h->items[i].name, name) == 0)
			return (long)i;
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *bw_plugin_template_diff(const json_t *a, const json_t *b)
{
	const char *keys[128], *key;
	json_t *out = json_array(), *v;
	size_t n = 0;

	if (!out)
		return NULL;
	json_object_foreach((json_t *)a, key, v)
	{
		if (n < 128 && !json_equal(v, json_object_get(b, key)))
			keys[n++] = key;
	}
	json_object_foreach((json_t *)b, key, v)
	{
		if (n < 128 && !json_object_get(a, key))
			keys[n++] = key;
	}
	if (n)
		qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(out, json_string(keys[i])) != 0) {
			json_decref(out);
			return NULL;
		}
	return out;
}

json_t *bw_plugin_history_changes(const struct bw_plugin_history *h, size_t index)
{
	if (index == 0 || index >= h->n)
		return json_array();
	return bw_plugin_template_diff(h->items[index - 1].template, h->items[index].template);
}

/* "1..4" when the revisions run without a gap, else "1, 2, 5" (at most 8). */
static void describe_revisions(const struct bw_plugin_history *h, char *buf, size_t size)
{
	size_t len = 0, i;
	int gapless = 1;

	for (i = 1; i < h->n; i++)
		if (h->items[i].revision != h->items[i - 1].revision + 1)
			gapless = 0;
	if (h->n == 1) {
		snprintf(buf, size, "only revision %lld", h->items[0].revision);
		return;
	}
	if (gapless) {
		snprintf(buf, size, "%lld..%lld", h->items[0].revision,
			 h->items[h->n - 1].revision);
		return;
	}
	len = (size_t)snprintf(buf, size, "revisions ");
	for (i = 0; i < h->n && i < 8 && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? ", " : "",
					h->items[i].revision);
	if (i < h->n && len < size)
		snprintf(buf + len, size - len, ", ... %lld", h->items[h->n - 1].revision);
}

int bw_plugin_undo_target(const struct bw_plugin_history *h, const char *service,
			  long long to_revision, size_t *index, struct bw_error *err)
{
	char have[160];

	if (h->n == 0)
		return bw_error_set(
		    err, BW_ENOTFOUND,
		    "Service \"%s\" has no revisions (no ControllerRevision labelled "
		    "breakwater.io/service=%s that it owns)",
		    service, service);
	if (to_revision > 0) {
		for (size_t i = h->n; i-- > 0;)
			if (h->items[i].revision == to_revision) {
				*index = i;
				return 0;
			}
		describe_revisions(h, have, sizeof(have));
		return bw_error_set(err, BW_ENOTFOUND,
				    "revision %lld not found, the Service has %s", to_revision,
				    have);
	}
	if (h->spec_index < 0) {
		/* the spec was edited since the newest revision: back to it */
		*index = h->n - 1;
		return 0;
	}
	for (size_t i = (size_t)h->spec_index; i-- > 0;)
		if (h->items[i].revision < h->items[h->spec_index].revision &&
		    strcmp(h->items[i].hash, h->items[h->spec_index].hash) != 0) {
			*index = i;
			return 0;
		}
	return bw_error_set(err, BW_ENOTFOUND,
			    "the spec is revision %lld, the oldest: no older revision to undo to",
			    h->items[h->spec_index].revision);
}

json_t *bw_plugin_undo_patch(const json_t *service, const json_t *template, struct bw_error *err)
{
	const char *rv =
	    json_string_value(bw_json_get(bw_json_get(service, "metadata"), "resourceVersion"));
	json_t *spec, *patch;

	if (!rv) {
		bw_error_set(err, BW_EINVAL, "the Service has no metadata.resourceVersion");
		return NULL;
	}
	if (!(spec = bw_revision_undo_spec(bw_json_get(service, "spec"), template, err)))
		return NULL;
	/* the operator's config hash (model/confighash.h) is no field of the
	 * CRD: it follows the objects' content, not the spec */
	json_object_del(spec, BW_CONFIG_HASH_FIELD);
	patch = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:o}]", "op", "replace", "path",
			  "/metadata/resourceVersion", "value", rv, "op", "replace", "path",
			  "/spec", "value", spec);
	if (!patch)
		bw_error_set(err, BW_ENOMEM, "out of memory building the undo patch");
	return patch;
}
