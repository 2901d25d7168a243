/*
 * libFuzzer target for the PEM certificate inspector: any bytes in, no crash,
 * leak or sanitizer report out. The same bytes also go through the rotation
 * rule, chain verification (as leaf and as bundle) and the bundle joiner,
 * which parse them as a NUL-terminated string.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sans[] = {"breakwater-webhook.breakwater-system.svc", "127.0.0.1"};
	struct bw_certs_info info;
	struct bw_error err;
	char *text, *bundle = NULL, why[128];
	const char *parts[2];
	time_t when;

	if (bw_certs_inspect((const char *)data, size, &info, &err) == 0)
		bw_certs_info_release(&info);
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	bw_certs_needs_rotation(text, sans, 2, 1700000000, &when, why, sizeof(why));
	bw_certs_verify(text, text, 1700000000, sans[0], &err);
	parts[0] = text;
	parts[1] = text;
	if (bw_certs_bundle_join(parts, 2, &bundle, &err) == 0)
		free(bundle);
	free(text);
	return 0;
}
