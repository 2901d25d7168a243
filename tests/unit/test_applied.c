/*
 * Unit tests for operator/applied.c: an apply is remembered by digest and
 * Deployment generation, forgotten on request, and due for a look after the
 * resync age; many keys (chains in one bucket) stay apart; a status write
 * not yet in the cache is told; and whether an object as read already holds
 * what would be applied, data-driven:
 *
 * tests/unit/data/covers/CASE/
 *   live.json      the object as the API server returned it
 *   desired.json   what the operator would apply
 *   expected.json  {"covers": true | false, "at": where the first difference
 *                   is ("" when it covers), "why": the case in words}
 *
 * Runs from the repository root.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fixtures.h"
#include "../../operator/applied.h"

#define MAX_CASES 64

static void covers_case(const char *name)
{
	char dir[512], at[256];
	json_t *live, *desired, *expected;
	int got;

	snprintf(dir, sizeof(dir), "tests/unit/data/covers/%s", name);
	printf("# case covers/%s\n", name);
	live = load(dir, "live.json");
	desired = load(dir, "desired.json");
	expected = load(dir, "expected.json");
	CHECK(live && desired && expected, "%s: has live, desired and expected", name);
	if (live && desired && expected) {
		got = bw_applied_covers_at(live, desired, at, sizeof(at));
		CHECK_INT(json_is_true(json_object_get(expected, "covers")), got, "%s: covers (%s)",
			  name, json_string_value(json_object_get(expected, "why")));
		CHECK_STR(json_string_value(json_object_get(expected, "at")), at, "%s: where",
			  name);
		CHECK_INT(got, bw_applied_covers(live, desired), "%s: the same without the place",
			  name);
		CHECK(bw_applied_covers(live, live), "%s: an object covers itself", name);
	}
	json_decref(live);
	json_decref(desired);
	json_decref(expected);
}

static void covers_cases(void)
{
	char *names[MAX_CASES];
	size_t n = list_cases("tests/unit/data/covers", names, MAX_CASES);
	json_t *zeros = json_pack("{s:b, s:i, s:s, s:{}, s:[], s:n}", "paused", 0, "n", 0, "s", "",
				  "o", "a", "z");
	json_t *empty = json_object();
	char small[8];

	CHECK(n >= 10, "there are covers cases (%zu)", n);
	for (size_t i = 0; i < n; i++) {
		covers_case(names[i]);
		free(names[i]);
	}
	CHECK(bw_applied_covers(empty, zeros),
	      "false, 0, \"\", {}, [] and null are covered by a missing member (omitempty)");
	CHECK(!bw_applied_covers(NULL, zeros) &&
		  bw_applied_covers(NULL, json_object_get(zeros, "o")),
	      "a NULL live covers only a value left out");
	CHECK(!bw_applied_covers(empty, NULL), "a NULL desired is covered by nothing");
	json_object_set_new(zeros, "deeper-member", json_pack("{s:{s:i}}", "a", "b", 1));
	CHECK(!bw_applied_covers_at(empty, zeros, small, sizeof(small)),
	      "a non-zero member missing is not covered");
	CHECK_INT(7, strlen(small), "and a short place buffer is cut, not overrun (%s)", small);
	json_decref(zeros);
	json_decref(empty);
}

/* The history record: when a sync may leave the list out. */
static void test_history(void)
{
	struct bw_applied *memo = bw_applied_new();

	CHECK(!bw_applied_history_settled(memo, "shop/orders", "u1", "orders-a", NULL, 10),
	      "history: nothing known at first (a new Service's first sync lists)");
	bw_applied_history_synced(memo, "shop/orders", "u1", "orders-a", 1, 1);
	CHECK(bw_applied_history_settled(memo, "shop/orders", "u1", "orders-a", "orders-a", 10),
	      "its first rollout completing changes nothing: no list");
	CHECK(bw_applied_history_settled(memo, "shop/orders", "u1", "orders-a", NULL, 0),
	      "... even with a limit of 0 (the update revision is not counted)");
	CHECK(!bw_applied_history_settled(memo, "shop/orders", "u1", "orders-b", "orders-a", 10),
	      "a new template is a new revision: listed and written");
	CHECK(!bw_applied_history_settled(memo, "shop/orders", "u2", "orders-a", NULL, 10),
	      "the Service made again (another uid) is unknown");
	CHECK(!bw_applied_history_settled(memo, "shop/users", "u1", "orders-a", NULL, 10),
	      "another Service is unknown");
	bw_applied_history_synced(memo, "shop/orders", "u1", "orders-c", 3, 4);
	CHECK(bw_applied_history_settled(memo, "shop/orders", "u1", "orders-c", "orders-b", 2),
	      "4 revisions: update and current kept, 2 others within a limit of 2");
	CHECK(!bw_applied_history_settled(memo, "shop/orders", "u1", "orders-c", "orders-c", 2),
	      "... but once current is the update, 3 others exceed it: listed to prune");
	CHECK(!bw_applied_history_settled(memo, "shop/orders", "u1", "orders-c", "orders-b", 1),
	      "... and so with a lower limit");
	CHECK(!bw_applied_history_settled(memo, "shop/orders", NULL, "orders-c", NULL, 10),
	      "no uid: unknown");
	{
		long count = -1;

		CHECK_INT(4,
			  bw_applied_history_next(memo, "shop/orders", "u1", "orders-d", "orders-c",
						  10, &count),
			  "next: a new template after number 3 is number 4, without a list");
		CHECK_INT(4, count, "... and the 4 revisions known are said");
		CHECK_INT(0,
			  bw_applied_history_next(memo, "shop/orders", "u1", "orders-c", "orders-c",
						  10, &count),
			  "the newest again is no new revision (settled, or listed)");
		CHECK_INT(0,
			  bw_applied_history_next(memo, "shop/orders", "u1", "orders-d", "orders-c",
						  2, &count),
			  "5 revisions, 3 others past a limit of 2: listed to prune");
		CHECK_INT(4,
			  bw_applied_history_next(memo, "shop/orders", "u1", "orders-d", "orders-c",
						  3, &count),
			  "... within a limit of 3: not");
		CHECK_INT(
		    4,
		    bw_applied_history_next(memo, "shop/orders", "u1", "orders-d", NULL, 4, &count),
		    "no current: every other counts (4 within 4)");
		CHECK_INT(0,
			  bw_applied_history_next(memo, "shop/orders", "u2", "orders-d", "orders-c",
						  10, &count),
			  "another uid: unknown");
		bw_applied_history_synced(memo, "shop/orders", "u1", "orders-c", 0, 4);
		CHECK_INT(0,
			  bw_applied_history_next(memo, "shop/orders", "u1", "orders-d", "orders-c",
						  10, &count),
			  "the newest's number not known: listed");
	}
	bw_applied_forget(memo, "shop/orders");
	CHECK(!bw_applied_history_settled(memo, "shop/orders", "u1", "orders-c", "orders-b", 2),
	      "a forgotten Service is unknown");
	bw_applied_free(memo);
}

