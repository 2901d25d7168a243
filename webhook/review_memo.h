/*
 * Answers to admission reviews that differ from one already answered only
 * where every pod's review differs. The API server sends the pods a
 * ReplicaSet creates as the same review but for request.uid, the name of
 * the service-account token volume its ServiceAccount admission adds
 * ("kube-api-access-" and 5 random characters, in spec.volumes and in each
 * container's volumeMounts; pod names are generated after admission) and
 * the object's metadata.managedFields, whose "time" is the second the
 * request came in (so two pods made a few milliseconds apart differ there
 * when a second begins between them). So a
 * scale-up of 50 replicas asks the same question 50 times: the first is
 * decided (parse, mutation, response); the others get its answer with their
 * own uid spliced in, for a scan, a hash and a comparison of the body
 * instead of about 40 us of JSON work.
 *
 * Why the answer may be reused: the decision is a pure function of the
 * review and of inputs read from the caches (webhook/mutate.h). Of "name"
 * members it compares a volume's or a mount's with "breakwater-registry",
 * a container's with "breakwater-proxy" and an env variable's with the
 * upper-case names it injects, none of which a kube-api-access name can
 * equal, and it writes none of them into the answer
 * (tests/unit/test_admission.c checks that renaming them changes no answer
 * of the mutation fixtures that have them). Only the value of a "name"
 * member counts: the same text as a label value (a Service may be named
 * so) is compared as it is. It reads nothing of managedFields: the parse
 * leaves them out (webhook/admission.h; test_admission.c checks that other
 * managedFields change no answer), so the member's whole value is left out
 * of the comparison. The caller describes the other inputs as bytes (the
 * inputs key: the
 * namespace's labels, the Service's dependencies and their ports, ...;
 * webhook/server.c), and an entry matches only when its key is byte for
 * byte the one computed now. Nothing is ever invalidated: a changed cache
 * no longer matches.
 *
 * What is remembered: the SHA-256 of the body without those parts (telling
 * two bodies apart would take a SHA-256 collision; a 4 KB pod is not kept),
 * its namespace and Service (what the inputs key is computed from), the
 * key, the response text and its result label. A uid is reused only when
 * it is a plain string of at most BW_REVIEW_MEMO_UID_MAX letters, digits
 * and "-._:" (a Kubernetes uid is a UUID): the response holds it unescaped
 * then, and a body with another such uid in its place is the same JSON
 * with another uid. A kube-api-access name counts as such only written
 * "name":"kube-api-access-XXXXX", with exactly BW_REVIEW_MEMO_TOKEN_CHARS
 * lower-case letters or digits and the closing quote (other text is
 * compared as it is); a body with more than BW_REVIEW_MEMO_TOKENS_MAX of
 * them is not remembered. The table is BW_REVIEW_MEMO_SLOTS entries, one
 * per slot of the digest, the newest kept, and holds at most
 * BW_REVIEW_MEMO_MAX_BYTES of text (an entry that would pass it is not
 * kept).
 *
 * Ownership: every argument is borrowed and read during the call only;
 * answers are malloc'd for the caller. Thread-safety: every call locks; any
 * thread. The inputs callback runs with the memo's lock held and must not
 * call the memo.
 */
#ifndef BW_WEBHOOK_REVIEW_MEMO_H
#define BW_WEBHOOK_REVIEW_MEMO_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

#define BW_REVIEW_MEMO_SLOTS	   64
#define BW_REVIEW_MEMO_MAX_BYTES   (256 * 1024)
#define BW_REVIEW_MEMO_UID_MAX	   128
#define BW_REVIEW_MEMO_TOKEN_CHARS 5
#define BW_REVIEW_MEMO_TOKENS_MAX  16

struct bw_review_memo;

/* The inputs key of a decision about a pod of Service `service` ("": the
 * pod names none) in namespace ns, appended to key. Returns 0, or non-zero
 * when it cannot be computed (the memo then answers nothing). */
