/* The client's pure parts: paths, query escaping, Status errors, retry jitter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "client.h"

static const struct bw_resource widgets = {"test.breakwater.io", "v1", "widgets", "Widget", 1};

static const struct {
	const struct bw_resource *res;
	const char *ns, *name, *sub;
	const char *path;
	int ret;
} paths[] = {
    {&bw_res_configmaps, "default", "x", NULL, "/api/v1/namespaces/default/configmaps/x", 0},
    {&bw_res_configmaps, NULL, NULL, NULL, "/api/v1/configmaps", 0},
    {&bw_res_configmaps, "", NULL, NULL, "/api/v1/configmaps", 0},
    {&bw_res_deployments, "shop", "orders", "scale",
     "/apis/apps/v1/namespaces/shop/deployments/orders/scale", 0},
    {&bw_res_namespaces, "ignored", "shop", NULL, "/api/v1/namespaces/shop", 0},
    {&bw_res_crds, NULL, "services.breakwater.io", NULL,
     "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/services.breakwater.io", 0},
    {&widgets, "a", "w", "status", "/apis/test.breakwater.io/v1/namespaces/a/widgets/w/status", 0},
    {&bw_res_configmaps, "default", "a/b", NULL, NULL, BW_EINVAL},
    {&bw_res_configmaps, "default", "..", NULL, NULL, BW_EINVAL},
    {&bw_res_configmaps, "default", "", NULL, NULL, BW_EINVAL},
    {&bw_res_configmaps, "de?fault", "x", NULL, NULL, BW_EINVAL},
};

static void test_paths(void)
{
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct bw_error err = {0};
		char buf[256] = "";
		int ret = bw_client_path(buf, sizeof(buf), paths[i].res, paths[i].ns, paths[i].name,
					 paths[i].sub, &err);

		CHECK_INT(paths[i].ret, ret, "path %zu: result", i);
		if (ret == 0)
			CHECK_STR(paths[i].path, buf, "path %zu", i);
		else
			CHECK(strstr(err.message, "invalid") != NULL, "path %zu: message %s", i,
			      err.message);
	}

	char small[16];
	struct bw_error err;
	CHECK_INT(
	    BW_ETOOBIG,
	    bw_client_path(small, sizeof(small), &bw_res_deployments, "shop", "orders", NULL, &err),
	    "a path longer than the buffer is refused");
}

static void test_escape(void)
{
	char buf[64];

	CHECK_INT(0, bw_query_escape(buf, sizeof(buf), "app in (a,b),tier!=db"), "escape");
	CHECK_STR("app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb", buf, "selector escaped");
	CHECK_INT(0, bw_query_escape(buf, sizeof(buf), "a-b_c.d~e"), "unreserved");
	CHECK_STR("a-b_c.d~e", buf, "unreserved characters are kept");
	CHECK_INT(BW_ETOOBIG, bw_query_escape(buf, 4, "////"), "too long for the buffer");
}

static const struct {
	long status;
	const char *body;
	int code;
	const char *reason;
	const char *message_part;
} statuses[] = {
    {404,
     "{\"kind\":\"Status\",\"status\":\"Failure\",\"message\":\"configmaps \\\"x\\\" not "
     "found\",\"reason\":\"NotFound\",\"code\":404}",
     BW_ENOTFOUND, "NotFound", "configmaps \"x\" not found"},
    {409,
     "{\"kind\":\"Status\",\"message\":\"the object has been modified\",\"reason\":\"Conflict\"}",
     BW_ECONFLICT, "Conflict", "has been modified"},
    {410, "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"too old\"}", BW_EGONE,
     "Expired", "too old"},
    {429, "{\"kind\":\"Status\",\"reason\":\"TooManyRequests\"}", BW_ERETRY, "TooManyRequests",
     "HTTP 429"},
    {503, "service unavailable", BW_ERETRY, "", "HTTP 503"},
    {500, NULL, BW_ERETRY, "", "HTTP 500"},
    {403, "{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"message\":\"forbidden\"}", BW_EDENIED,
     "Forbidden", "forbidden"},
    {401, "{}", BW_EDENIED, "", "HTTP 401"},
    {422,
     "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"spec.replicas: Invalid "
     "value\"}",
     BW_EHTTP, "Invalid", "spec.replicas"},
    {400, "{\"kind\":\"Status\",\"reason\":\"BadRequest\"}", BW_EHTTP, "BadRequest", "HTTP 400"},
};

static void test_status_errors(void)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct bw_error err;
		const char *body = statuses[i].body;
		int code =
		    bw_client_status_error(statuses[i].status, body, body ? strlen(body) : 0, &err);

		CHECK_INT(statuses[i].code, code, "HTTP %ld: code %s", statuses[i].status,
			  bw_code_name(code));
		CHECK_INT(statuses[i].status, err.http_status, "HTTP %ld: status kept",
			  statuses[i].status);
		CHECK_STR(statuses[i].reason, err.reason, "HTTP %ld: reason", statuses[i].status);
		CHECK(strstr(err.message, statuses[i].message_part) != NULL,
		      "HTTP %ld: message \"%s\" has \"%s\"", statuses[i].status, err.message,
		      statuses[i].message_part);
	}
	CHECK(bw_code_is_transient(BW_ERETRY) && !bw_code_is_transient(BW_ECONFLICT),
	      "429/5xx are transient, conflicts are not");
}

/* A long message from the API server (a 422 quoting an invalid value) is cut
 * to fit err->message: never inside a UTF-8 sequence, since the message goes
 * into JSON (conditions, events) that refuses such a string, and never
 * losing the status at its end. Found by tests/fuzz/fuzz_status. */
