/* The webhook's certificates with OpenSSL 3: see certs.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "file.h"
#include "error.h"
#include "rfc3339.h"

#define CN_MAX	     64 /* ub-common-name (RFC 5280) */
#define DNS_MAX	     253
#define LABEL_MAX    63
#define VALIDITY_MAX (100LL * 365 * 24 * 3600) /* a century: more is a mistake */
#define SERIAL_BYTES 16
#define SHOW_MAX     80 /* how much of a bad name a message quotes */
#define HOST_FLAGS   (X509_CHECK_FLAG_NEVER_CHECK_SUBJECT | X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)

static const char pem_begin[] = "-----BEGIN ";

/* ---- small helpers ---- */

static char *dup_mem(const void *s, size_t len)
{
	char *p = malloc(len + 1);

	if (!p)
		return NULL;
	if (len)
		memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static int contains(const char *hay, size_t hay_len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; n <= hay_len && i <= hay_len - n; i++) {
		if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
			return 1;
	}
	return 0;
}

/* The first reason on this thread's OpenSSL error queue, then clears the queue. */
static const char *ssl_reason(char *buf, size_t size)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r)
		snprintf(buf, size, "%s", r);
	else if (e)
		snprintf(buf, size, "OpenSSL error %lx", e);
	else
		snprintf(buf, size, "unknown error");
	ERR_clear_error();
	return buf;
}

/* Never ask for a password: encrypted keys are refused, not prompted for. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The length of a NUL-terminated PEM argument, refusing NULL and text over the cap. */
static int pem_len(const char *pem, const char *what, size_t *len, struct bw_error *err)
{
	size_t n;

	if (!pem)
		return bw_error_set(err, BW_EINVAL, "%s: missing", what);
	n = strnlen(pem, (size_t)BW_CERTS_PEM_MAX + 1);
	if (n > BW_CERTS_PEM_MAX)
		return bw_error_set(err, BW_ETOOBIG, "%s: more than the limit of %u bytes", what,
				    (unsigned)BW_CERTS_PEM_MAX);
	*len = n;
	return 0;
}

/* Copies a memory BIO's contents into a malloc'd string. */
static char *bio_string(BIO *b)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);

	if (n < 0 || (n > 0 && !data))
		return NULL;
	return dup_mem(data, (size_t)n);
}

static int asn1_time_get(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
		return -1;
	*out = (time_t)(bw_days_from_civil((long long)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
					   (unsigned)tm.tm_mday) *
			    86400LL +
			tm.tm_hour * 3600LL + tm.tm_min * 60LL + tm.tm_sec);
	return 0;
}

