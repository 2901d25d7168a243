/*
 * bin/breakwater: the operator (and, later, its admission webhook) in one
 * process. Flags choose the cluster, the namespace scope, leader election,
 * the health and metrics endpoints and logging; see --help.
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread and taken by the
 * main thread with sigtimedwait(), so shutdown runs in one known place:
 * controllers finish the keys in hand, then the lease is released (a
 * successor takes over at once), then events are flushed. A lost lease is
 * no graceful stop: the process exits at once (status 1), before another
 * replica can take over, so none of its writes in flight can land after.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/opensslv.h>
#include <yaml.h>

#include "certs.h"
#include "client.h"
#include "events.h"
#include "httpd.h"
#include "kubeconfig.h"
#include "leader.h"
#include "log.h"
#include "metrics.h"
#include "operator.h"
#include "version.h"
#include "../plugin/plugin.h"
#include "../proxy/proxy.h"
#include "../webhook/certmanager.h"
#include "../webhook/server.h"

struct options {
	const char *kubeconfig, *context, *namespace;
	int leader_elect; /* -1: on in a cluster, off outside */
	const char *lease_namespace, *lease_name;
	const char *metrics_addr, *health_addr;
	const char *log_level, *log_format;
	int workers;
	int repair_pods;
	int resync_s; /* 0: the operator's default */
	const char *operator_namespace;
	int webhook_port; /* 0: no webhook */
	const char *webhook_bind, *webhook_url_host, *webhook_service, *webhook_name;
	const char *proxy_image; /* the breaker sidecar's image (webhook/mutate.h) */
	const char *webhook_cert_file, *webhook_key_file, *webhook_ca_file;
	long webhook_cert_validity, webhook_ca_validity;
	int webhook_request_timeout_s, webhook_idle_timeout_s,
	    webhook_max_per_peer; /* 0: default */
};

static void print_usage(FILE *out)
{
	fputs("usage: breakwater [options]\n"
	      "\n"
	      "Runs the breakwater operator: Service and Breaker controllers, the\n"
	      "service registry, and their health and metrics endpoints. The same\n"
	      "binary is the breaker sidecar (breakwater proxy --help) and, called as\n"
	      "kubectl-breakwater or as breakwater plugin, a kubectl plugin\n"
	      "(breakwater plugin --help).\n"
	      "\n"
	      "  --kubeconfig PATH          kubeconfig to use (default: in-cluster config,\n"
	      "                             then $KUBECONFIG, then ~/.kube/config)\n"
	      "  --context NAME             kubeconfig context (default: current-context)\n"
	      "  --namespace NS             watch only this namespace (default: all)\n"
	      "  --leader-elect[=true|false] leader election on a Lease (default: on in a\n"
	      "                             cluster, off outside)\n"
	      "  --leader-election-namespace NS   the Lease's namespace (default: the\n"
	      "                             operator namespace)\n"
	      "  --leader-election-id NAME  the Lease's name (default breakwater-leader)\n"
	      "  --metrics-bind-address A   host:port for /metrics, unauthenticated (default\n"
	      "                             127.0.0.1:8080; :PORT is every interface; 0\n"
	      "                             disables)\n"
	      "  --health-probe-bind-address A   host:port for /healthz and /readyz\n"
	      "                             (default 127.0.0.1:8081; 0 disables)\n"
	      "  --workers N                the Service controller's workers (default 4;\n"
	      "                             the Breaker and registry controllers: 2 at most)\n"
	      "  --resync-period SECONDS    look at every Service this often even when\n"
	      "                             nothing changed, to find drift in what is\n"
	      "                             not watched (default 600; reads, and writes\n"
	      "                             only what drifted)\n"
	      "  --repair-pods[=false]      restart Services whose pods missed injection\n"
	      "                             (with back-off; =false only reports them)\n"
	      "  --operator-namespace NS    where the webhook Secret and the lease live\n"
	      "                             (default: the pod's, or the kubeconfig's)\n"
	      "  --webhook-port N           the admission webhook's HTTPS port (default\n"
	      "                             9443; 0 disables the webhook)\n"
	      "  --webhook-bind-address IP  default 127.0.0.1 outside a cluster, 0.0.0.0 in\n"
	      "  --webhook-url-host HOST    register the webhook as https://HOST:PORT\n"
	      "                             (default outside a cluster: 127.0.0.1)\n"
	      "  --webhook-service NS/NAME  register it as a Service instead (default in a\n"
	      "                             cluster: OPERATOR-NAMESPACE/breakwater-webhook)\n"
	      "  --webhook-name NAME        the webhook configurations' name (default\n"
	      "                             breakwater, or breakwater-NS with --namespace)\n"
	      "  --webhook-cert-file F, --webhook-key-file F\n"
	      "                             serve these (cert-manager) and reload them when\n"
	      "                             they change, instead of self-made certificates\n"
	      "  --webhook-ca-file F        with them: the CA that signs them (cert-manager's\n"
	      "                             ca.crt), the registrations' caBundle; without\n"
	      "                             it they carry none (cert-manager's CA injector)\n"
	      "  --webhook-cert-validity S  lifetime of self-made serving certificates in\n"
	      "                             seconds (default 31536000); renewed at 2/3\n"
	      "  --webhook-ca-validity S    lifetime of the self-made CA (default 10 years)\n"
	      "  --webhook-request-timeout S   seconds for a request's headers, body and\n"
	      "                             answer (default 10)\n"
	      "  --webhook-idle-timeout S   seconds an idle keep-alive connection stays open\n"
	      "                             (default 30)\n"
	      "  --webhook-max-connections-per-peer N   connections at once from one\n"
	      "                             address (default 256, of 1024 in all)\n"
	      "  --proxy-image IMAGE        the breaker sidecar's image, the operator's own\n"
	      "                             (docs/breaker.md); without it the webhook\n"
	      "                             injects no sidecar\n"
	      "  --log-level LEVEL          error, warn, info, debug, trace (default info;\n"
	      "                             trace: every API request and its time)\n"
	      "  --log-format FORMAT        text or json (default text)\n"
	      "  --version                  print the version and exit\n"
	      "  --help                     print this help and exit\n",
	      out);
}

