/*
 * Unit tests for lib/error.c: messages stay within their cap whatever is
 * prepended (a 520-byte kubeconfig path overflowed the stack under ASan),
 * the reason survives a long prefix, and a cut never splits a UTF-8
 * character (jansson refuses such a string, and a status or event with it).
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "error.h"

/* A string of n bytes: a repeated, or "é" (2 bytes) repeated when utf8. */
static void fill(char *buf, size_t n, int utf8)
{
	size_t i;

	for (i = 0; i + (utf8 ? 2 : 1) <= n; i += utf8 ? 2 : 1)
		memcpy(buf + i, utf8 ? "\xc3\xa9" : "a", utf8 ? 2 : 1);
	buf[i] = '\0';
}

static int valid_utf8(const char *s)
{
	json_t *j = json_string(s);
	int ok = j != NULL;

	json_decref(j);
	return ok;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void test_prefix(void)
{
	struct bw_error err;
	char path[1200];
	size_t bad = 0;

	bw_error_set(&err, BW_EIO, "cannot read it: %s", "No such file or directory");
	bw_error_prefix(&err, "kubeconfig %s", "/etc/kube.yaml");
	CHECK_STR("kubeconfig /etc/kube.yaml: cannot read it: No such file or directory",
		  err.message, "a short prefix goes before the message");
	CHECK_INT(BW_EIO, err.code, "the code is kept");

	/* every length around the cap: from 500 on, the old buffer overflowed */
	for (size_t n = 490; n <= 530; n++) {
		fill(path, n, 0);
		bw_error_set(&err, BW_EPARSE, "YAML error at line 1, column 2: no");
		bw_error_prefix(&err, "kubeconfig /%s", path);
		if (strlen(err.message) >= sizeof(err.message) ||
		    !ends_with(err.message, ": YAML error at line 1, column 2: no") ||
		    strncmp(err.message, "kubeconfig /aaa", 15) != 0)
			bad = n;
	}
	CHECK(!bad, "prefixes of 490..530 bytes are cut with the reason kept whole (%zu: %s)", bad,
	      bad ? err.message : "all");
	CHECK(strstr(err.message, "...: YAML") != NULL, "a cut prefix ends in \"...\" (%s)",
	      err.message);

	fill(path, 1100, 0);
	bw_error_set(&err, BW_EINVAL, "%s", path);
	bw_error_prefix(&err, "%s", path);
	CHECK_INT(sizeof(err.message) - 1, strlen(err.message),
		  "a long prefix on a long message fills the cap exactly");
	CHECK(strstr(err.message, "...: aaa") != NULL,
	      "and the message keeps half of it (%.20s...)", strstr(err.message, "..."));
}

static void test_utf8(void)
{
	struct bw_error err;
	char text[1200];

	for (size_t n = 505; n <= 520; n++) {
		fill(text, n, 1);
		bw_error_set(&err, BW_EINVAL, "x%s", text);
		if (!valid_utf8(err.message)) {
			CHECK(0, "a %zu-byte UTF-8 message is cut at a character boundary", n);
			return;
		}
		bw_error_set(&err, BW_EINVAL, "spec.image: %s", "too long");
		bw_error_prefix(&err, "x%s", text);
		if (!valid_utf8(err.message) || !ends_with(err.message, "spec.image: too long")) {
			CHECK(0, "a %zu-byte UTF-8 prefix is cut at a character boundary: %s", n,
			      err.message);
			return;
		}
		bw_error_set(&err, BW_EINVAL, "x%s", text);
		bw_error_prefix(&err, "y%s", text);
		if (!valid_utf8(err.message)) {
			CHECK(0, "a %zu-byte UTF-8 message under a prefix is cut whole", n);
			return;
		}
	}
	CHECK(1, "cut messages and prefixes stay valid UTF-8");
}

static void test_abbrev(void)
{
	char buf[41], text[300];
	const char *s;

	CHECK_STR("/short", bw_error_abbrev("/short", 40, buf, sizeof(buf)),
		  "a short string is shown as it is");
	fill(text, 100, 0);
	text[0] = '/';
	text[99] = 'z';
	s = bw_error_abbrev(text, 40, buf, sizeof(buf));
	CHECK_INT(40, strlen(s), "a long one is cut to the maximum");
	CHECK(s[0] == '/' && s[39] == 'z' && strstr(s, "...") != NULL,
	      "keeping its head and tail around \"...\" (%s)", s);
	fill(text, 200, 1);
	s = bw_error_abbrev(text, 40, buf, sizeof(buf));
	CHECK(strlen(s) <= 40 && valid_utf8(s), "a UTF-8 one is cut at character boundaries (%s)",
	      s);
}

int main(void)
{
	test_prefix();
	test_utf8();
	test_abbrev();
	return check_exit();
}
