/*
 * webhook/review_memo.c: answers to reviews that differ only in their uid.
 * Every review.json of tests/unit/data/admission/m* (the mutation cases) is
 * remembered with an answer written by bw_admission_response_write() for
 * its uid; the same body with another uid must then get exactly what that
 * writer gives for the other uid, and any other change (a byte of the
 * object, the inputs key, a uid JSON would escape) must get nothing. Then
 * the refusals (a uid not written plainly, a response holding it twice, the
 * byte cap), kube-api-access names (a span only as a "name" member's value
 * of five lower-case letters or digits), the object's managedFields (left
 * out whole, and only there) and the table's bounds. Runs from the
 * repository root.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../webhook/admission.h"
#include "../../webhook/review_memo.h"
#include "check.h"
#include "json.h"

#define DATA "tests/unit/data/admission"

/* The inputs callback: the key is arg's string; the namespace and Service
 * it was asked about are kept for the checks. */
struct inputs {
	const char *key;
	char ns[256], service[256];
	int calls;
};

static int inputs_fn(void *arg, const char *ns, const char *service, struct bw_buf *key)
{
	struct inputs *in = arg;

	in->calls++;
	snprintf(in->ns, sizeof(in->ns), "%s", ns);
	snprintf(in->service, sizeof(in->service), "%s", service);
	return bw_buf_puts(key, in->key);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (s = malloc((size_t)n + 1)) != NULL) {
		*len = fread(s, 1, (size_t)n, f);
		s[*len] = '\0';
	}
	fclose(f);
	return s;
}

/* body with request.uid's value replaced by the JSON text uid_json. */
static char *with_uid(const char *body, size_t len, const char *uid_json, size_t *out_len)
{
	const char *request, *uid;
	size_t request_len, uid_len, n = strlen(uid_json);
	char *out;

	if (bw_json_member(body, len, "request", &request, &request_len) != 0 ||
	    bw_json_member(request, request_len, "uid", &uid, &uid_len) != 0)
		return NULL;
	*out_len = len - uid_len + n;
	out = malloc(*out_len + 1);
	memcpy(out, body, (size_t)(uid - body));
	memcpy(out + (uid - body), uid_json, n);
	memcpy(out + (uid - body) + n, uid + uid_len, len - (size_t)(uid - body) - uid_len);
	out[*out_len] = '\0';
	return out;
}

/* An answer for uid, with a patch and a warning to carry. */
static char *answer_for(const char *uid, size_t *len)
{
	json_t *patch = json_pack("[{s:s, s:s, s:s}]", "op", "add", "path",
				  "/metadata/annotations/x", "value", "\"uid\":\"quoted\"");
	json_t *warnings = json_pack("[s]", "a warning naming uid \"x\"");
	struct bw_admission_response r = {.allowed = 1, .patch = patch, .warnings = warnings};
	char *text = NULL;

	bw_admission_response_write(uid, &r, &text, len, NULL);
	json_decref(patch);
	json_decref(warnings);
	return text;
}

