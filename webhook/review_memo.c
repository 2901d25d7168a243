/* Answers to reviews that differ only where every pod's differs: see
 * review_memo.h. */
#define _GNU_SOURCE /* memmem() */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "json.h"
#include "review_memo.h"

/* The spans of a body (struct bw_review_memo_spans): a kube-api-access
 * name's suffix is found as a "name" member's value as the API server
 * writes it (compact). */
#define TOKEN	  "\"name\":\"kube-api-access-"
#define TOKEN_LEN (sizeof(TOKEN) - 1)

/* One remembered answer. The body is kept as the SHA-256 of its text
 * without its spans (each piece with its length, so no two bodies of
 * other pieces give the same input), not as text: a few dozen bytes instead
 * of a 4 KB pod, and telling two bodies apart takes a SHA-256 collision.
 * The response is kept as the text before and after the characters of its
 * uid. */
struct entry {
	unsigned char digest[32];
	/* the body's spans: how many, which is the uid, which the managedFields
	 * (BW_REVIEW_MEMO_SPANS_MAX: none) */
	size_t n_spans, uid_span, managed_span;
	char *ns, *service, *key;
	size_t key_len;
	char *response;
	size_t response_len, resp_uid_start, resp_uid_end;
	const char *result;
	size_t bytes; /* what the entry holds, for the cap */
};

struct bw_review_memo {
	pthread_mutex_t lock;
	struct entry *slots[BW_REVIEW_MEMO_SLOTS];
	size_t entries, bytes;
};

static int uid_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == ':';
}

/* Whether s (n bytes) is a uid the memo reuses: 1..BW_REVIEW_MEMO_UID_MAX
 * characters that JSON writes as they are. */
static int plain_uid(const char *s, size_t n)
{
	if (n == 0 || n > BW_REVIEW_MEMO_UID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!uid_char(s[i]))
			return 0;
	return 1;
}

/* Where request.uid's value is written in body, quotes included: 0, or -1
 * when the scan does not find it or it is not a plain uid. */
static int find_uid(const char *body, size_t len, size_t *start, size_t *end)
{
	static const char *const path[] = {"request", "uid", NULL};
	const char *uid;
	size_t uid_len;

	if (bw_json_member_at(body, len, path, &uid, &uid_len) != 0 || uid_len < 2 ||
	    uid[0] != '"' || uid[uid_len - 1] != '"' || !plain_uid(uid + 1, uid_len - 2))
		return -1;
	*start = (size_t)(uid - body);
	*end = *start + uid_len;
	return 0;
}

static int token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Where the object's metadata.managedFields value is written in body: 0,
 * or -1 when the scan does not find it (then it is compared as it is). */
static int find_managed(const char *body, size_t len, size_t *start, size_t *end)
{
	static const char *const path[] = {"request", "object", "metadata", "managedFields", NULL};
	const char *at;
	size_t n;

	if (bw_json_member_at(body, len, path, &at, &n) != 0)
		return -1;
	*start = (size_t)(at - body);
	*end = *start + n;
	return 0;
}

/* Appends the span [start, end) to sp, noting its index in *index: 0, or
 * -1 when sp is full. */
static int add_span(struct bw_review_memo_spans *sp, size_t start, size_t end, size_t *index)
{
	if (sp->n == BW_REVIEW_MEMO_SPANS_MAX)
		return -1;
	if (index)
		*index = sp->n;
	sp->start[sp->n] = start;
	sp->end[sp->n++] = end;
	return 0;
}

/* A span found by its place in the JSON (the uid, the managedFields), and
 * where its index in the spans goes. */
struct fixed_span {
	size_t start, end, *index;
};

/* Appends the spans of fixed (n_fixed of them, in body order, *next the
 * first not yet appended) that start before offset `before`. Returns 0, or
 * -1 when sp is full. */
static int add_fixed_before(struct bw_review_memo_spans *sp, const struct fixed_span *fixed,
			    size_t n_fixed, size_t *next, size_t before)
{
	for (; *next < n_fixed && fixed[*next].start < before; (*next)++)
		if (add_span(sp, fixed[*next].start, fixed[*next].end, fixed[*next].index) != 0)
			return -1;
	return 0;
}

/* The spans of body: 0, or -1 when its uid is not found or not plain, or
 * it holds more than BW_REVIEW_MEMO_TOKENS_MAX kube-api-access names. */
