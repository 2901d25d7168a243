/* Unit tests for model/revision.c: a Service's template, its hash and the
 * spec an undo writes. */
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "revision.h"

static json_t *parse(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);

	if (!j)
		printf("# bad test JSON: %s\n", text);
	return j;
}

static void test_template(void)
{
	json_t *spec =
	    parse("{\"image\":\"a:1\",\"replicas\":3,\"paused\":true,"
		  "\"env\":[{\"name\":\"X\",\"value\":\"1\"}],\"route\":{\"pathPrefix\":\"/a\"},"
		  "\"rollout\":{\"maxSurge\":1},\"revisionHistoryLimit\":5,\"futureField\":7}");
	json_t *t = bw_revision_template(spec);

	CHECK(t != NULL, "a template from an object");
	CHECK_STR("a:1", json_string_value(json_object_get(t, "image")), "image is in it");
	CHECK(json_object_get(t, "env") != NULL, "env is in it");
	CHECK(json_object_get(t, "futureField") != NULL, "a field not listed is in it");
	for (const char *const *k = bw_revision_kept_fields; *k; k++)
		CHECK(json_object_get(t, *k) == NULL, "%s is not in it", *k);
	json_decref(t);
	t = json_string("x");
	CHECK(bw_revision_template(t) == NULL, "no template from a string");
	json_decref(t);
	json_decref(spec);
}

