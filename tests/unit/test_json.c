/* lib/json.h: bw_json_member(), the scan that finds one member's text;
 * bw_json_member_cut(), the span that leaves a nested member out, and
 * bw_json_member_at(), its value;
 * bw_json_load_kept(), the parse of only the members a decision reads;
 * bw_json_write(), the compact writer of responses;
 * bw_json_int_in_range(), the integer reader of the models. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "buf.h"
#include "error.h"
#include "json.h"
#include "json_keep.h"

/* The member's text as a string ("" when not found), and the code. */
static int member(const char *text, size_t len, const char *key, char *out, size_t size)
{
	const char *v = NULL;
	size_t n = 0;
	int rc = bw_json_member(text, len, key, &v, &n);

	out[0] = '\0';
	if (rc == 0 && n < size) {
		memcpy(out, v, n);
		out[n] = '\0';
	}
	return rc;
}

static void test_found(void)
{
	static const char doc[] =
	    " { \"metadata\" : {\"name\":\"a\\\"}{\",\"labels\":{\"spec\":\"x\"}},"
	    "\"kind\":\"Service\", \"n\":-1.5e3,\"t\":true,\"list\":[1,[2,{\"spec\":3}],\"]\"],"
	    "\"spec\" : {\"port\":8000,\"dependsOn\":[\"users\",\"pay\\\\\"]} , \"status\":{}}";
	char out[256];

	CHECK_INT(0, member(doc, strlen(doc), "spec", out, sizeof(out)), "spec is found");
	CHECK_STR("{\"port\":8000,\"dependsOn\":[\"users\",\"pay\\\\\"]}", out,
		  "... its whole value, past strings with quotes, brackets and escaped "
		  "backslashes, and not a nested \"spec\"");
	CHECK_INT(0, member(doc, strlen(doc), "kind", out, sizeof(out)), "a string member");
	CHECK_STR("\"Service\"", out, "... with its quotes");
	CHECK_INT(0, member(doc, strlen(doc), "n", out, sizeof(out)), "a number");
	CHECK_STR("-1.5e3", out, "... to its end");
	CHECK_INT(0, member(doc, strlen(doc), "t", out, sizeof(out)), "a literal");
	CHECK_STR("true", out, "... to its end");
	CHECK_INT(0, member(doc, strlen(doc), "status", out, sizeof(out)), "the last member");
	CHECK_STR("{}", out, "... an empty object");
	CHECK_INT(0, member("{\"a\":1,\"a\":2}", 13, "a", out, sizeof(out)), "a duplicate key");
	CHECK_STR("1", out, "... the first is found");
}

static void test_not_found(void)
{
	static const char doc[] =
	    "{\"metadata\":{\"spec\":1},\"specs\":2,\"spe\":3,\"x\":[\"spec\"]}";
	char out[64];

	CHECK_INT(BW_ENOTFOUND, member(doc, strlen(doc), "spec", out, sizeof(out)),
		  "nested, longer, shorter and string \"spec\"s are not the member");
	CHECK_INT(BW_ENOTFOUND, member("{}", 2, "spec", out, sizeof(out)), "an empty object");
	CHECK_INT(BW_ENOTFOUND, member(" { } ", 5, "spec", out, sizeof(out)), "... with blanks");
	CHECK_INT(BW_ENOTFOUND, member("{\"sp\\u0065c\":1}", 15, "spec", out, sizeof(out)),
		  "a key spelled with escapes is not matched (as documented)");
}

static void test_refused(void)
{
	static const char *const bad[] = {
	    "",
	    "[]",
	    "\"spec\"",
	    "{\"spec\"}",
	    "{\"spec\":}",
	    "{\"a\":1 \"spec\":2}",
	    "{\"a\":1,}",
	    "{spec:1}",
	    "{\"a\":\"unterminated",
	    "{\"a\":{\"b\":[1,2}",
	    "{\"a\":1",
	    "{\"a",
	    "{\"spec\":8000",
	};
	char out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(BW_EPARSE, member(bad[i], strlen(bad[i]), "spec", out, sizeof(out)),
			  "'%s' is refused", bad[i]);
}

