/*
 * kubectl breakwater (plugin/plugin.h): arguments, help, and the I/O of each
 * command (reads, the watch, the writes); what is shown and written is
 * decided in history.c and status.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cached.h"
#include "client.h"
#include "history.h"
#include "json.h"
#include "kubeconfig.h"
#include "log.h"
#include "names.h"
#include "plugin.h"
#include "reflector.h"
#include "rfc3339.h"
#include "status.h"

static const struct bw_resource res_revisions = {"apps", "v1", "controllerrevisions",
						 "ControllerRevision", 1};

struct args {
	const char *prog, *cmd, *name, *ns, *kubeconfig, *context;
	int json, watch;
	long long to_revision;
};

static const struct command {
	const char *name, *summary, *flags, *help;
} commands[] = {
    {"status", "rollout progress, conditions, the breakers that apply", " [-w|--watch]",
     "Shows the Service's rollout: its image and the one running, replicas\n"
     "(desired, updated, ready, available), status.currentRevision and\n"
     "status.updateRevision, its conditions (Ready, Progressing, Available,\n"
     "Reconciling, Stalled, ...) with reasons and messages, and the Breakers of\n"
     "its namespace that apply: those whose spec.target is one of its\n"
     "dependsOn, and one targeting the Service itself.\n"
     "\n"
     "  -w, --watch   print it again on each change, until Ready at its\n"
     "                generation (exit 0) or Stalled (exit 1), or until\n"
     "                interrupted; with -o json, one JSON object a line\n"},
    {"history", "the Service's revisions (ControllerRevisions)", "",
     "Lists the ControllerRevisions the Service owns (label\n"
     "breakwater.io/service=NAME), oldest first: revision, name, image, the\n"
     "template fields changed from the revision before, and which one\n"
     "status.currentRevision and status.updateRevision name and the spec\n"
     "matches now.\n"},
    {"undo", "write a revision's template back into the spec", " [--to-revision N]",
     "Writes a revision's template (image, env, resources, probes, ...) back\n"
     "into the Service's spec, keeping replicas, paused, rollout and route; the\n"
     "operator rolls it out. The write carries the resourceVersion read, so a\n"
     "change made meanwhile is not overwritten: the undo fails instead.\n"
     "\n"
     "  --to-revision N   the revision to go back to (default: the newest one\n"
     "                    older than the revision the spec matches; the\n"
     "                    newest one when the spec matches none)\n"},
    {"pause", "stop rolling out template changes (spec.paused)", "",
     "Sets spec.paused: template changes wait until resume; scaling applies.\n"},
    {"resume", "roll out template changes again", "",
     "Clears spec.paused: a template change made while paused rolls out.\n"},
    {"restart", "a new rollout of the same spec (spec.restartAt)", "",
     "Sets spec.restartAt to now (RFC 3339): the operator rolls the pods out\n"
     "again with the same spec. A paused Service restarts when resumed.\n"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char common_flags[] =
    "  -n, --namespace NS    the Service's namespace (default: the context's)\n"
    "  -o, --output FORMAT   text (default) or json\n"
    "      --kubeconfig PATH the kubeconfig (default: $KUBECONFIG, then\n"
    "                        ~/.kube/config)\n"
    "      --context NAME    its context (default: current-context)\n"
    "  -h, --help            this help\n";

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s COMMAND NAME [flags]\n"
		"\n"
		"Steers the rollouts of breakwater Services (services.breakwater.io).\n"
		"\n"
		"Commands:\n",
		prog);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\nFlags of every command:\n%s\n"
		"\"%s COMMAND --help\" tells more. Exit status: 0 done, 1 failed,\n"
		"2 usage. See docs/plugin.md.\n",
		common_flags, prog);
}

static void command_usage(FILE *out, const char *prog, const struct command *c)
{
	fprintf(out, "usage: %s %s NAME%s [flags]\n\n%s\nFlags:\n%s", prog, c->name, c->flags,
		c->help, common_flags);
}

static int usage_error(const struct args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct args *a, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", a->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s %s%s--help)\n", a->prog, a->cmd ? a->cmd : "", a->cmd ? " " : "");
	return 2;
}

/* The value of a flag: "--flag=V", "--flag V", "-xV" or "-x V". */
static int flag_value(int argc, char **argv, int *i, const char *shortf, const char *longf,
		      const char **value)
{
	const char *arg = argv[*i];
	size_t n = strlen(longf);

	if (strncmp(arg, longf, n) == 0 && arg[n] == '=') {
		*value = arg + n + 1;
		return 1;
	}
	if (shortf && strncmp(arg, shortf, 2) == 0 && arg[2] && strcmp(arg, shortf) != 0) {
		*value = arg + 2;
		return 1;
	}
	if (strcmp(arg, longf) != 0 && !(shortf && strcmp(arg, shortf) == 0))
		return 0;
	if (*i + 1 >= argc) {
		*value = NULL;
		return 1;
	}
	*value = argv[++*i];
	return 1;
}

