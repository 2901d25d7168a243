/*
 * Unit tests for kubectl breakwater's decisions (plugin/history.c,
 * plugin/status.c, plugin/table.c), data-driven from tests/unit/data/plugin/
 * (format in its README): a Service, its ControllerRevisions and the
 * namespace's Breakers in; the status and history shown (JSON and text),
 * the undo target chosen and the patch built out. Every line of text fits
 * 80 columns.
 *
 * BW_FIXTURE_WRITE=1 writes the expected files a case lacks (to review
 * before committing them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../plugin/history.h"
#include "../../plugin/status.h"
#include "../../plugin/table.h"
#include "check.h"
#include "fixtures.h"

static const char *const data_dir = "tests/unit/data/plugin";
static int write_missing;

static char *read_text(const char *dir, const char *name)
{
	char path[1024], *buf = NULL;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "r")))
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)len + 1))) {
		buf[fread(buf, 1, (size_t)len, f)] = '\0';
	}
	fclose(f);
	return buf;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w"))) {
		fputs(text, f);
		fclose(f);
		printf("# wrote %s\n", path);
	}
}

static void lines_fit(const char *text, const char *what)
{
	size_t longest = 0;

	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");

		if (len > longest)
			longest = len;
		p += len + (p[len] == '\n');
	}
	CHECK(longest <= BW_PLUGIN_WIDTH, "%s: every line fits 80 columns (longest %zu)", what,
	      longest);
}

/* Compares text with dir/name (or writes it there when missing and asked). */
static void expect_text(const char *dir, const char *name, const char *got, const char *what)
{
	char *want = read_text(dir, name);

	if (!want && write_missing) {
		write_file(dir, name, got);
		want = read_text(dir, name);
	}
	CHECK_STR(want, got, "%s", what);
	if (want && strcmp(want, got) != 0)
		printf("    --- got:\n%s", got);
	lines_fit(got, what);
	free(want);
}

static void expect_json(const char *dir, const char *name, json_t *got, const char *what)
{
	json_t *want = load(dir, name);

	if (!want && write_missing) {
		char *text = json_dumps(got, JSON_INDENT(2));

		write_file(dir, name, text);
		free(text);
		want = load(dir, name);
	}
	CHECK(want != NULL, "%s: %s/%s exists", what, dir, name);
	if (want)
		check_json(want, got, what);
	json_decref(want);
}

typedef void (*print_fn)(FILE *out, const json_t *summary);

static char *printed(print_fn fn, const json_t *summary)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	if (!mem)
		return strdup("");
	fn(mem, summary);
	fclose(mem);
	return text;
}

static void run_case(const char *name)
{
	char dir[512], what[600];
	json_t *svc, *revs, *breakers, *undo, *summary, *got;
	struct bw_plugin_history h;
	struct bw_error err = {0};
	char *text;
	size_t index;

	snprintf(dir, sizeof(dir), "%s/%s", data_dir, name);
	svc = load(dir, "service.json");
	revs = load(dir, "revisions.json");
	breakers = load(dir, "breakers.json");
	undo = load(dir, "undo.json");
	if (!revs)
		revs = json_array();
	CHECK(svc != NULL, "%s: service.json", name);
	if (!svc)
		goto done;
	snprintf(what, sizeof(what), "%s: the history is read", name);
	CHECK_INT(0, bw_plugin_history_read(&h, svc, revs, &err), "%s", what);

	if (exists(dir, "status.json") || write_missing) {
		summary = bw_plugin_status_summary(svc, breakers, &h);
		snprintf(what, sizeof(what), "%s: the status summary", name);
		expect_json(dir, "status.json", summary, what);
		text = printed(bw_plugin_status_print, summary);
		snprintf(what, sizeof(what), "%s: the status as text", name);
		expect_text(dir, "status.txt", text, what);
		free(text);
		json_decref(summary);
	}
	if (exists(dir, "history.json") || write_missing) {
		summary = bw_plugin_history_summary(svc, &h);
		snprintf(what, sizeof(what), "%s: the history summary", name);
		expect_json(dir, "history.json", summary, what);
		if (json_array_size(summary)) {
			text = printed(bw_plugin_history_print, summary);
			snprintf(what, sizeof(what), "%s: the history as text", name);
			expect_text(dir, "history.txt", text, what);
			free(text);
		}
		json_decref(summary);
	}
	if (undo) {
		json_int_t to = json_integer_value(json_object_get(undo, "toRevision"));
		json_t *patch = NULL;

		bw_error_clear(&err);
		if (bw_plugin_undo_target(&h,
					  json_string_value(json_object_get(
					      json_object_get(svc, "metadata"), "name")),
					  to, &index, &err) == 0) {
			got =
			    json_pack("{s:I, s:s}", "revision", (json_int_t)h.items[index].revision,
				      "name", h.items[index].name);
			patch = bw_plugin_undo_patch(svc, h.items[index].template, &err);
		} else {
			got = json_pack("{s:s}", "error", err.message);
		}
		snprintf(what, sizeof(what), "%s: the undo target", name);
		expect_json(dir, "undo-target.json", got, what);
		json_decref(got);
		if (patch) {
			snprintf(what, sizeof(what), "%s: the undo patch", name);
			expect_json(dir, "undo-patch.json", patch, what);
		}
		json_decref(patch);
	}
	bw_plugin_history_release(&h);
done:
	json_decref(svc);
	json_decref(revs);
	json_decref(breakers);
	json_decref(undo);
}