/* Every prefix of a document, in a buffer of exactly that size (ASan sees a
 * read past it): the scan stays inside and finds the member only when its
 * whole value is in. */
static void test_bounds(void)
{
	static const char doc[] = "{\"a\":\"x\\\"\",\"spec\":{\"p\":[1,\"]\"]},\"z\":0}";
	size_t full = strlen(doc), ok = 0, found_at = 0;
	const char *v;
	size_t n;

	for (size_t len = 0; len <= full; len++) {
		char *copy = malloc(len ? len : 1);
		int rc;

		memcpy(copy, doc, len);
		rc = bw_json_member(copy, len, "spec", &v, &n);
		if (rc == 0) {
			ok += v >= copy && v + n <= copy + len;
			if (!found_at)
				found_at = len;
		}
		free(copy);
	}
	CHECK(found_at > 0 && found_at == (size_t)(strstr(doc, "]}") - doc) + 2,
	      "the member is found once its value is complete (at %zu bytes)", found_at);
	CHECK_INT(full - found_at + 1, ok, "... and always within the text");
}

/* text with [start, end) left out, in out. */
static void without(const char *text, size_t start, size_t end, char *out, size_t size)
{
	snprintf(out, size, "%.*s%s", (int)start, text, text + end);
}

/* Each document with its member at path cut out must read as the document
 * jansson reads, with that member deleted; and be exactly the text given. */
