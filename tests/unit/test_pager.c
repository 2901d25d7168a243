/*
 * The list pager (bw_client_list_pages, under bw_client_list and the
 * reflector): pages followed by their continue tokens, one restart from the
 * beginning when a token has expired (410), a second expiry returned, an
 * item callback that stops the list. The API server is bw_httpd on loopback
 * serving ConfigMap pages: a, b | c | d, the last token expiring as told.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "client.h"
#include "httpd.h"
#include "log.h"

struct api {
	atomic_int expire_t2; /* how many more times "t2" answers 410 */
	atomic_int requests;
};

static int h_list(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	struct api *api = ctx;
	const char *body;

	atomic_fetch_add(&api->requests, 1);
	if (!strstr(req->query, "limit=2")) {
		bw_httpd_response_set_status(resp, 400);
		body = "{\"kind\":\"Status\",\"reason\":\"BadRequest\",\"message\":\"no limit\"}";
	} else if (strstr(req->query, "continue=t2") && atomic_load(&api->expire_t2) > 0) {
		atomic_fetch_sub(&api->expire_t2, 1);
		bw_httpd_response_set_status(resp, 410);
		body =
		    "{\"kind\":\"Status\",\"reason\":\"Expired\",\"message\":\"continue too old\"}";
	} else if (strstr(req->query, "continue=t2")) {
		body = "{\"metadata\":{\"resourceVersion\":\"30\"},"
		       "\"items\":[{\"metadata\":{\"name\":\"d\"}}]}";
	} else if (strstr(req->query, "continue=t1")) {
		body = "{\"metadata\":{\"resourceVersion\":\"20\",\"continue\":\"t2\"},"
		       "\"items\":[{\"metadata\":{\"name\":\"c\"}}]}";
	} else {
		body =
		    "{\"metadata\":{\"resourceVersion\":\"10\",\"continue\":\"t1\"},"
		    "\"items\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}}]}";
	}
	return bw_httpd_response_set_body(resp, "application/json", body, strlen(body));
}

struct seen {
	char names[64];
	int restarts;
	int stop_at; /* refuse the n-th object (1-based); 0: never */
	int n;
};

static int on_item(json_t *item, void *ctx, struct bw_error *err)
{
	struct seen *s = ctx;
	const char *name =
	    json_string_value(json_object_get(json_object_get(item, "metadata"), "name"));

	if (++s->n == s->stop_at)
		return bw_error_set(err, BW_EINVAL, "object %d refused", s->n);
	strncat(s->names, name ? name : "?", sizeof(s->names) - strlen(s->names) - 1);
	return 0;
}

static int on_restart(void *ctx, struct bw_error *err)
{
	struct seen *s = ctx;

	(void)err;
	s->restarts++;
	s->names[0] = '\0';
	return 0;
}

int main(void)
{
	struct api api = {0};
	struct bw_httpd_options ho = {.port = 0};
	struct bw_list_options lo = {.limit = 2};
	struct bw_kube_config cfg = {0};
	struct bw_httpd *h = NULL;
	struct bw_client *c = NULL;
	struct bw_error err;
	char url[64], *rv = NULL;
	json_t *items = NULL;
	size_t count = 0;
	int ret;

	bw_log_configure(BW_LOG_ERROR, BW_LOG_TEXT, NULL);
	if (bw_httpd_new(&h, &ho, &err) != 0 ||
	    bw_httpd_add_route(h, "GET", "/api/v1/configmaps", h_list, &api, &err) != 0 ||
	    bw_httpd_start(h, &err) != 0) {
		printf("not ok - a loopback API server: %s\n", err.message);
		return 1;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", bw_httpd_port(h));
	cfg.server = url;
	if (bw_client_new(&c, &cfg, NULL, &err) != 0) {
		printf("not ok - a client: %s\n", err.message);
		return 1;
	}

	{
		struct seen s = {0};
		struct bw_list_pager pager = {on_item, on_restart, &s};

		ret = bw_client_list_pages(c, &bw_res_configmaps, NULL, &lo, &pager, &rv, &count,
					   &err);
		CHECK_INT(0, ret, "three pages are listed (%s)", ret ? err.message : "");
		CHECK_STR("abcd", s.names, "every object, in order");
		CHECK_INT(4, count, "counted");
		CHECK_STR("30", rv, "the resourceVersion of the last page");
		CHECK_INT(0, s.restarts, "no restart without an expired token");
		CHECK_INT(3, atomic_load(&api.requests), "one request per page");
		free(rv);
		rv = NULL;
	}
	{
		struct seen s = {0};
		struct bw_list_pager pager = {on_item, on_restart, &s};

		atomic_store(&api.expire_t2, 1);
		atomic_store(&api.requests, 0);
		ret = bw_client_list_pages(c, &bw_res_configmaps, NULL, &lo, &pager, &rv, &count,
					   &err);
		CHECK_INT(0, ret, "an expired continue token restarts the list (%s)",
			  ret ? err.message : "");
		CHECK_INT(1, s.restarts, "the restart callback is told once");
		CHECK_STR("abcd", s.names, "the objects of the completed pass");
		CHECK_INT(4, count, "counted from the restart");
		CHECK_INT(6, atomic_load(&api.requests),
			  "two pages, a 410 on the third, then all three again");
		free(rv);
		rv = NULL;
	}
	{
		struct seen s = {0};
		struct bw_list_pager pager = {on_item, on_restart, &s};

		atomic_store(&api.expire_t2, 2);
		rv = (char *)"untouched";
		ret = bw_client_list_pages(c, &bw_res_configmaps, NULL, &lo, &pager, &rv, &count,
					   &err);
		CHECK_INT(BW_EGONE, ret,
			  "a token that expires again after the restart is returned");
		CHECK_INT(1, s.restarts, "the list restarts only once");
		CHECK(rv == NULL, "no resourceVersion on failure");
	}
	{
		struct seen s = {.stop_at = 3};
		struct bw_list_pager pager = {on_item, NULL, &s};

		atomic_store(&api.expire_t2, 0);
		ret = bw_client_list_pages(c, &bw_res_configmaps, NULL, &lo, &pager, NULL, NULL,
					   &err);
		CHECK_INT(BW_EINVAL, ret, "an item callback's error stops the list");
		CHECK_STR("object 3 refused", err.message, "with its message");
		CHECK_STR("ab", s.names, "no object after it");
	}
	{
		atomic_store(&api.expire_t2, 1);
		ret = bw_client_list(c, &bw_res_configmaps, NULL, &lo, &items, &rv, &err);
		CHECK_INT(0, ret, "bw_client_list over the pager, through a restart");
		CHECK_INT(4, json_array_size(items), "holds each object once");
		CHECK_STR("d",
			  json_string_value(json_object_get(
			      json_object_get(json_array_get(items, 3), "metadata"), "name")),
			  "the last one last");
		CHECK_STR("30", rv, "and the list's resourceVersion");
		json_decref(items);
		free(rv);
	}
	bw_client_free(c);
	bw_httpd_free(h);
	return check_exit();
}