/* 0: run; 1: help printed (exit 0); 2: usage error printed. */
static int parse(struct args *a, int argc, char **argv, const struct command **cmd)
{
	const char *v, *output = NULL, *revision = NULL;
	int help = 0;

	*cmd = NULL;
	for (int i = 0; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			help = 1;
		} else if (strcmp(arg, "-w") == 0 || strcmp(arg, "--watch") == 0) {
			a->watch = 1;
		} else if (flag_value(argc, argv, &i, "-n", "--namespace", &v) ||
			   flag_value(argc, argv, &i, NULL, "--kubeconfig", &v) ||
			   flag_value(argc, argv, &i, NULL, "--context", &v) ||
			   flag_value(argc, argv, &i, "-o", "--output", &v) ||
			   flag_value(argc, argv, &i, NULL, "--to-revision", &v)) {
			const char *f = arg[1] == '-' ? arg : arg[1] == 'n' ? "-n" : "-o";
			char name[32];

			snprintf(name, sizeof(name), "%.*s", (int)strcspn(f, "="), f);
			if (!v || !*v)
				return usage_error(a, "flag %s needs a value", name);
			if (strncmp(name, "--namespace", 11) == 0 || strcmp(name, "-n") == 0)
				a->ns = v;
			else if (strcmp(name, "--kubeconfig") == 0)
				a->kubeconfig = v;
			else if (strcmp(name, "--context") == 0)
				a->context = v;
			else if (strcmp(name, "--to-revision") == 0)
				revision = v;
			else
				output = v;
		} else if (arg[0] == '-' && arg[1]) {
			return usage_error(a, "unknown flag %s", arg);
		} else if (!a->cmd) {
			a->cmd = arg;
		} else if (!a->name) {
			a->name = arg;
		} else {
			return usage_error(a, "one NAME only: unexpected argument '%s'", arg);
		}
	}
	if (a->cmd) {
		for (size_t i = 0; i < N_COMMANDS; i++)
			if (strcmp(commands[i].name, a->cmd) == 0)
				*cmd = &commands[i];
		if (!*cmd) {
			const char *bad = a->cmd;

			a->cmd = NULL;
			return usage_error(a, "unknown command '%s'", bad);
		}
	}
	if (help) {
		if (*cmd)
			command_usage(stdout, a->prog, *cmd);
		else
			usage(stdout, a->prog);
		return 1;
	}
	if (!*cmd) {
		usage(stderr, a->prog);
		return 2;
	}
	if (!a->name)
		return usage_error(a, "%s needs the NAME of a Service", a->cmd);
	if (output && strcmp(output, "json") == 0)
		a->json = 1;
	else if (output && strcmp(output, "text") != 0)
		return usage_error(a, "-o takes text or json, not '%s'", output);
	if (a->watch && strcmp(a->cmd, "status") != 0)
		return usage_error(a, "--watch is a flag of status, not of %s", a->cmd);
	if (revision) {
		char *end;

		if (strcmp(a->cmd, "undo") != 0)
			return usage_error(a, "--to-revision is a flag of undo, not of %s", a->cmd);
		errno = 0;
		a->to_revision = strtoll(revision, &end, 10);
		if (errno || *end || end == revision || a->to_revision < 1)
			return usage_error(
			    a, "--to-revision takes a revision number (1, 2, ...), not '%s'",
			    revision);
	}
	return 0;
}