static const char *utc_text(time_t t, char *buf, size_t size)
{
	if (bw_rfc3339_format(buf, size, (long long)t, 0, 0) != 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

/* Address bytes of an IPv4 or IPv6 literal: 4 or 16, or 0 when s is not one. */
static size_t ip_parse(const char *s, unsigned char out[16])
{
	if (inet_pton(AF_INET, s, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, s, out) == 1)
		return 16;
	return 0;
}

static int is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A DNS name of letters, digits and hyphens, dot-separated labels, an optional "*." first. */
static int dns_name_ok(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > DNS_MAX)
		return 0;
	if (s[0] == '*') {
		if (s[1] != '.' || !s[2])
			return 0;
		s += 2;
	}
	for (i = 0; s[i]; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (is_alnum((unsigned char)s[i]) || s[i] == '-') {
			if (++label > LABEL_MAX)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

/* ---- parsing ---- */

static int is_no_start_line(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/*
 * Every certificate of len bytes of PEM, in order, into a new stack (at least
 * one). what names the input for messages ("certificate", "CA certificate").
 */
static int parse_certs(const char *pem, size_t len, const char *what, STACK_OF(X509) * *out,
		       struct bw_error *err)
{
	STACK_OF(X509) *sk = NULL;
	BIO *b = NULL;
	X509 *x;
	char reason[160];
	int rc = 0;

	*out = NULL;
	if (len > BW_CERTS_PEM_MAX)
		return bw_error_set(err, BW_ETOOBIG, "%s: more than the limit of %u bytes", what,
				    (unsigned)BW_CERTS_PEM_MAX);
	if (len == 0 || !contains(pem, len, pem_begin))
		return bw_error_set(err, BW_EINVAL, "%s: not PEM", what);
	ERR_clear_error();
	b = BIO_new_mem_buf(pem, (int)len);
	sk = sk_X509_new_null();
	if (!b || !sk) {
		rc = bw_error_set(err, BW_ENOMEM, "%s: out of memory", what);
		goto out;
	}
	for (;;) {
		x = PEM_read_bio_X509(b, NULL, no_password, NULL);
		if (!x) {
			unsigned long e = ERR_peek_last_error();

			if (is_no_start_line(e) && sk_X509_num(sk) > 0) {
				ERR_clear_error();
				break;
			}
			if (is_no_start_line(e)) {
				ERR_clear_error();
				rc = bw_error_set(err, BW_EINVAL, "%s: no CERTIFICATE block", what);
			} else {
				rc = bw_error_set(err, BW_EINVAL, "%s: cannot parse: %s", what,
						  ssl_reason(reason, sizeof(reason)));
			}
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			rc = bw_error_set(err, BW_ENOMEM, "%s: out of memory", what);
			goto out;
		}
	}
	*out = sk;
	sk = NULL;
out:
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return rc;
}

/* The first certificate of a PEM text; the caller frees it. */
static int parse_cert(const char *pem, size_t len, const char *what, X509 **out,
		      struct bw_error *err)
{
	STACK_OF(X509) * sk;
	int rc;

	*out = NULL;
	rc = parse_certs(pem, len, what, &sk, err);
	if (rc)
		return rc;
	*out = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return 0;
}

/* parse_cert() of a NUL-terminated string. */
static int parse_cert_str(const char *pem, const char *what, X509 **out, struct bw_error *err)
{
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = pem_len(pem, what, &len, err);
	return rc ? rc : parse_cert(pem, len, what, out, err);
}

/* An unencrypted private key from a NUL-terminated PEM string; the caller frees it. */
static int parse_key(const char *pem, const char *what, EVP_PKEY **out, struct bw_error *err)
{
	char reason[160];
	size_t len = 0;
	BIO *b;
	int rc;

	*out = NULL;
	rc = pem_len(pem, what, &len, err);
	if (rc)
		return rc;
	if (len == 0 || !contains(pem, len, pem_begin))
		return bw_error_set(err, BW_EINVAL, "%s: not PEM", what);
	if (contains(pem, len, "-----BEGIN ENCRYPTED PRIVATE KEY-----") ||
	    contains(pem, len, "Proc-Type: 4,ENCRYPTED"))
		return bw_error_set(err, BW_EINVAL, "%s: encrypted keys are not supported", what);
	if (!contains(pem, len, "PRIVATE KEY-----"))
		return bw_error_set(err, BW_EINVAL, "%s: no PRIVATE KEY block", what);
	ERR_clear_error();
	b = BIO_new_mem_buf(pem, (int)len);
	if (!b)
		return bw_error_set(err, BW_ENOMEM, "%s: out of memory", what);
	*out = PEM_read_bio_PrivateKey(b, NULL, no_password, NULL);
	BIO_free(b);
	if (*out)
		return 0;
	if (is_no_start_line(ERR_peek_last_error())) {
		ERR_clear_error();
		return bw_error_set(err, BW_EINVAL, "%s: no PRIVATE KEY block", what);
	}
	return bw_error_set(err, BW_EINVAL, "%s: cannot parse: not a valid private key (%s)", what,
			    ssl_reason(reason, sizeof(reason)));
}

/* ---- making certificates ---- */

void bw_certs_free_secret(char *secret)
{
	if (!secret)
		return;
	OPENSSL_cleanse(secret, strlen(secret));
	free(secret);
}

void bw_certs_pair_release(struct bw_certs_pair *pair)
{
	if (!pair)
		return;
	free(pair->cert_pem);
	bw_certs_free_secret(pair->key_pem);
	pair->cert_pem = NULL;
	pair->key_pem = NULL;
}

static EVP_PKEY *new_key(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* 128 random bits, positive and never 0. */
static int set_serial(X509 *x)
{
	unsigned char bytes[SERIAL_BYTES];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		return -1;
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	if (!bn)
		return -1;
	if (BN_is_zero(bn) && !BN_one(bn)) {
		BN_free(bn);
		return -1;
	}
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int set_validity(X509 *x, time_t not_before, time_t not_after)
{
	if (!ASN1_TIME_set(X509_getm_notBefore(x), not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), not_after))
		return -1;
	return 0;
}

/* An extension of a fixed value in OpenSSL's config syntax (never user text). */
static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok;

	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* The PEM texts of a signed certificate and its key, into *out. */
static int write_pair(X509 *x, EVP_PKEY *key, struct bw_certs_pair *out)
{
	BIO *b = BIO_new(BIO_s_mem());
	int rc = -1;

	if (!b)
		return -1;
	if (!PEM_write_bio_X509(b, x) || !(out->cert_pem = bio_string(b)))
		goto out;
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	if (!b || !PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) ||
	    !(out->key_pem = bio_string(b)))
		goto out;
	rc = 0;
out:
	BIO_free(b); /* a memory BIO's buffer is cleansed when freed */
	if (rc)
		bw_certs_pair_release(out);
	return rc;
}

static int validity_ok(long validity, long long def, long long *out, const char *what,
		       struct bw_error *err)
{
	long long v = validity <= 0 ? def : (long long)validity;

	if (v > VALIDITY_MAX)
		return bw_error_set(err, BW_EINVAL,
				    "%s: a validity of %lld seconds is more than a century", what,
				    v);
	*out = v;
	return 0;
}

static int cn_ok(const char *cn)
{
	size_t len = cn ? strlen(cn) : 0, i;

	if (len == 0 || len > CN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)cn[i] < 0x20 || cn[i] == 0x7f)
			return 0;
	}
	return 1;
}

/* How far notBefore goes back: BW_CERTS_BACKDATE for clock skew, but never
 * more than a tenth of the validity, so that short-lived certificates (tests,
 * aggressive rotation) are not mostly in the past. */
static time_t backdate(long validity)
{
	return validity / 10 < BW_CERTS_BACKDATE ? (time_t)(validity / 10) : BW_CERTS_BACKDATE;
}

int bw_certs_make_ca(const char *cn, long validity, time_t now, struct bw_certs_pair *out,
		     struct bw_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509V3_CTX ctx;
	char reason[160];
	long long v = 0;
	int rc;

	out->cert_pem = NULL;
	out->key_pem = NULL;
	if (!cn_ok(cn))
		return bw_error_set(err, BW_EINVAL,
				    "CA: the common name must be 1 to %d printable bytes", CN_MAX);
	rc = validity_ok(validity, BW_CERTS_CA_VALIDITY, &v, "CA", err);
	if (rc)
		return rc;
	ERR_clear_error();
	key = new_key();
	x = X509_new();
	if (!key || !x)
		goto fail;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (!X509_set_version(x, X509_VERSION_3) || set_serial(x) ||
	    set_validity(x, now - backdate(v), (time_t)(now + v)) ||
	    !X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(x)) || !X509_set_pubkey(x, key) ||
	    add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    !X509_sign(x, key, EVP_sha256()) || write_pair(x, key, out))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = bw_error_set(err, BW_ENOMEM, "CA: cannot make the certificate: %s",
			  ssl_reason(reason, sizeof(reason)));
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

/* The subjectAltName of sans[]: IP addresses and DNS names, checked. */
static int add_sans(X509 *x, const char *const *sans, size_t n, int critical, struct bw_error *err)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	unsigned char ip[16];
	size_t i, iplen;
	int rc = 0;

	if (!gens)
		return bw_error_set(err, BW_ENOMEM, "serving certificate: out of memory");
	for (i = 0; i < n; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_STRING *s = NULL;

		if (!g)
			goto nomem;
		iplen = ip_parse(sans[i], ip);
		if (iplen) {
			s = ASN1_OCTET_STRING_new();
			if (!s || !ASN1_OCTET_STRING_set(s, ip, (int)iplen))
				goto nomem_g;
			GENERAL_NAME_set0_value(g, GEN_IPADD, s);
		} else {
			s = ASN1_IA5STRING_new();
			if (!s || !ASN1_STRING_set(s, sans[i], (int)strlen(sans[i])))
				goto nomem_g;
			GENERAL_NAME_set0_value(g, GEN_DNS, s);
		}
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			goto nomem;
		}
		continue;
	nomem_g:
		ASN1_STRING_free(s);
		GENERAL_NAME_free(g);
		goto nomem;
	}
	if (!X509_add1_ext_i2d(x, NID_subject_alt_name, gens, critical, X509V3_ADD_DEFAULT))
		goto nomem;
	goto out;
nomem:
	rc = bw_error_set(err, BW_ENOMEM, "serving certificate: out of memory");
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

int bw_certs_make_serving(const char *ca_cert_pem, const char *ca_key_pem, const char *const *sans,
			  size_t n_sans, long validity, time_t now, struct bw_certs_pair *out,
			  struct bw_error *err)
{
	EVP_PKEY *ca_key = NULL, *key = NULL;
	X509 *ca = NULL, *x = NULL;
	const char *cn = NULL;
	unsigned char ip[16];
	X509V3_CTX ctx;
	char reason[160], when[32];
	time_t ca_end, not_after;
	long long v = 0;
	size_t i;
	int rc;

	out->cert_pem = NULL;
	out->key_pem = NULL;
	if (!sans || n_sans == 0)
		return bw_error_set(err, BW_EINVAL, "serving certificate: no subject alt names");
	for (i = 0; i < n_sans; i++) {
		if (!sans[i])
			return bw_error_set(err, BW_EINVAL,
					    "serving certificate: subject alt name %zu is NULL", i);
		if (!ip_parse(sans[i], ip) && !dns_name_ok(sans[i]))
			return bw_error_set(err, BW_EINVAL,
					    "serving certificate: \"%.*s\" is neither an IP "
					    "address nor a DNS name",
					    SHOW_MAX, sans[i]);
	}
	for (i = 0; i < n_sans && !cn; i++) {
		if (!ip_parse(sans[i], ip))
			cn = sans[i];
	}
	if (!cn)
		cn = sans[0];
	if (strlen(cn) > CN_MAX)
		cn = NULL; /* no CN: the SAN carries the names, and is critical */
	rc = validity_ok(validity, BW_CERTS_SERVING_VALIDITY, &v, "serving certificate", err);
	if (rc)
		return rc;
	rc = parse_cert_str(ca_cert_pem, "CA certificate", &ca, err);
	if (rc)
		goto out;
	rc = parse_key(ca_key_pem, "CA key", &ca_key, err);
	if (rc)
		goto out;
	if (X509_check_ca(ca) != 1) {
		rc = bw_error_set(err, BW_EINVAL,
				  "CA certificate: not a CA (basicConstraints CA:TRUE and "
				  "keyUsage keyCertSign are required)");
		goto out;
	}
	if (X509_check_private_key(ca, ca_key) != 1) {
		ERR_clear_error();
		rc = bw_error_set(err, BW_EINVAL, "CA key does not match the CA certificate");
		goto out;
	}
	if (asn1_time_get(X509_get0_notAfter(ca), &ca_end)) {
		rc = bw_error_set(err, BW_EINVAL, "CA certificate: bad notAfter");
		goto out;
	}
	if (ca_end <= now) {
		rc = bw_error_set(err, BW_EINVAL, "CA certificate: expired at %s",
				  utc_text(ca_end, when, sizeof(when)));
		goto out;
	}
	not_after = (time_t)(now + v);
	if (not_after > ca_end)
		not_after = ca_end;
	ERR_clear_error();
	key = new_key();
	x = X509_new();
	if (!key || !x)
		goto fail;
	X509V3_set_ctx(&ctx, ca, x, NULL, NULL, 0);
	if (!X509_set_version(x, X509_VERSION_3) || set_serial(x) ||
	    set_validity(x, now - backdate(v), not_after) ||
	    (cn &&
	     !X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_commonName, MBSTRING_UTF8,
					 (const unsigned char *)cn, -1, -1, 0)) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca)) || !X509_set_pubkey(x, key) ||
	    add_ext(x, &ctx, NID_basic_constraints, "CA:FALSE") ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(x, &ctx, NID_ext_key_usage, "serverAuth") ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash") ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto fail;
	rc = add_sans(x, sans, n_sans, cn == NULL, err);
	if (rc)
		goto out;
	if (!X509_sign(x, ca_key, EVP_sha256()) || write_pair(x, key, out))
		goto fail;
	rc = 0;
	goto out;
fail:
	rc = bw_error_set(err, BW_ENOMEM, "serving certificate: cannot make it: %s",
			  ssl_reason(reason, sizeof(reason)));
out:
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	return rc;
}

