/* What kubectl breakwater status and history show (plugin/status.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "status.h"
#include "table.h"

#define LABEL 12 /* "Conditions  " */

static const char *const main_conditions[] = {"Ready",	     "Progressing", "Available",
					      "Reconciling", "Stalled",	    NULL};

static const json_t *condition(const json_t *service, const char *type)
{
	const json_t *conds = bw_json_get(bw_json_get(service, "status"), "conditions"), *c;
	size_t i;

	json_array_foreach(conds, i, c)
	{
		const char *t = json_string_value(bw_json_get(c, "type"));

		if (t && strcmp(t, type) == 0)
			return c;
	}
	return NULL;
}

/* True when condition type is True and was observed at the generation. */
static int true_now(const json_t *service, const char *type)
{
	const json_t *c = condition(service, type);
	const json_t *gen = bw_json_get(bw_json_get(service, "metadata"), "generation");
	const json_t *seen = bw_json_get(c, "observedGeneration");
	const char *status = json_string_value(bw_json_get(c, "status"));

	if (!status || strcmp(status, "True") != 0)
		return 0;
	if (!seen)
		seen = bw_json_get(bw_json_get(service, "status"), "observedGeneration");
	return !gen || (seen && json_integer_value(seen) == json_integer_value(gen));
}

int bw_plugin_status_verdict(const json_t *service)
{
	if (true_now(service, "Stalled"))
		return -1;
	return true_now(service, "Ready") ? 1 : 0;
}

static json_t *copy_or_null(const json_t *v)
{
	return v ? json_deep_copy(v) : json_null();
}

static json_t *revision_ref(const struct bw_plugin_history *h, const json_t *name)
{
	long i;

	if (!json_is_string(name))
		return json_null();
	i = bw_plugin_history_find(h, json_string_value(name));
	return json_pack("{s:O, s:o}", "name", name, "revision",
			 i >= 0 ? json_integer(h->items[i].revision) : json_null());
}

static int is_main(const char *type)
{
	for (const char *const *m = main_conditions; *m; m++)
		if (strcmp(*m, type) == 0)
			return 1;
	return 0;
}

static json_t *condition_entry(const json_t *c)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "type", copy_or_null(bw_json_get(c, "type")),
			 "status", copy_or_null(bw_json_get(c, "status")), "reason",
			 copy_or_null(bw_json_get(c, "reason")), "message",
			 copy_or_null(bw_json_get(c, "message")));
}

static json_t *conditions(const json_t *service)
{
	const json_t *all = bw_json_get(bw_json_get(service, "status"), "conditions"), *c;
	json_t *out = json_array();
	size_t i;

	for (const char *const *m = main_conditions; out && *m; m++)
		if ((c = condition(service, *m)))
			json_array_append_new(out, condition_entry(c));
	json_array_foreach(all, i, c)
	{
		const char *t = json_string_value(bw_json_get(c, "type"));

		if (out && t && !is_main(t))
			json_array_append_new(out, condition_entry(c));
	}
	return out;
}

static int in_array(const json_t *array, const char *s)
{
	const json_t *v;
	size_t i;

	json_array_foreach(array, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	}
	return 0;
}

static json_t *breakers_of(const json_t *service, const json_t *breakers)
{
	const char *name = json_string_value(bw_json_get(bw_json_get(service, "metadata"), "name"));
	const json_t *deps = bw_json_get(bw_json_get(service, "spec"), "dependsOn"), *b, *d;
	json_t *on_deps = json_array(), *self = json_array(), *unprotected = json_array();
	json_t *targeted = json_array();
	size_t i, j;

	json_array_foreach(breakers, i, b)
	{
		const json_t *spec = bw_json_get(b, "spec");
		const char *target = json_string_value(bw_json_get(spec, "target"));
		const char *mode = json_string_value(bw_json_get(spec, "mode"));
		const json_t *bname = bw_json_get(bw_json_get(b, "metadata"), "name");

		if (!target || !bname)
			continue;
		if (!mode)
			mode = "Enforce";
		if (name && strcmp(target, name) == 0)
			json_array_append_new(self,
					      json_pack("{s:O, s:s}", "name", bname, "mode", mode));
		if (in_array(deps, target)) {
			json_array_append_new(on_deps, json_pack("{s:O, s:s, s:s}", "name", bname,
								 "target", target, "mode", mode));
			json_array_append_new(targeted, json_string(target));
		}
	}
	json_array_foreach(deps, j, d)
	{
		if (json_is_string(d) && !in_array(targeted, json_string_value(d)))
			json_array_append_new(unprotected, json_deep_copy(d));
	}
	json_decref(targeted);
	return json_pack("{s:o, s:o, s:o}", "dependencies", on_deps, "unprotected", unprotected,
			 "self", self);
}