static void print_version(void)
{
	printf("breakwater %s\n", BW_VERSION);
	printf("  libcurl %s, %s, libyaml %s, jansson %s, libwebsockets %s\n",
	       curl_version_info(CURLVERSION_NOW)->version, OPENSSL_VERSION_TEXT,
	       yaml_get_version_string(), JANSSON_VERSION, lws_get_library_version());
}

/* A flag's integer value in lo..hi into *out; 0, or -1 after saying why. */
static int flag_int(const char *flag, const char *v, long lo, long hi, int *out)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < lo || n > hi) {
		fprintf(stderr, "breakwater: %s takes %ld..%ld, not '%s'\n", flag, lo, hi, v);
		return -1;
	}
	*out = (int)n;
	return 0;
}

/* --flag value or --flag=value; returns the value or NULL. */
/* The flag seen last without its value, for parse_args' message. */
static const char *flag_without_value;

static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
	size_t n = strlen(flag);

	if (strncmp(argv[*i], flag, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	if (argv[*i][n] == '\0')
		flag_without_value = flag;
	return NULL;
}

static int parse_bool(const char *s, int *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* 0: go on; 1: exit 0 (--help, --version); 2: usage error. */
static int parse_args(int argc, char **argv, struct options *o)
{
	const char *v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			print_usage(stdout);
			return 1;
		} else if (strcmp(a, "--version") == 0) {
			print_version();
			return 1;
		} else if (strcmp(a, "--leader-elect") == 0) {
			o->leader_elect = 1;
		} else if (strncmp(a, "--leader-elect=", 15) == 0) {
			if (parse_bool(a + 15, &o->leader_elect) != 0) {
				fprintf(
				    stderr,
				    "breakwater: --leader-elect takes true or false, not '%s'\n",
				    a + 15);
				return 2;
			}
		} else if ((v = flag_value(argc, argv, &i, "--kubeconfig"))) {
			o->kubeconfig = v;
		} else if ((v = flag_value(argc, argv, &i, "--context"))) {
			o->context = v;
		} else if ((v = flag_value(argc, argv, &i, "--namespace"))) {
			o->namespace = v;
		} else if ((v = flag_value(argc, argv, &i, "--leader-election-namespace"))) {
			o->lease_namespace = v;
		} else if ((v = flag_value(argc, argv, &i, "--leader-election-id"))) {
			o->lease_name = v;
		} else if ((v = flag_value(argc, argv, &i, "--metrics-bind-address"))) {
			o->metrics_addr = v;
		} else if ((v = flag_value(argc, argv, &i, "--health-probe-bind-address"))) {
			o->health_addr = v;
		} else if ((v = flag_value(argc, argv, &i, "--log-level"))) {
			o->log_level = v;
		} else if ((v = flag_value(argc, argv, &i, "--log-format"))) {
			o->log_format = v;
		} else if (strcmp(a, "--repair-pods") == 0 ||
			   strcmp(a, "--repair-pods=true") == 0) {
			o->repair_pods = 1;
		} else if (strcmp(a, "--repair-pods=false") == 0) {
			o->repair_pods = 0; /* an overlay's way to turn the base's off */
		} else if ((v = flag_value(argc, argv, &i, "--operator-namespace"))) {
			o->operator_namespace = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-port"))) {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end || n < 0 || n > 65535) {
				fprintf(stderr,
					"breakwater: --webhook-port takes 0..65535, not '%s'\n", v);
				return 2;
			}
			o->webhook_port = (int)n;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-bind-address"))) {
			o->webhook_bind = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-url-host"))) {
			o->webhook_url_host = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-service"))) {
			if (!strchr(v, '/')) {
				fprintf(stderr,
					"breakwater: --webhook-service takes NAMESPACE/NAME, not "
					"'%s'\n",
					v);
				return 2;
			}
			o->webhook_service = v;
		} else if ((v = flag_value(argc, argv, &i, "--proxy-image"))) {
			if (!*v) {
				fprintf(stderr,
					"breakwater: --proxy-image takes an image, not ''\n");
				return 2;
			}
			o->proxy_image = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-name"))) {
			o->webhook_name = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-cert-file"))) {
			o->webhook_cert_file = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-key-file"))) {
			o->webhook_key_file = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-ca-file"))) {
			o->webhook_ca_file = v;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-request-timeout"))) {
			if (flag_int("--webhook-request-timeout", v, 1, 300,
				     &o->webhook_request_timeout_s) < 0)
				return 2;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-idle-timeout"))) {
			if (flag_int("--webhook-idle-timeout", v, 1, 3600,
				     &o->webhook_idle_timeout_s) < 0)
				return 2;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-max-connections-per-peer"))) {
			if (flag_int("--webhook-max-connections-per-peer", v, 1,
				     BW_HTTPD_DEFAULT_MAX_CONNECTIONS,
				     &o->webhook_max_per_peer) < 0)
				return 2;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-ca-validity"))) {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end || n < 10) {
				fprintf(stderr,
					"breakwater: --webhook-ca-validity takes seconds (>= 10), "
					"not '%s'\n",
					v);
				return 2;
			}
			o->webhook_ca_validity = n;
		} else if ((v = flag_value(argc, argv, &i, "--webhook-cert-validity"))) {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end || n < 10) {
				fprintf(stderr,
					"breakwater: --webhook-cert-validity takes seconds (>= "
					"10), not '%s'\n",
					v);
				return 2;
			}
			o->webhook_cert_validity = n;
		} else if ((v = flag_value(argc, argv, &i, "--resync-period"))) {
			if (flag_int("--resync-period", v, 1, 86400, &o->resync_s) != 0)
				return 2;
		} else if ((v = flag_value(argc, argv, &i, "--workers"))) {
			char *end;
			long n = strtol(v, &end, 10);

			if (*end || n < 1 || n > 64) {
				fprintf(stderr, "breakwater: --workers takes 1..64, not '%s'\n", v);
				return 2;
			}
			o->workers = (int)n;
		} else if (flag_without_value && strcmp(flag_without_value, a) == 0) {
			fprintf(stderr, "breakwater: %s needs a value (see --help)\n", a);
			return 2;
		} else {
			fprintf(stderr, "breakwater: unknown option '%s'\n", a);
			print_usage(stderr);
			return 2;
		}
	}
	if (!o->webhook_cert_file != !o->webhook_key_file) {
		fprintf(stderr,
			"breakwater: --webhook-cert-file and --webhook-key-file go together\n");
		return 2;
	}
	if (o->webhook_ca_file && !o->webhook_cert_file) {
		fprintf(stderr, "breakwater: --webhook-ca-file needs --webhook-cert-file and "
				"--webhook-key-file (the operator's own CA needs no file)\n");
		return 2;
	}
	return 0;
}

