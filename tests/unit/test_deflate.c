/* Texts packed against a preset dictionary: round trips (empty, short, with
 * and without the dictionary, long and incompressible), what the dictionary
 * saves, and bytes that do not unpack to the length asked for. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deflate.h"
#include "error.h"

static const char typical[] =
    "{\"apiVersion\":\"breakwater.io/v1alpha1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"orders\",\"namespace\":\"shop\"},\"spec\":{\"image\":\"registry.local/shop/orders:v1\","
    "\"replicas\":3,\"port\":8080},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":"
    "\"True\",\"reason\":\"RolloutComplete\",\"message\":\"3 of 3 replicas run "
    "registry.local/shop/orders:v1 and are available\"}]}}";

/* Packs and unpacks text; 1 when the text came back byte for byte. *size
 * gets the packed size. */
static int round_trip(const char *text, size_t len, const struct bw_deflate_dict *dict,
		      size_t *size)
{
	unsigned char *bytes = NULL;
	char *back;
	int same;

	*size = 0;
	if (bw_deflate_text(text, len, dict, &bytes, size) != 0)
		return 0;
	back = bw_inflate_text(bytes, *size, len, dict);
	same = back && memcmp(back, text, len) == 0 && back[len] == '\0';
	free(back);
	free(bytes);
	return same;
}

static void test_round_trips(void)
{
	struct bw_deflate_dict dict = {typical, sizeof(typical) - 1};
	const char *other = "{\"apiVersion\":\"breakwater.io/v1alpha1\",\"kind\":\"Service\","
			    "\"metadata\":{\"name\":\"users\",\"namespace\":\"shop\"},\"spec\":{"
			    "\"image\":\"registry.local/shop/users:v7\",\"replicas\":2}}";
	size_t plain, with_dict, n = 1 << 20;
	char *big = malloc(n);
	uint32_t x = 12345;

	CHECK(round_trip("", 0, NULL, &plain), "the empty text, no dictionary");
	CHECK(round_trip("", 0, &dict, &plain), "the empty text, a dictionary");
	CHECK(round_trip("a\0b", 3, &dict, &plain), "a text with a NUL comes back whole");
	CHECK(round_trip(other, strlen(other), NULL, &plain), "a Service, no dictionary");
	CHECK(round_trip(other, strlen(other), &dict, &with_dict), "a Service, a dictionary");
	CHECK(with_dict < plain / 2, "the dictionary halves it at least: %zu against %zu bytes",
	      with_dict, plain);
	CHECK(round_trip(typical, strlen(typical), &dict, &with_dict) && with_dict < 20,
	      "the dictionary's own text is a few bytes: %zu", with_dict);
	for (size_t i = 0; big && i < n; i++) { /* incompressible: a linear congruence */
		x = x * 1103515245u + 12345u;
		big[i] = (char)(x >> 24);
	}
	CHECK(big && round_trip(big, n, &dict, &plain) && plain > n,
	      "1 MiB of noise comes back whole (%zu bytes packed)", plain);
	free(big);
}

static void test_refusals(void)
{
	struct bw_deflate_dict dict = {typical, sizeof(typical) - 1}, wrong = {"xyz", 3};
	unsigned char *bytes = NULL, junk[] = {0xff, 0xfe, 0x00, 0x13};
	size_t size = 0;
	char *back;

	CHECK_INT(BW_ETOOBIG, bw_deflate_text("", BW_DEFLATE_MAX + 1, NULL, &bytes, &size),
		  "past the maximum length: refused");
	CHECK(bytes == NULL && size == 0, "and nothing allocated");
	if (bw_deflate_text(typical, strlen(typical), &dict, &bytes, &size) != 0) {
		CHECK(0, "the typical text packs");
		return;
	}
	back = bw_inflate_text(bytes, size, strlen(typical) - 1, &dict);
	CHECK(back == NULL, "a text longer than text_len is refused, not cut");
	free(back);
	back = bw_inflate_text(bytes, size, strlen(typical) + 1, &dict);
	CHECK(back == NULL, "a text shorter than text_len is refused");
	free(back);
	back = bw_inflate_text(bytes, size, strlen(typical), &wrong);
	CHECK(back == NULL || strcmp(back, typical) != 0,
	      "another dictionary does not give the text back");
	free(back);
	back = bw_inflate_text(bytes, size - 1, strlen(typical), &dict);
	CHECK(back == NULL, "cut bytes are refused");
	free(back);
	back = bw_inflate_text(junk, sizeof(junk), 10, &dict);
	CHECK(back == NULL, "bytes that are no deflate stream are refused");
	free(back);
	free(bytes);
}

int main(void)
{
	test_round_trips();
	test_refusals();
	return check_exit();
}
