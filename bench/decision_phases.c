/*
 * Benchmark: where one admission decision's time goes, in this process,
 * without TLS, HTTP or the review memo: the real pod review
 * (bench/data/orders-pod-review.json, 3.8 KB, a pod of `orders` with two
 * dependencies, so a real patch comes back) taken through the same calls
 * webhook/server.c's mutate_pods() makes on a memo miss, each phase timed:
 *
 *   parse    bw_admission_parse_reading() with bw_mutate_pod_reads: the
 *            shape check (the caps on values and depth, over the whole
 *            body, before anything is built), the keep scan, jansson
 *            building what is kept; the shape check is also timed alone
 *   mutate   bw_mutate_pod()
 *   write    bw_admission_response_write(): the patch, base64, the review
 *   release  freeing the trees and the answer
 *
 * and two baselines in the same run: jansson alone on the text the keep
 * scan leaves (its lexer and allocations, no scan), and jansson parsing the
 * whole review (what a decision paid before it parsed only what it reads).
 * bench/README.md ("Admission under h2load") reads the figures.
 *
 *   build/bench/decision_phases [REVIEW] [ROUNDS]   (make bench-bins; from the repository root)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../webhook/admission.h"
#include "../webhook/mutate.h"
#include "backoff.h"
#include "error.h"
#include "file.h"
#include "json.h"

enum { PARSE, MUTATE, WRITE, RELEASE, SHAPE, KEPT_ALONE, WHOLE, NPHASES };

static const char *const names[NPHASES] = {"parse",
					   "mutate",
					   "write",
					   "release",
					   "  (of parse: the shape check)",
					   "jansson alone, the kept text",
					   "jansson alone, whole review"};

/* One decision, its phases' ns added to spent; 0, or -1 saying why. */
static int decide_once(const char *body, size_t len, const struct bw_mutate_input *inputs,
		       int64_t spent[NPHASES], size_t *answer_len)
{
	struct bw_admission_request req;
	struct bw_mutate_result result;
	struct bw_mutate_input in = *inputs;
	struct bw_admission_response answer = {.allowed = 1};
	struct bw_error err;
	char *text = NULL;
	int64_t t0, t1, t2, t3, t4, t5;

	t0 = bw_now_ns();
	bw_json_check_shape(body, len, BW_ADMISSION_MAX_VALUES, BW_ADMISSION_MAX_DEPTH, &err);
	t1 = bw_now_ns();
	if (bw_admission_parse_reading(body, len, bw_mutate_pod_reads, &req, &err) != 0) {
		fprintf(stderr, "decision_phases: %s\n", err.message);
		return -1;
	}
	t2 = bw_now_ns();
	in.pod = req.object;
	in.namespace = req.namespace;
	if (bw_mutate_pod(&in, &result, &err) != 0) {
		fprintf(stderr, "decision_phases: %s\n", err.message);
		bw_admission_request_release(&req);
		return -1;
	}
	t3 = bw_now_ns();
	answer.patch = result.patched ? result.patch : NULL;
	answer.warnings = result.warnings;
	if (bw_admission_response_write(req.uid, &answer, &text, answer_len, &err) != 0) {
		fprintf(stderr, "decision_phases: %s\n", err.message);
		text = NULL;
	}
	t4 = bw_now_ns();
	free(text);
	bw_mutate_result_release(&result);
	bw_admission_request_release(&req);
	t5 = bw_now_ns();
	spent[SHAPE] += t1 - t0;
	spent[PARSE] += t2 - t1;
	spent[MUTATE] += t3 - t2;
	spent[WRITE] += t4 - t3;
	spent[RELEASE] += t5 - t4;
	return text ? 0 : -1;
}

/* ns spent in jansson parsing text and freeing the tree, rounds times. */
static int64_t jansson_alone(const char *text, size_t len, int rounds)
{
	int64_t t0 = bw_now_ns();
	json_error_t jerr;

	for (int r = 0; r < rounds; r++)
		json_decref(json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr));
	return bw_now_ns() - t0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "bench/data/orders-pod-review.json";
	int rounds = argc > 2 ? atoi(argv[2]) : 20000;
	struct bw_mutate_input inputs = {0};
	struct bw_admission_request req;
	struct bw_error err;
	int64_t spent[NPHASES] = {0};
	size_t len = 0, answer_len = 0;
	char *body = NULL, *kept;
	double us[NPHASES], decision = 0;

	if (rounds < 1 || bw_file_read(path, "review", BW_ADMISSION_MAX_BYTES, BW_FILE_REGULAR_ONLY,
				       &body, &len, NULL, &err) != 0) {
		fprintf(stderr, "decision_phases: %s\nusage: decision_phases [REVIEW] [ROUNDS]\n",
			rounds < 1 ? "ROUNDS must be a positive number" : err.message);
		return 2;
	}
	/* what the caches give a pod of orders in the shop (webhook/server.c) */
	inputs.service = json_pack("{s:{s:[s,s]}}", "spec", "dependsOn", "payments", "users");
	inputs.deps = json_pack("{s:i, s:i}", "payments", 8080, "users", 8080);

	/* the text the keep scan leaves, as jansson would read it */
	if (bw_admission_parse_reading(body, len, bw_mutate_pod_reads, &req, &err) != 0) {
		fprintf(stderr, "decision_phases: %s: %s\n", path, err.message);
		return 1;
	}
	kept = json_dumps(req.review, JSON_COMPACT);
	bw_admission_request_release(&req);

	for (int r = 0; r < rounds / 10; r++) /* warm-up: caches, the allocator */
		if (decide_once(body, len, &inputs, spent, &answer_len) != 0)
			return 1;
	memset(spent, 0, sizeof(spent));
	for (int r = 0; r < rounds; r++)
		if (decide_once(body, len, &inputs, spent, &answer_len) != 0)
			return 1;
	spent[KEPT_ALONE] = jansson_alone(kept, strlen(kept), rounds);
	spent[WHOLE] = jansson_alone(body, len, rounds);

	printf("review %s: %zu bytes, %zu kept; answer %zu bytes; %d rounds\n", path, len,
	       strlen(kept), answer_len, rounds);
	for (int p = 0; p < NPHASES; p++) {
		us[p] = (double)spent[p] / rounds / 1e3;
		if (p <= RELEASE)
			decision += us[p];
	}
	for (int p = 0; p < NPHASES; p++)
		printf("%-28s %7.2f us  %5.1f%% of a decision\n", names[p], us[p],
		       100 * us[p] / decision);
	printf("%-28s %7.2f us\n", "a decision", decision);
	printf("a decision / jansson on the whole review: %.2f\n", decision / us[WHOLE]);
	free(kept);
	free(body);
	json_decref((json_t *)inputs.service);
	json_decref((json_t *)inputs.deps);
	return 0;
}