/* --- the process --- */

struct app {
	struct options opt;
	struct bw_kube_config cfg;
	struct bw_client *client;
	/* The controllers' client: with leader election, its writes are fenced
	 * by the lease (controller_write_guard). The leader, the webhook's
	 * certificates and registrations, and events use client. */
	struct bw_client *controller_client;
	struct bw_metrics *metrics;
	struct bw_recorder *recorder;
	struct bw_operator *op;
	struct bw_leader *leader;
	struct bw_httpd *metrics_server, *health_server;
	struct bw_certmanager *certs;
	struct bw_webhook *webhook;
	char *pending_cert, *pending_key; /* the first certificate, before the server exists */
	char webhook_url[300], webhook_name[300], secret_name[300];
	int in_cluster;
	atomic_int webhook_serving; /* set by main, read by /readyz */
	atomic_int leading; /* set by the leader thread, cleared by main before a graceful stop */
};

static double leader_gauge(void *arg)
{
	struct app *app = arg;

	return app->leader ? bw_leader_is_leader(app->leader) : 1;
}

/* A controller's write goes out only while the lease is certainly ours: the
 * leader thread's own check and exit may come later than a worker's next
 * write (a process resumed from SIGSTOP runs both at once). */
static int controller_write_guard(void *ctx, struct bw_error *err)
{
	struct app *app = ctx;

	if (app->leader && bw_leader_lease_valid(app->leader))
		return 0;
	return bw_error_set(err, BW_ESTOPPED,
			    "not written: this process does not hold the leader lease now");
}