/* ---- inspecting ---- */

void bw_certs_info_release(struct bw_certs_info *info)
{
	size_t i;

	if (!info)
		return;
	for (i = 0; i < info->n_dns; i++)
		free(info->dns[i]);
	for (i = 0; i < info->n_ips; i++)
		free(info->ips[i]);
	free(info->dns);
	free(info->ips);
	free(info->subject_cn);
	free(info->issuer_cn);
	free(info->serial_hex);
	memset(info, 0, sizeof(*info));
}

/* A copy of an ASN1 string's bytes with control bytes shown as '?', for reports. */
static char *printable_copy(const unsigned char *data, size_t len)
{
	char *p = dup_mem(data, len);
	size_t i;

	if (!p)
		return NULL;
	for (i = 0; i < len; i++) {
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			p[i] = '?';
	}
	return p;
}

/* The CN of a name as UTF-8, or NULL in *out when it has none. -1: out of memory. */
static int name_cn(const X509_NAME *name, char **out)
{
	const X509_NAME_ENTRY *e;
	unsigned char *utf8 = NULL;
	int idx, n;

	*out = NULL;
	idx = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	if (idx < 0)
		return 0;
	e = X509_NAME_get_entry(name, idx);
	n = e ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) : -1;
	if (n < 0) {
		ERR_clear_error();
		return 0; /* a CN that is not text is reported as none */
	}
	*out = printable_copy(utf8, (size_t)n);
	OPENSSL_free(utf8);
	return *out ? 0 : -1;
}