struct session {
	const struct args *a;
	struct bw_kube_config cfg;
	struct bw_client *client;
	const char *ns;
};

static int fail(const struct args *a, const char *message)
{
	fprintf(stderr, "%s: %s\n", a->prog, message);
	return 1;
}

static int connect_cluster(struct session *s)
{
	struct bw_error err = {0};
	struct bw_client_options opts = {.timeout_ms = 30000};

	if (bw_kubeconfig_load_default(&s->cfg, s->a->kubeconfig, s->a->context, &err) != 0)
		return fail(s->a, err.message);
	if (bw_client_new(&s->client, &s->cfg, &opts, &err) != 0)
		return fail(s->a, err.message);
	s->ns = s->a->ns ? s->a->ns : s->cfg.namespace;
	return 0;
}

static int get_service(struct session *s, json_t **svc)
{
	struct bw_error err = {0};
	char msg[768];

	if (bw_client_get(s->client, &bw_res_bw_services, s->ns, s->a->name, NULL, svc, &err) == 0)
		return 0;
	if (err.code == BW_ENOTFOUND)
		snprintf(msg, sizeof(msg), "no Service \"%s\" in namespace \"%s\"", s->a->name,
			 s->ns);
	else
		snprintf(msg, sizeof(msg), "reading Service \"%s\" in namespace \"%s\": %s",
			 s->a->name, s->ns, err.message);
	return fail(s->a, msg);
}

static int read_history(struct session *s, const json_t *svc, struct bw_plugin_history *h)
{
	struct bw_error err = {0};
	char selector[128], msg[768];
	struct bw_list_options lo = {.label_selector = selector};
	json_t *items = NULL;
	int ret;

	snprintf(selector, sizeof(selector), BW_LABEL_SERVICE "=%s", s->a->name);
	if (bw_client_list(s->client, &res_revisions, s->ns, &lo, &items, NULL, &err) != 0) {
		snprintf(msg, sizeof(msg), "listing the ControllerRevisions of Service \"%s\": %s",
			 s->a->name, err.message);
		return fail(s->a, msg);
	}
	ret = bw_plugin_history_read(h, svc, items, &err);
	json_decref(items);
	if (ret)
		return fail(s->a, err.message);
	if (h->skipped)
		fprintf(stderr,
			"%s: warning: %zu ControllerRevision(s) of Service \"%s\" skipped: no "
			"data.spec object or revision\n",
			s->a->prog, h->skipped, s->a->name);
	return 0;
}

static void print_json(const json_t *v, int compact)
{
	char *text = json_dumps(v, compact ? JSON_COMPACT : JSON_INDENT(2));

	if (text)
		puts(text);
	free(text);
	fflush(stdout);
}

/* --- status --- */

struct watch {
	struct session *s;
	json_t *breakers;
	char *last; /* what was printed last */
	int rc;	    /* -1 while watching */
	struct bw_reflector *r;
};

/* Builds and prints the status of svc (unless it is what was printed last);
 * the verdict ends a watch. */
static int show_status(struct watch *w, const json_t *svc)
{
	struct bw_plugin_history h;
	json_t *summary;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	int verdict;

	if (read_history(w->s, svc, &h) != 0)
		return 1;
	summary = bw_plugin_status_summary(svc, w->breakers, &h);
	bw_plugin_history_release(&h);
	if (!summary)
		return fail(w->s->a, "out of memory");
	if (w->s->a->json) {
		text = json_dumps(summary, w->s->a->watch ? JSON_COMPACT : JSON_INDENT(2));
	} else if ((mem = open_memstream(&text, &len))) {
		bw_plugin_status_print(mem, summary);
		fclose(mem);
	}
	json_decref(summary);
	if (!text)
		return fail(w->s->a, "out of memory");
	if (!w->last || strcmp(w->last, text) != 0) {
		if (w->last && !w->s->a->json)
			putchar('\n');
		fputs(text, stdout);
		if (w->s->a->json)
			putchar('\n');
		fflush(stdout);
		free(w->last);
		w->last = text;
	} else {
		free(text);
	}
	verdict = bw_plugin_status_verdict(svc);
	if (verdict)
		w->rc = verdict > 0 ? 0 : 1;
	return 0;
}