static void on_started_leading(void *ctx)
{
	struct app *app = ctx;
	struct bw_error err;

	atomic_store(&app->leading, 1);
	if (bw_operator_start_controllers(app->op, &err) != 0)
		bw_log_error("main", "starting the controllers: %s", err.message);
}

/* Called by the renew deadline, lease_duration - renew_deadline before
 * another replica can take over: every write must stop now, including those
 * the workers have in flight, which only ending the process does at once
 * (client-go's users exit too). A restart campaigns afresh. A graceful stop
 * clears app->leading first and lands here without exiting. */
static void on_stopped_leading(void *ctx)
{
	struct app *app = ctx;

	if (atomic_load(&app->leading)) {
		bw_log_error("main", "lost the lease: exiting at once so that no write of this "
				     "replica lands after another one takes over");
		_exit(1);
	}
}

static int respond(struct bw_http_response *resp, int status, const char *text)
{
	bw_httpd_response_set_status(resp, status);
	return bw_httpd_response_set_body(resp, "text/plain; charset=utf-8", text, strlen(text));
}

static int handle_healthz(const struct bw_http_request *req, struct bw_http_response *resp,
			  void *ctx)
{
	(void)req;
	(void)ctx;
	return respond(resp, 200, "ok\n");
}

static int handle_readyz(const struct bw_http_request *req, struct bw_http_response *resp,
			 void *ctx)
{
	struct app *app = ctx;

	(void)req;
	if (!bw_operator_synced(app->op))
		return respond(resp, 503, "caches are not synced yet\n");
	/* a Service sends admission requests only to ready replicas */
	if (app->opt.webhook_port != 0 && !atomic_load(&app->webhook_serving))
		return respond(resp, 503, "the admission webhook is not serving yet\n");
	return respond(resp, 200, "ok\n");
}

static int handle_metrics(const struct bw_http_request *req, struct bw_http_response *resp,
			  void *ctx)
{
	struct app *app = ctx;
	struct bw_error err;
	char *text = NULL;
	size_t len = 0;

	(void)req;
	if (bw_operator_render_metrics(app->op, &text, &len, &err) != 0)
		return respond(resp, 500, err.message);
	return bw_httpd_response_take_body(resp, BW_METRICS_CONTENT_TYPE, text, len);
}

struct route {
	const char *method, *path;
	bw_httpd_handler_fn *handler;
};

/* "host:port" -> a server with the given routes; "0" disables. */
static int serve(struct bw_httpd **out, const char *addr, const struct route *routes,
		 size_t n_routes, void *ctx, struct bw_error *err)
{
	struct bw_httpd_options o = {0};
	char host[256];
	const char *colon;
	int ret;

	*out = NULL;
	if (!addr || strcmp(addr, "0") == 0)
		return 0;
	colon = strrchr(addr, ':');
	if (!colon || colon - addr >= (long)sizeof(host) || !colon[1])
		return bw_error_set(err, BW_EINVAL, "bind address '%s' is not host:port", addr);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	o.bind_address = *host ? host : "0.0.0.0";
	o.port = atoi(colon + 1);
	if ((ret = bw_httpd_new(out, &o, err)) != 0)
		return ret;
	for (size_t i = 0; i < n_routes; i++)
		if ((ret = bw_httpd_add_route(*out, routes[i].method, routes[i].path,
					      routes[i].handler, ctx, err)) != 0)
			return ret;
	if ((ret = bw_httpd_start(*out, err)) != 0)
		return ret;
	bw_log_info("main", "serving %s on %s:%d", routes[0].path, o.bind_address,
		    bw_httpd_port(*out));
	return 0;
}

