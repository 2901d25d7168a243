/*
 * Unit tests for operator/applied.c: an apply is remembered by digest and
 * Deployment generation, forgotten on request, and stale after the resync
 * age; many keys (chains in one bucket) stay apart.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "../../operator/applied.h"

int main(void)
{
	struct bw_applied *memo = bw_applied_new();
	unsigned char a[BW_APPLIED_DIGEST_LEN] = {1}, b[BW_APPLIED_DIGEST_LEN] = {2};
	char key[64];
	int all = 1;

	CHECK(memo != NULL, "a memo is made");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 1, 1000, 600), "nothing is known at first");
	CHECK_INT(0, bw_applied_record(memo, "shop/orders", a, 3, 1000), "an apply is recorded");
	CHECK(bw_applied_same(memo, "shop/orders", a, 3, 1000, 600), "the same apply is known");
	CHECK(bw_applied_same(memo, "shop/orders", a, 3, 1599, 600), "until the resync age");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 3, 1600, 600), "and not from then on");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 3, 999, 600),
	      "nor when the clock went back");
	CHECK(!bw_applied_same(memo, "shop/orders", b, 3, 1000, 600), "another digest is new");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 4, 1000, 600),
	      "a Deployment edited since (generation 4) is applied again");
	CHECK(!bw_applied_same(memo, "shop/users", a, 3, 1000, 600), "another key is unknown");
	CHECK(bw_applied_known(memo, "shop/orders") && !bw_applied_known(memo, "shop/users"),
	      "known: a key recorded once");
	CHECK(bw_applied_known(memo, "shop/orders") &&
		  !bw_applied_same(memo, "shop/orders", a, 3, 5000, 600),
	      "still known past the resync age, when it is no longer the same");
	CHECK_INT(0, bw_applied_record(memo, "shop/orders", b, 4, 1100), "a new apply replaces it");
	CHECK(bw_applied_same(memo, "shop/orders", b, 4, 1100, 600), "and is known");
	CHECK_INT(1, bw_applied_count(memo), "one entry per key");
	bw_applied_forget(memo, "shop/orders");
	CHECK(!bw_applied_same(memo, "shop/orders", b, 4, 1100, 600), "a forgotten key is unknown");
	CHECK_INT(0, bw_applied_count(memo), "and gone");
	CHECK(!bw_applied_known(memo, "shop/orders"), "and no longer known");
	bw_applied_forget(memo, "shop/orders");
	CHECK_INT(0, bw_applied_count(memo), "forgetting twice is harmless");

	{
		unsigned char d[BW_APPLIED_DIGEST_LEN];
		char hex[BW_APPLIED_HEX_LEN + 1];

		for (int i = 0; i < BW_APPLIED_DIGEST_LEN; i++)
			d[i] = (unsigned char)(i * 8 + 7);
		bw_applied_hex(d, hex);
		CHECK_STR("070f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff", hex,
			  "the digest in hex, for the annotation");
	}

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "ns-%d/svc-%d", i % 40, i);
		a[1] = (unsigned char)i;
		all &= bw_applied_record(memo, key, a, i, 1000) == 0;
	}
	CHECK(all, "5,000 keys are recorded");
	CHECK_INT(5000, bw_applied_count(memo), "as 5,000 entries");
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "ns-%d/svc-%d", i % 40, i);
		a[1] = (unsigned char)i;
		all &= bw_applied_same(memo, key, a, i, 1000, 600);
		all &= !bw_applied_same(memo, key, a, i + 1, 1000, 600);
	}
	CHECK(all, "each with its own digest and generation");
	for (int i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "ns-%d/svc-%d", i % 40, i);
		bw_applied_forget(memo, key);
	}
	CHECK_INT(2500, bw_applied_count(memo), "forgetting half leaves the other half");
	a[1] = 1;
	CHECK(bw_applied_same(memo, "ns-1/svc-1", a, 1, 1000, 600), "which is still known");
	bw_applied_free(memo);
	bw_applied_free(NULL);
	return check_exit();
}