static int watch_list_begin(void *ctx)
{
	(void)ctx;
	return 0;
}

static int watch_list_end(int complete, const char *rv, void *ctx)
{
	(void)complete;
	(void)rv;
	(void)ctx;
	return 0;
}

static void watch_done(struct watch *w)
{
	if (w->rc >= 0)
		bw_reflector_stop(w->r);
}

static int watch_item(json_t *obj, void *ctx)
{
	struct watch *w = ctx;

	if (w->rc < 0 && show_status(w, obj) != 0)
		w->rc = 1;
	watch_done(w);
	return 0;
}

static int watch_event(enum bw_watch_type type, json_t *obj, void *ctx)
{
	struct watch *w = ctx;

	if (w->rc >= 0)
		return 0;
	if (type == BW_WATCH_DELETED) {
		fprintf(stderr, "%s: Service \"%s\" in namespace \"%s\" was deleted\n",
			w->s->a->prog, w->s->a->name, w->s->ns);
		w->rc = 1;
	} else if (show_status(w, obj) != 0) {
		w->rc = 1;
	}
	watch_done(w);
	return 0;
}

static int cmd_status(struct session *s, json_t *svc)
{
	struct bw_error err = {0};
	struct watch w = {.s = s, .rc = -1};
	char selector[300], msg[768];
	int ret;

	if (bw_client_list(s->client, &bw_res_bw_breakers, s->ns, NULL, &w.breakers, NULL, &err) !=
	    0) {
		snprintf(msg, sizeof(msg), "listing the Breakers of namespace \"%s\": %s", s->ns,
			 err.message);
		return fail(s->a, msg);
	}
	ret = show_status(&w, svc);
	if (ret || !s->a->watch || w.rc >= 0) {
		free(w.last);
		json_decref(w.breakers);
		return ret ? ret : s->a->watch ? w.rc : 0;
	}
	/* a watch on the one Service, from a list: nothing between the GET
	 * above and the watch's start is missed */
	snprintf(selector, sizeof(selector), "metadata.name=%s", s->a->name);
	{
		struct bw_reflector_options ro = {.resource = &bw_res_bw_services,
						  .namespace = s->ns,
						  .field_selector = selector,
						  .paged_lists = 1};
		struct bw_reflector_handlers hd = {.list_begin = watch_list_begin,
						   .list_item = watch_item,
						   .list_end = watch_list_end,
						   .event = watch_event,
						   .ctx = &w};

		if (bw_reflector_new(&w.r, s->client, &ro, &hd, &err) != 0) {
			free(w.last);
			json_decref(w.breakers);
			return fail(s->a, err.message);
		}
		bw_reflector_run(w.r);
		bw_reflector_free(w.r);
	}
	free(w.last);
	json_decref(w.breakers);
	return w.rc < 0 ? 1 : w.rc;
}

/* --- history, undo --- */

static int cmd_history(struct session *s, json_t *svc)
{
	struct bw_plugin_history h;
	json_t *summary;

	if (read_history(s, svc, &h) != 0)
		return 1;
	summary = bw_plugin_history_summary(svc, &h);
	bw_plugin_history_release(&h);
	if (!summary)
		return fail(s->a, "out of memory");
	if (s->a->json)
		print_json(summary, 0);
	else if (json_array_size(summary) == 0)
		printf(
		    "No revisions of Service \"%s\" in namespace \"%s\" yet (no ControllerRevision "
		    "labelled " BW_LABEL_SERVICE "=%s that it owns).\n",
		    s->a->name, s->ns, s->a->name);
	else
		bw_plugin_history_print(stdout, summary);
	json_decref(summary);
	return 0;
}

