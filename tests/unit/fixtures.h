/*
 * Data-driven tests over fixture folders (tests/unit/data/NAME/CASE/, JSON files):
 * listing the cases, loading the files, and comparing JSON with a pointer
 * to the first difference. Header-only, like check.h; include it once.
 */
#ifndef BW_TEST_FIXTURES_H
#define BW_TEST_FIXTURES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "check.h"

static inline int exists(const char *dir, const char *name)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* dir/name parsed, or NULL (with a failed CHECK when the file exists but does not parse). */
static inline json_t *load(const char *dir, const char *name)
{
	char path[1024];
	json_error_t jerr;
	json_t *v;

	if (!exists(dir, name))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	v = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	CHECK(v != NULL, "%s parses", path);
	if (!v)
		printf("    line %d: %s\n", jerr.line, jerr.text);
	return v;
}

static inline void show(const char *label, const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	printf("      %s: %.600s%s\n", label, s ? s : "(absent)",
	       s && strlen(s) > 600 ? "..." : "");
	free(s);
}

/* Finds the first path where want and got differ; prints it and returns 1. */
static inline int diff_at(json_t *want, json_t *got, char *path, size_t size)
{
	size_t len = strlen(path), i;
	const char *key;
	json_t *v;

	if (want && got && json_typeof(want) == json_typeof(got)) {
		if (json_is_object(want)) {
			json_object_foreach(want, key, v)
			{
				snprintf(path + len, size - len, ".%s", key);
				if (diff_at(v, json_object_get(got, key), path, size))
					return 1;
			}
			json_object_foreach(got, key, v)
			{
				snprintf(path + len, size - len, ".%s", key);
				if (!json_object_get(want, key))
					return diff_at(NULL, v, path, size);
			}
			path[len] = '\0';
			return 0;
		}
		if (json_is_array(want)) {
			for (i = 0; i < json_array_size(want) || i < json_array_size(got); i++) {
				snprintf(path + len, size - len, "[%zu]", i);
				if (diff_at(json_array_get(want, i), json_array_get(got, i), path,
					    size))
					return 1;
			}
			path[len] = '\0';
			return 0;
		}
		if (json_equal(want, got))
			return 0;
	}
	printf("    first difference at %s\n", path[0] ? path : "(top)");
	show("expected", want);
	show("got     ", got);
	return 1;
}

static inline void check_json(json_t *want, json_t *got, const char *what)
{
	char path[512] = "";

	CHECK(json_equal(want, got) || (!want && !got), "%s", what);
	if (!json_equal(want, got) && (want || got))
		diff_at(want, got, path, sizeof(path));
}

static inline int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The case folders under dir, sorted; returns how many (names are malloc'd). */
static inline size_t list_cases(const char *dir, char **names, size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	CHECK(d != NULL, "%s is readable", dir);
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max)
		if (e->d_name[0] != '.')
			names[n++] = strdup(e->d_name);
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	return n;
}

#endif
