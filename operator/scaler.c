/*
 * The HPA and PDB of a Service: rendered by model/scaling.h, written or
 * deleted through the service controller's ownership rules. See scaler.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "scaler.h"
#include "scaling.h"

/* Objects wanted are written again at least this often (drift put back);
 * a Service with neither is looked at once per process. */
#define RESYNC_S   600
#define NEVER_S	   (100L * 365 * 24 * 3600)
#define KEY_MAX	   600
#define KEY_SUFFIX "#scaler"

static int memo_key(const char *key, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s" KEY_SUFFIX, key);

	return n < 0 || (size_t)n >= size ? BW_ETOOBIG : 0;
}

/* SHA-256 of both bodies (an absent one counts as empty). */
static int digest(const json_t *hpa, const json_t *pdb, unsigned char md[BW_APPLIED_DIGEST_LEN])
{
	const json_t *parts[2] = {hpa, pdb};
	EVP_MD_CTX *h = EVP_MD_CTX_new();
	int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL);

	for (int i = 0; i < 2 && ok; i++) {
		char *text = parts[i] ? json_dumps(parts[i], JSON_SORT_KEYS | JSON_COMPACT) : NULL;

		ok = (!parts[i] || text) &&
		     EVP_DigestUpdate(h, text ? text : "", text ? strlen(text) : 0) &&
		     EVP_DigestUpdate(h, "", 1);
		free(text);
	}
	ok = ok && EVP_DigestFinal_ex(h, md, NULL);
	EVP_MD_CTX_free(h);
	return ok ? 0 : BW_ENOMEM;
}

/* One object: written when wanted, else ours deleted. */
static int sync_one(struct bw_operator_context *ctx, const struct bw_resource *res,
		    const json_t *svc, json_t *body, char *conflict, size_t size,
		    struct bw_error *err)
{
	if (body)
		return bw_owned_write(ctx, res, svc, body, conflict, size, err);
	conflict[0] = '\0';
	return bw_owned_delete(ctx, res, svc, err);
}

/* metadata.generation of svc: 1 until its spec is first edited. */
static json_int_t generation_of(const json_t *svc)
{
	return json_integer_value(json_object_get(json_object_get(svc, "metadata"), "generation"));
}

int bw_scaler_sync(struct bw_operator_context *ctx, const json_t *svc, const char *key,
		   char *conflict, size_t size, struct bw_error *err)
{
	json_t *hpa = NULL, *pdb = NULL;
	unsigned char md[BW_APPLIED_DIGEST_LEN];
	char mkey[KEY_MAX];
	int have_digest, ret;
	long age;

	conflict[0] = '\0';
	if ((ret = bw_scaling_hpa(svc, &hpa, err)) != 0 ||
	    (ret = bw_scaling_pdb(svc, &pdb, err)) != 0)
		goto out;
	have_digest = memo_key(key, mkey, sizeof(mkey)) == 0 && digest(hpa, pdb, md) == 0;
	age = hpa || pdb ? RESYNC_S : NEVER_S;
	if (have_digest && bw_applied_same(ctx->applied, mkey, md, 0, time(NULL), age))
		goto out; /* written (or deleted) already */
	if (!hpa && !pdb && generation_of(svc) == 1) {
		/* a spec never edited that asks for none never had one: nothing to
		 * read, and remembered as such, so a later edit reads nothing
		 * either while the process lives */
		if (have_digest)
			(void)bw_applied_record(ctx->applied, mkey, md, NULL, 0, time(NULL));
		goto out;
	}
	if ((ret = sync_one(ctx, &bw_res_hpas, svc, hpa, conflict, size, err)) != 0 || conflict[0])
		goto out;
	if ((ret = sync_one(ctx, &bw_res_pdbs, svc, pdb, conflict, size, err)) != 0 || conflict[0])
		goto out;
	if (have_digest) /* a failed record only costs a write next time */
		(void)bw_applied_record(ctx->applied, mkey, md, NULL, 0, time(NULL));
out:
	json_decref(hpa);
	json_decref(pdb);
	return ret;
}

void bw_scaler_forget(struct bw_operator_context *ctx, const char *key)
{
	char mkey[KEY_MAX];

	if (memo_key(key, mkey, sizeof(mkey)) == 0)
		bw_applied_forget(ctx->applied, mkey);
}