static void test_cut(void)
{
	static const char *const path[] = {"object", "metadata", "managedFields", NULL};
	static const struct {
		const char *doc, *want, *what;
	} cases[] = {
	    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"managedFields\":"
	     "[{\"m\":\"k}]\\\"\"}],\"uid\":\"u\"},\"spec\":{}}}",
	     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"uid\":\"u\"},"
	     "\"spec\":{}}}",
	     "a middle member, past a string with brackets and an escaped quote"},
	    {"{\"object\":{\"metadata\":{\"managedFields\":[1], \"name\":\"a\"}}}",
	     "{\"object\":{\"metadata\":{ \"name\":\"a\"}}}", "the first member, its comma too"},
	    {"{\"object\":{\"metadata\":{\"name\":\"a\" , \"managedFields\" : [ ] }}}",
	     "{\"object\":{\"metadata\":{\"name\":\"a\" }}}", "the last member, blanks around"},
	    {"{\"object\":{\"metadata\":{\"managedFields\":[]}}}", "{\"object\":{\"metadata\":{}}}",
	     "the only member"},
	    {"{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"annotations\":"
	     "{\"managedFields\":\"x\"},\"managedFields\":[]},\"spec\":{\"metadata\":{}}}}",
	     "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"annotations\":"
	     "{\"managedFields\":\"x\"}},\"spec\":{\"metadata\":{}}}}",
	     "not an annotation of the same name"},
	};
	char out[512];
	size_t start, end;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *doc = cases[i].doc;
		json_t *full = json_loads(doc, 0, NULL), *cut, *meta;

		CHECK_INT(0, bw_json_member_cut(doc, strlen(doc), path, &start, &end), "%s: found",
			  cases[i].what);
		{
			/* bw_json_member_at(): the value, by the same scan */
			const char *value = NULL;
			size_t value_len = 0;
			json_t *got, *want;

			CHECK_INT(0, bw_json_member_at(doc, strlen(doc), path, &value, &value_len),
				  "%s: bw_json_member_at() finds it", cases[i].what);
			got = value ? json_loadb(value, value_len, 0, NULL) : NULL;
			want = json_object_get(
			    json_object_get(json_object_get(full, "object"), "metadata"),
			    "managedFields");
			CHECK(got && json_equal(got, want), "%s: its value, whole", cases[i].what);
			json_decref(got);
		}
		without(doc, start, end, out, sizeof(out));
		CHECK_STR(cases[i].want, out, "%s: cut as it should be", cases[i].what);
		cut = json_loads(out, 0, NULL);
		meta = json_object_get(json_object_get(full, "object"), "metadata");
		json_object_del(meta, "managedFields");
		CHECK(full && cut && json_equal(full, cut), "%s: the same JSON without it",
		      cases[i].what);
		json_decref(cut);
		cut = bw_json_load_without(doc, strlen(doc), path, 0, NULL);
		CHECK(full && cut && json_equal(full, cut),
		      "%s: bw_json_load_without() parses that", cases[i].what);
		json_decref(full);
		json_decref(cut);
	}
	{
		/* past the member the text is broken: the cut is found (the scan
		 * stops at it), the parse of the rest says what is wrong */
		const char *broken =
		    "{\"object\":{\"metadata\":{\"managedFields\":[]},\"spec\":[}}";
		json_error_t jerr;
		json_t *got;

		CHECK_INT(0, bw_json_member_cut(broken, strlen(broken), path, &start, &end),
			  "broken past the member: the member is found");
		got = bw_json_load_without(broken, strlen(broken), path, 0, &jerr);
		CHECK(!got && jerr.text[0], "... and the parse refuses the rest: %s", jerr.text);
		json_decref(got);
		got = bw_json_load_without("{\"object\":{}}", 13, path, 0, NULL);
		CHECK(got && json_object_size(json_object_get(got, "object")) == 0,
		      "no such member: the text is parsed whole");
		json_decref(got);
	}
	CHECK_INT(BW_ENOTFOUND,
		  bw_json_member_cut("{\"object\":{\"metadata\":{\"name\":\"a\"}}}", 36, path,
				     &start, &end),
		  "a metadata without it");
	CHECK_INT(BW_ENOTFOUND,
		  bw_json_member_cut("{\"object\":{\"spec\":{\"managedFields\":[]}}}", 39, path,
				     &start, &end),
		  "no metadata: not one elsewhere");
	CHECK_INT(BW_EPARSE,
		  bw_json_member_cut("{\"object\":{\"metadata\":{\"managedFields\":[}}}", 40, path,
				     &start, &end),
		  "an unclosed value is refused");
	CHECK_INT(BW_EPARSE,
		  bw_json_member_cut("{\"object\":\"metadata\"}", 21, path, &start, &end),
		  "a string where an object should be is refused");
	{
		const char *value;
		size_t value_len;

		CHECK_INT(BW_ENOTFOUND,
			  bw_json_member_at("{\"object\":{\"spec\":{\"managedFields\":[]}}}", 39,
					    path, &value, &value_len),
			  "bw_json_member_at(): no metadata, not one elsewhere");
		CHECK_INT(BW_EPARSE,
			  bw_json_member_at("{\"object\":{\"metadata\":{\"managedFields\":[}}}", 40,
					    path, &value, &value_len),
			  "bw_json_member_at(): an unclosed value is refused");
	}
}

#define kept(text, ...) bw_json_load_kept(text, strlen(text), __VA_ARGS__)