static void test_status_error_utf8(void)
{
	struct bw_error err;
	char body[2048], reason[200];
	int n = snprintf(body, sizeof(body),
			 "{\"kind\":\"Status\",\"reason\":\"Invalid\",\"message\":\"spec.env: "
			 "Invalid value: \\\"");
	json_t *s;

	for (int i = 0; i < 300; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "\xc3\xa9");
	snprintf(body + n, sizeof(body) - (size_t)n, "\\\"\"}");
	for (int odd = 0; odd < 2; odd++) {
		/* the cut lands on either byte of a 2-byte sequence */
		char shifted[2100];

		snprintf(shifted, sizeof(shifted), "%s", body);
		if (odd)
			memmove(strstr(shifted, "spec.env") + 1, strstr(shifted, "spec.env"),
				strlen(strstr(shifted, "spec.env")) + 1);
		bw_client_status_error(422, shifted, strlen(shifted), &err);
		s = json_string(err.message);
		CHECK(s != NULL, "a long UTF-8 message is cut between characters (shift %d)", odd);
		json_decref(s);
		CHECK(strstr(err.message, "(HTTP 422 Invalid)") != NULL,
		      "the cut message still ends with the status: ...%s",
		      err.message + strlen(err.message) - 19);
	}
	n = snprintf(reason, sizeof(reason), "{\"reason\":\"");
	for (int i = 0; i < 40; i++)
		n += snprintf(reason + n, sizeof(reason) - (size_t)n, "\xc3\xa9");
	snprintf(reason + n, sizeof(reason) - (size_t)n, "\"}");
	bw_client_status_error(500, reason, strlen(reason), &err);
	s = json_string(err.reason);
	CHECK(s != NULL && strlen(err.reason) == 62,
	      "a long reason is cut between characters (%zu)", strlen(err.reason));
	json_decref(s);
}

#define JITTER_SAMPLES 16

/* "jitter" mode: a fresh process prints its first retry delays. */
static int print_jitter(void)
{
	for (int i = 0; i < JITTER_SAMPLES; i++)
		printf("%ld ", bw_client_retry_delay_ms(4, -1));
	printf("\n");
	return 0;
}

static void run_jitter(const char *self, char *buf, size_t size)
{
	char cmd[512];
	FILE *p;

	buf[0] = '\0';
	snprintf(cmd, sizeof(cmd), "'%s' jitter", self);
	p = popen(cmd, "r");
	if (!p)
		return;
	if (!fgets(buf, (int)size, p))
		buf[0] = '\0';
	pclose(p);
}

/* Replicas started together must not retry in step: the jitter of two fresh
 * processes differs (an unseeded rand() gives both the same sequence). */
static void test_retry_jitter(const char *self)
{
	char a[512], b[512];
	long lo = 100L << 4, hi = lo + lo / 2;
	int in_range = 1, varied = 0;
	long first = bw_client_retry_delay_ms(4, -1);

	for (int i = 0; i < 100; i++) {
		long d = bw_client_retry_delay_ms(4, -1);

		in_range &= d >= lo && d <= hi;
		varied |= d != first;
	}
	CHECK(in_range, "retry delays after 4 attempts lie in [%ld, %ld] ms", lo, hi);
	CHECK(varied, "the jitter varies from one retry to the next");
	CHECK(bw_client_retry_delay_ms(0, 2) >= 2000 && bw_client_retry_delay_ms(0, 2) <= 3000,
	      "Retry-After: 2 waits 2 s plus jitter");
	CHECK(bw_client_retry_delay_ms(0, 3600) <= 15000, "a huge Retry-After is capped");

	run_jitter(self, a, sizeof(a));
	run_jitter(self, b, sizeof(b));
	CHECK(*a && *b, "two fresh processes report their jitter");
	CHECK(strcmp(a, b) != 0,
	      "two fresh processes retry with different jitter (%.40s... vs %.40s...)", a, b);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "jitter") == 0)
		return print_jitter();
	test_paths();
	test_escape();
	test_status_errors();
	{
		char self[4096];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

		self[n > 0 ? n : 0] = '\0';
		test_retry_jitter(self);
	}
	test_status_error_utf8();
	return check_exit();
}
