/*
 * The HTTP server (lib/httpd.c), driven with libcurl over loopback: routes,
 * 404/405/411/413/500, keep-alive, concurrency, the connection limit, HTTPS
 * with certificates made here with OpenSSL, TLS 1.1 refused, certificate
 * reload, stop with connections open, restarts.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "httpd.h"
#include "log.h"

/* ---- handlers --------------------------------------------------------- */

static int h_hello(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	return bw_httpd_response_set_body(resp, "text/plain", "hello world\n", 12);
}

static int h_echo(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	char *copy = malloc(req->body_len + 1);

	(void)ctx;
	if (!copy)
		return BW_ENOMEM;
	memcpy(copy, req->body, req->body_len + 1);
	bw_httpd_response_set_status(resp, strlen(req->body) == req->body_len ? 201 : 400);
	return bw_httpd_response_take_body(resp, req->content_type[0] ? req->content_type : NULL,
					   copy, req->body_len);
}

static int h_query(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	char buf[256];
	int n;

	(void)ctx;
	n = snprintf(buf, sizeof(buf), "%s %s ?%s", req->method, req->path, req->query);
	return bw_httpd_response_set_body(resp, NULL, buf, (size_t)n);
}

static int h_fail(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	bw_httpd_response_set_body(resp, NULL, "secret detail", 13);
	return BW_EIO;
}

static int h_stop(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	struct bw_httpd **server = ctx;

	(void)req;
	(void)resp;
	bw_httpd_stop(*server); /* only asks, from a handler */
	return 0;
}

static int h_nocontent(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	bw_httpd_response_set_status(resp, 204);
	return 0;
}

/* ---- curl helpers ----------------------------------------------------- */

struct buf {
	char *data;
	size_t len;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
	struct buf *b = arg;
	char *p = realloc(b->data, b->len + size * n + 1);

	if (!p)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, ptr, size * n);
	b->len += size * n;
	b->data[b->len] = '\0';
	return size * n;
}

struct result {
	CURLcode rc;
	long status;
	long connects;
	char type[128];
	struct buf body;
	struct buf headers;
};

static void result_free(struct result *r)
{
	free(r->body.data);
	free(r->headers.data);
	memset(r, 0, sizeof(*r));
}

static const char *body_of(const struct result *r)
{
	return r->body.data ? r->body.data : "";
}

/* One request on handle c (kept for keep-alive); body NULL means GET unless
 * method says otherwise. */
static void request(CURL *c, const char *url, const char *method, const char *body, long body_len,
		    struct curl_slist *hdrs, struct result *r)
{
	char *type = NULL;

	result_free(r);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, body_len);
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	if (method && strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
		method = NULL;
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	r->rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
	curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
	snprintf(r->type, sizeof(r->type), "%s", type ? type : "");
}

static void url_of(char *out, size_t size, const char *scheme, int port, const char *path)
{
	snprintf(out, size, "%s://127.0.0.1:%d%s", scheme, port, path);
}

/* A fresh handle trusting ca_pem (NULL: plain HTTP). */
static CURL *handle_new(const char *ca_pem)
{
	CURL *c = curl_easy_init();

	if (c && ca_pem) {
		struct curl_blob blob = {(void *)ca_pem, strlen(ca_pem), CURL_BLOB_COPY};

		curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &blob);
		curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	return c;
}

/* ---- certificates ----------------------------------------------------- */

struct cert {
	EVP_PKEY *key;
	X509 *x509;
	char *cert_pem;
	char *key_pem;
};

static char *bio_string(BIO *b)
{
	char *data, *s;
	long n = BIO_get_mem_data(b, &data);

	s = malloc((size_t)n + 1);
	if (s) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
	}
	return s;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/* A CA (issuer NULL: self-signed) or a server certificate for 127.0.0.1,
 * with an EC P-256 key, or an RSA 2048 one when rsa is set. */