/* The objects of an apply one by one: what an image edit need not touch. */
static void test_parts(void)
{
	struct bw_applied *memo = bw_applied_new();
	unsigned char md[BW_APPLIED_DIGEST_LEN] = {9}, other[BW_APPLIED_DIGEST_LEN] = {8};
	unsigned char part[BW_APPLIED_PARTS][BW_APPLIED_DIGEST_LEN] = {{1}, {2}, {3}, {4}};

	CHECK(!bw_applied_part_fresh(memo, "shop/orders", 1, part[1], 1000, 600),
	      "parts: nothing known at first");
	CHECK_INT(0, bw_applied_record(memo, "shop/orders", md, NULL, 1, 1000),
		  "an apply whose parts are not known (a restart's adoption)");
	CHECK(!bw_applied_part_fresh(memo, "shop/orders", 1, part[1], 1000, 600),
	      "... tells nothing of its objects");
	CHECK_INT(0,
		  bw_applied_record(memo, "shop/orders", md,
				    (const unsigned char(*)[BW_APPLIED_DIGEST_LEN])part, 1, 1000),
		  "an apply with its parts");
	for (int i = 0; i < BW_APPLIED_PARTS; i++)
		CHECK(bw_applied_part_fresh(memo, "shop/orders", i, part[i], 1100, 600),
		      "part %d as applied is fresh", i);
	CHECK(!bw_applied_part_fresh(memo, "shop/orders", 1, part[2], 1100, 600),
	      "another digest is not");
	CHECK(!bw_applied_part_fresh(memo, "shop/orders", 1, part[1], 1600, 600) &&
		  !bw_applied_part_fresh(memo, "shop/orders", 1, part[1], 999, 600),
	      "nor at the resync age, nor before the apply (a clock gone back)");
	CHECK(!bw_applied_part_fresh(memo, "shop/orders", -1, part[0], 1100, 600) &&
		  !bw_applied_part_fresh(memo, "shop/orders", BW_APPLIED_PARTS, part[0], 1100, 600),
	      "nor a part out of range");
	CHECK(!bw_applied_part_fresh(memo, "shop/users", 1, part[1], 1100, 600),
	      "another Service's is unknown");
	CHECK_INT(0, bw_applied_record(memo, "shop/orders", other, NULL, 2, 1200),
		  "an apply without parts after it");
	CHECK(!bw_applied_part_fresh(memo, "shop/orders", 1, part[1], 1200, 600),
	      "forgets the parts of the one before");
	bw_applied_forget(memo, "shop/orders");
	bw_applied_free(memo);
}

