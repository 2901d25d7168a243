/* libFuzzer: bw_json_member() (lib/json.h), the scan that finds one
 * member's text in a cached object (the webhook reads spec.dependsOn and
 * spec.port of cached Services with it). The first byte picks the key; the
 * rest is the text, in a buffer of exactly its size (ASan sees a read past
 * it). Checked beyond "no crash": a value found lies inside the text and,
 * when jansson reads the text as an object, parses to the same value as
 * jansson's member; an object jansson reads is never refused by the scan,
 * and its member is missed only when its key is spelled with escapes.
 * bw_json_member_cut() on the same text, at the key and at "spec" then the
 * key: a span found lies inside the text, and when jansson reads the text,
 * the text without the span reads as the same object without the member;
 * bw_json_member_at() gives the same answer, its value inside the span and
 * parsing to jansson's member.
 * bw_json_load_kept() with a fixed tree: when jansson reads the text as an
 * object, the kept parse reads too, and both filtered down the tree (a key
 * spelled with escapes is kept whole by the scan) are the same. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error.h"
#include "json.h"
#include "../unit/json_keep.h"

static const struct bw_json_keep keep_name[] = {{"name", NULL}, {NULL, NULL}};
static const struct bw_json_keep keep_spec[] = {
    {"dependsOn", NULL}, {"port", NULL}, {"a", keep_name}, {NULL, NULL}};
static const struct bw_json_keep keep_top[] = {
    {"spec", keep_spec}, {"a", keep_name}, {"port", NULL}, {NULL, NULL}};

static void check_kept(const char *text, size_t len, const json_t *obj)
{
	const size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL;
	json_t *kept = bw_json_load_kept(text, len, keep_top, flags, NULL), *want;

	if (json_is_object(obj)) {
		if (!kept)
			abort(); /* what jansson reads whole, it reads kept */
		want = json_deep_copy(obj);
		json_keep_only(want, keep_top);
		json_keep_only(kept, keep_top);
		if (!json_equal(want, kept))
			abort();
		json_decref(want);
	}
	json_decref(kept);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The cut of path in text (len bytes), checked against obj (jansson's
 * reading of the text, or NULL). */
static void check_cut(const char *text, size_t len, const char *const *path, json_t *obj)
{
	size_t start = 0, end = 0, depth = path[1] ? 2 : 1;
	json_t *parent = obj, *rest, *want;
	char *cut;
	int rc = bw_json_member_cut(text, len, path, &start, &end);
	const char *value = NULL;
	size_t value_len = 0;

	if (rc != 0 && rc != BW_ENOTFOUND && rc != BW_EPARSE)
		abort();
	/* bw_json_member_at(): the same scan, so the same answer; its value
	 * lies inside the cut */
	if (bw_json_member_at(text, len, path, &value, &value_len) != rc ||
	    (rc == 0 && (value < text + start || value + value_len > text + end)))
		abort();
	if (rc != 0)
		return;
	if (start >= end || end > len)
		abort();
	if (depth == 2)
		parent = json_object_get(obj, path[0]);
	if (!json_is_object(parent) || !json_object_get(parent, path[depth - 1]))
		return; /* jansson refuses the text, or the key is spelled otherwise */
	cut = malloc(len - (end - start) + 1);
	if (!cut)
		return;
	memcpy(cut, text, start);
	memcpy(cut + start, text + end, len - end);
	rest = json_loadb(cut, len - (end - start), JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	want = json_deep_copy(obj);
	json_object_del(depth == 2 ? json_object_get(want, path[0]) : want, path[depth - 1]);
	if (!json_equal(rest, want))
		abort();
	{
		/* the value found parses to jansson's member */
		json_t *got = json_loadb(value, value_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);

		if (!got || !json_equal(got, json_object_get(parent, path[depth - 1])))
			abort();
		json_decref(got);
	}
	json_decref(rest);
	json_decref(want);
	free(cut);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = {"spec", "dependsOn", "port", "a"};
	const char *key, *value = NULL;
	size_t len, n = 0;
	char *text;
	json_t *obj, *member, *back;
	int rc;

	if (size < 1)
		return 0;
	key = keys[data[0] % (sizeof(keys) / sizeof(keys[0]))];
	len = size - 1;
	text = malloc(len ? len : 1);
	if (!text)
		return 0;
	memcpy(text, data + 1, len);
	rc = bw_json_member(text, len, key, &value, &n);
	if (rc == 0 && (value < text || n == 0 || value + n > text + len))
		abort();
	if (rc != 0 && rc != BW_ENOTFOUND && rc != BW_EPARSE)
		abort();

	obj = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	member = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	if (json_is_object(obj) && rc == BW_EPARSE)
		abort(); /* valid JSON the scan cannot walk */
	if (member && rc == BW_ENOTFOUND && !memchr(text, '\\', len))
		abort(); /* missed, though not spelled with escapes */
	if (member && rc == 0) {
		back = json_loadb(value, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		if (!json_equal(back, member))
			abort();
		json_decref(back);
	}
	{
		const char *one[] = {key, NULL}, *two[] = {"spec", key, NULL};

		check_cut(text, len, one, json_is_object(obj) ? obj : NULL);
		check_cut(text, len, two, json_is_object(obj) ? obj : NULL);
	}
	check_kept(text, len, obj);
	json_decref(obj);
	free(text);
	return 0;
}
