/*
 * Small helpers over jansson for reading Kubernetes objects.
 *
 * Ownership: everything returned is borrowed from the argument (or static).
 * Thread-safety: pure functions; any thread, as long as the JSON is not
 * being changed.
 */
#ifndef BW_JSON_H
#define BW_JSON_H

#include <jansson.h>

/* obj[key], with JSON null read as absent (structural schemas prune nulls);
 * NULL when obj is not an object. */
const json_t *bw_json_get(const json_t *obj, const char *key);

/* "an object", "an array", "a string", "an integer", "a number with a
 * fraction", "a boolean", "null", or "nothing" for NULL: for messages such as
 * "spec.replicas: must be an integer, got a string". */
const char *bw_json_type_name(const json_t *v);

#endif