/* What the webhook would inject now, for the Service controller's stale count. */
static int expected_injection(const char *ns, const char *service, char *buf, size_t size,
			      void *arg)
{
	struct app *app = arg;
	const struct bw_operator_caches *c = bw_operator_caches(app->op);
	struct bw_webhook_caches wc = {c->services, c->breakers, c->namespaces,
				       app->opt.proxy_image};

	return bw_webhook_injection_generation(&wc, ns, service, buf, size);
}

/* An install that forgot the CRDs would otherwise show only a reflector's
 * 404 among its retries: say what is missing and how to fix it. The
 * informers keep trying, so applying the CRDs later is enough. */
static void check_crds(struct app *app)
{
	static const char *const kinds[] = {BW_PLURAL_SERVICES, BW_PLURAL_BREAKERS};
	struct bw_request req = {.method = "GET", .path = "/apis/" BW_API_VERSION};
	struct bw_response resp = {0};
	struct bw_error err = {0};
	char missing[64] = "";
	json_t *list = NULL, *r;
	size_t i;

	if (bw_client_do(app->client, &req, &resp, &err) != 0) {
		if (err.code == BW_ENOTFOUND)
			bw_log_error(
			    "main",
			    "the breakwater CRDs are not installed (no API group " BW_API_VERSION
			    "): kubectl apply -f crds/ ; waiting for "
			    "them");
		else
			bw_log_warn("main", "checking for the breakwater CRDs: %s", err.message);
		bw_response_release(&resp);
		return;
	}
	list = json_loadb(resp.body, resp.len, 0, NULL);
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		int found = 0;

		json_array_foreach(json_object_get(list, "resources"), i, r)
		{
			const char *name = json_string_value(json_object_get(r, "name"));

			found |= name && strcmp(name, kinds[k]) == 0;
		}
		if (!found)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s%s.breakwater.io", *missing ? ", " : "", kinds[k]);
	}
	if (*missing)
		bw_log_error("main",
			     "CRD %s is not installed: kubectl apply -f crds/ ; waiting for it",
			     missing);
	json_decref(list);
	bw_response_release(&resp);
}

static int setup(struct app *app, struct bw_error *err)
{
	struct bw_operator_options oo = {.namespace = app->opt.namespace,
					 .workers = app->opt.workers,
					 .repair_pods = app->opt.repair_pods,
					 .resync_s = app->opt.resync_s,
					 .expected_injection = expected_injection,
					 .expected_injection_arg = app};
	struct bw_recorder_options ro = {.component = BW_MANAGER};
	const struct route health[] = {{"GET", "/healthz", handle_healthz},
				       {"GET", "/readyz", handle_readyz}};
	const struct route metrics[] = {{"GET", "/metrics", handle_metrics}};
	int in_cluster, ret;

	if ((ret = bw_kubeconfig_load_default(&app->cfg, app->opt.kubeconfig, app->opt.context,
					      err)) != 0)
		return ret;
	in_cluster = app->cfg.context == NULL;
	app->in_cluster = in_cluster;
	if (app->opt.leader_elect < 0)
		app->opt.leader_elect = in_cluster;
	bw_log_info("main", "breakwater %s: API server %s (%s), %s", BW_VERSION, app->cfg.server,
		    in_cluster ? "in-cluster" : app->cfg.context,
		    app->opt.namespace ? app->opt.namespace : "all namespaces");
	if ((ret = bw_client_new(&app->client, &app->cfg, NULL, err)) != 0)
		return ret;
	if (app->opt.leader_elect) {
		struct bw_client_options fenced = {.write_guard = controller_write_guard,
						   .write_guard_ctx = app};

		ret = bw_client_new(&app->controller_client, &app->cfg, &fenced, err);
	} else {
		ret = bw_client_new(&app->controller_client, &app->cfg, NULL, err);
	}
	if (ret != 0)
		return ret;
	check_crds(app);
	if ((ret = bw_metrics_new(&app->metrics, err)) != 0 ||
	    (ret = bw_metrics_register_gauge_fn(app->metrics, "leader_election_master_status",
						"1 while this process leads, 0 otherwise",
						leader_gauge, app, NULL, err)) != 0 ||
	    (ret = bw_recorder_new(&app->recorder, app->client, &ro, err)) != 0 ||
	    (ret = bw_operator_new(&app->op, app->controller_client, app->recorder, app->metrics,
				   &oo, err)) != 0 ||
	    (ret = bw_operator_start_informers(app->op, err)) != 0 ||
	    (ret = serve(&app->health_server, app->opt.health_addr, health, 2, app, err)) != 0 ||
	    (ret = serve(&app->metrics_server, app->opt.metrics_addr, metrics, 1, app, err)) != 0)
		return ret;
	if (app->opt.leader_elect) {
		char identity[256];
		struct bw_leader_options lo = {
		    .namespace = app->opt.lease_namespace      ? app->opt.lease_namespace
				 : app->opt.operator_namespace ? app->opt.operator_namespace
							       : app->cfg.namespace,
		    .name = app->opt.lease_name,
		    .identity = identity,
		    .on_started_leading = on_started_leading,
		    .on_stopped_leading = on_stopped_leading,
		    .ctx = app,
		};

		bw_leader_default_identity(identity, sizeof(identity));
		if ((ret = bw_leader_new(&app->leader, app->client, &lo, err)) != 0)
			return ret;
		bw_log_info("main", "leader election on lease %s/%s as %s", lo.namespace, lo.name,
			    identity);
	}
	return 0;
}