/* Which status writes may wait for the next: counts and messages alone. */
static void test_status_progress(void)
{
	static const struct {
		const char *old, *new;
		int progress_only;
		const char *name;
	} cases[] = {
	    {"{\"observedGeneration\":2,\"replicas\":1,\"conditions\":[{\"type\":\"Ready\","
	     "\"status\":\"False\",\"reason\":\"RolloutInProgress\",\"message\":\"0 of 1\"}]}",
	     "{\"observedGeneration\":2,\"replicas\":2,\"conditions\":[{\"type\":\"Ready\","
	     "\"status\":\"False\",\"reason\":\"RolloutInProgress\",\"message\":\"1 of 1\"}]}",
	     1, "a count and a message moved"},
	    {"{\"replicas\":1,\"updatedReplicas\":0,\"readyReplicas\":1,\"availableReplicas\":1,"
	     "\"pods\":{\"configured\":1,\"stale\":0}}",
	     "{\"replicas\":2,\"updatedReplicas\":1,\"readyReplicas\":2,\"availableReplicas\":1,"
	     "\"pods\":{\"configured\":2,\"stale\":0}}",
	     1, "every count"},
	    {"{\"observedGeneration\":1,\"replicas\":1}",
	     "{\"observedGeneration\":2,\"replicas\":1}", 0, "a new generation observed"},
	    {"{\"image\":\"a:1\",\"replicas\":1}", "{\"image\":\"a:2\",\"replicas\":2}", 0,
	     "a new image"},
	    {"{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"R\"}]}",
	     "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"reason\":\"R\"}]}", 0,
	     "a condition's status"},
	    {"{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"A\"}]}",
	     "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"B\"}]}", 0,
	     "a condition's reason"},
	    {"{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}",
	     "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"},{\"type\":\"Stalled\","
	     "\"status\":\"True\"}]}",
	     0, "a condition added"},
	    {"{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"observedGeneration\":1}]}",
	     "{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"observedGeneration\":2}]}",
	     0, "a condition's generation"},
	    {"{\"replicas\":1,\"failedImage\":\"a:2\"}", "{\"replicas\":2}", 0, "a field dropped"},
	    {"{\"replicas\":1}", "{\"replicas\":2,\"lastGoodImage\":\"a:1\"}", 0, "a field added"},
	    {"{\"replicas\":1}", "{\"replicas\":1}", 0, "nothing moved: nothing to hold"},
	    {NULL, "{\"replicas\":1}", 0, "no status yet"},
	};
	struct bw_applied *memo = bw_applied_new();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *old = cases[i].old ? json_loads(cases[i].old, 0, NULL) : NULL;
		json_t *new = json_loads(cases[i].new, 0, NULL);

		CHECK(new && (old || !cases[i].old), "%s: the fixture parses", cases[i].name);
		CHECK_INT(cases[i].progress_only, bw_applied_status_progress_only(old, new),
			  "status progress only: %s", cases[i].name);
		json_decref(old);
		json_decref(new);
	}
	CHECK_INT(0, bw_applied_status_hold_ms(memo, "shop/orders", 1000),
		  "hold: no status written, none held");
	bw_applied_status_written(memo, "shop/orders", "7", 1000);
	CHECK_INT(BW_APPLIED_STATUS_HOLD_S * 1000,
		  bw_applied_status_hold_ms(memo, "shop/orders", 1000),
		  "written just now: held the whole window");
	CHECK_INT((BW_APPLIED_STATUS_HOLD_S - 1) * 1000,
		  bw_applied_status_hold_ms(memo, "shop/orders", 1001), "a second later: the rest");
	CHECK_INT(0,
		  bw_applied_status_hold_ms(memo, "shop/orders", 1000 + BW_APPLIED_STATUS_HOLD_S),
		  "the window over: written");
	CHECK_INT(0, bw_applied_status_hold_ms(memo, "shop/orders", 999),
		  "a clock gone back: written, not held for ever");
	CHECK_INT(0, bw_applied_status_hold_ms(memo, "shop/users", 1000),
		  "another Service: written");
	bw_applied_free(memo);
}

