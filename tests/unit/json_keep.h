/*
 * What bw_json_load_kept() (lib/json.h) must give, made from a whole parse:
 * the reference its unit test and its fuzzer compare against. Header-only,
 * for test programs.
 */
#ifndef BW_TEST_JSON_KEEP_H
#define BW_TEST_JSON_KEEP_H

#include <string.h>

#include <jansson.h>

#include "json.h"

/* v down keep's tree without the members keep does not name: each object,
 * and each object in an array, keeps only the listed members. */
static void json_keep_only(json_t *v, const struct bw_json_keep *keep)
{
	const char *key;
	json_t *child, *tmp;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
		{
			if (json_is_object(child))
				json_keep_only(child, keep);
		}
		return;
	}
	json_object_foreach_safe(v, tmp, key, child)
	{
		const struct bw_json_keep *k = keep;

		while (k->key && strcmp(k->key, key) != 0)
			k++;
		if (!k->key)
			json_object_del(v, key);
		else if (k->only)
			json_keep_only(child, k->only);
	}
}

#endif