static int find_spans(const char *body, size_t len, struct bw_review_memo_spans *sp)
{
	struct fixed_span fixed[2];
	size_t n_fixed = 1, next = 0, i = 0, tokens = 0, managed_start, managed_end;
	const char *at;

	sp->n = 0;
	sp->uid = sp->managed = BW_REVIEW_MEMO_SPANS_MAX;
	fixed[0].index = &sp->uid;
	if (find_uid(body, len, &fixed[0].start, &fixed[0].end) != 0)
		return -1;
	if (find_managed(body, len, &managed_start, &managed_end) == 0) {
		struct fixed_span m = {managed_start, managed_end, &sp->managed};

		/* the uid is request's member, the managedFields inside it: apart */
		if (m.start < fixed[0].start)
			fixed[1] = fixed[0], fixed[0] = m;
		else
			fixed[1] = m;
		n_fixed = 2;
	}
	while (i < len && (at = memmem(body + i, len - i, TOKEN, TOKEN_LEN)) != NULL) {
		size_t s = (size_t)(at - body) + TOKEN_LEN, k = 0;
		int inside = 0;

		i = s;
		while (s + k < len && k < BW_REVIEW_MEMO_TOKEN_CHARS && token_char(body[s + k]))
			k++;
		for (size_t f = 0; f < n_fixed; f++)
			inside |= s >= fixed[f].start && s < fixed[f].end;
		/* a name of another length, or inside a fixed span, stays as it is */
		if (k != BW_REVIEW_MEMO_TOKEN_CHARS || s + k >= len || body[s + k] != '"' || inside)
			continue;
		if (++tokens > BW_REVIEW_MEMO_TOKENS_MAX ||
		    add_fixed_before(sp, fixed, n_fixed, &next, s) != 0 ||
		    add_span(sp, s, s + k, NULL) != 0)
			return -1;
	}
	return add_fixed_before(sp, fixed, n_fixed, &next, len + 1);
}

/* The text between spans: segment i runs from the end of span i - 1 (or
 * the start) to the start of span i (or the end). */
static void segment(const struct bw_review_memo_spans *sp, size_t len, size_t i, size_t *from,
		    size_t *to)
{
	*from = i == 0 ? 0 : sp->end[i - 1];
	*to = i == sp->n ? len : sp->start[i];
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* The digest of body without its spans: 0, or -1 when it cannot be made. */
static int body_digest(const char *body, size_t len, const struct bw_review_memo_spans *sp,
		       unsigned char digest[32])
{
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	size_t from, to;
	int ok;

	pthread_once(&sha256_once, sha256_fetch);
	ok = h && sha256_md && EVP_DigestInit_ex(h, sha256_md, NULL);
	for (size_t i = 0; ok && i <= sp->n; i++) {
		uint64_t n;

		segment(sp, len, i, &from, &to);
		n = to - from;
		ok = EVP_DigestUpdate(h, &n, sizeof(n)) && EVP_DigestUpdate(h, body + from, n);
	}
	ok = ok && EVP_DigestFinal_ex(h, digest, NULL);
	EVP_MD_CTX_free(h);
	return ok ? 0 : -1;
}

static size_t slot_of(const unsigned char digest[32])
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h));
	return (size_t)(h % BW_REVIEW_MEMO_SLOTS);
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->ns);
	free(e->service);
	free(e->key);
	free(e->response);
	free(e);
}

struct bw_review_memo *bw_review_memo_new(void)
{
	struct bw_review_memo *memo = calloc(1, sizeof(*memo));

	if (memo)
		pthread_mutex_init(&memo->lock, NULL);
	return memo;
}

void bw_review_memo_free(struct bw_review_memo *memo)
{
	if (!memo)
		return;
	for (size_t i = 0; i < BW_REVIEW_MEMO_SLOTS; i++)
		entry_free(memo->slots[i]);
	pthread_mutex_destroy(&memo->lock);
	free(memo);
}

/* Whether a body of spans sp and digest is e's body but for the text of
 * the spans. */
static int same_body(const struct entry *e, const struct bw_review_memo_spans *sp,
		     const unsigned char digest[32])
{
	return sp->n == e->n_spans && sp->uid == e->uid_span && sp->managed == e->managed_span &&
	       memcmp(digest, e->digest, sizeof(e->digest)) == 0;
}

/* e's response with uid (n characters) in place of its own. */
static char *splice(const struct entry *e, const char *uid, size_t n, size_t *out_len)
{
	size_t tail = e->response_len - e->resp_uid_end;
	size_t total = e->resp_uid_start + n + tail;
	char *out = malloc(total + 1);

	if (!out)
		return NULL;
	memcpy(out, e->response, e->resp_uid_start);
	memcpy(out + e->resp_uid_start, uid, n);
	memcpy(out + e->resp_uid_start + n, e->response + e->resp_uid_end, tail);
	out[total] = '\0';
	*out_len = total;
	return out;
}

int bw_review_memo_answer(struct bw_review_memo *memo, const char *body, size_t len,
			  bw_review_memo_inputs_fn *inputs, void *arg, char **out, size_t *out_len,
			  const char **result)
{
	return bw_review_memo_look_up(memo, body, len, inputs, arg, out, out_len, result, NULL);
}

