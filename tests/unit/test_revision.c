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

int main(void)
{
	test_template();
	test_hash();
	test_undo();
	return check_exit();
}
