/*
 * `breakwater proxy`: flags into struct bw_proxy_options, signals into
 * bw_proxy_stop(). The composition root of the sidecar.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "proxy.h"

#define DEFAULT_BREAKERS_FILE BW_REGISTRY_MOUNT_PATH BW_REGISTRY_BREAKERS_KEY

static struct bw_proxy *running;

static void on_signal(int sig)
{
	(void)sig;
	if (running)
		bw_proxy_stop(running);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: breakwater proxy --dependency NAME=PORT=URL [--dependency ...] [options]\n"
		"\n"
		"Forwards HTTP/1.1 from 127.0.0.1:PORT to URL (http://HOST[:PORT]) for each\n"
		"dependency, through the Breaker whose target is NAME (docs/breaker.md).\n"
		"\n"
		"  --dependency NAME=PORT=URL   a dependency; PORT 0 picks a free port\n"
		"  --breakers-file PATH         default $BREAKWATER_BREAKERS_FILE, else\n"
		"                               " DEFAULT_BREAKERS_FILE " when it exists;\n"
		"                               re-read every second\n"
		"  --connect-timeout-ms N       default 2000\n"
		"  --request-timeout-ms N       for the response head after the last request\n"
		"                               byte went out, then for each pause in the\n"
		"                               answer; default 30000\n"
		"  --max-connections N          default 1024\n"
		"  --idle-timeout-ms N          an idle keep-alive client connection; default\n"
		"                               60000\n"
		"  --upstream-pool N            idle upstream connections kept per dependency;\n"
		"                               default 32\n"
		"  --upstream-idle-timeout-ms N how long one is kept; default 2000\n"
		"  --drain-timeout-ms N         after SIGTERM; default 5000\n"
		"  --admin-bind-address IP:PORT /metrics, /healthz, /readyz (default: none)\n"
		"  --log-level LEVEL            error, warn, info (default), debug, trace\n"
		"  --log-format FORMAT          text (default) or json\n");
}

/* NAME=PORT=URL */
static int parse_dependency(char *arg, struct bw_proxy_dependency *d)
{
	char *eq1 = strchr(arg, '='), *eq2 = eq1 ? strchr(eq1 + 1, '=') : NULL, *end;
	long port;

	if (!eq1 || !eq2 || eq1 == arg)
		return -1;
	*eq1 = *eq2 = '\0';
	port = strtol(eq1 + 1, &end, 10);
	if (*end || end == eq1 + 1 || port < 0 || port > 65535)
		return -1;
	d->name = arg;
	d->port = (int)port;
	d->url = eq2 + 1;
	return 0;
}

static int positive(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || end == s || v <= 0 || v > 86400000)
		return -1;
	*out = (int)v;
	return 0;
}

int bw_proxy_main(int argc, char **argv)
{
	static const struct option longs[] = {
	    {"dependency", required_argument, NULL, 'd'},
	    {"breakers-file", required_argument, NULL, 'b'},
	    {"connect-timeout-ms", required_argument, NULL, 'c'},
	    {"request-timeout-ms", required_argument, NULL, 'r'},
	    {"max-connections", required_argument, NULL, 'm'},
	    {"drain-timeout-ms", required_argument, NULL, 't'},
	    {"idle-timeout-ms", required_argument, NULL, 'i'},
	    {"upstream-pool", required_argument, NULL, 'P'},
	    {"upstream-idle-timeout-ms", required_argument, NULL, 'I'},
	    {"admin-bind-address", required_argument, NULL, 'a'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"log-format", required_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bw_proxy_dependency deps[BW_PROXY_MAX_DEPENDENCIES];
	struct bw_proxy_options o = {.deps = deps};
	enum bw_log_level level = BW_LOG_INFO;
	enum bw_log_format format = BW_LOG_TEXT;
	struct sigaction sa = {.sa_handler = on_signal};
	struct bw_error err = {0};
	struct bw_proxy *p;
	struct stat st;
	int opt, rc, bad = 0;
	size_t i;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if (o.ndeps == BW_PROXY_MAX_DEPENDENCIES ||
			    parse_dependency(optarg, &deps[o.ndeps])) {
				fprintf(stderr,
					"breakwater proxy: --dependency takes NAME=PORT=URL, at "
					"most %d times\n",
					BW_PROXY_MAX_DEPENDENCIES);
				return 2;
			}
			o.ndeps++;
			break;
		case 'b':
			o.breakers_file = optarg;
			break;
		case 'c':
			bad |= positive(optarg, &o.connect_timeout_ms);
			break;
		case 'r':
			bad |= positive(optarg, &o.request_timeout_ms);
			break;
		case 'm':
			bad |= positive(optarg, &o.max_connections);
			break;
		case 't':
			bad |= positive(optarg, &o.drain_timeout_ms);
			break;
		case 'i':
			bad |= positive(optarg, &o.idle_timeout_ms);
			break;
		case 'P':
			bad |= positive(optarg, &o.upstream_pool);
			break;
		case 'I':
			bad |= positive(optarg, &o.upstream_idle_timeout_ms);
			break;
		case 'a':
			o.admin_address = optarg;
			break;
		case 'l':
			bad |= bw_log_parse_level(optarg, &level);
			break;
		case 'f':
			bad |= bw_log_parse_format(optarg, &format);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "breakwater proxy: bad value '%s' (see --help)\n", optarg);
			return 2;
		}
	}
	if (optind < argc || !o.ndeps) {
		usage(stderr);
		return 2;
	}
	if (!o.breakers_file && getenv("BREAKWATER_BREAKERS_FILE") &&
	    *getenv("BREAKWATER_BREAKERS_FILE"))
		o.breakers_file = getenv("BREAKWATER_BREAKERS_FILE");
	if (!o.breakers_file && stat(DEFAULT_BREAKERS_FILE, &st) == 0)
		o.breakers_file = DEFAULT_BREAKERS_FILE;
	bw_log_configure(level, format, NULL);

	if (bw_proxy_new(&o, &p, &err)) {
		bw_log_error("proxy", "%s", err.message);
		return 1;
	}
	for (i = 0; i < o.ndeps; i++)
		bw_log_info("proxy", "%s: 127.0.0.1:%d -> %s", deps[i].name, bw_proxy_port(p, i),
			    deps[i].url);
	if (!o.breakers_file)
		bw_log_warn("proxy", "no breakers file: every call is forwarded");
	if (o.admin_address)
		bw_log_info("proxy", "admin: %s (/metrics, /healthz, /readyz)", o.admin_address);
	running = p;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = bw_proxy_run(p);
	running = NULL;
	bw_proxy_free(p);
	return rc ? 1 : 0;
}