typedef int bw_review_memo_inputs_fn(void *arg, const char *ns, const char *service,
				     struct bw_buf *key);

/* NULL when out of memory. */
struct bw_review_memo *bw_review_memo_new(void);
void bw_review_memo_free(struct bw_review_memo *memo);

/*
 * The remembered answer to body (len bytes), when one is remembered for a
 * body equal to it but for request.uid's value and kube-api-access names, and the inputs key
 * inputs() computes now is the one it was decided with: *out (malloc'd, free() it, *out_len bytes,
 * NUL-terminated) is that answer with body's uid, and *result its result label ("patched",
 * "allowed"; static). Returns 1 then; 0 when nothing matches (or out of memory: the caller decides,
 * as it would anyway).
 */
int bw_review_memo_answer(struct bw_review_memo *memo, const char *body, size_t len,
			  bw_review_memo_inputs_fn *inputs, void *arg, char **out, size_t *out_len,
			  const char **result);

/* The parts of a body that may differ between reviews given the same
 * answer: request.uid's value (its quotes included), the object's
 * metadata.managedFields value when there is one, and the random suffix of
 * each kube-api-access name, as offsets into the body, in its order. */
#define BW_REVIEW_MEMO_SPANS_MAX (2 + BW_REVIEW_MEMO_TOKENS_MAX)

struct bw_review_memo_spans {
	/* how many, which is the uid's, which the managedFields' (SPANS_MAX:
	 * none) */
	size_t n, uid, managed;
	size_t start[BW_REVIEW_MEMO_SPANS_MAX], end[BW_REVIEW_MEMO_SPANS_MAX];
};

/* What bw_review_memo_look_up() found of a body: its spans and the digest
 * of the rest. A miss hands it to bw_review_memo_remember_seen(), which
 * then neither scans nor hashes the body again (a SHA-256 of 4 KB, some
 * 3 us, a tenth of a decision). Only for that same body, unchanged: the
 * body's address and length are noted, and a look at another body is not
 * used. */
struct bw_review_memo_look {
	const char *body; /* NULL: nothing found (the body is not remembered) */
	size_t len;
	struct bw_review_memo_spans spans;
	unsigned char digest[32];
};

/* bw_review_memo_answer(), and on a miss *look says what it found. */
int bw_review_memo_look_up(struct bw_review_memo *memo, const char *body, size_t len,
			   bw_review_memo_inputs_fn *inputs, void *arg, char **out, size_t *out_len,
			   const char **result, struct bw_review_memo_look *look);

/*
 * Remembers response (response_len bytes, the answer written for uid) as
 * the answer to body, decided for namespace ns and Service service ("" for
 * none) with inputs key key (key_len bytes); result is "patched" or
 * "allowed". Nothing is kept (returns 0 all the same) when body's
 * request.uid is not uid written plainly, when uid is not a plain uid (see
 * above), when response does not hold it exactly once as its "uid" member,
 * or past the byte cap; BW_ENOMEM when out of memory.
 */
int bw_review_memo_remember(struct bw_review_memo *memo, const char *body, size_t len,
			    const char *uid, const char *ns, const char *service, const char *key,
			    size_t key_len, const char *response, size_t response_len,
			    const char *result);

/* bw_review_memo_remember() with what bw_review_memo_look_up() found of
 * body (look), when look is of this body: the same result, one scan and one
 * hash fewer. */
int bw_review_memo_remember_seen(struct bw_review_memo *memo,
				 const struct bw_review_memo_look *look, const char *body,
				 size_t len, const char *uid, const char *ns, const char *service,
				 const char *key, size_t key_len, const char *response,
				 size_t response_len, const char *result);

/* Entries and bytes held, for tests and metrics. */
void bw_review_memo_usage(struct bw_review_memo *memo, size_t *entries, size_t *bytes);

#endif