static json_t *parse(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (!j)
		printf("# bad test JSON: %s\n", text);
	return j;
}

static void test_verdict(void)
{
	json_t *svc = parse("{\"metadata\":{\"generation\":3},\"status\":{\"conditions\":["
			    "{\"type\":\"Ready\",\"status\":\"True\",\"observedGeneration\":2}]}}");

	CHECK_INT(0, bw_plugin_status_verdict(svc), "Ready at an older generation: not done");
	json_integer_set(json_object_get(json_object_get(svc, "metadata"), "generation"), 2);
	CHECK_INT(1, bw_plugin_status_verdict(svc), "Ready at its generation: done");
	json_decref(svc);
	svc = parse("{\"metadata\":{\"generation\":3},\"status\":{\"observedGeneration\":3,"
		    "\"conditions\":[{\"type\":\"Stalled\",\"status\":\"True\"},"
		    "{\"type\":\"Ready\",\"status\":\"False\"}]}}");
	CHECK_INT(-1, bw_plugin_status_verdict(svc),
		  "Stalled at status.observedGeneration (no condition generation): failed");
	json_decref(svc);
	svc = parse("{\"metadata\":{\"generation\":4},\"status\":{\"conditions\":["
		    "{\"type\":\"Stalled\",\"status\":\"True\",\"observedGeneration\":3}]}}");
	CHECK_INT(0, bw_plugin_status_verdict(svc), "Stalled at an older generation: a new try");
	json_decref(svc);
}

static void test_wrap_and_table(void)
{
	const char *cells[] = {"A", "LONG", "B", "x", "0123456789012345678901234567890123456789",
			       ""};
	const int shrink[] = {0, 1, 0};
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	bw_plugin_wrap(mem, "one two three four five six seven eight nine ten eleven twelve", 4,
		       30);
	bw_plugin_wrap(mem, "averyveryveryveryverylongwordwithoutspaces end", 2, 24);
	bw_plugin_table_print(mem, cells, 2, 3, shrink, 2, 30);
	fclose(mem);
	CHECK_STR("    one two three four five\n"
		  "    six seven eight nine ten\n"
		  "    eleven twelve\n"
		  "  averyveryveryveryverylongwordwithoutspaces\n"
		  "  end\n"
		  "  A  LONG                    B\n"
		  "  x  012345678...0123456789\n",
		  text,
		  "wrapped at spaces under the indent; the widest column shortened in the "
		  "middle; no trailing blanks");
	free(text);
}

static void test_diff(void)
{
	json_t *a = parse("{\"image\":\"a\",\"env\":[],\"port\":1}");
	json_t *b = parse("{\"image\":\"b\",\"port\":1,\"dependsOn\":[\"x\"]}");
	json_t *d = bw_plugin_template_diff(a, b);
	char *s = json_dumps(d, JSON_COMPACT);

	CHECK_STR("[\"dependsOn\",\"env\",\"image\"]", s,
		  "fields changed, added and removed, sorted");
	free(s);
	json_decref(d);
	d = bw_plugin_template_diff(a, a);
	CHECK_INT(0, json_array_size(d), "no change: none");
	json_decref(d);
	json_decref(a);
	json_decref(b);
}

static void test_bad_input(void)
{
	struct bw_plugin_history h;
	struct bw_error err = {0};
	json_t *svc = parse("{\"metadata\":{\"name\":\"x\"},\"spec\":{}}");
	json_t *items = json_array();

	CHECK_INT(BW_EINVAL, bw_plugin_history_read(&h, svc, items, &err), "a Service without uid");
	CHECK_STR("the Service has no metadata.uid", err.message, "says so");
	bw_plugin_history_release(&h);
	CHECK(bw_plugin_undo_patch(svc, items, &err) == NULL, "no patch without resourceVersion");
	CHECK_STR("the Service has no metadata.resourceVersion", err.message, "says so");
	json_decref(svc);
	json_decref(items);
}

int main(void)
{
	char *names[64];
	size_t n;

	write_missing = getenv("BW_FIXTURE_WRITE") != NULL;
	n = list_cases(data_dir, names, 64);
	CHECK(n >= 6, "the fixture cases are there (%zu)", n);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "README.md") != 0)
			run_case(names[i]);
		free(names[i]);
	}
	test_verdict();
	test_wrap_and_table();
	test_diff();
	test_bad_input();
	return check_exit();
}