static int push_str(char ***arr, size_t *n, char *s)
{
	char **grown;

	if (!s)
		return -1;
	grown = realloc(*arr, (*n + 1) * sizeof(**arr));
	if (!grown) {
		free(s);
		return -1;
	}
	*arr = grown;
	(*arr)[(*n)++] = s;
	return 0;
}

static int fill_sans(X509 *x, struct bw_certs_info *info)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char text[INET6_ADDRSTRLEN];
	int i, rc = 0;

	if (!gens) {
		ERR_clear_error();
		return 0;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && rc == 0; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		int type;
		const ASN1_STRING *s = GENERAL_NAME_get0_value(g, &type);
		int len = s ? ASN1_STRING_length(s) : 0;
		const unsigned char *data = s ? ASN1_STRING_get0_data(s) : NULL;

		if (!data || len < 0)
			continue;
		if (type == GEN_DNS) {
			rc = push_str(&info->dns, &info->n_dns, printable_copy(data, (size_t)len));
		} else if (type == GEN_IPADD && (len == 4 || len == 16)) {
			if (!inet_ntop(len == 4 ? AF_INET : AF_INET6, data, text, sizeof(text)))
				continue;
			rc = push_str(&info->ips, &info->n_ips, dup_mem(text, strlen(text)));
		}
	}
	GENERAL_NAMES_free(gens);
	return rc;
}

