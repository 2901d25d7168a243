/* libFuzzer: the API error decoding of lib/client. The first two bytes are
 * the HTTP status, the rest the response body (a Kubernetes Status, or
 * anything a proxy in between may send). Checks what callers rely on: the
 * code is the status's, err is filled and terminated, and the message and
 * reason are valid UTF-8 (they end up in JSON: conditions and events). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_be_json_string(const char *s)
{
	json_t *j = json_string(s);

	if (!j)
		abort(); /* cut in the middle of a UTF-8 sequence */
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_error err;
	long status;
	int code;

	if (size < 2)
		return 0;
	/* 100..599 most of the time, anything else now and then */
	status = data[0] & 0x80 ? 100 + ((data[0] & 0x7f) << 8 | data[1]) % 500
				: (long)(int8_t)data[1] * 7;
	memset(&err, 0x5a, sizeof(err)); /* garbage, as an uninitialised caller's */
	code = bw_client_status_error(status, (const char *)data + 2, size - 2, &err);
	if (code >= 0 || code != err.code || err.http_status != status)
		abort();
	if (memchr(err.message, '\0', sizeof(err.message)) == NULL ||
	    memchr(err.reason, '\0', sizeof(err.reason)) == NULL || !*err.message)
		abort();
	must_be_json_string(err.message);
	must_be_json_string(err.reason);
	/* NULL body and NULL err are allowed too */
	if (bw_client_status_error(status, NULL, 0, NULL) != code)
		abort();
	return 0;
}