static void check_fixture(const char *name)
{
	char path[512];
	size_t len = 0, resp_len = 0, other_len = 0, want_len = 0, got_len = 0, bad_len = 0;
	char *body, *resp = NULL, *other = NULL, *want = NULL, *got = NULL, *bad = NULL;
	struct bw_admission_request req = {0};
	struct bw_review_memo *memo = bw_review_memo_new();
	struct inputs in = {.key = "key-1"};
	const char *result = NULL;
	size_t entries, bytes;

	snprintf(path, sizeof(path), "%s/%s/review.json", DATA, name);
	body = slurp(path, &len);
	if (!body || bw_admission_parse(body, len, &req, NULL) != 0) {
		/* a malformed review is never remembered: nothing to check here */
		bw_admission_request_release(&req);
		bw_review_memo_free(memo);
		free(body);
		return;
	}
	resp = answer_for(req.uid, &resp_len);
	CHECK_INT(0,
		  bw_review_memo_remember(memo, body, len, req.uid, req.namespace, "orders",
					  "key-1", 5, resp, resp_len, "patched"),
		  "%s: remembered", name);
	bw_review_memo_usage(memo, &entries, &bytes);
	CHECK_INT(1, entries, "%s: one entry", name);

	other = with_uid(body, len, "\"6f1c0e4e-0000-4000-8000-00000000abcd\"", &other_len);
	want = answer_for("6f1c0e4e-0000-4000-8000-00000000abcd", &want_len);
	CHECK_INT(
	    1,
	    bw_review_memo_answer(memo, other, other_len, inputs_fn, &in, &got, &got_len, &result),
	    "%s: another uid, the same inputs: answered", name);
	CHECK(got && got_len == want_len && memcmp(got, want, want_len) == 0,
	      "%s: exactly the answer written for the other uid", name);
	CHECK_STR("patched", result, "%s: with the result label", name);
	CHECK_STR(req.namespace, in.ns, "%s: the inputs asked for its namespace", name);
	CHECK_STR("orders", in.service, "%s: and Service", name);
	free(got);
	got = NULL;

	in.key = "key-2";
	CHECK_INT(
	    0,
	    bw_review_memo_answer(memo, other, other_len, inputs_fn, &in, &got, &got_len, &result),
	    "%s: the inputs changed: not answered", name);
	in.key = "key-1";

	/* one byte of the object changed (its last character before the end) */
	bad = with_uid(body, len, "\"6f1c0e4e-0000-4000-8000-00000000abcd\"", &bad_len);
	bad[bad_len - 2] = bad[bad_len - 2] == ' ' ? '\n' : ' ';
	CHECK_INT(
	    0, bw_review_memo_answer(memo, bad, bad_len, inputs_fn, &in, &got, &got_len, &result),
	    "%s: a byte changed past the uid: not answered", name);
	free(bad);
	/* a uid JSON escapes, or too long, is not spliced */
	bad = with_uid(body, len, "\"a\\\"b\"", &bad_len);
	CHECK_INT(
	    0, bw_review_memo_answer(memo, bad, bad_len, inputs_fn, &in, &got, &got_len, &result),
	    "%s: a uid with an escape: not answered", name);
	free(bad);
	bad = with_uid(body, len, "\"\"", &bad_len);
	CHECK_INT(
	    0, bw_review_memo_answer(memo, bad, bad_len, inputs_fn, &in, &got, &got_len, &result),
	    "%s: an empty uid: not answered", name);
	free(bad);
	bad = with_uid(body, len, "17", &bad_len);
	CHECK_INT(
	    0, bw_review_memo_answer(memo, bad, bad_len, inputs_fn, &in, &got, &got_len, &result),
	    "%s: a uid that is no string: not answered", name);
	free(bad);

	/* a pod asked for a second later: its managedFields' time differs */
	{
		char *later =
		    with_uid(body, len, "\"6f1c0e4e-0000-4000-8000-00000000abcd\"", &bad_len);
		char *time = strstr(later, "\"managedFields\":[");

		time = time ? strstr(time, "\"time\":\"") : NULL;
		if (time && strlen(time) > 28 && time[27] == 'Z') {
			time[26] = time[26] == '9' ? '0' : (char)(time[26] + 1);
			CHECK_INT(1,
				  bw_review_memo_answer(memo, later, bad_len, inputs_fn, &in, &got,
							&got_len, &result),
				  "%s: its managedFields' time a second later: answered", name);
			CHECK(got && got_len == want_len && memcmp(got, want, want_len) == 0,
			      "%s: with exactly the answer written for its uid", name);
			free(got);
			got = NULL;
		}
		free(later);
	}

	/* as the server does it: the miss's look reused by the remember; the
	 * same answers. A look at another body is not used for this one. */
	{
		struct bw_review_memo *seen = bw_review_memo_new();
		struct bw_review_memo_look look, look_other;

		CHECK_INT(0,
			  bw_review_memo_look_up(seen, body, len, inputs_fn, &in, &got, &got_len,
						 &result, &look),
			  "%s: an empty memo answers nothing", name);
		CHECK(look.body == body && look.len == len && look.spans.n >= 1,
		      "%s: the miss says what it found (%zu spans)", name, look.spans.n);
		CHECK_INT(0,
			  bw_review_memo_remember_seen(seen, &look, body, len, req.uid,
						       req.namespace, "orders", "key-1", 5, resp,
						       resp_len, "patched"),
			  "%s: remembered from the look", name);
		CHECK_INT(1,
			  bw_review_memo_look_up(seen, other, other_len, inputs_fn, &in, &got,
						 &got_len, &result, &look_other),
			  "%s: then another uid is answered", name);
		CHECK(got && got_len == want_len && memcmp(got, want, want_len) == 0,
		      "%s: with exactly the answer written for it", name);
		free(got);
		got = NULL;
		bw_review_memo_free(seen);

		seen = bw_review_memo_new();
		look_other.body = other; /* a look at the other body, handed over with this one */
		look_other.len = len;
		look_other.spans.n = 0;
		bw_review_memo_remember_seen(seen, &look_other, body, len, req.uid, req.namespace,
					     "orders", "key-1", 5, resp, resp_len, "patched");
		CHECK_INT(1,
			  bw_review_memo_answer(seen, other, other_len, inputs_fn, &in, &got,
						&got_len, &result),
			  "%s: a look at another body is not taken for this one", name);
		free(got);
		got = NULL;
		bw_review_memo_free(seen);
	}

	bw_admission_request_release(&req);
	bw_review_memo_free(memo);
	free(body);
	free(resp);
	free(other);
	free(want);
}