static int fill_info(X509 *x, struct bw_certs_info *info, struct bw_error *err)
{
	uint32_t flags = X509_get_extension_flags(x);
	uint32_t ku = X509_get_key_usage(x);
	BIGNUM *bn = NULL;
	char *hex = NULL;

	if (asn1_time_get(X509_get0_notBefore(x), &info->not_before) ||
	    asn1_time_get(X509_get0_notAfter(x), &info->not_after)) {
		ERR_clear_error();
		return bw_error_set(err, BW_EINVAL, "certificate: bad validity times");
	}
	info->is_ca = (flags & EXFLAG_CA) != 0;
	info->path_len = X509_get_pathlen(x);
	info->key_usage = ku == UINT32_MAX ? 0 : (unsigned)(ku & 0xffff);
	info->server_auth =
	    (flags & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
	info->self_signed = X509_self_signed(x, 1) == 1;
	ERR_clear_error();
	if (name_cn(X509_get_subject_name(x), &info->subject_cn) ||
	    name_cn(X509_get_issuer_name(x), &info->issuer_cn))
		goto nomem;
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	hex = bn ? BN_bn2hex(bn) : NULL;
	BN_free(bn);
	if (hex) {
		info->serial_hex = dup_mem(hex, strlen(hex));
		OPENSSL_free(hex);
		if (!info->serial_hex)
			goto nomem;
	}
	ERR_clear_error();
	if (fill_sans(x, info))
		goto nomem;
	return 0;
nomem:
	return bw_error_set(err, BW_ENOMEM, "certificate: out of memory");
}

int bw_certs_inspect(const char *pem, size_t len, struct bw_certs_info *info, struct bw_error *err)
{
	X509 *x = NULL;
	int rc;

	memset(info, 0, sizeof(*info));
	if (!pem && len)
		return bw_error_set(err, BW_EINVAL, "certificate: missing");
	rc = parse_cert(pem, len, "certificate", &x, err);
	if (rc)
		return rc;
	rc = fill_info(x, info, err);
	X509_free(x);
	if (rc)
		bw_certs_info_release(info);
	return rc;
}

/* ---- checking ---- */

int bw_certs_signed_by(const char *cert_pem, const char *ca_cert_pem, struct bw_error *err)
{
	X509 *x = NULL, *ca = NULL;
	EVP_PKEY *pub;
	char *cn = NULL;
	int rc;

	rc = parse_cert_str(cert_pem, "certificate", &x, err);
	if (rc)
		goto out;
	rc = parse_cert_str(ca_cert_pem, "CA certificate", &ca, err);
	if (rc)
		goto out;
	pub = X509_get0_pubkey(ca);
	if (X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(ca)) == 0 && pub &&
	    X509_verify(x, pub) == 1)
		goto out;
	ERR_clear_error();
	if (name_cn(X509_get_subject_name(ca), &cn)) {
		rc = bw_error_set(err, BW_ENOMEM, "certificate: out of memory");
		goto out;
	}
	rc = bw_error_set(err, BW_EINVAL, "certificate is not signed by CA \"%s\"",
			  cn ? cn : "(no CN)");
out:
	free(cn);
	X509_free(x);
	X509_free(ca);
	return rc;
}

