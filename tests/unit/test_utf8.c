/* Unit tests for lib/utf8.c (cuts at a character boundary, repair of broken
 * sequences) and bw_json_append_vprintf in lib/json.c, which uses them so
 * that a long warning stays a string jansson accepts. */
#include <stdarg.h>
#include <string.h>

#include <jansson.h>

#include "check.h"
#include "json.h"
#include "utf8.h"

static int append(json_t *array, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int append(json_t *array, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = bw_json_append_vprintf(array, fmt, ap);
	va_end(ap);
	return rc;
}

static void test_cut(void)
{
	/* "a" + e-acute (2 bytes) + euro sign (3) + an emoji (4): 10 bytes */
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";

	CHECK_INT(10, (int)bw_utf8_cut(s, 10, 20), "what fits is kept whole");
	CHECK_INT(10, (int)bw_utf8_cut(s, 10, 10), "exactly at the cap");
	CHECK_INT(6, (int)bw_utf8_cut(s, 10, 9), "inside the emoji: cut before it");
	CHECK_INT(6, (int)bw_utf8_cut(s, 10, 7), "after its lead byte: before it too");
	CHECK_INT(6, (int)bw_utf8_cut(s, 10, 6), "at a boundary: there");
	CHECK_INT(3, (int)bw_utf8_cut(s, 10, 5), "inside the euro sign: before it");
	CHECK_INT(1, (int)bw_utf8_cut(s, 10, 2), "inside the e-acute: before it");
	CHECK_INT(0, (int)bw_utf8_cut(s, 10, 0), "a cap of 0 keeps nothing");
	CHECK_INT(4, (int)bw_utf8_cut("abcdef", 6, 4), "ASCII is cut at the cap");
}

static void test_seq(void)
{
	static const struct {
		const char *s;
		int n;
		const char *why;
	} cases[] = {
	    {"a", 1, "ASCII"},
	    {"\xc3\xa9", 2, "two bytes"},
	    {"\xe2\x82\xac", 3, "three bytes"},
	    {"\xf0\x9f\x98\x80", 4, "four bytes"},
	    {"\xc0\xaf", 0, "an overlong form"},
	    {"\xe0\x80\xaf", 0, "an overlong three-byte form"},
	    {"\xed\xa0\x80", 0, "a surrogate"},
	    {"\xf4\x90\x80\x80", 0, "above U+10FFFF"},
	    {"\xf5\x80\x80\x80", 0, "a lead byte that never starts a sequence"},
	    {"\x80", 0, "a lone continuation byte"},
	    {"\xe2\x82", 0, "a sequence cut by the end of the string"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(cases[i].n, (int)bw_utf8_seq((const unsigned char *)cases[i].s), "%s",
			  cases[i].why);
}

static void test_repair(void)
{
	char cut[] = "price: 5\xe2\x82";
	char mixed[] = "a\x80"
		       "b\xc3\xa9"
		       "c\xed\xa0\x80"
		       "d";
	char valid[] = "caf\xc3\xa9 \xf0\x9f\x98\x80";

	bw_utf8_repair(cut);
	CHECK_STR("price: 5", cut, "a sequence cut at the end is dropped");
	bw_utf8_repair(mixed);
	CHECK_STR("ab\xc3\xa9"
		  "cd",
		  mixed, "broken bytes inside are dropped, the rest kept");
	bw_utf8_repair(valid);
	CHECK_STR("caf\xc3\xa9 \xf0\x9f\x98\x80", valid, "valid text is left as it is");
}

static void test_append(void)
{
	json_t *array = json_array();
	char name[700];
	const char *got;
	size_t i;

	/* 698 bytes of two-byte characters: the cap, 511 bytes, falls inside
	 * the 256th */
	for (i = 0; i + 2 < sizeof(name); i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	name[i] = '\0';
	CHECK_INT(0, append(array, "%s", name), "a warning longer than the cap is appended");
	got = json_string_value(json_array_get(array, 0));
	CHECK(got != NULL, "as a string jansson accepts");
	CHECK(got && strlen(got) <= BW_JSON_MESSAGE_MAX, "cut to the cap (%zu bytes)",
	      got ? strlen(got) : 0);
	CHECK(got && strlen(got) == 510, "at the last whole character (%zu bytes)",
	      got ? strlen(got) : 0);
	CHECK_INT(0, append(array, "dependency %s: %d", "orders", 3), "a short one");
	CHECK_STR("dependency orders: 3", json_string_value(json_array_get(array, 1)),
		  "formatted as printf does");
	json_decref(array);
}

int main(void)
{
	test_cut();
	test_seq();
	test_repair();
	test_append();
	return check_exit();
}