/* The certificate manager hands over each new serving certificate. */
static int on_cert(const char *cert, const char *key, void *ctx)
{
	struct app *app = ctx;
	struct bw_error err;

	if (app->webhook) {
		if (bw_webhook_set_cert(app->webhook, cert, key, &err) != 0) {
			bw_log_error("main", "webhook certificate: %s", err.message);
			return -1;
		}
		bw_log_info("main", "webhook serving a new certificate");
		return 0;
	}
	free(app->pending_cert);
	bw_certs_free_secret(app->pending_key);
	app->pending_cert = strdup(cert);
	app->pending_key = strdup(key);
	return app->pending_cert && app->pending_key ? 0 : -1;
}

/* The webhook starts once the caches are synced: its decisions read them. */
static int start_webhook(struct app *app, struct bw_error *err)
{
	const struct bw_operator_caches *c = bw_operator_caches(app->op);
	struct bw_webhook_caches wc = {c->services, c->breakers, c->namespaces,
				       app->opt.proxy_image};
	struct bw_certmanager_options co = {0};
	struct bw_webhook_options wo = {0};
	const char *opns =
	    app->opt.operator_namespace ? app->opt.operator_namespace : app->cfg.namespace;
	char svc_ns[128] = "", svc_name[128] = "", dns1[300], dns2[300];
	time_t next;
	int ret;

	if (app->opt.webhook_port == 0)
		return 0;
	if (app->opt.webhook_service) {
		const char *slash = strchr(app->opt.webhook_service, '/');

		snprintf(svc_ns, sizeof(svc_ns), "%.*s", (int)(slash - app->opt.webhook_service),
			 app->opt.webhook_service);
		snprintf(svc_name, sizeof(svc_name), "%s", slash + 1);
	} else if (app->in_cluster && !app->opt.webhook_url_host) {
		snprintf(svc_ns, sizeof(svc_ns), "%s", opns);
		snprintf(svc_name, sizeof(svc_name), "breakwater-webhook");
	} else {
		snprintf(app->webhook_url, sizeof(app->webhook_url), "https://%s:%d",
			 app->opt.webhook_url_host ? app->opt.webhook_url_host : "127.0.0.1",
			 app->opt.webhook_port);
	}
	if (app->opt.webhook_name)
		snprintf(app->webhook_name, sizeof(app->webhook_name), "%s", app->opt.webhook_name);
	else if (app->opt.namespace)
		snprintf(app->webhook_name, sizeof(app->webhook_name), "breakwater-%s",
			 app->opt.namespace);
	else
		snprintf(app->webhook_name, sizeof(app->webhook_name), "breakwater");
	snprintf(app->secret_name, sizeof(app->secret_name), "%.250s-webhook-tls",
		 app->webhook_name);
	snprintf(dns1, sizeof(dns1), "%s.%s.svc", *svc_name ? svc_name : "breakwater-webhook",
		 *svc_ns ? svc_ns : opns);
	snprintf(dns2, sizeof(dns2), "%.250s.cluster.local", dns1);

	co.namespace = opns;
	co.secret_name = app->secret_name;
	co.sans[0] = "127.0.0.1";
	co.sans[1] = "localhost";
	co.sans[2] = dns1;
	co.sans[3] = dns2;
	if (app->opt.webhook_url_host && strcmp(app->opt.webhook_url_host, "127.0.0.1") != 0 &&
	    strcmp(app->opt.webhook_url_host, "localhost") != 0)
		co.sans[4] = app->opt.webhook_url_host;
	co.validity_s = app->opt.webhook_cert_validity;
	co.ca_validity_s = app->opt.webhook_ca_validity;
	co.cert_file = app->opt.webhook_cert_file;
	co.key_file = app->opt.webhook_key_file;
	co.ca_file = app->opt.webhook_ca_file;
	co.registration.name = app->webhook_name;
	co.registration.url_base = *app->webhook_url ? app->webhook_url : NULL;
	co.registration.service_namespace = *svc_ns ? svc_ns : NULL;
	co.registration.service_name = *svc_name ? svc_name : NULL;
	co.registration.service_port = 443;
	co.registration.scope_namespace = app->opt.namespace;
	co.registration.operator_namespace = opns;
	co.on_cert = on_cert;
	co.ctx = app;
	if ((ret = bw_certmanager_new(&app->certs, app->client, &co, err)) != 0 ||
	    (ret = bw_certmanager_sync(app->certs, &next, err)) != 0)
		return ret;
	wo.bind_address = app->opt.webhook_bind ? app->opt.webhook_bind
						: (app->in_cluster ? "0.0.0.0" : "127.0.0.1");
	wo.port = app->opt.webhook_port;
	wo.cert_pem = app->pending_cert;
	wo.key_pem = app->pending_key;
	wo.request_timeout_ms = app->opt.webhook_request_timeout_s * 1000;
	wo.idle_timeout_s = app->opt.webhook_idle_timeout_s;
	wo.max_connections_per_peer = app->opt.webhook_max_per_peer;
	if ((ret = bw_webhook_new(&app->webhook, &wo, &wc, app->metrics, err)) != 0 ||
	    (ret = bw_webhook_start(app->webhook, err)) != 0 ||
	    (ret = bw_certmanager_start(app->certs, err)) != 0)
		return ret;
	bw_log_info("main", "admission webhook on %s:%d (%s)", wo.bind_address,
		    bw_webhook_port(app->webhook),
		    *app->webhook_url ? app->webhook_url : "service reference");
	return 0;
}