int bw_certs_verify(const char *cert_pem, const char *bundle_pem, time_t at, const char *host,
		    struct bw_error *err)
{
	STACK_OF(X509) *chain = NULL, *anchors = NULL;
	X509_STORE *store = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_VERIFY_PARAM *param;
	X509 *leaf = NULL;
	unsigned char ip[16];
	size_t len = 0;
	int rc, i, e;

	rc = pem_len(cert_pem, "certificate", &len, err);
	if (rc || (rc = parse_certs(cert_pem, len, "certificate", &chain, err)))
		goto out;
	rc = pem_len(bundle_pem, "CA bundle", &len, err);
	if (rc || (rc = parse_certs(bundle_pem, len, "CA bundle", &anchors, err)))
		goto out;
	leaf = sk_X509_shift(chain);
	store = X509_STORE_new();
	ctx = X509_STORE_CTX_new();
	if (!store || !ctx)
		goto nomem;
	for (i = 0; i < sk_X509_num(anchors); i++) {
		if (!X509_STORE_add_cert(store, sk_X509_value(anchors, i)))
			goto nomem;
	}
	if (!X509_STORE_CTX_init(ctx, store, leaf, chain))
		goto nomem;
	param = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_time(param, at);
	if (!X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER))
		goto nomem;
	if (host) {
		size_t iplen = ip_parse(host, ip);

		X509_VERIFY_PARAM_set_hostflags(param, HOST_FLAGS);
		if (iplen ? !X509_VERIFY_PARAM_set1_ip(param, ip, iplen)
			  : !X509_VERIFY_PARAM_set1_host(param, host, 0)) {
			rc = bw_error_set(err, BW_EINVAL, "\"%.*s\" is not a valid host name",
					  SHOW_MAX, host);
			goto out;
		}
	}
	if (X509_verify_cert(ctx) == 1)
		goto out;
	e = X509_STORE_CTX_get_error(ctx);
	rc = bw_error_set(err, BW_EINVAL, "certificate does not verify: %s (at depth %d)",
			  X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
	goto out;
nomem:
	rc = bw_error_set(err, BW_ENOMEM, "certificate: out of memory verifying it");
out:
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(anchors, X509_free);
	return rc;
}

int bw_certs_key_matches(const char *cert_pem, const char *key_pem, struct bw_error *err)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int rc;

	rc = parse_cert_str(cert_pem, "certificate", &x, err);
	if (rc || (rc = parse_key(key_pem, "key", &key, err)))
		goto out;
	if (X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		rc = bw_error_set(err, BW_EINVAL, "key does not match the certificate");
	}
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

