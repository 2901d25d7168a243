/*
 * The HTTP server (lib/httpd.c), driven with libcurl over loopback: routes,
 * 404/405/411/413/500, keep-alive, concurrency, the connection limit, HTTPS
 * with certificates made here with OpenSSL, TLS 1.1 refused, certificate
 * reload, stop with connections open, restarts; and with raw sockets, the
 * limits on hostile clients: the request deadline against trickling clients,
 * the idle timeout, the per-peer connection limit (a second peer from
 * 127.0.0.2), the body budget, handlers on workers.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
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
	rc = bw_httpd_new(&h, o, &err);
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
	CHECK_INT(BW_EINVAL, bw_httpd_new(&h, &o, &err), "a host name is not a bind address");
	o.bind_address = NULL;
	o.tls_cert_pem = "x";
	CHECK_INT(BW_EINVAL, bw_httpd_new(&h, &o, &err), "half a TLS pair is refused");
	o.tls_key_pem = "y";
	CHECK_INT(BW_EPARSE, bw_httpd_new(&h, &o, &err), "a PEM that does not parse is refused");
	CHECK(strstr(err.message, "certificate") != NULL, "... saying so: %s", err.message);
	memset(&o, 0, sizeof(o));
	o.tls_cert_file = "/nonexistent/cert.pem";
	o.tls_key_file = "/nonexistent/key.pem";
	CHECK_INT(BW_EIO, bw_httpd_new(&h, &o, &err), "a missing certificate file is refused");
	memset(&o, 0, sizeof(o));
	o.port = 70000;
	CHECK_INT(BW_EINVAL, bw_httpd_new(&h, &o, &err), "port 70000 is refused");

	CHECK_INT(0, bw_httpd_new(&h, NULL, &err), "defaults make a server");
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
	CHECK_INT(0, bw_httpd_new(&h2, &o, &err), "a second server on the same port is made");
	CHECK_INT(BW_EIO, bw_httpd_start(h2, &err), "... but cannot start: %s", err.message);
	bw_httpd_free(h2);
	bw_httpd_free(h); /* stops it */
}