static int cert_make(struct cert *out, const char *cn, const struct cert *issuer, long serial,
		     int rsa)
{
	X509 *x = X509_new();
	X509 *signer_cert;
	EVP_PKEY *k = rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
			  : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	BIO *b1 = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
	X509_NAME *name;
	int ok;

	memset(out, 0, sizeof(*out));
	ok = x && k && b1 && b2 && X509_set_version(x, 2) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -60) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), 3600) && X509_set_pubkey(x, k);
	if (ok) {
		name = X509_get_subject_name(x);
		ok = X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
						-1, -1, 0) &&
		     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->x509) : name);
	}
	signer_cert = issuer ? issuer->x509 : x;
	if (ok && !issuer)
		ok = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
		     add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") &&
		     add_ext(x, x, NID_subject_key_identifier, "hash");
	if (ok && issuer)
		ok = add_ext(x, signer_cert, NID_basic_constraints, "CA:FALSE") &&
		     add_ext(x, signer_cert, NID_key_usage, "critical,digitalSignature") &&
		     add_ext(x, signer_cert, NID_ext_key_usage, "serverAuth") &&
		     add_ext(x, signer_cert, NID_subject_alt_name, "IP:127.0.0.1") &&
		     add_ext(x, signer_cert, NID_subject_key_identifier, "hash") &&
		     add_ext(x, signer_cert, NID_authority_key_identifier, "keyid:always");
	ok = ok && X509_sign(x, issuer ? issuer->key : k, EVP_sha256()) > 0 &&
	     PEM_write_bio_X509(b1, x) &&
	     PEM_write_bio_PrivateKey(b2, k, NULL, NULL, 0, NULL, NULL);
	if (ok) {
		out->cert_pem = bio_string(b1);
		out->key_pem = bio_string(b2);
		out->key = k;
		out->x509 = x;
		k = NULL;
		x = NULL;
		ok = out->cert_pem && out->key_pem;
	}
	BIO_free(b1);
	BIO_free(b2);
	EVP_PKEY_free(k);
	X509_free(x);
	return ok;
}

static void cert_free(struct cert *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->x509);
	free(c->cert_pem);
	free(c->key_pem);
	memset(c, 0, sizeof(*c));
}

/* ---- concurrency ------------------------------------------------------ */

#define CONC_THREADS  8
#define CONC_REQUESTS 100

/* Requests in flight per thread: CONC_REQUESTS, or fewer from
 * $BREAKWATER_HTTPD_CONC (the tsan suite: ThreadSanitizer slows the serving
 * thread so much that libwebsockets' own timeouts close waiting connections). */
static int conc_requests(void)
{
	const char *v = getenv("BREAKWATER_HTTPD_CONC");
	int n = v ? atoi(v) : CONC_REQUESTS;

	return n > 0 && n < CONC_REQUESTS ? n : CONC_REQUESTS;
}

struct conc_arg {
	int port;
	int ok; /* answers with 200 and the right body */
};

/* One thread: CONC_REQUESTS requests in flight at once, each on its own
 * connection, through a curl multi handle. */
static void *conc_thread(void *p)
{
	struct conc_arg *a = p;
	CURLM *m = curl_multi_init();
	CURL *e[CONC_REQUESTS];
	struct buf bodies[CONC_REQUESTS];
	char url[128];
	int i, running = 1;
	long status;

	memset(bodies, 0, sizeof(bodies));
	url_of(url, sizeof(url), "http", a->port, "/hello");
	for (i = 0; i < conc_requests(); i++) {
		e[i] = curl_easy_init();
		curl_easy_setopt(e[i], CURLOPT_URL, url);
		curl_easy_setopt(e[i], CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(e[i], CURLOPT_WRITEDATA, &bodies[i]);
		curl_easy_setopt(e[i], CURLOPT_TIMEOUT_MS,
				 60000L); /* generous: sanitizer builds on a busy machine */
		curl_multi_add_handle(m, e[i]);
	}
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	for (i = 0; i < conc_requests(); i++) {
		status = 0;
		curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &status);
		if (status == 200 && bodies[i].data && strcmp(bodies[i].data, "hello world\n") == 0)
			a->ok++;
		curl_multi_remove_handle(m, e[i]);
		curl_easy_cleanup(e[i]);
		free(bodies[i].data);
	}
	curl_multi_cleanup(m);
	return NULL;
}