int bw_certs_needs_rotation(const char *cert_pem, const char *const *sans, size_t n_sans,
			    time_t now, time_t *when, char *why, size_t why_size)
{
	struct bw_error err;
	X509 *x = NULL;
	time_t nb, na, due;
	long long life;
	char text[32];
	size_t i;
	int rotate = 1;

	if (when)
		*when = now;
	bw_error_clear(&err);
	if (!cert_pem || !*cert_pem) {
		if (why && why_size)
			snprintf(why, why_size, "no certificate");
		return 1;
	}
	if (parse_cert_str(cert_pem, "certificate", &x, &err)) {
		if (why && why_size)
			snprintf(why, why_size, "%s", err.message);
		return 1;
	}
	if (asn1_time_get(X509_get0_notBefore(x), &nb) ||
	    asn1_time_get(X509_get0_notAfter(x), &na)) {
		if (why && why_size)
			snprintf(why, why_size, "certificate: bad validity times");
		goto out;
	}
	for (i = 0; i < n_sans; i++) {
		unsigned char ip[16];
		size_t iplen = sans[i] ? ip_parse(sans[i], ip) : 0;
		int has;

		if (!sans[i])
			continue;
		has = iplen ? X509_check_ip(x, ip, iplen, 0) == 1
			    : X509_check_host(x, sans[i], strlen(sans[i]), HOST_FLAGS, NULL) == 1;
		if (!has) {
			if (why && why_size)
				snprintf(why, why_size,
					 "certificate lacks the subject alt name %.*s", SHOW_MAX,
					 sans[i]);
			goto out;
		}
	}
	life = (long long)na - (long long)nb;
	if (life <= 0) {
		if (why && why_size)
			snprintf(why, why_size, "certificate: notAfter is not after notBefore");
		goto out;
	}
	due = (time_t)((long long)nb + life / 3 * 2 + life % 3 * 2 / 3);
	if (when)
		*when = due;
	rotate = now >= due;
	if (why && why_size)
		snprintf(why, why_size, "certificate %s two thirds of its lifetime at %s",
			 rotate ? "reached" : "reaches", utc_text(due, text, sizeof(text)));
out:
	ERR_clear_error();
	X509_free(x);
	return rotate;
}

/* ---- bundles and base64 ---- */

int bw_certs_bundle_join(const char *const *pems, size_t n, char **out, struct bw_error *err)
{
	STACK_OF(X509) *all = sk_X509_new_null(), *sk = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char what[48];
	size_t i, len = 0;
	int rc = 0, j, k;

	*out = NULL;
	if (!all || !b)
		goto nomem;
	for (i = 0; i < n; i++) {
		if (!pems || !pems[i] || !*pems[i])
			continue;
		snprintf(what, sizeof(what), "CA bundle entry %zu", i);
		rc = pem_len(pems[i], what, &len, err);
		if (rc || (rc = parse_certs(pems[i], len, what, &sk, err)))
			goto out;
		while (sk_X509_num(sk) > 0) {
			X509 *x = sk_X509_shift(sk);

			for (k = 0; k < sk_X509_num(all); k++) {
				if (X509_cmp(x, sk_X509_value(all, k)) == 0)
					break;
			}
			if (k < sk_X509_num(all)) {
				X509_free(x);
				continue;
			}
			if (!sk_X509_push(all, x)) {
				X509_free(x);
				goto nomem;
			}
		}
		sk_X509_free(sk);
		sk = NULL;
	}
	if (sk_X509_num(all) == 0) {
		rc = bw_error_set(err, BW_EINVAL, "CA bundle: no certificates");
		goto out;
	}
	for (j = 0; j < sk_X509_num(all); j++) {
		if (!PEM_write_bio_X509(b, sk_X509_value(all, j)))
			goto nomem;
	}
	if (BIO_pending(b) > (int)BW_CERTS_PEM_MAX) {
		rc = bw_error_set(err, BW_ETOOBIG, "CA bundle: more than the limit of %u bytes",
				  (unsigned)BW_CERTS_PEM_MAX);
		goto out;
	}
	*out = bio_string(b);
	if (!*out)
		goto nomem;
	goto out;
nomem:
	rc = bw_error_set(err, BW_ENOMEM, "CA bundle: out of memory");
out:
	ERR_clear_error();
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(all, X509_free);
	return rc;
}

int bw_certs_base64_encode(const void *data, size_t len, char **out, struct bw_error *err)
{
	size_t out_len;
	char *p;
	int got;

	*out = NULL;
	if (len > (size_t)BW_CERTS_BASE64_MAX / 4 * 3)
		return bw_error_set(err, BW_ETOOBIG,
				    "base64: %zu bytes encode to more than the limit of %u", len,
				    (unsigned)BW_CERTS_BASE64_MAX);
	if (!data && len)
		return bw_error_set(err, BW_EINVAL, "base64: no data");
	out_len = (len + 2) / 3 * 4;
	p = malloc(out_len + 1);
	if (!p)
		return bw_error_set(err, BW_ENOMEM, "base64: out of memory");
	got = len ? EVP_EncodeBlock((unsigned char *)p, data, (int)len) : 0;
	if (got < 0 || (size_t)got != out_len) {
		free(p);
		return bw_error_set(err, BW_ENOMEM, "base64: encoding failed");
	}
	p[out_len] = '\0';
	*out = p;
	return 0;
}