/* Out of a cluster nothing else can answer at a 127.0.0.1 url: the
 * registrations go with the process, or they would block writes. */
static void unregister_webhook(struct app *app)
{
	struct bw_error err;

	if (!app->webhook || !*app->webhook_url)
		return;
	if (bw_client_delete(app->client, &bw_res_mutating_webhooks, NULL, app->webhook_name, NULL,
			     &err) != 0 &&
	    err.code != BW_ENOTFOUND)
		bw_log_warn("main", "removing the webhook registration: %s", err.message);
	if (bw_client_delete(app->client, &bw_res_validating_webhooks, NULL, app->webhook_name,
			     NULL, &err) != 0 &&
	    err.code != BW_ENOTFOUND)
		bw_log_warn("main", "removing the webhook registration: %s", err.message);
}

/* Waits for the caches, then leads (or campaigns); returns on a signal or a lost lease. */
static int run(struct app *app, sigset_t *signals)
{
	/* a short tick until the caches sync: it is part of start-up to ready */
	struct timespec fast = {0, 5 * 1000000L}, slow = {0, 200 * 1000000L};
	struct bw_error err;
	int synced = 0, sig, ticks = 0, quiet = 0;
	unsigned long reconciles = 0, now;

	for (;;) {
		sig = sigtimedwait(signals, NULL, synced ? &slow : &fast);
		/* the free memory a burst of work left in the heaps (parsed
		 * events, apply responses) goes back to the system: once a second
		 * passed without a reconcile after some (a namespace converged;
		 * at 1,000 Services 19.7 MiB at convergence against 16.8 after a
		 * restart), and every 30 s whatever happens */
		now = synced ? bw_operator_reconciles(app->op) : 0;
		if (now != reconciles) {
			reconciles = now;
			quiet = 1;
		} else if (quiet && ++quiet > 5) {
			quiet = 0;
			malloc_trim(0);
		}
		if (synced && ++ticks % 150 == 0)
			malloc_trim(0);
		if (sig == SIGTERM || sig == SIGINT) {
			bw_log_info("main", "%s: shutting down",
				    sig == SIGTERM ? "SIGTERM" : "SIGINT");
			return 0;
		}
		if (!synced && bw_operator_synced(app->op)) {
			synced = 1;
			bw_log_info("main", "caches synced");
			/* the lists' pages are freed: give their memory back (see main()) */
			malloc_trim(0);
			if (start_webhook(app, &err) != 0) {
				bw_log_error("main", "admission webhook: %s", err.message);
				return 1;
			}
			atomic_store(&app->webhook_serving, 1);
			if (app->leader) {
				if (bw_leader_start(app->leader, &err) != 0) {
					bw_log_error("main", "%s", err.message);
					return 1;
				}
			} else {
				on_started_leading(app);
			}
		}
	}
}