/* ---- the tests -------------------------------------------------------- */

static struct bw_httpd *server_new(const struct bw_httpd_options *o)
{
	struct bw_httpd *h = NULL;
	struct bw_error err;
	int rc;

	bw_error_clear(&err);
	rc = bw_httpd_new(o, &h, &err);
	if (rc == 0 && (bw_httpd_add_route(h, "GET", "/hello", h_hello, NULL, &err) < 0 ||
			bw_httpd_add_route(h, "POST", "/echo", h_echo, NULL, &err) < 0 ||
			bw_httpd_add_route(h, "GET", "/query", h_query, NULL, &err) < 0 ||
			bw_httpd_add_route(h, "DELETE", "/query", h_query, NULL, &err) < 0 ||
			bw_httpd_add_route(h, "GET", "/fail", h_fail, NULL, &err) < 0 ||
			bw_httpd_add_route(h, "GET", "/nocontent", h_nocontent, NULL, &err) < 0))
		rc = -1;
	if (rc == 0)
		rc = bw_httpd_start(h, &err);
	if (rc < 0) {
		printf("    server: %s\n", err.message);
		bw_httpd_free(h);
		return NULL;
	}
	return h;
}

static void test_options_and_routes(void)
{
	struct bw_httpd_options o;
	struct bw_httpd *h = NULL, *h2 = NULL;
	struct bw_error err;

	memset(&o, 0, sizeof(o));
	o.bind_address = "localhost";
	CHECK_INT(BW_EINVAL, bw_httpd_new(&o, &h, &err), "a host name is not a bind address");
	o.bind_address = NULL;
	o.tls_cert_pem = "x";
	CHECK_INT(BW_EINVAL, bw_httpd_new(&o, &h, &err), "half a TLS pair is refused");
	o.tls_key_pem = "y";
	CHECK_INT(BW_EPARSE, bw_httpd_new(&o, &h, &err), "a PEM that does not parse is refused");
	CHECK(strstr(err.message, "certificate") != NULL, "... saying so: %s", err.message);
	memset(&o, 0, sizeof(o));
	o.tls_cert_file = "/nonexistent/cert.pem";
	o.tls_key_file = "/nonexistent/key.pem";
	CHECK_INT(BW_EIO, bw_httpd_new(&o, &h, &err), "a missing certificate file is refused");
	memset(&o, 0, sizeof(o));
	o.port = 70000;
	CHECK_INT(BW_EINVAL, bw_httpd_new(&o, &h, &err), "port 70000 is refused");

	CHECK_INT(0, bw_httpd_new(NULL, &h, &err), "defaults make a server");
	CHECK_INT(0, bw_httpd_port(h), "no port before start");
	CHECK_INT(BW_EINVAL, bw_httpd_add_route(h, "HEAD", "/x", h_hello, NULL, &err),
		  "HEAD routes are refused");
	CHECK_INT(BW_EINVAL, bw_httpd_add_route(h, "GET", "x", h_hello, NULL, &err),
		  "a path must start with /");
	CHECK_INT(0, bw_httpd_add_route(h, "GET", "/x", h_hello, NULL, &err), "GET /x");
	CHECK_INT(BW_EINVAL, bw_httpd_add_route(h, "GET", "/x", h_hello, NULL, &err),
		  "GET /x twice is refused");
	CHECK_INT(BW_EINVAL, bw_httpd_set_tls(h, "a", "b", &err),
		  "set_tls on a server without TLS is refused");
	CHECK_INT(0, bw_httpd_start(h, &err), "start");
	CHECK_INT(BW_EINVAL, bw_httpd_start(h, &err), "a second start is refused");
	CHECK_INT(BW_EINVAL, bw_httpd_add_route(h, "GET", "/y", h_hello, NULL, &err),
		  "routes are refused once started");

	memset(&o, 0, sizeof(o));
	o.port = bw_httpd_port(h);
	CHECK_INT(0, bw_httpd_new(&o, &h2, &err), "a second server on the same port is made");
	CHECK_INT(BW_EIO, bw_httpd_start(h2, &err), "... but cannot start: %s", err.message);
	bw_httpd_free(h2);
	bw_httpd_free(h); /* stops it */
}