json_t *bw_plugin_status_summary(const json_t *service, const json_t *breakers,
				 const struct bw_plugin_history *h)
{
	const json_t *meta = bw_json_get(service, "metadata");
	const json_t *spec = bw_json_get(service, "spec");
	const json_t *status = bw_json_get(service, "status");
	const json_t *desired = bw_json_get(spec, "replicas");
	int verdict = bw_plugin_status_verdict(service);
	json_t *replicas;

	replicas = json_pack("{s:o, s:o, s:o, s:o, s:o}", "desired",
			     desired ? json_deep_copy(desired) : json_integer(1), "current",
			     copy_or_null(bw_json_get(status, "replicas")), "updated",
			     copy_or_null(bw_json_get(status, "updatedReplicas")), "ready",
			     copy_or_null(bw_json_get(status, "readyReplicas")), "available",
			     copy_or_null(bw_json_get(status, "availableReplicas")));
	return json_pack("{s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:b, s:o, s:o, s:o, s:o, s:o, s:o}",
			 "namespace", copy_or_null(bw_json_get(meta, "namespace")), "name",
			 copy_or_null(bw_json_get(meta, "name")), "generation",
			 copy_or_null(bw_json_get(meta, "generation")), "observedGeneration",
			 copy_or_null(bw_json_get(status, "observedGeneration")), "state",
			 verdict > 0   ? "Ready"
			 : verdict < 0 ? "Stalled"
				       : "InProgress",
			 "image", copy_or_null(bw_json_get(spec, "image")), "runningImage",
			 copy_or_null(bw_json_get(status, "image")), "paused",
			 json_is_true(bw_json_get(spec, "paused")), "restartAt",
			 copy_or_null(bw_json_get(spec, "restartAt")), "replicas", replicas,
			 "currentRevision", revision_ref(h, bw_json_get(status, "currentRevision")),
			 "updateRevision", revision_ref(h, bw_json_get(status, "updateRevision")),
			 "conditions", conditions(service), "breakers",
			 breakers_of(service, breakers));
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(bw_json_get(obj, key));

	return s ? s : "";
}

/* "Label       value", the value shortened to the line. */
static void field(FILE *out, const char *label, const char *value)
{
	char buf[BW_PLUGIN_WIDTH + 1];

	fprintf(out, "%-*s%s\n", LABEL, label,
		bw_plugin_abbrev(value, BW_PLUGIN_WIDTH - LABEL, buf, sizeof(buf)));
}

static void count(char *buf, size_t size, const json_t *replicas, const char *key)
{
	const json_t *v = bw_json_get(replicas, key);

	if (v)
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, size, "-");
}

static void revision_text(char *buf, size_t size, const json_t *ref)
{
	const json_t *n = bw_json_get(ref, "revision");

	if (n)
		snprintf(buf, size, "%s (%lld)", str(ref, "name"),
			 (long long)json_integer_value(n));
	else
		snprintf(buf, size, "%s", str(ref, "name"));
}

static void print_state(FILE *out, const json_t *s)
{
	const char *state = str(s, "state");
	const char *why = "";
	const json_t *c;
	size_t i;
	char line[256];

	/* the reason of the condition that says it: Stalled's, else Ready's */
	json_array_foreach(bw_json_get(s, "conditions"), i, c)
	{
		const char *type = str(c, "type");

		if ((strcmp(state, "Stalled") == 0 && strcmp(type, "Stalled") == 0) ||
		    (strcmp(state, "Stalled") != 0 && strcmp(type, "Ready") == 0))
			why = str(c, "reason");
	}
	snprintf(line, sizeof(line), "%s%s%s", state, *why ? ": " : "", why);
	field(out, "State", line);
	if (!json_equal(bw_json_get(s, "generation"), bw_json_get(s, "observedGeneration"))) {
		snprintf(line, sizeof(line), "%lld, observed %s",
			 (long long)json_integer_value(bw_json_get(s, "generation")),
			 bw_json_get(s, "observedGeneration") ? "" : "none yet");
		if (bw_json_get(s, "observedGeneration"))
			snprintf(
			    line + strlen(line), sizeof(line) - strlen(line), "%lld",
			    (long long)json_integer_value(bw_json_get(s, "observedGeneration")));
		field(out, "Generation", line);
	}
}