static void join(char *buf, size_t size, const json_t *fields)
{
	const json_t *f;
	size_t i, len = 0;

	buf[0] = '\0';
	json_array_foreach(fields, i, f)
	{
		if (len < size)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
						json_string_value(f));
	}
}

static int cmd_undo(struct session *s, json_t *svc)
{
	struct bw_plugin_history h;
	struct bw_error err = {0};
	const struct bw_plugin_revision *r;
	json_t *patch = NULL, *out = NULL, *current = NULL, *changes = NULL;
	char msg[1024], fields[512];
	size_t index;
	int rc = 1;

	if (read_history(s, svc, &h) != 0)
		return 1;
	if (bw_plugin_undo_target(&h, s->a->name, s->a->to_revision, &index, &err) != 0) {
		fail(s->a, err.message);
		goto done;
	}
	r = &h.items[index];
	current = bw_revision_template(bw_json_get(svc, "spec"));
	changes = bw_plugin_template_diff(current, r->template);
	if (!current || !changes) {
		fail(s->a, "out of memory");
		goto done;
	}
	if (json_array_size(changes) == 0) {
		if (s->a->json) {
			json_t *res =
			    json_pack("{s:s, s:s, s:I, s:s, s:[], s:b}", "namespace", s->ns, "name",
				      s->a->name, "revision", (json_int_t)r->revision,
				      "revisionName", r->name, "changes", "written", 0);

			print_json(res, 0);
			json_decref(res);
		} else {
			printf("service %s/%s already has the template of revision %lld (%s): "
			       "nothing written\n",
			       s->ns, s->a->name, r->revision, r->name);
		}
		rc = 0;
		goto done;
	}
	if (!(patch = bw_plugin_undo_patch(svc, r->template, &err))) {
		fail(s->a, err.message);
		goto done;
	}
	if (bw_client_patch(s->client, &bw_res_bw_services, s->ns, s->a->name, NULL, BW_PATCH_JSON,
			    patch, NULL, &out, &err) != 0) {
		if (err.code == BW_ECONFLICT)
			snprintf(msg, sizeof(msg),
				 "Service \"%s\" in namespace \"%s\" changed since it was read "
				 "(resourceVersion %s): nothing written; run undo again",
				 s->a->name, s->ns,
				 json_string_value(
				     bw_json_get(bw_json_get(svc, "metadata"), "resourceVersion")));
		else
			snprintf(msg, sizeof(msg), "writing Service \"%s\" in namespace \"%s\": %s",
				 s->a->name, s->ns, err.message);
		fail(s->a, msg);
		goto done;
	}
	if (s->a->json) {
		json_t *res = json_pack(
		    "{s:s, s:s, s:I, s:s, s:O, s:b, s:o}", "namespace", s->ns, "name", s->a->name,
		    "revision", (json_int_t)r->revision, "revisionName", r->name, "changes",
		    changes, "written", 1, "generation",
		    json_deep_copy(bw_json_get(bw_json_get(out, "metadata"), "generation")));

		print_json(res, 0);
		json_decref(res);
	} else {
		join(fields, sizeof(fields), changes);
		printf("service %s/%s rolled back to revision %lld (%s)\n", s->ns, s->a->name,
		       r->revision, r->name);
		printf("  spec fields written: %s\n", fields);
		if (json_string_value(bw_json_get(r->template, "image")))
			printf("  image: %s\n",
			       json_string_value(bw_json_get(r->template, "image")));
		if (json_is_true(bw_json_get(bw_json_get(out, "spec"), "paused")))
			printf("  the Service is paused: it rolls out on resume\n");
	}
	rc = 0;
done:
	json_decref(patch);
	json_decref(out);
	json_decref(current);
	json_decref(changes);
	bw_plugin_history_release(&h);
	return rc;
}

/* --- pause, resume, restart --- */

