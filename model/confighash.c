/* A Service's config hash (model/confighash.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "confighash.h"

const char *bw_config_kind_name(enum bw_config_kind kind)
{
	return kind == BW_CONFIG_SECRET ? "Secret" : "ConfigMap";
}

int bw_config_rollout_enabled(const json_t *spec)
{
	const char *v = json_string_value(json_object_get(spec, BW_CONFIG_ROLLOUT_FIELD));

	return !(v && strcmp(v, BW_CONFIG_ROLLOUT_DISABLED) == 0);
}

void bw_config_refs_release(struct bw_config_refs *refs)
{
	if (!refs)
		return;
	free(refs->v);
	memset(refs, 0, sizeof(*refs));
}

/* Adds kind/name (from src: its name_key, its optional flag), merging a
 * repeated one: required wins. */
static int add(struct bw_config_refs *r, enum bw_config_kind kind, const json_t *src,
	       const char *name_key)
{
	const char *name = json_string_value(json_object_get(src, name_key));
	int optional = json_is_true(json_object_get(src, "optional"));

	if (!name || !*name)
		return 0;
	for (size_t i = 0; i < r->n; i++)
		if (r->v[i].kind == kind && strcmp(r->v[i].name, name) == 0) {
			r->v[i].optional = r->v[i].optional && optional;
			return 0;
		}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct bw_config_ref *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return -1;
		r->v = v;
		r->cap = cap;
	}
	r->v[r->n++] = (struct bw_config_ref){kind, name, optional};
	return 0;
}

static int by_kind_name(const void *a, const void *b)
{
	const struct bw_config_ref *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return strcmp(x->name, y->name);
}

int bw_config_refs_of(const json_t *spec, struct bw_config_refs *out)
{
	const json_t *e, *vf, *v, *s;
	size_t i, j;
	int bad = 0;

	memset(out, 0, sizeof(*out));
	json_array_foreach(json_object_get(spec, "env"), i, e)
	{
		vf = json_object_get(e, "valueFrom");
		bad |=
		    add(out, BW_CONFIG_CONFIGMAP, json_object_get(vf, "configMapKeyRef"), "name");
		bad |= add(out, BW_CONFIG_SECRET, json_object_get(vf, "secretKeyRef"), "name");
	}
	json_array_foreach(json_object_get(spec, "envFrom"), i, e)
	{
		bad |= add(out, BW_CONFIG_CONFIGMAP, json_object_get(e, "configMapRef"), "name");
		bad |= add(out, BW_CONFIG_SECRET, json_object_get(e, "secretRef"), "name");
	}
	json_array_foreach(json_object_get(spec, "volumes"), i, v)
	{
		bad |= add(out, BW_CONFIG_CONFIGMAP, json_object_get(v, "configMap"), "name");
		bad |= add(out, BW_CONFIG_SECRET, json_object_get(v, "secret"), "secretName");
		json_array_foreach(json_object_get(json_object_get(v, "projected"), "sources"), j,
				   s)
		{
			bad |=
			    add(out, BW_CONFIG_CONFIGMAP, json_object_get(s, "configMap"), "name");
			bad |= add(out, BW_CONFIG_SECRET, json_object_get(s, "secret"), "name");
		}
	}
	if (bad)
		return -1;
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), by_kind_name);
	return 0;
}

static void hex(const unsigned char *md, size_t chars, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < chars; i++)
		out[i] = digits[(md[i / 2] >> (i % 2 ? 0 : 4)) & 0xf];
	out[chars] = '\0';
}

static const json_t *or_null(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	return v ? v : json_null();
}

int bw_config_digest(const json_t *obj, char out[BW_CONFIG_DIGEST_LEN + 1])
{
	const char *uid =
	    json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
	json_t *content = json_object();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char *text = NULL;
	int ret = -1;

	if (!uid)
		uid = "";
	/* both maps as they are (absent: null), so moving a key from data to
	 * binaryData is a change too; borrowed into content (a reference, no
	 * copy of a large Secret), which goes before the call returns */
	if (!content || json_object_set(content, "data", (json_t *)or_null(obj, "data")) != 0 ||
	    json_object_set(content, "binaryData", (json_t *)or_null(obj, "binaryData")) != 0)
		goto out;
	text = json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text ||
	    !HMAC(EVP_sha256(), uid, (int)strlen(uid), (const unsigned char *)text, strlen(text),
		  md, &len) ||
	    len * 2 < BW_CONFIG_DIGEST_LEN)
		goto out;
	hex(md, BW_CONFIG_DIGEST_LEN, out);
	ret = 0;
out:
	if (text) /* the Secret's data: not left in freed memory */
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	json_decref(content);
	return ret;
}

/* Appends "Kind name" to the missing list, ", "-separated, "..." when full. */
static void note_missing(struct bw_config_hash *out, const struct bw_config_ref *r)
{
	size_t len = strlen(out->missing), size = sizeof(out->missing);
	int n;

	out->n_missing++;
	if (len >= size - 4)
		return;
	n = snprintf(out->missing + len, size - len, "%s%s %s", len ? ", " : "",
		     bw_config_kind_name(r->kind), r->name);
	if (n < 0 || (size_t)n >= size - len)
		memcpy(out->missing + size - 4, "...", 4);
}

int bw_config_hash(const json_t *spec, bw_config_lookup_fn *lookup, void *arg,
		   struct bw_config_hash *out)
{
	struct bw_config_refs refs;
	EVP_MD_CTX *h = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	int ok, ret = -1;

	memset(out, 0, sizeof(*out));
	if (!bw_config_rollout_enabled(spec))
		return 0;
	if (bw_config_refs_of(spec, &refs) != 0)
		goto out;
	if (refs.n == 0) {
		ret = 0;
		goto out;
	}
	h = EVP_MD_CTX_new();
	ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL);
	for (size_t i = 0; ok && i < refs.n; i++) {
		const struct bw_config_ref *r = &refs.v[i];
		const char *d = lookup ? lookup(r->kind, r->name, arg) : NULL;
		const char *kind = bw_config_kind_name(r->kind);

		if (!d && !r->optional)
			note_missing(out, r);
		if (!d)
			d = BW_CONFIG_MISSING;
		ok = EVP_DigestUpdate(h, kind, strlen(kind)) && EVP_DigestUpdate(h, "/", 1) &&
		     EVP_DigestUpdate(h, r->name, strlen(r->name)) && EVP_DigestUpdate(h, "=", 1) &&
		     EVP_DigestUpdate(h, d, strlen(d)) && EVP_DigestUpdate(h, "\n", 1);
	}
	if (!ok || !EVP_DigestFinal_ex(h, md, NULL))
		goto out;
	hex(md, BW_CONFIG_HASH_LEN, out->hash);
	ret = 0;
out:
	EVP_MD_CTX_free(h);
	bw_config_refs_release(&refs);
	return ret;
}