static void test_http(void)
{
	/* 800 connections at once from one address below: the per-peer limit
	 * has a test of its own */
	struct bw_httpd_options o = {.max_connections_per_peer = BW_HTTPD_DEFAULT_MAX_CONNECTIONS};
	struct bw_httpd *h = server_new(&o);
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
	ok = bw_httpd_new(&h, NULL, &err) == 0 &&
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
	CHECK_INT(BW_EPARSE, bw_httpd_new(&h, &o, &err), "a key that does not match is refused");
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

/* ---- raw sockets: slow and hostile clients ---------------------------- */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* A TCP connection to 127.0.0.1:port from the address src; -1 on failure. */
static int connect_from(const char *src, int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, src, &a.sin_addr);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	a.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

static int send_text(int fd, const char *text, size_t len)
{
	return send(fd, text, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Whether the peer closed fd within ms (reading and dropping what comes). */
static int closed_within(int fd, long ms)
{
	long long end = now_ms() + ms;
	char buf[4096];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	while (now_ms() < end) {
		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return 1;
	}
	return 0;
}

/* needle in s, ignoring case (find_ci() is a GNU extension) */
static const char *find_ci(const char *s, const char *needle)
{
	size_t n = strlen(needle);

	for (; *s; s++)
		if (strncasecmp(s, needle, n) == 0)
			return s;
	return NULL;
}

/* Reads one answer from fd: its status (0 if none within ms), its headers
 * into head, and its body (by Content-Length) dropped. */
static int read_answer(int fd, long ms, char *head, size_t size)
{
	long long end = now_ms() + ms;
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t len = 0, need = 0;
	const char *cl;
	char *eoh = NULL;
	int status = 0;
	ssize_t n;

	head[0] = '\0';
	while (now_ms() < end) {
		if (poll(&p, 1, (int)(end - now_ms())) <= 0)
			continue;
		if (len + 1 >= size)
			break;
		n = recv(fd, head + len, eoh ? 1 : size - len - 1, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		head[len] = '\0';
		if (!eoh && (eoh = strstr(head, "\r\n\r\n")) != NULL) {
			cl = find_ci(head, "content-length:");
			need = (size_t)(eoh + 4 - head) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		}
		if (eoh && len >= need)
			break;
	}
	if (eoh && sscanf(head, "HTTP/1.1 %d", &status) != 1)
		status = 0;
	return eoh ? status : 0;
}

static struct bw_httpd *limits_server(int request_ms, int keepalive_s, int per_peer)
{
	struct bw_httpd_options o;

	memset(&o, 0, sizeof(o));
	o.request_timeout_ms = request_ms;
	o.keepalive_timeout_s = keepalive_s;
	o.max_connections_per_peer = per_peer;
	return server_new(&o);
}

/* Finding 2 of issue 8: a client trickling its request holds a connection
 * only until the request deadline. */
static void test_request_deadline(void)
{
	static const char head[] = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
	static const char partial[] = "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct bw_httpd *h = limits_server(1000, 30, 0);
	struct bw_httpd_stats st;
	long long start, held;
	int fd, i, port, closed;
	char answer[512];

	CHECK(h != NULL, "a server with a 1 s request deadline starts");
	if (!h)
		return;
	port = bw_httpd_port(h);

	/* the body, a byte every 100 ms: 10 s if nothing stopped it */
	fd = connect_from("127.0.0.1", port);
	start = now_ms();
	closed = fd < 0 || send_text(fd, head, sizeof(head) - 1) < 0;
	for (i = 0; i < 100 && !closed; i++) {
		closed = closed_within(fd, 100) || send_text(fd, "x", 1) < 0;
	}
	held = now_ms() - start;
	CHECK(closed && held >= 900 && held < 3000,
	      "a client trickling its body is cut off at the 1 s deadline (held %lld ms, %d of "
	      "100 bytes sent)",
	      held, i);
	if (fd >= 0)
		close(fd);

	/* the headers, a byte every 100 ms, never finished */
	fd = connect_from("127.0.0.1", port);
	start = now_ms();
	closed = fd < 0 || send_text(fd, partial, sizeof(partial) - 1) < 0;
	for (i = 0; i < 100 && !closed; i++)
		closed = closed_within(fd, 100) || send_text(fd, "y", 1) < 0;
	held = now_ms() - start;
	CHECK(closed && held >= 900 && held < 3000,
	      "a client trickling its headers is cut off at the deadline (held %lld ms)", held);
	if (fd >= 0)
		close(fd);

	/* a connection that sends nothing at all */
	fd = connect_from("127.0.0.1", port);
	start = now_ms();
	closed = fd >= 0 && closed_within(fd, 5000);
	held = now_ms() - start;
	CHECK(closed && held >= 900 && held < 3000,
	      "a connection that sends nothing is closed at the deadline (held %lld ms)", held);
	if (fd >= 0)
		close(fd);

	/* keep-alive: a later request is timed from its own headers, not from
	 * the connection's accept */
	fd = connect_from("127.0.0.1", port);
	CHECK(fd >= 0 && send_text(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(fd, 2000, answer, sizeof(answer)) == 200,
	      "a quick request is answered");
	sleep_ms(1500);
	CHECK(fd >= 0 && send_text(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(fd, 2000, answer, sizeof(answer)) == 200,
	      "... and so is the next on the same connection, 1.5 s later (past the first "
	      "request's deadline, within the idle timeout)");
	if (fd >= 0)
		close(fd);
	bw_httpd_stats(h, &st);
	CHECK(st.requests_timed_out >= 3, "the deadlines are counted (%llu)",
	      st.requests_timed_out);
	bw_httpd_free(h);
}

static void test_idle_timeout(void)
{
	struct bw_httpd *h = limits_server(5000, 1, 0);
	long long start, held;
	char answer[512];
	int fd, closed;

	CHECK(BW_HTTPD_DEFAULT_KEEPALIVE_S < 90,
	      "idle keep-alive connections close by default sooner (%d s) than the API server's "
	      "client drops them (90 s)",
	      BW_HTTPD_DEFAULT_KEEPALIVE_S);
	CHECK(h != NULL, "a server with a 1 s idle timeout starts");
	if (!h)
		return;
	fd = connect_from("127.0.0.1", bw_httpd_port(h));
	CHECK(fd >= 0 && send_text(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(fd, 2000, answer, sizeof(answer)) == 200,
	      "a request on a keep-alive connection is answered");
	start = now_ms();
	closed = fd >= 0 && closed_within(fd, 5000);
	held = now_ms() - start;
	CHECK(closed && held >= 800 && held < 3000,
	      "the idle connection is closed after the idle timeout (%lld ms)", held);
	if (fd >= 0)
		close(fd);
	bw_httpd_free(h);
}

static void test_per_peer_limit(void)
{
	struct bw_httpd *h = limits_server(10000, 30, 2);
	struct bw_httpd_stats st;
	char answer[512];
	int a, b, c, other, port;

	CHECK(h != NULL, "a server with at most 2 connections per peer starts");
	if (!h)
		return;
	port = bw_httpd_port(h);
	a = connect_from("127.0.0.1", port);
	b = connect_from("127.0.0.1", port);
	CHECK(a >= 0 && b >= 0 && send_text(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(a, 2000, answer, sizeof(answer)) == 200 &&
		  send_text(b, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(b, 2000, answer, sizeof(answer)) == 200,
	      "two connections from 127.0.0.1 are served");
	c = connect_from("127.0.0.1", port);
	CHECK(c >= 0 && closed_within(c, 2000),
	      "a third from 127.0.0.1 is closed as soon as accepted");
	other = connect_from("127.0.0.2", port);
	CHECK(other >= 0 && send_text(other, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(other, 2000, answer, sizeof(answer)) == 200,
	      "meanwhile a connection from 127.0.0.2 is served");
	bw_httpd_stats(h, &st);
	CHECK_INT(1, st.connections_refused_peer, "the refusal is counted");
	if (c >= 0)
		close(c);
	if (a >= 0)
		close(a);
	c = -1;
	/* once one closes, 127.0.0.1 may connect again */
	for (int i = 0; i < 100 && c < 0; i++) {
		c = connect_from("127.0.0.1", port);
		if (c >= 0 && (send_text(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) != 0 ||
			       read_answer(c, 2000, answer, sizeof(answer)) != 200)) {
			close(c);
			c = -1;
			sleep_ms(10);
		}
	}
	CHECK(c >= 0, "once one of them closes, 127.0.0.1 is served again");
	if (c >= 0)
		close(c);
	if (b >= 0)
		close(b);
	if (other >= 0)
		close(other);
	bw_httpd_free(h);
}

/* Finding 1 of issue 8: bodies held at once are bounded, and small ones
 * still find room. */
static void test_body_budget(void)
{

	struct bw_httpd_options o;
	struct bw_httpd_stats st;
	struct bw_httpd *h;
	char head[256], answer[1024], *body;
	size_t big = 200 * 1024;
	int a, b, c, port;

	/* the pure rule first: large bodies may fill three quarters */
	CHECK_INT(768, bw_httpd_budget_room(1024, 0, BW_HTTPD_SMALL_BODY + 1),
		  "a large body may use three quarters of an empty budget");
	CHECK_INT(1024, bw_httpd_budget_room(1024, 0, 100), "a small one all of it");
	CHECK_INT(0, bw_httpd_budget_room(1024, 800, BW_HTTPD_SMALL_BODY + 1),
		  "past three quarters in use, no room for a large body");
	CHECK_INT(224, bw_httpd_budget_room(1024, 800, 100), "... but some for a small one");
	memset(&o, 0, sizeof(o));
	o.max_body = 256 * 1024;
	o.max_buffered = 512 * 1024; /* large bodies: 384 KiB of it */
	h = server_new(&o);
	CHECK(h != NULL, "a server with a 512 KiB body budget starts");
	if (!h)
		return;
	port = bw_httpd_port(h);
	body = malloc(big);
	memset(body, 'b', big);
	snprintf(head, sizeof(head),
		 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", big);

	/* a holds 200 KiB of the budget, having sent 1 KiB of it */
	a = connect_from("127.0.0.1", port);
	CHECK(a >= 0 && send_text(a, head, strlen(head)) == 0 && send_text(a, body, 1024) == 0,
	      "client a announces a 200 KiB body and sends 1 KiB of it");
	/* the server takes the head in on its own thread: up to 5 s */
	for (int i = 0; i < 250; i++) {
		bw_httpd_stats(h, &st);
		if (st.bytes_buffered == big)
			break;
		sleep_ms(20);
	}
	CHECK_INT(big, st.bytes_buffered, "... which holds 200 KiB of the budget");
	b = connect_from("127.0.0.1", port);
	CHECK(b >= 0 && send_text(b, head, strlen(head)) == 0 &&
		  read_answer(b, 2000, answer, sizeof(answer)) == 503,
	      "client b's 200 KiB body does not fit: 503 at once");
	CHECK(find_ci(answer, "retry-after: 1") && strstr(answer, "server busy"),
	      "... with Retry-After and a message naming the budget (%.200s)", answer);
	CHECK(b >= 0 && send_text(b, body, big) == 0 && closed_within(b, 2000),
	      "... and the connection closes once the body, if sent anyway, is read and dropped");
	c = connect_from("127.0.0.1", port);
	CHECK(c >= 0 &&
		  send_text(c, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nsmall",
			    56) == 0 &&
		  read_answer(c, 2000, answer, sizeof(answer)) == 201,
	      "a small body still finds room");
	CHECK(a >= 0 && send_text(a, body + 1024, big - 1024) == 0 &&
		  read_answer(a, 5000, answer, sizeof(answer)) == 201,
	      "client a's body, once complete, is served");
	bw_httpd_stats(h, &st);
	CHECK_INT(1, st.requests_busy, "the refusal is counted");
	if (a >= 0)
		close(a);
	if (b >= 0)
		close(b);
	if (c >= 0)
		close(c);
	/* the answer is written before the server lets go of the request */
	for (int i = 0; i < 200; i++) {
		bw_httpd_stats(h, &st);
		if (st.bytes_buffered == 0)
			break;
		sleep_ms(10);
	}
	CHECK_INT(0, st.bytes_buffered, "once answered, no budget is held");
	/* a body that is announced but never sent costs no memory, only budget:
	 * lib/httpd grows buffers as bytes arrive (checked under ASan: no
	 * allocation of the announced size happens, nothing leaks) */
	free(body);
	bw_httpd_free(h);
}

/* Found by fuzz_httpd: a request body pipelined behind another request
 * sent lws 4.1 into an endless loop on the service thread, which hung the
 * whole server, or had it hand over a body from a buffer it had freed; so
 * did bytes after a body. Pipelined requests close the connection (after
 * the answers to the requests before them), and the server goes on
 * serving. */
static void test_pipelined_body(void)
{
	static const char two[] = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
				  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi";
	struct bw_httpd *h = limits_server(5000, 30, 0);
	struct bw_httpd_stats st;
	char answer[512];
	int fd, other;

	CHECK(h != NULL, "a server starts");
	if (!h)
		return;
	fd = connect_from("127.0.0.1", bw_httpd_port(h));
	CHECK(fd >= 0 && send_text(fd, two, sizeof(two) - 1) == 0 &&
		  read_answer(fd, 2000, answer, sizeof(answer)) == 200,
	      "the first of two pipelined requests is answered");
	CHECK(fd >= 0 && closed_within(fd, 1000),
	      "the connection with a pipelined request body is closed at once");
	other = connect_from("127.0.0.1", bw_httpd_port(h));
	CHECK(other >= 0 && send_text(other, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(other, 2000, answer, sizeof(answer)) == 200,
	      "... and the server goes on serving other connections");
	if (fd >= 0)
		close(fd);
	/* the use after free: a partial body pipelined behind a request the
	 * server did not route */
	fd = connect_from("127.0.0.1", bw_httpd_port(h));
	CHECK(fd >= 0 &&
		  send_text(fd, "DELETE/ HTTP/1.1\n\nPOST /echo\nContent-Length:62\n\nC", 49) ==
		      0 &&
		  closed_within(fd, 1000),
	      "a partial body pipelined behind a request closes the connection");
	if (fd >= 0)
		close(fd);
	/* ... and behind a request lws answered itself (403 to an upgrade) */
	fd = connect_from("127.0.0.1", bw_httpd_port(h));
	CHECK(fd >= 0 &&
		  send_text(fd,
			    "POST / HTT+/1.1\nContent-Length:0\n\nUpgrade:r\n\nPOST "
			    "/echo\nContent-Length:40\n\nf",
			    76) == 0 &&
		  closed_within(fd, 1000),
	      "a partial body pipelined behind a request lws answered closes the connection");
	bw_httpd_stats(h, &st);
	CHECK(st.requests_pipelined >= 3, "pipelined requests are counted (%llu)",
	      st.requests_pipelined);
	if (fd >= 0)
		close(fd);
	/* the same loop, from one stray byte after a body */
	fd = connect_from("127.0.0.1", bw_httpd_port(h));
	CHECK(fd >= 0 &&
		  send_text(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi!",
			    54) == 0 &&
		  closed_within(fd, 1000),
	      "a connection with a stray byte after a body is closed at once");
	CHECK(other >= 0 && send_text(other, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(other, 2000, answer, sizeof(answer)) == 200,
	      "... and the server goes on serving");
	if (fd >= 0)
		close(fd);
	if (other >= 0)
		close(other);
	bw_httpd_free(h);
}

/* CPU time of this process, the server's threads included, in ms. */
static long long cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Found by fuzz_httpd (7.58 million executions in): a Content-Length of 31
 * bytes, "35", NULs and junk. lws could not copy it (31 bytes at most, with
 * the NUL), so it saw no body; we read 35 and waited for one. The 6 bytes
 * after the headers stayed in lws's buffer, lws polled again with a
 * timeout of 0 and never read the socket (the client's FIN unread): the
 * service thread spun at 100% of a core until the request deadline (10 s on
 * the webhook), for every such connection. Such a value is now refused
 * with 400, as is any lws would read otherwise. */
static void test_unread_bytes_after_fin(void)
{
	static const unsigned char spin[] = {
	    0x47, 0x45, 0x54, 0x20, 0x2f, 0x20, 0x48, 0x54, 0xff, 0xff, 0xff, 0xff, 0x0a,
	    0x43, 0x6f, 0x6e, 0x74, 0x65, 0x6e, 0x74, 0x2d, 0x4c, 0x65, 0x6e, 0x67, 0x74,
	    0x68, 0x3a, 0x20, 0x33, 0x35, 0x00, 0x00, 0x00, 0x1f, 0xa7, 0xa7, 0xa7, 0xb0,
	    0xa7, 0xa7, 0xa7, 0xa7, 0xa7, 0xa7, 0xa7, 0xa7, 0x2f, 0x16, 0x20, 0x48, 0x54,
	    0x54, 0x2b, 0x2f, 0x91, 0x81, 0x00, 0x00, 0x35, 0x76, 0x00, 0x00, 0x55, 0x70,
	    0x64, 0x30, 0x0a, 0x0a, 0x70, 0x67, 0x31, 0x0a, 0x23, 0x0a};
#define BAD_LENGTH(what, value)                                                                \
	{                                                                                      \
		what, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " value "\r\n\r\nhi", \
		    sizeof("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " value          \
			   "\r\n\r\nhi") -                                                     \
			1                                                                      \
	}
	static const struct {
		const char *what, *text;
		size_t len;
	} bad[] = {
	    BAD_LENGTH("with a NUL after its digits", "2\0 7"),
	    BAD_LENGTH("of 20 digits", "00000000000000000002"),
	    BAD_LENGTH("with junk after its digits", "2x"),
	};
#undef BAD_LENGTH
	struct bw_httpd *h = limits_server(5000, 30, 0);
	long long start, cpu, held;
	char answer[512];
	int fd, closed;
	size_t i;

	CHECK(h != NULL, "a server with a 5 s request deadline starts");
	if (!h)
		return;
	fd = connect_from("127.0.0.1", bw_httpd_port(h));
	start = now_ms();
	cpu = cpu_ms();
	closed = fd >= 0 && send_text(fd, (const char *)spin, sizeof(spin)) == 0 &&
		 shutdown(fd, SHUT_WR) == 0 && closed_within(fd, 4000);
	held = now_ms() - start;
	cpu = cpu_ms() - cpu;
	/* "at once": well before the deadline, with room for a loaded machine */
	CHECK(closed && held < 4000,
	      "a Content-Length lws reads as none (31 bytes: \"35\", NULs, junk) closes the "
	      "connection before the 5 s deadline (held %lld ms)",
	      held);
	CHECK(cpu < 250 + held / 4,
	      "... and the server does not spin while it is open (%lld ms of CPU in %lld ms)", cpu,
	      held);
	if (fd >= 0)
		close(fd);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fd = connect_from("127.0.0.1", bw_httpd_port(h));
		CHECK(fd >= 0 && send_text(fd, bad[i].text, bad[i].len) == 0 &&
			  read_answer(fd, 2000, answer, sizeof(answer)) == 400 &&
			  closed_within(fd, 1000),
		      "Content-Length %s: 400, and the connection closes", bad[i].what);
		if (fd >= 0)
			close(fd);
	}
	fd = connect_from("127.0.0.1", bw_httpd_port(h));
	CHECK(fd >= 0 && send_text(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
		  read_answer(fd, 2000, answer, sizeof(answer)) == 200,
	      "... and the server goes on serving");
	if (fd >= 0)
		close(fd);
	bw_httpd_free(h);
}

/* Closed while test_workers() checks that a quick request is answered
 * while a slow one is being handled: the slow handler waits for it to open
 * (at most 10 s), so the check needs no clock. */
static atomic_int slow_gate_open = 1;

static int h_slow(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	for (int i = 0; i < 2000 && !atomic_load(&slow_gate_open); i++)
		sleep_ms(5);
	sleep_ms(500);
	return bw_httpd_response_set_body(resp, NULL, "slow\n", 5);
}

static void test_workers(void)
{
	struct bw_httpd_options o;
	struct bw_httpd *h = NULL;
	struct bw_error err;
	char answer[512];
	int slow, quick, ok, port;

	memset(&o, 0, sizeof(o));
	o.workers = 2;
	ok = bw_httpd_new(&h, &o, &err) == 0 &&
	     bw_httpd_add_route(h, "GET", "/slow", h_slow, NULL, &err) == 0 &&
	     bw_httpd_add_route(h, "GET", "/hello", h_hello, NULL, &err) == 0 &&
	     bw_httpd_add_route(h, "GET", "/fail", h_fail, NULL, &err) == 0 &&
	     bw_httpd_start(h, &err) == 0;
	CHECK(ok, "a server with 2 workers starts");
	if (!ok) {
		bw_httpd_free(h);
		return;
	}
	port = bw_httpd_port(h);
	slow = connect_from("127.0.0.1", port);
	quick = connect_from("127.0.0.1", port);
	atomic_store(&slow_gate_open, 0);
	CHECK(slow >= 0 && send_text(slow, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", 31) == 0,
	      "a slow request goes to a worker");
	/* the slow handler holds its worker until the gate opens: an answer
	 * to the quick one now comes from the other worker or the server */
	ok = quick >= 0 && send_text(quick, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", 32) == 0 &&
	     read_answer(quick, 5000, answer, sizeof(answer)) == 200;
	CHECK(ok && poll(&(struct pollfd){.fd = slow, .events = POLLIN}, 1, 0) == 0,
	      "meanwhile a quick request is answered, the slow one still held");
	atomic_store(&slow_gate_open, 1);
	CHECK(slow >= 0 && read_answer(slow, 3000, answer, sizeof(answer)) == 200 &&
		  strstr(answer, "slow"),
	      "the slow one is answered when its handler returns");
	CHECK(quick >= 0 && send_text(quick, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n", 31) == 0 &&
		  read_answer(quick, 2000, answer, sizeof(answer)) == 500,
	      "a handler failing on a worker gets its client a 500");
	/* a request in flight when the server stops: its worker's answer is
	 * dropped, nothing leaks (ASan) */
	CHECK(slow >= 0 && send_text(slow, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", 31) == 0,
	      "another slow request is sent");
	sleep_ms(100);
	bw_httpd_free(h);
	CHECK(slow < 0 || closed_within(slow, 1000),
	      "stopping with a handler on a worker closes its connection");
	if (slow >= 0)
		close(slow);
	if (quick >= 0)
		close(quick);
}

/* The thread a handler ran on, for the test's thread to read afterwards. */
static atomic_ulong ran_on;

static int h_where(const struct bw_http_request *req, struct bw_http_response *resp, void *ctx)
{
	char text[32];

	(void)ctx;
	atomic_store(&ran_on, (unsigned long)pthread_self());
	snprintf(text, sizeof(text), "%zu\n", req->body_len);
	return bw_httpd_response_set_body(resp, NULL, text, strlen(text));
}

/* The thread that handled method path (body of len bytes), 0 on failure. */
static unsigned long handled_on(CURL *c, int port, const char *method, const char *path, size_t len)
{
	char url[128], body[256], want[32];
	struct result r = {0};
	unsigned long t;

	memset(body, 'b', sizeof(body));
	atomic_store(&ran_on, 0);
	url_of(url, sizeof(url), "http", port, path);
	request(c, url, method, len || strcmp(method, "POST") == 0 ? body : NULL, (long)len, NULL,
		&r);
	snprintf(want, sizeof(want), "%zu\n", len);
	t = r.status == 200 && strcmp(body_of(&r), want) == 0 ? atomic_load(&ran_on) : 0;
	result_free(&r);
	return t;
}

static void test_inline_routes(void)
{
	struct bw_httpd_options o;
	struct bw_httpd *h = NULL;
	struct bw_error err;
	unsigned long service, small, large, worker;
	CURL *c = handle_new(NULL);
	int ok;

	memset(&o, 0, sizeof(o));
	o.workers = 2;
	ok = bw_httpd_new(&h, &o, &err) == 0 &&
	     bw_httpd_add_route_inline(h, "GET", "/service", h_where, NULL, 0, &err) == 0 &&
	     bw_httpd_add_route_inline(h, "POST", "/inline", h_where, NULL, 100, &err) == 0 &&
	     bw_httpd_add_route(h, "POST", "/worker", h_where, NULL, &err) == 0 &&
	     bw_httpd_start(h, &err) == 0;
	CHECK(ok, "a server with 2 workers and inline routes starts");
	if (!ok || !c) {
		bw_httpd_free(h);
		curl_easy_cleanup(c);
		return;
	}
	service = handled_on(c, bw_httpd_port(h), "GET", "/service", 0);
	small = handled_on(c, bw_httpd_port(h), "POST", "/inline", 100);
	large = handled_on(c, bw_httpd_port(h), "POST", "/inline", 101);
	worker = handled_on(c, bw_httpd_port(h), "POST", "/worker", 10);
	CHECK(service != 0 && small != 0 && large != 0 && worker != 0,
	      "every request is answered by its handler");
	CHECK(small == service,
	      "an inline route's body of inline_max bytes is handled on the service thread "
	      "(the one a body-less inline request runs on)");
	CHECK(large != service, "... one byte more goes to a worker");
	CHECK(worker != service, "an ordinary route's small body goes to a worker");
	curl_easy_cleanup(c);
	bw_httpd_free(h);
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
	test_request_deadline();
	test_idle_timeout();
	test_per_peer_limit();
	test_body_budget();
	test_workers();
	test_inline_routes();
	test_pipelined_body();
	test_unread_bytes_after_fin();
	curl_global_cleanup();
	return check_exit();
}