void bw_plugin_status_print(FILE *out, const json_t *s)
{
	const json_t *rep = bw_json_get(s, "replicas");
	const json_t *cur = bw_json_get(s, "currentRevision"),
		     *upd = bw_json_get(s, "updateRevision");
	const json_t *brk = bw_json_get(s, "breakers"), *c, *b;
	char line[512], a[24], u[24], r[24], v[24], d[24];
	size_t i, tw = 11; /* "Progressing" */

	snprintf(line, sizeof(line), "%s/%s", str(s, "namespace"), str(s, "name"));
	field(out, "Service", line);
	print_state(out, s);
	field(out, "Image", str(s, "image"));
	if (!json_equal(bw_json_get(s, "image"), bw_json_get(s, "runningImage")))
		field(out, "Running",
		      bw_json_get(s, "runningImage") ? str(s, "runningImage")
						     : "- (not rolled out yet)");
	count(d, sizeof(d), rep, "desired");
	count(u, sizeof(u), rep, "updated");
	count(r, sizeof(r), rep, "ready");
	count(v, sizeof(v), rep, "available");
	count(a, sizeof(a), rep, "current");
	snprintf(line, sizeof(line), "%s desired: %s updated, %s ready, %s available (%s pods)", d,
		 u, r, v, a);
	field(out, "Replicas", line);
	if (!cur && !upd) {
		field(out, "Revision", "- (none in status)");
	} else if (json_equal(cur, upd)) {
		revision_text(line, sizeof(line), cur);
		strncat(line, ", current and update", sizeof(line) - strlen(line) - 1);
		field(out, "Revision", line);
	} else {
		char t[256];

		revision_text(t, sizeof(t), cur);
		snprintf(line, sizeof(line), "current %s", cur ? t : "-");
		field(out, "Revision", line);
		revision_text(t, sizeof(t), upd);
		snprintf(line, sizeof(line), "update  %s", upd ? t : "-");
		field(out, "", line);
	}
	field(out, "Paused",
	      json_is_true(bw_json_get(s, "paused")) ? "yes: template changes wait for resume"
						     : "no");
	if (bw_json_get(s, "restartAt"))
		field(out, "Restarted", str(s, "restartAt"));

	fputs("Conditions\n", out);
	if (json_array_size(bw_json_get(s, "conditions")) == 0)
		fputs("  none yet\n", out);
	json_array_foreach(bw_json_get(s, "conditions"), i, c)
	{
		if (strlen(str(c, "type")) > tw && strlen(str(c, "type")) < 40)
			tw = strlen(str(c, "type"));
	}
	json_array_foreach(bw_json_get(s, "conditions"), i, c)
	{
		snprintf(line, sizeof(line), "  %-*s  %-7s %s", (int)tw, str(c, "type"),
			 str(c, "status"), str(c, "reason"));
		fprintf(out, "%s\n", line);
		if (*str(c, "message"))
			bw_plugin_wrap(out, str(c, "message"), 4, BW_PLUGIN_WIDTH);
	}

	fputs("Breakers\n", out);
	if (json_array_size(bw_json_get(brk, "dependencies"))) {
		const char *cells[3 * 17] = {"NAME", "TARGET", "MODE"};
		const int shrink[3] = {1, 1, 0};
		size_t rows = 1;

		json_array_foreach(bw_json_get(brk, "dependencies"), i, b)
		{
			if (rows == 17)
				break;
			cells[rows * 3] = str(b, "name");
			cells[rows * 3 + 1] = str(b, "target");
			cells[rows * 3 + 2] = str(b, "mode");
			rows++;
		}
		bw_plugin_table_print(out, cells, rows, 3, shrink, 2, BW_PLUGIN_WIDTH);
	}
	if (json_array_size(bw_json_get(brk, "unprotected"))) {
		size_t len =
		    (size_t)snprintf(line, sizeof(line), "no Breaker on its dependencies:");

		json_array_foreach(bw_json_get(brk, "unprotected"), i, b)
		{
			if (len < sizeof(line))
				len += (size_t)snprintf(line + len, sizeof(line) - len, "%s %s",
							i ? "," : "", json_string_value(b));
		}
		bw_plugin_wrap(out, line, 2, BW_PLUGIN_WIDTH);
	} else if (!json_array_size(bw_json_get(brk, "dependencies"))) {
		fputs("  no dependencies (spec.dependsOn is empty)\n", out);
	}
	if (!json_array_size(bw_json_get(brk, "self"))) {
		snprintf(line, sizeof(line), "none targets %s itself", str(s, "name"));
		bw_plugin_wrap(out, line, 2, BW_PLUGIN_WIDTH);
	}
	json_array_foreach(bw_json_get(brk, "self"), i, b)
	{
		snprintf(line, sizeof(line), "%s targets %s itself (%s): its callers' breaker",
			 str(b, "name"), str(s, "name"), str(b, "mode"));
		bw_plugin_wrap(out, line, 2, BW_PLUGIN_WIDTH);
	}
}