static void test_hash(void)
{
	json_t *a = parse("{\"image\":\"a:1\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]}");
	json_t *b = parse("{\"env\":[{\"value\":\"1\",\"name\":\"X\"}],\"image\":\"a:1\"}");
	json_t *c = parse("{\"image\":\"a:2\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}]}");
	char ha[BW_REVISION_HASH_LEN + 1], hb[sizeof(ha)], hc[sizeof(ha)];

	CHECK_INT(0, bw_revision_hash(a, ha), "hash a");
	CHECK_INT(0, bw_revision_hash(b, hb), "hash b");
	CHECK_INT(0, bw_revision_hash(c, hc), "hash c");
	CHECK_INT(BW_REVISION_HASH_LEN, (int)strlen(ha), "the hash has its length");
	CHECK(strspn(ha, "0123456789abcdef") == BW_REVISION_HASH_LEN,
	      "lowercase hex (a name part)");
	CHECK_STR(ha, hb, "key order does not change the hash");
	CHECK(strcmp(ha, hc) != 0, "another image, another hash");
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void test_undo(void)
{
	json_t *current = parse(
	    "{\"image\":\"a:2\",\"replicas\":4,\"paused\":false,"
	    "\"env\":[{\"name\":\"BAD\",\"value\":\"1\"}],\"route\":{\"pathPrefix\":\"/a\"}}");
	json_t *old = parse("{\"image\":\"a:1\",\"replicas\":1}");
	struct bw_error err = {0};
	json_t *spec = bw_revision_undo_spec(current, old, &err);

	CHECK(spec != NULL, "an undo spec");
	CHECK_STR("a:1", json_string_value(json_object_get(spec, "image")), "the revision's image");
	CHECK(json_object_get(spec, "env") == NULL, "the failed env is gone");
	CHECK_INT(4, json_integer_value(json_object_get(spec, "replicas")),
		  "replicas stay as they are now, not the revision's");
	CHECK(json_object_get(spec, "route") != NULL, "the route stays");
	CHECK(json_object_get(spec, "paused") != NULL, "paused stays");
	json_decref(spec);

	CHECK(bw_revision_undo_spec(current, json_null(), &err) == NULL,
	      "a revision without a spec");
	CHECK(strstr(err.message, "data.spec") != NULL, "the message names data.spec: %s",
	      err.message);
	CHECK(bw_revision_undo_spec(json_null(), old, &err) == NULL, "a Service without a spec");
	json_decref(current);
	json_decref(old);
}

static void test_name(void)
{
	json_t *spec = parse("{\"image\":\"a:1\",\"replicas\":3}");
	json_t *other = parse("{\"image\":\"a:1\",\"replicas\":5,\"paused\":true}");
	char a[BW_REVISION_NAME_MAX], b[BW_REVISION_NAME_MAX], tiny[8];

	CHECK_INT(0, bw_revision_name("orders", spec, a, sizeof(a)), "a name");
	CHECK(strncmp(a, "orders-", 7) == 0 && strlen(a) == 7 + BW_REVISION_HASH_LEN,
	      "<service>-<hash> (%s)", a);
	CHECK_INT(0, bw_revision_name("orders", other, b, sizeof(b)), "another name");
	CHECK_STR(a, b, "replicas and paused are not the template: the same revision");
	CHECK_INT(-1, bw_revision_name("orders", spec, tiny, sizeof(tiny)), "too small: -1");
	json_decref(spec);
	json_decref(other);
}

static void test_plan(void)
{
	const struct bw_revision_entry e[] = {{"s-1", 1}, {"s-2", 2}, {"s-3", 3}, {"s-4", 4}};
	const char *prune[4];
	struct bw_revision_plan p;

	bw_revision_plan(e, 4, "s-4", "s-4", -1, prune, &p);
	CHECK(p.write_revision == 0 && !p.create && p.n_prune == 0,
	      "plan: the newest is the update revision, default limit: nothing to do");
	bw_revision_plan(e, 4, "s-5", "s-4", 0, prune, &p);
	CHECK(p.create && p.write_revision == 5, "plan: a new template is created as 5");
	CHECK(p.n_prune == 3 && strcmp(prune[0], "s-1") == 0 && strcmp(prune[2], "s-3") == 0,
	      "plan: limit 0 prunes every other but the current, oldest first");
	bw_revision_plan(e, 4, "s-2", "s-4", 1, prune, &p);
	CHECK(!p.create && p.write_revision == 5, "plan: a template that comes back is renumbered");
	CHECK(p.n_prune == 1 && strcmp(prune[0], "s-1") == 0,
	      "plan: limit 1 keeps update, current and the newest other (3)");
	bw_revision_plan(e, 4, "s-1", NULL, 1, prune, &p);
	CHECK(p.write_revision == 5 && p.n_prune == 2 && strcmp(prune[0], "s-2") == 0,
	      "plan: no current revision (never rolled out): only the update one is kept besides "
	      "the limit");
	bw_revision_plan(NULL, 0, "s-1", NULL, -1, prune, &p);
	CHECK(p.create && p.write_revision == 1 && p.n_prune == 0, "plan: the first revision is 1");
}

/* The operator's config hash is in the template (a new hash, a new
 * revision) and in the spec a rollback renders (the plugin's undo drops
 * it: tests/unit/data/plugin/config-hash); configRollout is kept. */
static void test_config_hash(void)
{
	json_t *a = parse("{\"image\":\"a:1\",\"configHash\":\"0011\",\"configRollout\":"
			  "\"Enabled\"}");
	json_t *b = parse("{\"image\":\"a:1\",\"configHash\":\"0022\"}");
	json_t *c = parse("{\"image\":\"a:1\",\"configHash\":\"0011\"}");
	char na[BW_REVISION_NAME_MAX], nb[sizeof(na)], nc[sizeof(na)];
	struct bw_error err = {0};
	json_t *spec;

	CHECK_INT(0, bw_revision_name("s", a, na, sizeof(na)), "name a");
	CHECK_INT(0, bw_revision_name("s", b, nb, sizeof(nb)), "name b");
	CHECK_INT(0, bw_revision_name("s", c, nc, sizeof(nc)), "name c");
	CHECK(strcmp(na, nb) != 0, "another config hash, another revision");
	CHECK_STR(na, nc, "configRollout is not part of the template");
	spec = bw_revision_undo_spec(b, a, &err);
	CHECK(spec && json_object_get(spec, "configHash") &&
		  strcmp(json_string_value(json_object_get(spec, "configHash")), "0011") == 0,
	      "a rollback renders the revision's own config hash");
	CHECK(spec && json_object_get(spec, "configRollout") == NULL,
	      "configRollout stays the current spec's (absent there)");
	json_decref(spec);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

int main(void)
{
	test_config_hash();
	test_template();
	test_hash();
	test_undo();
	test_name();
	test_plan();
	return check_exit();
}