/* The refusals and bounds, on a small review. */
static void check_refusals(void)
{
	const char *body =
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
	    "\"request\":{\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"object\":{\"metadata\":{\"uid\":\"inner\"}},\"uid\":\"u-1\",\"namespace\":\"shop\"}"
	    "}";
	size_t len = strlen(body), resp_len, got_len, other_len, entries, bytes;
	char *resp = answer_for("u-1", &resp_len), *got = NULL, *other;
	struct bw_review_memo *memo = bw_review_memo_new();
	struct inputs in = {.key = "k"};
	const char *result;
	char twice[512];

	/* request.uid is found past a uid inside the object */
	CHECK_INT(0,
		  bw_review_memo_remember(memo, body, len, "u-1", "shop", "", "k", 1, resp,
					  resp_len, "allowed"),
		  "a review whose object holds a uid of its own: remembered");
	other = with_uid(body, len, "\"u-2\"", &other_len);
	CHECK_INT(
	    1,
	    bw_review_memo_answer(memo, other, other_len, inputs_fn, &in, &got, &got_len, &result),
	    "another uid: answered");
	CHECK(got && strstr(got, "\"uid\":\"u-2\"") && !strstr(got, "u-1"),
	      "with the new uid in place of the old");
	CHECK_STR("", in.service, "a pod of no Service is asked about as \"\"");
	free(got);
	free(other);
	bw_review_memo_free(memo);

	/* not kept: the uid given is not the body's, it is no plain uid, the
	 * response holds it twice or not at all */
	memo = bw_review_memo_new();
	bw_review_memo_remember(memo, body, len, "u-9", "shop", "", "k", 1, resp, resp_len,
				"allowed");
	snprintf(twice, sizeof(twice), "%s{\"uid\":\"u-1\"}", resp);
	bw_review_memo_remember(memo, body, len, "u-1", "shop", "", "k", 1, twice, strlen(twice),
				"allowed");
	bw_review_memo_remember(memo, body, len, "u-1", "shop", "", "k", 1, "{}", 2, "allowed");
	bw_review_memo_usage(memo, &entries, &bytes);
	CHECK_INT(0, entries, "a wrong uid, a response with it twice or without it: not kept");

	/* the byte cap: a response past it is not kept */
	{
		size_t big_len = BW_REVIEW_MEMO_MAX_BYTES + 1024;
		char *big = malloc(big_len + 1);
		size_t head =
		    (size_t)snprintf(big, big_len, "{\"response\":{\"uid\":\"u-1\",\"x\":\"");

		memset(big + head, 'a', big_len - head - 3);
		memcpy(big + big_len - 3, "\"}}", 3);
		big[big_len] = '\0';
		CHECK_INT(0,
			  bw_review_memo_remember(memo, body, len, "u-1", "shop", "", "k", 1, big,
						  big_len, "allowed"),
			  "an answer past the cap: no error");
		bw_review_memo_usage(memo, &entries, &bytes);
		CHECK_INT(0, entries, "and not kept");
		free(big);
	}

	/* many reviews: at most one entry a slot, the bytes within the cap */
	for (int i = 0; i < 4 * BW_REVIEW_MEMO_SLOTS; i++) {
		char b[256], uid[32];

		snprintf(uid, sizeof(uid), "u-%d", i);
		snprintf(b, sizeof(b), "{\"request\":{\"uid\":\"%s\",\"n\":%d}}", uid, i);
		free(resp);
		resp = answer_for(uid, &resp_len);
		bw_review_memo_remember(memo, b, strlen(b), uid, "shop", "", "k", 1, resp, resp_len,
					"allowed");
	}
	bw_review_memo_usage(memo, &entries, &bytes);
	CHECK(entries > BW_REVIEW_MEMO_SLOTS / 2 && entries <= BW_REVIEW_MEMO_SLOTS,
	      "%d reviews: %zu entries, at most one a slot", 4 * BW_REVIEW_MEMO_SLOTS, entries);
	CHECK(bytes > 0 && bytes <= BW_REVIEW_MEMO_MAX_BYTES, "%zu bytes held, within the cap",
	      bytes);
	bw_review_memo_free(memo);
	free(resp);
}