static void test_load_kept(void)
{
	static const struct bw_json_keep env[] = {{"name", NULL}, {NULL, NULL}};
	static const struct bw_json_keep ctr[] = {{"name", NULL}, {"env", env}, {NULL, NULL}};
	static const struct bw_json_keep spec[] = {{"containers", ctr}, {NULL, NULL}};
	static const struct bw_json_keep meta[] = {{"labels", NULL}, {NULL, NULL}};
	static const struct bw_json_keep obj[] = {{"metadata", meta}, {"spec", spec}, {NULL, NULL}};
	static const struct bw_json_keep top[] = {{"uid", NULL}, {"object", obj}, {NULL, NULL}};
	static const char *const docs[] = {
	    "{\"uid\":\"u\",\"object\":{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"1\"},"
	    "\"managedFields\":[{\"f\":\"}]\\\"\"}]},\"spec\":{\"containers\":[{\"name\":\"c\","
	    "\"image\":\"i\",\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\","
	    "\"valueFrom\":{\"x\":[1,2]}}]},{\"image\":\"j\"}],\"volumes\":[]}},\"userInfo\":{}}",
	    "{ \"zz\" : [ 1 , {\"a\":1} ] , \"uid\" : \"u\" , \"object\" : { } , \"more\" : null }",
	    "{\"a\":1,\"b\":2,\"c\":3}",
	    "{\"uid\":1}",
	    "{}",
	    "{\"object\":{\"spec\":{\"containers\":[\"x\",[{\"image\":1}],{},{\"image\":2}]}}}",
	    "{\"object\":{\"spec\":{\"containers\":{\"name\":\"n\",\"image\":\"i\"}}},\"uid\":"
	    "true}",
	    "{\"object\":[{\"metadata\":{\"labels\":{},\"name\":\"a\"},\"kind\":\"Pod\"}]}",
	    "{\"object\":\"text\",\"uid\":-1.5e3,\"x\":false}",
	};
	char many[2048];
	size_t n = 0;
	json_error_t jerr;
	json_t *got, *want;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		want = json_loads(docs[i], 0, NULL);
		got = bw_json_load_kept(docs[i], strlen(docs[i]), top, 0, &jerr);
		json_keep_only(want, top);
		CHECK(want && got && json_equal(want, got),
		      "kept of doc %zu: as a whole parse, cut", i);
		json_decref(want);
		json_decref(got);
	}

	/* more spans than the inline table holds: every other of 60 members */
	n += (size_t)snprintf(many + n, sizeof(many) - n, "{");
	for (int i = 0; i < 60; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s\"%s%d\":[%d]", i ? "," : "",
				      i % 2 ? "uid" : "drop", i, i);
	n += (size_t)snprintf(many + n, sizeof(many) - n, ",\"uid\":\"last\"}");
	got = bw_json_load_kept(many, n, top, 0, NULL);
	CHECK(got && json_object_size(got) == 1 &&
		  strcmp(json_string_value(json_object_get(got, "uid")), "last") == 0,
	      "60 members, 30 spans: only the kept one is built");
	json_decref(got);

	/* a key written with escapes may spell a kept name: kept whole */
	got = kept("{\"u\\u0069d\":{\"a\":1},\"x\\u0041\":2}", top, 0, NULL);
	CHECK(got && json_object_size(got) == 2 &&
		  json_integer_value(json_object_get(json_object_get(got, "uid"), "a")) == 1,
	      "keys with escapes are kept whole");
	json_decref(got);

	/* what the scan cannot walk is parsed whole and refused by the parser;
	 * what it steps over is not validated */
	got = kept("{\"a\":[1,\"uid\":2}", top, 0, &jerr);
	CHECK(!got && jerr.text[0], "broken brackets: the parser says why (%s)", jerr.text);
	json_decref(got);
	got = kept("[{\"a\":1}]", top, 0, NULL);
	CHECK(json_is_array(got) && json_array_size(got) == 1,
	      "not an object: parsed whole as the parser reads it");
	json_decref(got);
	got = kept("{\"a\":\"\\q\",\"uid\":\"u\"}", top, 0, NULL);
	CHECK(got && json_object_size(got) == 1, "a bad escape left out is not seen");
	json_decref(got);
	got = kept("{\"a\":1,\"uid\":\"\\q\"}", top, 0, &jerr);
	CHECK(!got, "a bad escape kept is refused (%s)", jerr.text);
	json_decref(got);
	got = kept("{\"uid\":1,\"uid\":2}", top, JSON_REJECT_DUPLICATES, &jerr);
	CHECK(!got, "duplicate kept keys are refused as jansson refuses them (%s)", jerr.text);
	json_decref(got);
	got = kept("{\"uid\":1,\"a\":2}", NULL, 0, NULL);
	CHECK(got && json_object_size(got) == 2, "no list: parsed whole");
	json_decref(got);
}