static void test_http(void)
{
	struct bw_httpd *h = server_new(NULL);
	struct bw_httpd_stats st;
	struct curl_slist *json = curl_slist_append(NULL, "Content-Type: application/json");
	struct curl_slist *noexpect = curl_slist_append(NULL, "Expect:");
	struct curl_slist *ws = NULL;
	struct result r;
	char url[128];
	char *big;
	size_t big_len = 2 * 1024 * 1024;
	long total_connects = 0;
	int i, port, ok;
	CURL *c = handle_new(NULL);

	memset(&r, 0, sizeof(r));
	ws = curl_slist_append(ws, "Connection: Upgrade");
	ws = curl_slist_append(ws, "Upgrade: websocket");
	ws = curl_slist_append(ws, "Sec-WebSocket-Version: 13");
	ws = curl_slist_append(ws, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==");
	CHECK(h != NULL, "a server starts on port 0");
	if (!h || !c)
		return;
	port = bw_httpd_port(h);
	CHECK(port > 0, "it tells its port (%d)", port);

	url_of(url, sizeof(url), "http", port, "/hello");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(CURLE_OK, r.rc, "GET /hello");
	CHECK_INT(200, r.status, "... answers 200");
	CHECK_STR("hello world\n", body_of(&r), "... with the handler's body");
	CHECK_STR("text/plain", r.type, "... and content type");

	url_of(url, sizeof(url), "http", port, "/echo");
	request(c, url, NULL, "{\"a\":1}", 7, json, &r);
	CHECK_INT(201, r.status, "POST /echo answers the handler's status");
	CHECK_STR("{\"a\":1}", body_of(&r), "... with the request body echoed");
	CHECK_STR("application/json", r.type, "... and the request's content type");

	request(c, url, NULL, "", 0, NULL, &r);
	CHECK_INT(201, r.status, "POST with an empty body");
	CHECK_INT(0, (long)r.body.len, "... echoes nothing");

	url_of(url, sizeof(url), "http", port, "/query?a=1&b=x%20y&c=p+q");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_STR("GET /query ?a=1&b=x y&c=p q", body_of(&r),
		  "the handler sees method, path and the decoded query");
	request(c, url, "DELETE", NULL, 0, NULL, &r);
	CHECK_STR("DELETE /query ?a=1&b=x y&c=p q", body_of(&r), "DELETE is routed too");

	url_of(url, sizeof(url), "http", port, "/missing");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(404, r.status, "an unknown path gets 404");
	request(c, url, NULL, "abc", 3, NULL, &r);
	CHECK_INT(404, r.status, "... with a body too");

	url_of(url, sizeof(url), "http", port, "/hello");
	request(c, url, NULL, "abc", 3, NULL, &r);
	CHECK_INT(405, r.status, "POST on a GET route gets 405");
	CHECK(r.headers.data && strstr(r.headers.data, "allow: GET\r\n"), "... with Allow: GET");
	url_of(url, sizeof(url), "http", port, "/query");
	request(c, url, "PUT", "x", 1, NULL, &r);
	CHECK_INT(405, r.status, "PUT on a GET+DELETE path gets 405");
	CHECK(r.headers.data && strstr(r.headers.data, "allow: GET, DELETE\r\n"),
	      "... with Allow: GET, DELETE");

	url_of(url, sizeof(url), "http", port, "/fail");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(500, r.status, "a failing handler gets its client a 500");
	CHECK(!strstr(body_of(&r), "secret"), "... without the body it had set");

	url_of(url, sizeof(url), "http", port, "/nocontent");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(204, r.status, "a 204 answer");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK(r.status == 204 && r.connects == 0, "... keeps the connection usable");

	url_of(url, sizeof(url), "http", port, "/echo");
	request(c, url, "POST", NULL, 0, NULL, &r);
	CHECK_INT(411, r.status, "a POST without Content-Length gets 411");

	/* upgrades: HTTP/1.1 only */
	url_of(url, sizeof(url), "http", port, "/hello");
	request(c, url, NULL, NULL, 0, ws, &r);
	CHECK_INT(400, r.status, "a websocket upgrade gets 400");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2_0);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(400, r.status, "an h2c upgrade gets 400");
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(200, r.status, "... and the connection still serves HTTP/1.1");
	request(c, url, "CONNECT", NULL, 0, NULL, &r);
	CHECK(r.rc != CURLE_OK || r.status >= 400, "CONNECT is refused (curl %d, status %ld)",
	      (int)r.rc, r.status);
	request(c, url, "HEAD", NULL, 0, NULL, &r);
	CHECK_INT(405, r.status, "HEAD gets 405");
	CHECK(r.headers.data && strstr(r.headers.data, "content-length: 19\r\n") && !r.body.len,
	      "... with the headers a GET would get and no body");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK(r.status == 200 && r.connects == 0, "... and the connection stays in step");
	url_of(url, sizeof(url), "http", port, "/echo");

	/* the size cap */
	big = malloc(big_len);
	if (big) {
		memset(big, 'x', big_len);
		request(c, url, NULL, big, (long)big_len, json, &r);
		CHECK_INT(CURLE_OK, r.rc, "a 2 MiB POST is answered");
		CHECK_INT(413, r.status, "... with 413");
		CHECK(strstr(body_of(&r), "too large") != NULL, "... and a message: %s",
		      body_of(&r));
		request(c, url, NULL, big, (long)big_len, noexpect, &r);
		CHECK_INT(413, r.status,
			  "a 2 MiB POST from a client that does not wait for 100 Continue gets "
			  "413 too");
		request(c, url, NULL, big, 1024 * 1024, noexpect, &r);
		CHECK_INT(201, r.status, "a POST of exactly 1 MiB is accepted");
		CHECK_INT(1024 * 1024, (long)r.body.len, "... and echoed whole");
		free(big);
	}

	/* keep-alive: 50 requests on one connection */
	url_of(url, sizeof(url), "http", port, "/hello");
	curl_easy_cleanup(c);
	c = handle_new(NULL);
	ok = 0;
	for (i = 0; i < 50; i++) {
		request(c, url, NULL, NULL, 0, NULL, &r);
		ok += r.status == 200;
		total_connects += r.connects;
	}
	CHECK_INT(50, ok, "50 requests on one handle are answered");
	CHECK_INT(1, total_connects, "... over one connection");

	/* concurrency: 8 threads, 100 requests in flight each */
	{
		pthread_t t[CONC_THREADS];
		struct conc_arg a[CONC_THREADS];
		int answered = 0;

		memset(a, 0, sizeof(a));
		for (i = 0; i < CONC_THREADS; i++) {
			a[i].port = port;
			pthread_create(&t[i], NULL, conc_thread, &a[i]);
		}
		for (i = 0; i < CONC_THREADS; i++) {
			pthread_join(t[i], NULL);
			answered += a[i].ok;
		}
		CHECK_INT(CONC_THREADS * conc_requests(), answered,
			  "%d threads x %d concurrent requests are all answered", CONC_THREADS,
			  conc_requests());
	}

	bw_httpd_stats(h, &st);
	CHECK_INT(1 + 1 + 1 + 50 + CONC_THREADS * conc_requests(),
		  bw_httpd_stats_count(&st, "/hello", 200), "stats count GET /hello 200s");
	CHECK_INT(2, bw_httpd_stats_count(&st, "/hello", 405), "... and the 405s");
	CHECK_INT(2, bw_httpd_stats_count(&st, "", 404), "... and 404s under \"\"");
	CHECK_INT(2, bw_httpd_stats_count(&st, "/echo", 413), "... and the 413s");
	CHECK_INT(1, bw_httpd_stats_count(&st, "/echo", 411), "... and the 411");
	CHECK(st.connections >= (unsigned long long)CONC_THREADS * conc_requests(),
	      "... and connections (%llu)", st.connections);
	CHECK(st.connections_open >= 1, "a connection is still open (%llu)", st.connections_open);

	/* stop with the keep-alive connection open, then start again */
	bw_httpd_stop(h);
	CHECK_INT(0, bw_httpd_port(h), "stopped: no port");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK(r.rc != CURLE_OK, "stopped: requests fail (curl %d)", (int)r.rc);
	{
		struct bw_error err;

		for (i = 0; i < 2; i++) {
			CHECK_INT(0, bw_httpd_start(h, &err), "start again (%d)", i + 1);
			port = bw_httpd_port(h);
			url_of(url, sizeof(url), "http", port, "/hello");
			request(c, url, NULL, NULL, 0, NULL, &r);
			CHECK_INT(200, r.status, "... and it answers on port %d", port);
			bw_httpd_stop(h);
			bw_httpd_stop(h); /* twice is fine */
		}
	}
	result_free(&r);
	curl_easy_cleanup(c);
	curl_slist_free_all(json);
	curl_slist_free_all(noexpect);
	curl_slist_free_all(ws);
	bw_httpd_free(h);
}

