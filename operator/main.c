/*
 * bin/breakwater: the operator and its admission webhook in one process.
 *
 * For now it answers --version and --help; the controllers and the webhook
 * server are wired in here as they land.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/opensslv.h>
#include <yaml.h>

#include "version.h"

static void print_usage(FILE *out)
{
	fputs("usage: breakwater [--version] [--help]\n"
	      "\n"
	      "breakwater runs the Service and Breaker controllers and the\n"
	      "admission webhook that injects service-registry and breaker\n"
	      "configuration into pods.\n"
	      "\n"
	      "  --version   print the version and the libraries it was built with\n"
	      "  --help      print this help\n",
	      out);
}

static void print_version(void)
{
	printf("breakwater %s\n", BW_VERSION);
	printf("  libcurl %s, %s, libyaml %s, jansson %s, libwebsockets %s\n",
	       curl_version_info(CURLVERSION_NOW)->version, OPENSSL_VERSION_TEXT,
	       yaml_get_version_string(), JANSSON_VERSION, lws_get_library_version());
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		print_version();
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		print_usage(stdout);
		return 0;
	}
	if (argc > 1)
		fprintf(stderr, "breakwater: unknown option '%s'\n", argv[1]);
	print_usage(stderr);
	return 2;
}