static void teardown(struct app *app)
{
	if (app->op)
		bw_operator_stop(app->op); /* controllers finish their keys first */
	if (app->leader) {
		atomic_store(&app->leading, 0);
		bw_leader_free(app->leader); /* then the lease is released */
	}
	bw_certmanager_free(app->certs);
	unregister_webhook(app);
	bw_webhook_free(app->webhook);
	free(app->pending_cert);
	bw_certs_free_secret(app->pending_key);
	bw_httpd_free(app->metrics_server);
	bw_httpd_free(app->health_server);
	bw_operator_free(app->op);
	bw_recorder_free(app->recorder); /* flushes pending events */
	bw_metrics_free(app->metrics);
	bw_client_free(app->controller_client);
	bw_client_free(app->client);
	bw_kubeconfig_release(&app->cfg);
}

int main(int argc, char **argv)
{
	static struct app app = {.opt = {.leader_elect = -1,
					 .lease_name = "breakwater-leader",
					 .metrics_addr = "127.0.0.1:8080",
					 .health_addr = "127.0.0.1:8081",
					 .log_level = "info",
					 .log_format = "text",
					 .workers = 4,
					 .webhook_port = 9443}};
	enum bw_log_level level;
	enum bw_log_format format;
	struct bw_error err = {0};
	sigset_t signals;
	int rc;

	/* called as kubectl-breakwater (the link kubectl finds on PATH) or as
	 * `breakwater plugin ...`: the kubectl plugin (plugin/plugin.h) */
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];

	if (strcmp(base, "kubectl-breakwater") == 0)
		return bw_plugin_main("kubectl breakwater", argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "plugin") == 0)
		return bw_plugin_main("breakwater plugin", argc - 2, argv + 2);
	/* `breakwater proxy ...`: the breaker sidecar, same binary (proxy/proxy.h) */
	if (argc > 1 && strcmp(argv[1], "proxy") == 0)
		return bw_proxy_main(argc - 1, argv + 1);
	rc = parse_args(argc, argv, &app.opt);
	if (rc)
		return rc == 1 ? 0 : 2;
	if (bw_log_parse_level(app.opt.log_level, &level) != 0) {
		fprintf(
		    stderr,
		    "breakwater: --log-level takes error, warn, info, debug or trace, not '%s'\n",
		    app.opt.log_level);
		return 2;
	}
	if (bw_log_parse_format(app.opt.log_format, &format) != 0) {
		fprintf(stderr, "breakwater: --log-format takes text or json, not '%s'\n",
			app.opt.log_format);
		return 2;
	}
	bw_log_configure(level, format, NULL);

	/* glibc gives each thread that allocates an arena of its own (up to 8 per
	 * core); the informers' threads parse list pages in theirs, and each
	 * arena keeps the peak it reached. Two arenas bound that; contention is
	 * low, as the threads mostly wait on the network. */
	mallopt(M_ARENA_MAX, 2);

	/* before any thread starts, so every thread inherits the mask */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (setup(&app, &err) != 0) {
		bw_log_error("main", "%s", err.message);
		teardown(&app);
		return 1;
	}
	rc = run(&app, &signals);
	teardown(&app);
	bw_log_info("main", "stopped");
	return rc;
}