json_t *bw_plugin_history_summary(const json_t *service, const struct bw_plugin_history *h)
{
	const json_t *status = bw_json_get(service, "status");
	const char *cur = json_string_value(bw_json_get(status, "currentRevision"));
	const char *upd = json_string_value(bw_json_get(status, "updateRevision"));
	json_t *out = json_array();

	for (size_t i = 0; out && i < h->n; i++) {
		const struct bw_plugin_revision *r = &h->items[i];

		json_array_append_new(out,
				      json_pack("{s:I, s:s, s:o, s:o, s:b, s:b, s:b}", "revision",
						(json_int_t)r->revision, "name", r->name, "image",
						copy_or_null(bw_json_get(r->template, "image")),
						"changes", bw_plugin_history_changes(h, i),
						"current", cur && strcmp(cur, r->name) == 0,
						"update", upd && strcmp(upd, r->name) == 0, "spec",
						h->spec_index == (long)i));
	}
	return out;
}

void bw_plugin_history_print(FILE *out, const json_t *summary)
{
	enum { COLS = 5 };
	const int shrink[COLS] = {0, 1, 1, 1, 0};
	size_t n = json_array_size(summary), i, j, rows = 1;
	const char **cells = calloc((n + 1) * COLS, sizeof(*cells));
	char(*text)[64] = calloc(n ? n : 1, 2 * sizeof(*text));
	const json_t *r, *f;

	if (!cells || !text)
		goto done;
	cells[0] = "REV";
	cells[1] = "NAME";
	cells[2] = "IMAGE";
	cells[3] = "CHANGED";
	cells[4] = "";
	json_array_foreach(summary, i, r)
	{
		char *num = text[2 * i], *marks = text[2 * i + 1];
		size_t len = 0;

		snprintf(num, 64, "%3lld",
			 (long long)json_integer_value(bw_json_get(r, "revision")));
		marks[0] = '\0';
		if (json_is_true(bw_json_get(r, "current")))
			len += (size_t)snprintf(marks + len, 64 - len, "current");
		if (json_is_true(bw_json_get(r, "update")))
			len += (size_t)snprintf(marks + len, 64 - len, "%supdate", len ? "," : "");
		/* the spec's revision is normally the update one: said when not */
		if (json_is_true(bw_json_get(r, "spec")) && !json_is_true(bw_json_get(r, "update")))
			snprintf(marks + len, 64 - len, "%sspec", len ? "," : "");
		cells[rows * COLS] = num;
		cells[rows * COLS + 1] = str(r, "name");
		cells[rows * COLS + 2] = str(r, "image");
		cells[rows * COLS + 4] = marks;
		rows++;
	}
	/* the changed fields joined: kept in one buffer per row */
	{
		char(*changed)[256] = calloc(n ? n : 1, sizeof(*changed));

		if (!changed)
			goto done;
		json_array_foreach(summary, i, r)
		{
			size_t len = 0;

			changed[i][0] = '\0';
			json_array_foreach(bw_json_get(r, "changes"), j, f)
			{
				if (len < sizeof(changed[i]))
					len += (size_t)snprintf(changed[i] + len,
								sizeof(changed[i]) - len, "%s%s",
								j ? "," : "", json_string_value(f));
			}
			cells[(i + 1) * COLS + 3] = i == 0 ? "(oldest)" : len ? changed[i] : "-";
		}
		bw_plugin_table_print(out, cells, rows, COLS, shrink, 0, BW_PLUGIN_WIDTH);
		free(changed);
	}
done:
	free(cells);
	free(text);
}