static int b64_char(int c)
{
	return is_alnum(c) || c == '+' || c == '/';
}

static int is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int bw_certs_base64_decode(const char *in, size_t len, char **out, size_t *out_len,
			   struct bw_error *err)
{
	unsigned char *clean = NULL, *dec = NULL;
	size_t n = 0, pad = 0, i;
	int got, rc = 0;

	*out = NULL;
	*out_len = 0;
	if (len > BW_CERTS_BASE64_MAX)
		return bw_error_set(err, BW_ETOOBIG, "base64: more than the limit of %u bytes",
				    (unsigned)BW_CERTS_BASE64_MAX);
	if (!in && len)
		return bw_error_set(err, BW_EINVAL, "base64: no data");
	clean = malloc(len + 1);
	if (!clean)
		return bw_error_set(err, BW_ENOMEM, "base64: out of memory");
	for (i = 0; i < len; i++) {
		int c = (unsigned char)in[i];

		if (is_space(c))
			continue;
		if (c == '=') {
			pad++;
		} else if (!b64_char(c) || pad) {
			rc = bw_error_set(err, BW_EINVAL,
					  "base64: unexpected character at offset %zu", i);
			goto out;
		}
		clean[n++] = (unsigned char)c;
	}
	if (n % 4 != 0 || pad > 2) {
		rc = bw_error_set(err, BW_EINVAL, "base64: bad length or padding");
		goto out;
	}
	dec = malloc(n / 4 * 3 + 1);
	if (!dec) {
		rc = bw_error_set(err, BW_ENOMEM, "base64: out of memory");
		goto out;
	}
	got = n ? EVP_DecodeBlock(dec, clean, (int)n) : 0;
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (got < 0 || (size_t)got < pad) {
		rc = bw_error_set(err, BW_EINVAL, "base64: cannot decode");
		goto out;
	}
	dec[(size_t)got - pad] = '\0';
	*out_len = (size_t)got - pad;
	*out = (char *)dec;
	dec = NULL;
out:
	free(clean);
	free(dec);
	return rc;
}

/* ---- files ---- */

int bw_certs_load_files(const char *cert_path, const char *key_path, struct bw_certs_pair *out,
			struct timespec *cert_mtime, struct timespec *key_mtime,
			struct bw_error *err)
{
	struct bw_certs_pair pair = {NULL, NULL};
	struct timespec cm, km;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	char what[600];
	int rc;

	out->cert_pem = NULL;
	out->key_pem = NULL;
	rc = bw_file_read(cert_path, "certificate file", BW_CERTS_PEM_MAX, BW_FILE_REGULAR_ONLY,
			  &pair.cert_pem, NULL, &cm, err);
	if (rc || (rc = bw_file_read(key_path, "key file", BW_CERTS_PEM_MAX,
				     BW_FILE_REGULAR_ONLY | BW_FILE_SECRET, &pair.key_pem, NULL,
				     &km, err)))
		goto out;
	snprintf(what, sizeof(what), "certificate file %s", cert_path);
	rc = parse_cert_str(pair.cert_pem, what, &x, err);
	if (rc)
		goto out;
	snprintf(what, sizeof(what), "key file %s", key_path);
	rc = parse_key(pair.key_pem, what, &key, err);
	if (rc)
		goto out;
	if (X509_check_private_key(x, key) != 1) {
		ERR_clear_error();
		rc = bw_error_set(err, BW_EINVAL, "%s and %s: key does not match the certificate",
				  cert_path, key_path);
		goto out;
	}
	*out = pair;
	pair.cert_pem = NULL;
	pair.key_pem = NULL;
	if (cert_mtime)
		*cert_mtime = cm;
	if (key_mtime)
		*key_mtime = km;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	bw_certs_pair_release(&pair);
	return rc;
}

static int mtime_differs(const char *path, const struct timespec *t)
{
	struct stat st;

	if (!path || !t || stat(path, &st) < 0)
		return 1;
	return st.st_mtim.tv_sec != t->tv_sec || st.st_mtim.tv_nsec != t->tv_nsec;
}

int bw_certs_files_changed(const char *cert_path, const char *key_path,
			   const struct timespec *cert_mtime, const struct timespec *key_mtime)
{
	return mtime_differs(cert_path, cert_mtime) || mtime_differs(key_path, key_mtime);
}
