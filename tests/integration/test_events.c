/*
 * The event recorder against the real API server: an event is created about
 * an object, the same event again bumps its count instead of making another
 * (as `kubectl describe` shows: "x3"), and a different message is a new Event.
 */
#include "events.h"
#include "itest.h"

int main(void)
{
	struct bw_recorder_options opts = {.component = "breakwater-itest"};
	struct bw_list_options lo = {0};
	struct bw_recorder_stats st;
	struct bw_recorder *rec = NULL;
	struct bw_client *c;
	struct bw_error err;
	struct bw_event_ref ref = {0};
	json_t *cm = NULL, *created = NULL, *items = NULL, *ev;
	char ns[128], selector[256];
	size_t i;
	int ret, counted_three = 0, other = 0;

	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	c = itest_client();
	if (itest_namespace(c, "events", ns, sizeof(ns)) != 0)
		return 1;
	cm = itest_configmap("subject", "events", "x");
	ret = bw_client_create(c, &bw_res_configmaps, ns, cm, &created, &err);
	CHECK_INT(0, ret, "create the object the events are about");

	ref.api_version = "v1";
	ref.kind = "ConfigMap";
	ref.namespace = ns;
	ref.name = "subject";
	ref.uid = json_string_value(json_object_get(json_object_get(created, "metadata"), "uid"));
	CHECK_INT(0, bw_recorder_new(&rec, c, &opts, &err), "start a recorder");
	for (int n = 0; n < 3; n++) {
		bw_recorder_event(rec, &ref, "Normal", "RolloutStarted", "rolling out %s",
				  "registry.local/shop/orders:1.4.2");
		CHECK_INT(0, bw_recorder_flush(rec, 10000), "event %d sent", n + 1);
	}
	bw_recorder_event(rec, &ref, "Warning", "RolloutFailed", "image %s never became ready",
			  "registry.local/shop/orders:2.0-never-ready");
	CHECK_INT(0, bw_recorder_flush(rec, 10000), "a different event sent");
	bw_recorder_stats(rec, &st);
	CHECK_INT(2, st.created, "two Event objects created");
	CHECK_INT(2, st.counted, "two repeats counted on the first");
	CHECK_INT(0, st.failed + st.dropped, "none failed or dropped");

	snprintf(selector, sizeof(selector),
		 "involvedObject.name=subject,involvedObject.kind=ConfigMap");
	lo.field_selector = selector;
	ret = bw_client_list(c, &bw_res_events, ns, &lo, &items, NULL, &err);
	CHECK_INT(0, ret, "list the object's events");
	CHECK_INT(2, json_array_size(items), "two Events exist for it");
	json_array_foreach(items, i, ev)
	{
		const char *reason = json_string_value(json_object_get(ev, "reason"));

		if (reason && strcmp(reason, "RolloutStarted") == 0 &&
		    json_integer_value(json_object_get(ev, "count")) == 3)
			counted_three = 1;
		if (reason && strcmp(reason, "RolloutFailed") == 0 &&
		    strcmp(json_string_value(json_object_get(ev, "type")), "Warning") == 0 &&
		    strstr(json_string_value(json_object_get(ev, "message")), "never-ready"))
			other = 1;
	}
	CHECK(counted_three, "the repeated event has count 3");
	CHECK(other, "the other event is a Warning with its message");
	CHECK_STR("breakwater-itest",
		  json_string_value(json_object_get(
		      json_object_get(json_array_get(items, 0), "source"), "component")),
		  "the source component is set");
	json_decref(items);
	json_decref(cm);
	json_decref(created);
	bw_recorder_free(rec);
	itest_delete_namespace(c, ns);
	bw_client_free(c);
	return check_exit();
}
