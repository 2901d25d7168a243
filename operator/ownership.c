/* Whether an object is the service controller's to write: see ownership.h. */
#include <stdio.h>
#include <string.h>

#include "ownership.h"

const char *bw_ownership_name(enum bw_ownership o)
{
	switch (o) {
	case BW_OWNERSHIP_ABSENT:
		return "Absent";
	case BW_OWNERSHIP_OWNED:
		return "Owned";
	case BW_OWNERSHIP_FOREIGN:
		return "Foreign";
	}
	return "Unknown";
}

static const char *str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

enum bw_ownership bw_ownership_decide(const json_t *obj, const char *kind, const char *owner_uid,
				      char *why, size_t size)
{
	const json_t *meta = json_object_get(obj, "metadata"), *ref, *controller = NULL;
	size_t i, owners = 0;

	if (why && size)
		*why = '\0';
	if (!obj)
		return BW_OWNERSHIP_ABSENT;
	json_array_foreach(json_object_get(meta, "ownerReferences"), i, ref)
	{
		owners++;
		if (json_is_true(json_object_get(ref, "controller")) && !controller)
			controller = ref;
	}
	/* Only the controller reference counts: a plain ownerReference to us
	 * (someone added it by hand) does not make the object ours to rewrite. */
	if (controller && owner_uid && *owner_uid && strcmp(str(controller, "uid"), owner_uid) == 0)
		return BW_OWNERSHIP_OWNED;
	if (!why || !size)
		return BW_OWNERSHIP_FOREIGN;
	if (controller)
		snprintf(why, size,
			 "%s %.63s/%.253s exists and is not controlled by this Service: its "
			 "controller is %.100s %.100s %.253s (uid %.40s)",
			 kind ? kind : "object", str(meta, "namespace"), str(meta, "name"),
			 str(controller, "apiVersion"), str(controller, "kind"),
			 str(controller, "name"), str(controller, "uid"));
	else
		snprintf(why, size,
			 "%s %.63s/%.253s exists and is not controlled by this Service: it has no "
			 "controller (%zu other owner reference%s); delete or rename it, or rename "
			 "this Service",
			 kind ? kind : "object", str(meta, "namespace"), str(meta, "name"), owners,
			 owners == 1 ? "" : "s");
	return BW_OWNERSHIP_FOREIGN;
}