int bw_review_memo_look_up(struct bw_review_memo *memo, const char *body, size_t len,
			   bw_review_memo_inputs_fn *inputs, void *arg, char **out, size_t *out_len,
			   const char **result, struct bw_review_memo_look *look)
{
	struct bw_review_memo_look own;
	struct bw_review_memo_spans *sp;
	size_t uid_start, uid_end;
	struct entry *e;
	struct bw_buf key;
	int hit = 0;

	*out = NULL;
	if (!look)
		look = &own;
	look->body = NULL;
	sp = &look->spans;
	if (!memo || find_spans(body, len, sp) != 0 ||
	    body_digest(body, len, sp, look->digest) != 0)
		return 0;
	look->body = body;
	look->len = len;
	uid_start = sp->start[sp->uid] + 1; /* the characters within the quotes */
	uid_end = sp->end[sp->uid] - 1;
	bw_buf_init(&key, 64 * 1024);
	pthread_mutex_lock(&memo->lock);
	e = memo->slots[slot_of(look->digest)];
	if (e && same_body(e, sp, look->digest) && inputs(arg, e->ns, e->service, &key) == 0 &&
	    !key.error && key.len == e->key_len &&
	    memcmp(key.data ? key.data : "", e->key, e->key_len) == 0 &&
	    (*out = splice(e, body + uid_start, uid_end - uid_start, out_len)) != NULL) {
		*result = e->result;
		hit = 1;
	}
	pthread_mutex_unlock(&memo->lock);
	bw_buf_release(&key);
	return hit;
}

/* Where uid's characters are in response, written as its one "uid"
 * member: 0, or -1 when it is not there exactly once. */
static int find_response_uid(const char *response, size_t len, const char *uid, size_t *start)
{
	char pattern[BW_REVIEW_MEMO_UID_MAX + 16];
	size_t n = (size_t)snprintf(pattern, sizeof(pattern), "\"uid\":\"%s\"", uid);
	const char *at = memmem(response, len, pattern, n), *again;

	if (!at)
		return -1;
	again = memmem(at + 1, len - (size_t)(at + 1 - response), pattern, n);
	if (again)
		return -1;
	*start = (size_t)(at - response) + 7; /* past "uid":" */
	return 0;
}

static char *copy(const char *s, size_t n)
{
	char *c = malloc(n + 1);

	if (c) {
		memcpy(c, s, n);
		c[n] = '\0';
	}
	return c;
}

int bw_review_memo_remember(struct bw_review_memo *memo, const char *body, size_t len,
			    const char *uid, const char *ns, const char *service, const char *key,
			    size_t key_len, const char *response, size_t response_len,
			    const char *result)
{
	return bw_review_memo_remember_seen(memo, NULL, body, len, uid, ns, service, key, key_len,
					    response, response_len, result);
}

int bw_review_memo_remember_seen(struct bw_review_memo *memo,
				 const struct bw_review_memo_look *look, const char *body,
				 size_t len, const char *uid, const char *ns, const char *service,
				 const char *key, size_t key_len, const char *response,
				 size_t response_len, const char *result)
{
	size_t resp_start, uid_len;
	struct bw_review_memo_spans own;
	const struct bw_review_memo_spans *sp = &own;
	struct entry *e, **slot;
	int seen = look && look->body == body && look->len == len;

	if (!memo || !uid || !ns || !service || !key || !response || !result)
		return 0;
	uid_len = strlen(uid);
	if (seen)
		sp = &look->spans;
	if ((!seen && find_spans(body, len, &own) != 0) ||
	    sp->end[sp->uid] - sp->start[sp->uid] - 2 != uid_len ||
	    memcmp(body + sp->start[sp->uid] + 1, uid, uid_len) != 0 ||
	    find_response_uid(response, response_len, uid, &resp_start) != 0)
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return BW_ENOMEM;
	if (seen) {
		memcpy(e->digest, look->digest, sizeof(e->digest));
	} else if (body_digest(body, len, sp, e->digest) != 0) {
		free(e);
		return BW_ENOMEM;
	}
	e->n_spans = sp->n;
	e->uid_span = sp->uid;
	e->managed_span = sp->managed;
	e->ns = copy(ns, strlen(ns));
	e->service = copy(service, strlen(service));
	e->key = copy(key, key_len);
	e->key_len = key_len;
	e->response = copy(response, response_len);
	e->response_len = response_len;
	e->resp_uid_start = resp_start;
	e->resp_uid_end = resp_start + uid_len;
	e->result = result;
	e->bytes = sizeof(*e) + strlen(ns) + strlen(service) + key_len + response_len + 4;
	if (!e->ns || !e->service || !e->key || !e->response) {
		entry_free(e);
		return BW_ENOMEM;
	}
	pthread_mutex_lock(&memo->lock);
	slot = &memo->slots[slot_of(e->digest)];
	if (*slot) {
		memo->bytes -= (*slot)->bytes;
		memo->entries--;
		entry_free(*slot);
		*slot = NULL;
	}
	if (memo->bytes + e->bytes <= BW_REVIEW_MEMO_MAX_BYTES) {
		*slot = e;
		memo->bytes += e->bytes;
		memo->entries++;
		e = NULL;
	}
	pthread_mutex_unlock(&memo->lock);
	entry_free(e);
	return 0;
}

void bw_review_memo_usage(struct bw_review_memo *memo, size_t *entries, size_t *bytes)
{
	pthread_mutex_lock(&memo->lock);
	*entries = memo->entries;
	*bytes = memo->bytes;
	pthread_mutex_unlock(&memo->lock);
}
