/*
 * The resident memory any program pays before it does breakwater's work:
 * this binary links exactly what bin/breakwater links (Debian's libcurl,
 * OpenSSL, libwebsockets, libyaml, jansson and their closure) and reports
 * its RSS, by library group, at three points: loaded (before main does
 * anything), after curl_global_init(), and after one TLS client context.
 * bench/README.md compares the operator's idle RSS with this floor.
 *
 *   build/bench/rss_floor            (make bench-bins)
 *   GNUTLS_NO_IMPLICIT_INIT=1 build/bench/rss_floor
 *
 * Reads /proc/self/smaps only; no network.
 */
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>

/* Library groups, matched against a mapping's path; the last is the rest. */
static const struct {
	const char *label;
	const char *const parts[10];
} groups[] = {
    {"OpenSSL (libcrypto, libssl)", {"/libcrypto.so", "/libssl.so"}},
    {"GnuTLS and its closure",
     {"/libgnutls", "/libp11-kit", "/libnettle", "/libhogweed", "/libgmp", "/libtasn1",
      "/libunistring", "/libidn2"}},
    {"libc and the loader", {"/libc.so", "/ld-linux"}},
    {"libcurl", {"/libcurl.so"}},
    {"other shared libraries, the binary", {"/"}},
    {"anonymous (heap, stacks)", {""}},
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

static size_t group_of(const char *path)
{
	size_t g, p;

	for (g = 0; g + 1 < NGROUPS; g++)
		for (p = 0; groups[g].parts[p]; p++)
			if (path[0] == '/' && strstr(path, groups[g].parts[p]))
				return g;
	return NGROUPS - 1;
}

/* Sums the Rss of each mapping into its group; the program's own binary
 * counts with the other libraries. 0 on success. */
static int measure(long kib[NGROUPS])
{
	char line[512], path[400] = "";
	unsigned long lo, hi;
	long rss;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	memset(kib, 0, NGROUPS * sizeof(kib[0]));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2) {
			/* a mapping's header: its path is the sixth field, if any */
			char *slash = strchr(line, '/');
			snprintf(path, sizeof(path), "%s", slash ? slash : "");
			path[strcspn(path, "\n")] = '\0';
		} else if (sscanf(line, "Rss: %ld kB", &rss) == 1) {
			kib[group_of(path)] += rss;
		}
	}
	fclose(f);
	return 0;
}

static void report(const char *stage)
{
	long kib[NGROUPS], total = 0;
	size_t g;

	if (measure(kib) != 0) {
		fprintf(stderr, "rss_floor: cannot read /proc/self/smaps\n");
		return;
	}
	for (g = 0; g < NGROUPS; g++)
		total += kib[g];
	printf("%-30s %12.2f MiB\n", stage, total / 1024.0);
	for (g = 0; g < NGROUPS; g++)
		printf("  %-36s %6.2f MiB\n", groups[g].label, kib[g] / 1024.0);
}

int main(void)
{
	SSL_CTX *ctx;

	report("loaded");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rss_floor: curl_global_init failed\n");
		return 1;
	}
	report("after curl_global_init");
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		fprintf(stderr, "rss_floor: SSL_CTX_new failed\n");
		return 1;
	}
	report("after one TLS context");
	SSL_CTX_free(ctx);
	curl_global_cleanup();
	return 0;
}