static int write_spec(struct session *s, json_t *spec_patch, json_t **out)
{
	struct bw_error err = {0};
	json_t *patch = json_pack("{s:o}", "spec", spec_patch);
	char msg[768];
	int ret;

	ret = bw_client_patch(s->client, &bw_res_bw_services, s->ns, s->a->name, NULL,
			      BW_PATCH_MERGE, patch, NULL, out, &err);
	json_decref(patch);
	if (ret) {
		snprintf(msg, sizeof(msg), "writing Service \"%s\" in namespace \"%s\": %s",
			 s->a->name, s->ns, err.message);
		return fail(s->a, msg);
	}
	return 0;
}

static int cmd_pause(struct session *s, json_t *svc, int pause)
{
	int was = json_is_true(bw_json_get(bw_json_get(svc, "spec"), "paused"));
	json_t *out = NULL;

	if (was != pause && write_spec(s, json_pack("{s:b}", "paused", pause), &out) != 0)
		return 1;
	json_decref(out);
	if (s->a->json) {
		json_t *res = json_pack("{s:s, s:s, s:b, s:b}", "namespace", s->ns, "name",
					s->a->name, "paused", pause, "changed", was != pause);

		print_json(res, 0);
		json_decref(res);
	} else if (was == pause) {
		printf("service %s/%s is already %s\n", s->ns, s->a->name,
		       pause ? "paused" : "not paused");
	} else {
		printf("service %s/%s %s\n", s->ns, s->a->name, pause ? "paused" : "resumed");
	}
	return 0;
}

static int cmd_restart(struct session *s, json_t *svc)
{
	char now[BW_RFC3339_SIZE];
	const char *got;
	json_t *out = NULL;

	if (bw_rfc3339_now(now, sizeof(now), 0) != 0)
		return fail(s->a, "cannot read the clock");
	if (write_spec(s, json_pack("{s:s}", "restartAt", now), &out) != 0)
		return 1;
	got = json_string_value(bw_json_get(bw_json_get(out, "spec"), "restartAt"));
	if (!got || strcmp(got, now) != 0) {
		json_decref(out);
		return fail(s->a, "the API server dropped spec.restartAt: the installed "
				  "services.breakwater.io CRD has no such field (apply this "
				  "version's crds/)");
	}
	json_decref(out);
	if (s->a->json) {
		json_t *res = json_pack("{s:s, s:s, s:s}", "namespace", s->ns, "name", s->a->name,
					"restartAt", now);

		print_json(res, 0);
		json_decref(res);
	} else {
		printf("service %s/%s restarted: spec.restartAt is %s\n", s->ns, s->a->name, now);
		if (json_is_true(bw_json_get(bw_json_get(svc, "spec"), "paused")))
			printf("  the Service is paused: it rolls out on resume\n");
	}
	return 0;
}

int bw_plugin_main(const char *prog, int argc, char **argv)
{
	struct args a = {.prog = prog};
	struct session s = {.a = &a};
	const struct command *cmd;
	json_t *svc = NULL;
	int rc;

	if ((rc = parse(&a, argc, argv, &cmd)) != 0)
		return rc == 1 ? 0 : 2;
	/* the client's and the reflector's logs are for the operator */
	bw_log_configure(BW_LOG_ERROR, BW_LOG_TEXT, NULL);
	if ((rc = connect_cluster(&s)) != 0 || (rc = get_service(&s, &svc)) != 0)
		goto done;
	if (strcmp(a.cmd, "status") == 0)
		rc = cmd_status(&s, svc);
	else if (strcmp(a.cmd, "history") == 0)
		rc = cmd_history(&s, svc);
	else if (strcmp(a.cmd, "undo") == 0)
		rc = cmd_undo(&s, svc);
	else if (strcmp(a.cmd, "pause") == 0 || strcmp(a.cmd, "resume") == 0)
		rc = cmd_pause(&s, svc, strcmp(a.cmd, "pause") == 0);
	else
		rc = cmd_restart(&s, svc);
done:
	json_decref(svc);
	bw_client_free(s.client);
	bw_kubeconfig_release(&s.cfg);
	return rc;
}