/* body with each occurrence of from replaced by to (the same length). */
static char *replaced(const char *body, const char *from, const char *to)
{
	char *out = strdup(body), *at;

	for (at = strstr(out, from); at; at = strstr(at + 1, from))
		memcpy(at, to, strlen(to));
	return out;
}

/* One change to a remembered review, and whether the memo still answers
 * it (with another uid besides). */
struct replacement {
	const char *from, *to, *what;
	int hit;
};

/* body (uid "u-1") remembered, then each of cases applied to it with the
 * uid "u-2": answered with that uid, or not answered, as the case says. */
static void check_replacements(const char *topic, const char *body, const struct replacement *cases,
			       size_t n)
{
	size_t resp_len, got_len;
	char *resp = answer_for("u-1", &resp_len), *got = NULL;
	struct bw_review_memo *memo = bw_review_memo_new();
	struct inputs in = {.key = "k"};
	const char *result;

	CHECK_INT(0,
		  bw_review_memo_remember(memo, body, strlen(body), "u-1", "shop", "", "k", 1, resp,
					  resp_len, "allowed"),
		  "%s: a review with them remembered", topic);
	for (size_t i = 0; i < n; i++) {
		char *other = replaced(body, cases[i].from, cases[i].to);
		char *uid2 = replaced(other, "\"u-1\"", "\"u-2\"");

		CHECK_INT(cases[i].hit,
			  bw_review_memo_answer(memo, uid2, strlen(uid2), inputs_fn, &in, &got,
						&got_len, &result),
			  "%s: %s (and another uid): %s", topic, cases[i].what,
			  cases[i].hit ? "answered" : "not answered");
		if (cases[i].hit)
			CHECK(got && strstr(got, "\"uid\":\"u-2\""), "with its own uid");
		free(got);
		got = NULL;
		free(other);
		free(uid2);
	}
	bw_review_memo_free(memo);
	free(resp);
}

/* kube-api-access names: spans only as a "name" member's value, of exactly
 * five lower-case letters or digits. */
