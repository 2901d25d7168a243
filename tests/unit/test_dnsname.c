/* Unit tests for lib/dnsname.c: the RFC 1123 and RFC 1035 label rules, as
 * apimachinery's validation states them. */
#include <string.h>

#include "check.h"
#include "dnsname.h"

static const struct {
	const char *s;
	int rfc1123, rfc1035;
} cases[] = {
    {"shop", 1, 1},   {"a", 1, 1},	{"0", 1, 0},   {"1team", 1, 0}, /* a valid namespace, not a
									   valid Service name */
    {"team-1", 1, 1}, {"a-b-c9", 1, 1}, {"", 0, 0},    {"-a", 0, 0},	      {"a-", 0, 0},
    {"A", 0, 0},      {"a_b", 0, 0},	{"a.b", 0, 0}, {"caf\xc3\xa9", 0, 0}, {"a b", 0, 0},
};

int main(void)
{
	char longest[BW_DNS_LABEL_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_INT(cases[i].rfc1123, bw_is_dns1123_label(cases[i].s), "RFC 1123 \"%s\": %s",
			  cases[i].s, cases[i].rfc1123 ? "a label" : "not a label");
		CHECK_INT(cases[i].rfc1035, bw_is_dns1035_label(cases[i].s), "RFC 1035 \"%s\": %s",
			  cases[i].s, cases[i].rfc1035 ? "a label" : "not a label");
	}
	CHECK(!bw_is_dns1123_label(NULL) && !bw_is_dns1035_label(NULL), "NULL is not a label");

	memset(longest, 'a', BW_DNS_LABEL_MAX);
	longest[BW_DNS_LABEL_MAX] = '\0';
	CHECK(bw_is_dns1123_label(longest) && bw_is_dns1035_label(longest), "63 bytes is a label");
	longest[BW_DNS_LABEL_MAX] = 'a';
	longest[BW_DNS_LABEL_MAX + 1] = '\0';
	CHECK(!bw_is_dns1123_label(longest) && !bw_is_dns1035_label(longest), "64 bytes is not");
	return check_exit();
}