static void test_stop_from_handler(void)
{
	struct bw_httpd *h = NULL;
	struct bw_error err;
	struct result r;
	char url[128];
	CURL *c = handle_new(NULL);
	int ok;

	memset(&r, 0, sizeof(r));
	ok = bw_httpd_new(NULL, &h, &err) == 0 &&
	     bw_httpd_add_route(h, "GET", "/stop", h_stop, &h, &err) == 0 &&
	     bw_httpd_start(h, &err) == 0;
	CHECK(ok, "a server with a handler that stops it starts");
	if (ok) {
		url_of(url, sizeof(url), "http", bw_httpd_port(h), "/stop");
		request(c, url, NULL, NULL, 0, NULL, &r);
		bw_httpd_stop(h);
		CHECK_INT(0, bw_httpd_port(h), "bw_httpd_stop() from a handler does not deadlock");
		CHECK_INT(0, bw_httpd_start(h, &err), "... and the server starts again");
	}
	result_free(&r);
	curl_easy_cleanup(c);
	bw_httpd_free(h);
}

static void test_connection_limit(void)
{
	struct bw_httpd_options o;
	struct bw_httpd *h;
	struct bw_httpd_stats st;
	struct result r;
	char url[128];
	CURL *a = handle_new(NULL), *b = handle_new(NULL), *c = handle_new(NULL);
	int i;

	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	o.max_connections = 2;
	h = server_new(&o);
	CHECK(h != NULL, "a server with at most 2 connections starts");
	if (!h)
		return;
	url_of(url, sizeof(url), "http", bw_httpd_port(h), "/hello");
	request(a, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(200, r.status, "connection 1 is served");
	request(b, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(200, r.status, "connection 2 is served");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK(r.rc != CURLE_OK, "connection 3 is refused (curl %d)", (int)r.rc);
	bw_httpd_stats(h, &st);
	CHECK_INT(1, st.connections_refused, "... and counted");
	curl_easy_cleanup(a);
	for (i = 0; i < 100; i++) {
		request(c, url, NULL, NULL, 0, NULL, &r);
		if (r.status == 200)
			break;
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	CHECK_INT(200, r.status, "once connection 1 closes, a new one is served");
	result_free(&r);
	curl_easy_cleanup(b);
	curl_easy_cleanup(c);
	bw_httpd_free(h);
}

static int write_file(char *path_template, const char *text)
{
	int fd = mkstemp(path_template);
	size_t len = strlen(text);
	int ok;

	if (fd < 0)
		return 0;
	ok = write(fd, text, len) == (ssize_t)len;
	close(fd);
	return ok;
}

static void test_https_files(const struct cert *ca, const struct cert *server)
{
	char cert_path[] = "/tmp/bw-httpd-cert-XXXXXX", key_path[] = "/tmp/bw-httpd-key-XXXXXX";
	struct bw_httpd_options o;
	struct bw_httpd *h;
	struct result r;
	char url[128];
	CURL *c;

	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	if (!write_file(cert_path, server->cert_pem) || !write_file(key_path, server->key_pem)) {
		CHECK(0, "temporary PEM files are written");
		return;
	}
	o.tls_cert_file = cert_path;
	o.tls_key_file = key_path;
	h = server_new(&o);
	CHECK(h != NULL, "an HTTPS server starts with its certificate and key in files");
	if (h) {
		url_of(url, sizeof(url), "https", bw_httpd_port(h), "/hello");
		c = handle_new(ca->cert_pem);
		request(c, url, NULL, NULL, 0, NULL, &r);
		CHECK_INT(200, r.status, "... and serves them");
		curl_easy_cleanup(c);
		bw_httpd_free(h);
	}
	result_free(&r);
	unlink(cert_path);
	unlink(key_path);
}

static void test_https(void)
{
	struct cert ca1, ca2, s1, s2, s3;
	struct bw_httpd_options o;
	struct bw_httpd *h = NULL;
	struct bw_httpd_stats st;
	struct bw_error err;
	struct result r;
	char url[128];
	CURL *c, *kept;
	int ok;

	memset(&r, 0, sizeof(r));
	memset(&s3, 0, sizeof(s3));
	ok = cert_make(&ca1, "breakwater test CA 1", NULL, 1, 0) &&
	     cert_make(&s1, "server 1", &ca1, 2, 0) &&
	     cert_make(&ca2, "breakwater test CA 2", NULL, 3, 0) &&
	     cert_make(&s2, "server 2", &ca2, 4, 0) && cert_make(&s3, "server 3", &ca2, 5, 1);
	CHECK(ok, "EC P-256 CAs and server certificates are made (and one RSA)");
	if (!ok)
		return;

	memset(&o, 0, sizeof(o));
	o.tls_cert_pem = s1.cert_pem;
	o.tls_key_pem = s2.key_pem;
	CHECK_INT(BW_EPARSE, bw_httpd_new(&o, &h, &err), "a key that does not match is refused");
	o.tls_key_pem = s1.key_pem;
	h = server_new(&o);
	CHECK(h != NULL, "an HTTPS server starts");
	if (!h)
		goto out;
	url_of(url, sizeof(url), "https", bw_httpd_port(h), "/hello");

	c = handle_new(ca1.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(CURLE_OK, r.rc, "GET over HTTPS, verified against CA 1");
	CHECK_INT(200, r.status, "... answers 200");
	CHECK_STR("hello world\n", body_of(&r), "... with the body");
	curl_easy_cleanup(c);

	c = handle_new(ca2.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(CURLE_PEER_FAILED_VERIFICATION, r.rc, "CA 2 does not verify it");
	curl_easy_cleanup(c);

	c = handle_new(ca1.cert_pem);
	curl_easy_setopt(c, CURLOPT_SSLVERSION,
			 (long)(CURL_SSLVERSION_TLSv1_1 | CURL_SSLVERSION_MAX_TLSv1_1));
	/* let the client offer TLS 1.1, so a refusal is the server's */
	curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, "DEFAULT:@SECLEVEL=0");
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK(r.rc != CURLE_OK, "TLS 1.1 is refused (curl %d)", (int)r.rc);
	curl_easy_cleanup(c);

	c = handle_new(ca1.cert_pem);
	curl_easy_setopt(c, CURLOPT_SSLVERSION,
			 (long)(CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2));
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(200, r.status, "TLS 1.2 is accepted");
	curl_easy_cleanup(c);

	/* a connection made before the reload, kept alive */
	kept = handle_new(ca1.cert_pem);
	request(kept, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(200, r.status, "a keep-alive connection is made with certificate 1");

	CHECK_INT(BW_EPARSE, bw_httpd_set_tls(h, s2.cert_pem, s1.key_pem, &err),
		  "set_tls with a key that does not match is refused");
	CHECK_INT(BW_EPARSE, bw_httpd_set_tls(h, "junk", "junk", &err),
		  "set_tls with junk is refused");
	c = handle_new(ca1.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(200, r.status, "... and certificate 1 stays");
	curl_easy_cleanup(c);

	CHECK_INT(0, bw_httpd_set_tls(h, s2.cert_pem, s2.key_pem, &err),
		  "set_tls to certificate 2");
	c = handle_new(ca2.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(CURLE_OK, r.rc, "a new connection verifies against CA 2");
	CHECK_INT(200, r.status, "... and is answered");
	curl_easy_cleanup(c);
	c = handle_new(ca1.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(CURLE_PEER_FAILED_VERIFICATION, r.rc, "... and no longer against CA 1");
	curl_easy_cleanup(c);
	request(kept, url, NULL, NULL, 0, NULL, &r);
	CHECK(r.status == 200 && r.connects == 0,
	      "the connection made before the reload still works (status %ld, connects %ld)",
	      r.status, r.connects);
	bw_httpd_stats(h, &st);
	CHECK_INT(1, st.tls_reloads, "the reload is counted");

	/* to an RSA key: certificate 1 (EC, CA 1), which the SSL_CTX was made
	 * with, must not linger in the EC slot of new connections */
	CHECK_INT(0, bw_httpd_set_tls(h, s3.cert_pem, s3.key_pem, &err),
		  "set_tls to an RSA certificate from CA 2");
	c = handle_new(ca2.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(CURLE_OK, r.rc, "a new connection verifies against CA 2");
	curl_easy_cleanup(c);
	c = handle_new(ca1.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(CURLE_PEER_FAILED_VERIFICATION, r.rc, "... and not against CA 1");
	curl_easy_cleanup(c);
	CHECK_INT(0, bw_httpd_set_tls(h, s2.cert_pem, s2.key_pem, &err), "back to certificate 2");

	/* stop with a TLS connection open, start again: certificate 2 holds */
	bw_httpd_stop(h);
	CHECK_INT(0, bw_httpd_start(h, &err), "the HTTPS server starts again");
	url_of(url, sizeof(url), "https", bw_httpd_port(h), "/hello");
	c = handle_new(ca2.cert_pem);
	request(c, url, NULL, NULL, 0, NULL, &r);
	CHECK_INT(200, r.status, "... still with certificate 2");
	curl_easy_cleanup(c);
	curl_easy_cleanup(kept);
	bw_httpd_free(h);
	test_https_files(&ca1, &s1);
out:
	result_free(&r);
	cert_free(&ca1);
	cert_free(&ca2);
	cert_free(&s1);
	cert_free(&s2);
	cert_free(&s3);
}

int main(void)
{
	struct rlimit rl;

	/* 800 client and 800 server sockets in this one process */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, stderr);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_options_and_routes();
	test_http();
	test_connection_limit();
	test_stop_from_handler();
	test_https();
	curl_global_cleanup();
	return check_exit();
}
