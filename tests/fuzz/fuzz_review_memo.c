/* libFuzzer: the review memo (webhook/review_memo.h), which scans every pod
 * review the webhook is sent for the parts where a ReplicaSet's pods differ
 * (request.uid, the object's managedFields, kube-api-access names). The
 * input is the review, in a buffer of exactly its size (ASan sees a read
 * past it). Checked beyond "no crash":
 * - a look at an empty memo answers nothing; the spans it finds lie inside
 *   the body, in order, apart, the uid's and the managedFields' among them;
 * - remembered with an answer for its uid, the same body is answered with
 *   exactly that answer;
 * - the body with one byte outside every span changed is not answered (the
 *   comparison covers everything but the spans). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../webhook/review_memo.h"

static int inputs(void *arg, const char *ns, const char *service, struct bw_buf *key)
{
	(void)arg;
	(void)ns;
	(void)service;
	return bw_buf_puts(key, "k");
}

static void check_spans(const struct bw_review_memo_spans *sp, size_t size)
{
	if (sp->n < 1 || sp->n > BW_REVIEW_MEMO_SPANS_MAX || sp->uid >= sp->n)
		abort();
	if (sp->managed != BW_REVIEW_MEMO_SPANS_MAX &&
	    (sp->managed >= sp->n || sp->managed == sp->uid))
		abort();
	for (size_t i = 0; i < sp->n; i++)
		if (sp->start[i] > sp->end[i] || sp->end[i] > size ||
		    (i > 0 && sp->start[i] < sp->end[i - 1]))
			abort();
	/* the uid's span is a quoted string of at least one character */
	if (sp->end[sp->uid] - sp->start[sp->uid] < 3)
		abort();
}

/* Whether offset at lies inside a span of sp. */
static int in_span(const struct bw_review_memo_spans *sp, size_t at)
{
	for (size_t i = 0; i < sp->n; i++)
		if (at >= sp->start[i] && at < sp->end[i])
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_review_memo *memo = bw_review_memo_new();
	struct bw_review_memo_look look;
	char *body = malloc(size ? size : 1), *out = NULL, uid[BW_REVIEW_MEMO_UID_MAX + 1];
	char response[BW_REVIEW_MEMO_UID_MAX + 64];
	const char *result = NULL;
	size_t out_len = 0, uid_len, response_len, entries, bytes;

	if (!memo || !body)
		abort();
	memcpy(body, data, size);
	if (bw_review_memo_look_up(memo, body, size, inputs, NULL, &out, &out_len, &result,
				   &look) != 0)
		abort(); /* an empty memo answers nothing */
	if (!look.body)
		goto out;
	if (look.body != body || look.len != size)
		abort();
	check_spans(&look.spans, size);

	uid_len = look.spans.end[look.spans.uid] - look.spans.start[look.spans.uid] - 2;
	memcpy(uid, body + look.spans.start[look.spans.uid] + 1, uid_len);
	uid[uid_len] = '\0';
	response_len = (size_t)snprintf(response, sizeof(response),
					"{\"response\":{\"uid\":\"%s\",\"allowed\":true}}", uid);
	if (bw_review_memo_remember_seen(memo, &look, body, size, uid, "ns", "svc", "k", 1,
					 response, response_len, "allowed") != 0)
		abort();
	bw_review_memo_usage(memo, &entries, &bytes);
	if (entries != 1)
		abort(); /* a uid the scan found is a uid the memo keeps */
	if (bw_review_memo_answer(memo, body, size, inputs, NULL, &out, &out_len, &result) != 1 ||
	    out_len != response_len || memcmp(out, response, response_len) != 0)
		abort();
	free(out);
	out = NULL;

	/* one byte outside the spans changed (from a place the input picks):
	 * another review */
	for (size_t i = 0, at = ((size_t)data[size - 1] * 257 + size) % size; i < size;
	     i++, at = (at + 1) % size) {
		if (in_span(&look.spans, at))
			continue;
		body[at] = (char)(body[at] ^ 0x01);
		if (bw_review_memo_answer(memo, body, size, inputs, NULL, &out, &out_len,
					  &result) != 0)
			abort();
		body[at] = (char)(body[at] ^ 0x01);
		break;
	}
out:
	free(out);
	free(body);
	bw_review_memo_free(memo);
	return 0;
}