static void check_token_names(void)
{
	const char *body =
	    "{\"request\":{\"uid\":\"u-1\",\"object\":{\"metadata\":{\"labels\":"
	    "{\"breakwater.io/service\":\"kube-api-access-lbl01\"}},\"spec\":{\"volumes\":"
	    "[{\"name\":\"kube-api-access-tjx4t\"}],\"containers\":[{\"volumeMounts\":"
	    "[{\"name\":\"kube-api-access-tjx4t\"}],\"env\":[{\"name\":\"kube-api-access-abcdef\"},"
	    "{\"name\":\"kube-api-access-ABCDE\"}]}]}}}}";
	static const struct replacement cases[] = {
	    {"tjx4t", "vzr8c", "both token names renamed", 1},
	    {"\"kube-api-access-tjx4t\"}],\"cont", "\"kube-api-access-99999\"}],\"cont",
	     "one of them renamed", 1},
	    {"lbl01", "lbl02", "the same text as a label value changed", 0},
	    {"abcdef", "abcdeg", "a name of six characters changed", 0},
	    {"ABCDE", "ABCDF", "a name of upper-case letters changed", 0},
	};
	size_t resp_len, entries, bytes;
	char *resp = answer_for("u-1", &resp_len);
	struct bw_review_memo *memo;

	check_replacements("kube-api-access names", body, cases, sizeof(cases) / sizeof(cases[0]));

	/* past BW_REVIEW_MEMO_TOKENS_MAX of them: not kept */
	memo = bw_review_memo_new();
	{
		char many[4096];
		size_t n =
		    (size_t)snprintf(many, sizeof(many), "{\"request\":{\"uid\":\"u-1\",\"v\":[");

		for (int i = 0; i <= BW_REVIEW_MEMO_TOKENS_MAX; i++)
			n += (size_t)snprintf(many + n, sizeof(many) - n,
					      "%s{\"name\":\"kube-api-access-aaa%02d\"}",
					      i ? "," : "", i);
		snprintf(many + n, sizeof(many) - n, "]}}");
		bw_review_memo_remember(memo, many, strlen(many), "u-1", "shop", "", "k", 1, resp,
					resp_len, "allowed");
		bw_review_memo_usage(memo, &entries, &bytes);
		CHECK_INT(0, entries, "%d kube-api-access names: not kept",
			  BW_REVIEW_MEMO_TOKENS_MAX + 1);
	}
	bw_review_memo_free(memo);
	free(resp);
}

/* The object's metadata.managedFields: its value is left out (the API
 * server writes the second a pod was asked for in its "time"), and nothing
 * else named so. */
static void check_managed_fields(void)
{
	const char *body =
	    "{\"request\":{\"uid\":\"u-1\",\"object\":{\"metadata\":{\"generateName\":"
	    "\"memo-6d9f-\",\"managedFields\":[{\"manager\":\"kube-controller-manager\","
	    "\"operation\":\"Update\",\"time\":\"2026-12-01T07:14:44Z\",\"fieldsV1\":"
	    "{\"f:spec\":{}}}],\"annotations\":{\"note\":\"T07:14:44Z\"}},\"spec\":"
	    "{\"volumes\":[{\"name\":\"kube-api-access-tjx4t\"}],\"managedFields\":"
	    "\"s-1\"}}}}";
	static const struct replacement cases[] = {
	    {"07:14:44Z\",\"f", "07:14:45Z\",\"f", "its time a second later", 1},
	    {"{\"f:spec\":{}}", "{\"f:meta\":{}}", "another member of it changed", 1},
	    {"07:14:44Z\"}}", "07:14:45Z\"}}", "the same text in an annotation changed", 0},
	    {"\"s-1\"", "\"s-2\"", "a managedFields member elsewhere changed", 0},
	};
	size_t len = strlen(body), resp_len, got_len;
	char *resp = answer_for("u-1", &resp_len), *got = NULL;
	struct bw_review_memo *memo = bw_review_memo_new();
	struct inputs in = {.key = "k"};
	const char *result;

	check_replacements("managedFields", body, cases, sizeof(cases) / sizeof(cases[0]));
	CHECK_INT(0,
		  bw_review_memo_remember(memo, body, len, "u-1", "shop", "", "k", 1, resp,
					  resp_len, "allowed"),
		  "a review with managedFields: remembered");
	/* the same body without the member: another body */
	{
		const char *cut = strstr(body, "\"managedFields\"");
		const char *after = strstr(cut, "],") + 2;
		char *without = malloc(len + 1);
		size_t head = (size_t)(cut - body);

		memcpy(without, body, head);
		strcpy(without + head, after);
		CHECK_INT(0,
			  bw_review_memo_answer(memo, without, strlen(without), inputs_fn, &in,
						&got, &got_len, &result),
			  "managedFields: the review without them: not answered");
		free(got);
		free(without);
	}
	bw_review_memo_free(memo);
	free(resp);
}

int main(void)
{
	DIR *d = opendir(DATA);
	struct dirent *e;
	int cases = 0;

	CHECK(d != NULL, "%s is readable (run from the repository root)", DATA);
	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] != 'm')
			continue;
		check_fixture(e->d_name);
		cases++;
	}
	if (d)
		closedir(d);
	CHECK(cases >= 20, "%d mutation fixtures read", cases);
	check_refusals();
	check_token_names();
	check_managed_fields();
	return check_exit();
}
