/*
 * Whether an object the service controller would write is its own: the
 * decision behind "a Service never takes over an object it does not own".
 * An object is ours only when an ownerReference with controller: true
 * carries the breakwater Service's uid; an object of the same name with no
 * such reference (another controller's, a user's, or one with no owner at
 * all) is left untouched and reported as a conflict. Pure: no I/O.
 *
 * Ownership: obj is borrowed. Thread-safety: any thread.
 */
#ifndef BW_OPERATOR_OWNERSHIP_H
#define BW_OPERATOR_OWNERSHIP_H

#include <stddef.h>

#include <jansson.h>

enum bw_ownership {
	BW_OWNERSHIP_ABSENT,  /* no object: create it (an apply that cannot update) */
	BW_OWNERSHIP_OWNED,   /* ours: apply (with force) */
	BW_OWNERSHIP_FOREIGN, /* someone else's: leave it, report the conflict */
};

/* "Absent", "Owned" or "Foreign". */
const char *bw_ownership_name(enum bw_ownership o);

/*
 * Decides for obj as read from the API server (NULL: it does not exist)
 * against owner_uid, the breakwater Service's metadata.uid. For a foreign
 * object, why (size bytes, always NUL-terminated, may be NULL) gets the
 * sentence for a condition and an event, naming the object
 * ("Service shop/orders exists and is not controlled by this Service: its
 * controller is apps/v1 Deployment orders (uid ...)"); kind is the object's
 * kind for that sentence. An empty or NULL owner_uid owns nothing.
 */
enum bw_ownership bw_ownership_decide(const json_t *obj, const char *kind, const char *owner_uid,
				      char *why, size_t size);

#endif