/* bw_json_write() writes what json_dumps(JSON_COMPACT) writes. */
static void test_write(void)
{
	static const char *const docs[] = {
	    "{}",
	    "[]",
	    "{\"a\":[1,-2,{\"b\":null,\"c\":true,\"d\":false}],\"e\":\"x\"}",
	    "[\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\"]",
	    "[\"ctl \\u0001 \\u001f del \\u007f nul \\u0000 end\"]",
	    "[\"caf\\u00e9 \\u2028 \\ud83d\\ude00\",\"\"]",
	    "[1.5,-0.25,1e300,3.0,0.1,123456789012345678,1e-7,-2.5e-300]",
	    "{\"z\":1,\"a\":2,\"m\":{\"y\":[],\"b\":{}}}",
	};
	struct bw_buf b;
	json_t *deep = json_array(), *v;

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		json_t *doc = json_loads(docs[i], JSON_ALLOW_NUL, NULL);
		char *want = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);

		bw_buf_init(&b, 4096);
		CHECK_INT(0, bw_json_write(&b, doc), "doc %zu is written", i);
		CHECK_STR(want, b.data, "doc %zu: as json_dumps() writes it", i);
		bw_buf_release(&b);
		free(want);
		json_decref(doc);
	}

	bw_buf_init(&b, 8);
	v = json_pack("{s:s}", "key", "a value past the cap");
	CHECK_INT(BW_ETOOBIG, bw_json_write(&b, v), "past the buffer's cap: BW_ETOOBIG");
	bw_buf_release(&b);
	json_decref(v);

	v = deep;
	for (int i = 0; i < BW_JSON_WRITE_MAX_DEPTH + 1; i++) {
		json_t *inner = json_array();

		json_array_append_new(v, inner);
		v = inner;
	}
	bw_buf_init(&b, 4096);
	CHECK_INT(BW_EINVAL, bw_json_write(&b, deep), "nested deeper than the limit: BW_EINVAL");
	CHECK_INT(BW_EINVAL, bw_json_write(&b, NULL), "NULL: BW_EINVAL");
	bw_buf_release(&b);
	json_decref(deep);
}

static void test_int_in_range(void)
{
	struct bw_error err;
	json_int_t n = 42;
	json_t *five = json_integer(5), *word = json_string("5"), *big = json_integer(6);

	CHECK_INT(0, bw_json_int_in_range(NULL, "spec.x", 1, 5, &n, &err), "absent: no error");
	CHECK_INT(42, (int)n, "... and the value is left as it was (the caller's default)");
	CHECK_INT(0, bw_json_int_in_range(five, "spec.x", 1, 5, &n, &err), "5 in 1..5");
	CHECK_INT(5, (int)n, "... is read");
	bw_error_clear(&err);
	CHECK_INT(BW_EINVAL, bw_json_int_in_range(word, "spec.x", 1, 5, &n, &err),
		  "a string is refused");
	CHECK_STR("spec.x: must be an integer, got a string", err.message, "... naming the field");
	bw_error_clear(&err);
	CHECK_INT(BW_EINVAL, bw_json_int_in_range(big, "spec.x", 1, 5, &n, &err),
		  "6 in 1..5 is refused");
	CHECK_STR("spec.x: 6 is out of range 1..5", err.message, "... naming the field and range");
	CHECK_INT(5, (int)n, "... and the value is left as it was");
	json_decref(five);
	json_decref(word);
	json_decref(big);
}

int main(void)
{
	test_found();
	test_not_found();
	test_refused();
	test_bounds();
	test_cut();
	test_load_kept();
	test_write();
	test_int_in_range();
	return check_exit();
}
