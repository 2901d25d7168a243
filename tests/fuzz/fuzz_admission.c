/* libFuzzer: arbitrary bytes as an AdmissionReview request body, through the
 * parser and, when it parses, the decisions with a fixed cache: pod mutation
 * (the object as a Pod), Service and Breaker validation, and the response
 * writer. Malformed requests go through bw_admission_malformed(). A body
 * that parses whole also parses with only what the mutation reads
 * (bw_mutate_pod_reads, as the server parses pods) and gets the very same
 * answer: anything else aborts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../webhook/admission.h"
#include "../../webhook/mutate.h"
#include "../../webhook/validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *labels, *service, *deps, *services, *breakers;

static void setup(void)
{
	if (labels)
		return;
	labels = json_pack("{s:s}", "breakwater.io/inject", "enabled");
	service = json_pack("{s:{s:s, s:s}, s:{s:s, s:[sss]}}", "metadata", "name", "orders",
			    "namespace", "shop", "spec", "image", "registry.local/shop/orders:1.0",
			    "dependsOn", "users", "payments", "ghost");
	deps = json_pack("{s:i, s:i}", "users", 8000, "payments", 8080);
	services = json_pack("[{s:{s:s, s:s}, s:{s:s, s:[s], s:{s:s}}}]", "metadata", "name",
			     "users", "namespace", "shop", "spec", "image", "u:1", "dependsOn",
			     "orders", "route", "pathPrefix", "/api/users/");
	breakers = json_pack("[{s:{s:s}, s:{s:s}}]", "metadata", "name", "payments", "spec",
			     "target", "payments");
}

/* The response text (NULL when it cannot be written); the caller frees it. */
static char *answer(const struct bw_admission_request *req, int allowed, const char *message,
		    const json_t *warnings, const json_t *patch)
{
	struct bw_admission_response resp = {0};
	char *body = NULL;

	resp.allowed = allowed;
	resp.message = message;
	resp.warnings = warnings;
	resp.patch = patch;
	if (bw_admission_response_write(req->uid, &resp, &body, NULL, NULL) != 0)
		return NULL;
	return body;
}

/* The mutation's answer to req's object, or the malformed answer. */
static char *mutate(const struct bw_admission_request *req)
{
	struct bw_mutate_input in = {0};
	struct bw_mutate_result mres;
	struct bw_error err;
	char *body = NULL;
	int status;

	in.pod = req->object;
	in.namespace = *req->namespace ? req->namespace : "shop";
	in.namespace_labels = labels;
	in.service = service;
	in.deps = deps;
	if (bw_mutate_pod(&in, &mres, &err) == 0) {
		body = answer(req, 1, NULL, mres.warnings, mres.patch);
		bw_mutate_result_release(&mres);
	} else if (bw_admission_malformed(req, err.message, &status, &body, NULL, NULL) != 0) {
		body = NULL;
	}
	return body;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_admission_request req, lean;
	struct bw_validate_result vres;
	struct bw_error err;
	char *body = NULL, *whole;
	int status;

	setup();
	bw_error_clear(&err);
	if (bw_admission_parse((const char *)data, size, &req, &err) != 0) {
		if (bw_admission_malformed(&req, err.message, &status, &body, NULL, NULL) == 0)
			free(body);
		bw_admission_request_release(&req);
		return 0;
	}
	bw_admission_check_kind(&req, "", "Pod", &err);
	whole = mutate(&req);
	if (bw_admission_parse_reading((const char *)data, size, bw_mutate_pod_reads, &lean,
				       &err) != 0)
		abort(); /* what parses whole parses lean */
	body = mutate(&lean);
	if (!whole != !body || (whole && strcmp(whole, body) != 0))
		abort(); /* and gets the same answer */
	free(whole);
	free(body);
	bw_admission_request_release(&lean);

	if (bw_validate_service(req.operation, req.object, req.old_object, services, &vres, &err) ==
	    0) {
		free(answer(&req, vres.allowed, vres.message, vres.warnings, NULL));
		bw_validate_result_release(&vres);
	}
	if (bw_validate_breaker(req.operation, req.object, req.old_object, services, breakers,
				&vres, &err) == 0) {
		free(answer(&req, vres.allowed, vres.message, vres.warnings, NULL));
		bw_validate_result_release(&vres);
	}
	bw_admission_request_release(&req);
	return 0;
}