int main(void)
{
	struct bw_applied *memo = bw_applied_new();
	unsigned char a[BW_APPLIED_DIGEST_LEN] = {1}, b[BW_APPLIED_DIGEST_LEN] = {2};
	char key[64];
	int all = 1;

	CHECK(memo != NULL, "a memo is made");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 1, 1000, 600), "nothing is known at first");
	CHECK_INT(0, bw_applied_record(memo, "shop/orders", a, NULL, 3, 1000),
		  "an apply is recorded");
	CHECK(bw_applied_same(memo, "shop/orders", a, 3, 1000, 600), "the same apply is known");
	CHECK(bw_applied_same(memo, "shop/orders", a, 3, 1599, 600), "until the resync age");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 3, 1600, 600), "and not from then on");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 3, 999, 600),
	      "nor when the clock went back");
	CHECK(!bw_applied_same(memo, "shop/orders", b, 3, 1000, 600), "another digest is new");
	CHECK(!bw_applied_same(memo, "shop/orders", a, 4, 1000, 600),
	      "a Deployment edited since (generation 4) is applied again");
	CHECK(bw_applied_same(memo, "shop/orders", a, 2, 1000, 600),
	      "a cache still at generation 2 has not seen the apply yet: nothing to apply again");
	CHECK(!bw_applied_same(memo, "shop/orders", b, 2, 1000, 600),
	      "... unless something else is to be applied");
	CHECK(!bw_applied_same(memo, "shop/users", a, 3, 1000, 600), "another key is unknown");
	CHECK(bw_applied_known(memo, "shop/orders") && !bw_applied_known(memo, "shop/users"),
	      "known: a key recorded once");
	CHECK(bw_applied_known(memo, "shop/orders") &&
		  !bw_applied_same(memo, "shop/orders", a, 3, 5000, 600),
	      "still known past the resync age, when it is no longer the same");
	CHECK_INT(0, bw_applied_record(memo, "shop/orders", b, NULL, 4, 1100),
		  "a new apply replaces it");
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
		all &= bw_applied_record(memo, key, a, NULL, i, 1000) == 0;
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
	{ /* the three states of a reconcile's look at the memo */
		unsigned char c[BW_APPLIED_DIGEST_LEN] = {3};

		CHECK_INT(0, bw_applied_record(memo, "shop/cart", c, NULL, 7, 2000), "recorded");
		CHECK_INT(BW_APPLIED_FRESH, bw_applied_state(memo, "shop/cart", c, 7, 2599, 600),
			  "fresh within the resync age: nothing to do");
		CHECK_INT(BW_APPLIED_DUE, bw_applied_state(memo, "shop/cart", c, 7, 2600, 600),
			  "due from the resync age on: look, write only what drifted");
		CHECK_INT(BW_APPLIED_DUE, bw_applied_state(memo, "shop/cart", c, 7, 1999, 600),
			  "and when the clock went back");
		CHECK_INT(BW_APPLIED_NEW, bw_applied_state(memo, "shop/cart", c, 8, 2000, 600),
			  "new: the Deployment was edited since");
		CHECK_INT(BW_APPLIED_NEW, bw_applied_state(memo, "shop/cart", a, 7, 2000, 600),
			  "new: something else to apply");
		CHECK_INT(BW_APPLIED_NEW, bw_applied_state(memo, "shop/none", c, 7, 2000, 600),
			  "new: never applied");
	}
	{ /* a status write the cache has not seen yet */
		size_t before = bw_applied_count(memo);

		CHECK(!bw_applied_status_behind(memo, "shop/status", "41", 3001),
		      "nothing written yet");
		bw_applied_status_written(memo, "shop/status", "41", 3000);
		CHECK(bw_applied_status_behind(memo, "shop/status", "41", 3001),
		      "the cache still at the version the write was based on is behind");
		CHECK(!bw_applied_status_behind(memo, "shop/status", "42", 3001),
		      "once it has the write's version, it is not");
		CHECK(bw_applied_status_behind(memo, "shop/status", "41", 3002) &&
			  !bw_applied_status_behind(memo, "shop/status", "41", 3003) &&
			  !bw_applied_status_behind(memo, "shop/status", "41", 2999),
		      "and only for 3 s: a write that changed nothing makes no event to wait for");
		CHECK(!bw_applied_status_behind(memo, "shop/status", NULL, 3001) &&
			  !bw_applied_status_behind(memo, "shop/status", "", 3001),
		      "nor without a version");
		bw_applied_status_written(memo, "shop/long", "1234567890123456789012345", 3000);
		CHECK(
		    !bw_applied_status_behind(memo, "shop/long", "1234567890123456789012345", 3001),
		    "a version longer than the API server's counters is not kept: no wait");
		bw_applied_forget(memo, "shop/long");
		CHECK(!bw_applied_known(memo, "shop/status"),
		      "a status write alone is no apply: a restart's first look stays quiet");
		CHECK_INT(BW_APPLIED_NEW, bw_applied_state(memo, "shop/status", a, 0, 2000, 600),
			  "and nothing is taken as applied");
		CHECK_INT(before + 1, bw_applied_count(memo), "one entry");
		CHECK_INT(0, bw_applied_record(memo, "shop/status", a, NULL, 1, 2000),
			  "an apply after it");
		CHECK(bw_applied_status_behind(memo, "shop/status", "41", 3001),
		      "keeps the status mark");
		bw_applied_forget(memo, "shop/status");
		CHECK(!bw_applied_status_behind(memo, "shop/status", "41", 3001),
		      "forgotten with it");
	}
	bw_applied_free(memo);
	bw_applied_free(NULL);
	covers_cases();
	test_history();
	test_parts();
	test_status_progress();
	return check_exit();
}
