/*
 * The webhook's certificates, with OpenSSL 3: a CA of its own, a serving
 * certificate signed by it, inspection and verification, the rotation rule,
 * caBundle and base64 helpers, and file loading for cert-manager users.
 *
 *   struct bw_certs_pair ca, srv;
 *   const char *sans[] = {"breakwater-webhook.breakwater-system.svc",
 *                         "breakwater-webhook.breakwater-system.svc.cluster.local",
 *                         "127.0.0.1"};
 *   time_t now = time(NULL), when;
 *
 *   bw_certs_make_ca("breakwater-webhook-ca", 0, now, &ca, &err);
 *   bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, 3, 0, now, &srv, &err);
 *   ...
 *   if (bw_certs_needs_rotation(srv.cert_pem, sans, 3, time(NULL), &when, NULL, 0))
 *           make a new serving certificate;
 *
 * Keys are ECDSA P-256, signatures ECDSA with SHA-256, serial numbers 128
 * random bits. Certificates and keys travel as PEM text: certificates as
 * "CERTIFICATE" blocks, private keys as PKCS#8 "PRIVATE KEY" blocks (reading
 * also accepts "EC PRIVATE KEY" and other unencrypted forms OpenSSL knows;
 * encrypted keys are refused, never prompted for).
 *
 * Both kinds of certificate start BW_CERTS_BACKDATE seconds (or a tenth of
 * their validity, when that is less) before the `now`
 * they are made at, so a peer whose clock is a little behind still accepts
 * them; the lifetime the rotation rule sees includes those minutes.
 *
 * A CA rotation without a failed admission: make the new CA, publish a
 * caBundle that holds the new CA and the old one (bw_certs_bundle_join), then
 * switch the serving certificate to one signed by the new CA, and drop the old
 * CA from the bundle once it has expired.
 *
 * Errors: functions that can fail return 0 or a negative BW_E* code and fill
 * *err (which may be NULL). Malformed input is BW_EINVAL, input over a size
 * cap BW_ETOOBIG, a file that cannot be read BW_EIO, an allocation or OpenSSL
 * failure BW_ENOMEM. Messages name the thing at fault ("certificate: not
 * PEM", "key does not match the certificate").
 *
 * Ownership: every char * this module returns is malloc'd and the caller's:
 * free() it, or release the struct that holds it. Private keys should go back
 * through bw_certs_pair_release() or bw_certs_free_secret(), which overwrite
 * them before freeing. Arguments are borrowed and never kept.
 * Thread-safety: no global state; every function may be called from any
 * thread at the same time (OpenSSL 3 initialises itself once, thread-safely,
 * and its error queue is per thread).
 */
#ifndef BW_CERTS_H
#define BW_CERTS_H

#include <stddef.h>
#include <time.h>

#include "error.h"

#define BW_CERTS_CA_VALIDITY	  (10L * 365 * 24 * 3600) /* default CA lifetime: 10 years */
#define BW_CERTS_SERVING_VALIDITY (365L * 24 * 3600)	  /* default serving lifetime: 1 year */
#define BW_CERTS_BACKDATE	  (5 * 60)    /* notBefore this many seconds before `now` */
#define BW_CERTS_PEM_MAX	  (1u << 20)  /* cap on any PEM input and on each file read */
#define BW_CERTS_BASE64_MAX	  (64u << 20) /* cap on base64 input and output */

/* Key usage bits, as struct bw_certs_info reports them (the X.509 bit values). */
#define BW_CERTS_KU_DIGITAL_SIGNATURE 0x0080
#define BW_CERTS_KU_KEY_ENCIPHERMENT  0x0020
#define BW_CERTS_KU_KEY_CERT_SIGN     0x0004
#define BW_CERTS_KU_CRL_SIGN	      0x0002

/* A certificate and its private key, as PEM text. Both strings are malloc'd
 * and owned by the struct; a caller may take one (set the field to NULL). */
struct bw_certs_pair {
	char *cert_pem; /* "CERTIFICATE" block(s) */
	char *key_pem;	/* PKCS#8 "PRIVATE KEY" block: a secret */
};

/* Frees both strings (overwriting the key first) and zeroes *pair. NULL-safe;
 * a zeroed struct may be released. */
void bw_certs_pair_release(struct bw_certs_pair *pair);

/* Overwrites a NUL-terminated secret and frees it. NULL-safe. */
void bw_certs_free_secret(char *secret);

/*
 * Makes a CA: a new P-256 key and a self-signed X.509 v3 certificate with
 * subject and issuer CN=cn, basicConstraints critical CA:TRUE pathlen:0,
 * keyUsage critical keyCertSign+cRLSign and a subjectKeyIdentifier. It is
 * valid from now - the backdate (above) to now + validity seconds (validity <= 0:
 * BW_CERTS_CA_VALIDITY). cn must be 1 to 64 bytes of printable text.
 * On success *out holds the new strings; on failure it is zeroed.
 */
int bw_certs_make_ca(const char *cn, long validity, time_t now, struct bw_certs_pair *out,
		     struct bw_error *err);

/*
 * Makes a serving certificate signed by the CA given as PEM certificate and
 * key: a new P-256 key, subjectAltName with sans[0..n_sans-1] (each an IPv4
 * or IPv6 address, which becomes an IP SAN, or a DNS name, "*." wildcards
 * allowed), extendedKeyUsage serverAuth, keyUsage critical digitalSignature,
 * basicConstraints CA:FALSE, subject and authority key identifiers. The
 * subject is CN=<the first DNS name> (the first IP when there is no DNS name;
 * no CN, and a critical subjectAltName, when that name is over 64 bytes).
 * Valid from now - the backdate (above) to now + validity (validity <= 0:
 * BW_CERTS_SERVING_VALIDITY), but never past the CA's notAfter.
 * Refuses a CA certificate that is not a CA, a key that does not match it,
 * an empty SAN list and a SAN that is neither an address nor a DNS name.
 * On success *out holds the new strings; on failure it is zeroed.
 */
int bw_certs_make_serving(const char *ca_cert_pem, const char *ca_key_pem, const char *const *sans,
			  size_t n_sans, long validity, time_t now, struct bw_certs_pair *out,
			  struct bw_error *err);

/* What bw_certs_inspect() reads from a certificate. The struct owns every
 * string and array in it; bw_certs_info_release() frees them. */
struct bw_certs_info {
	time_t not_before;
	time_t not_after;
	int is_ca;	    /* basicConstraints CA:TRUE (X509_check_ca) */
	long path_len;	    /* basicConstraints pathlen, -1 when absent */
	unsigned key_usage; /* BW_CERTS_KU_* bits; 0 when there is no keyUsage */
	int server_auth;    /* extendedKeyUsage lists serverAuth */
	int self_signed;    /* issuer == subject and the signature verifies with its own key */
	char *subject_cn;   /* the subject's CN, or NULL when it has none */
	char *issuer_cn;    /* the issuer's CN, or NULL */
	char *serial_hex;   /* the serial number in hexadecimal, upper case */
	char **dns;	    /* DNS SANs, in certificate order */
	size_t n_dns;
	char **ips; /* IP SANs as text ("127.0.0.1", "::1"), in certificate order */
	size_t n_ips;
};

/*
 * Parses the first certificate of len bytes of PEM text (the input may hold
 * NUL bytes and need not be NUL-terminated) and fills *info. Errors:
 * BW_EINVAL "certificate: not PEM" (no PEM block at all), "certificate: no
 * CERTIFICATE block", "certificate: cannot parse: <reason>"; BW_ETOOBIG over
 * BW_CERTS_PEM_MAX. On failure *info is zeroed (and may be released).
 */
int bw_certs_inspect(const char *pem, size_t len, struct bw_certs_info *info, struct bw_error *err);

/* Frees what *info holds and zeroes it. NULL-safe. */
void bw_certs_info_release(struct bw_certs_info *info);

/*
 * 0 when the first certificate of cert_pem was signed by the first
 * certificate of ca_cert_pem: the issuer name is the CA's subject and the
 * signature verifies with the CA's public key (X509_verify). No time or
 * purpose check: see bw_certs_verify(). BW_EINVAL "certificate is not signed
 * by CA \"<cn>\"" otherwise, or when either does not parse.
 */
int bw_certs_signed_by(const char *cert_pem, const char *ca_cert_pem, struct bw_error *err);

/*
 * A full chain verification, as a TLS client (the API server) checks a
 * serving certificate: the first certificate of cert_pem is the leaf, any
 * further ones are untrusted intermediates, and every certificate of
 * bundle_pem is a trust anchor. Checks signatures, validity at time `at`, CA
 * flags and path length, extendedKeyUsage serverAuth (purpose sslserver) and,
 * when host is not NULL, that a SAN covers host (a DNS name or an IP address;
 * the subject CN is never used). 0 when it verifies; BW_EINVAL
 * "certificate does not verify: <OpenSSL's reason>" when not.
 */
int bw_certs_verify(const char *cert_pem, const char *bundle_pem, time_t at, const char *host,
		    struct bw_error *err);

/*
 * 0 when key_pem is the private key of the first certificate of cert_pem
 * (X509_check_private_key); BW_EINVAL "key does not match the certificate"
 * when not, "key: not PEM" / "key: cannot parse: ..." for a bad key.
 */
int bw_certs_key_matches(const char *cert_pem, const char *key_pem, struct bw_error *err);

/*
 * The rotation rule. Returns 1 when the certificate should be replaced now:
 * cert_pem is NULL or empty, does not parse, lacks one of sans[0..n_sans-1]
 * (DNS names matched as a TLS client would, wildcards included, and IP
 * addresses), or now is at or past notBefore + 2/3 (notAfter - notBefore).
 * Returns 0 otherwise. *when (may be NULL) gets the moment the rule fires:
 * that two-thirds point for a usable certificate, `now` for an unusable one.
 * why (may be NULL) gets a one-line reason, cut at why_size bytes. Never fails.
 */
int bw_certs_needs_rotation(const char *cert_pem, const char *const *sans, size_t n_sans,
			    time_t now, time_t *when, char *why, size_t why_size);

/*
 * Joins the certificates of pems[0..n-1] into one caBundle: each entry may
 * hold several PEM certificates, NULL or empty entries are skipped,
 * certificates already in the bundle are not repeated, and the output is
 * normalised PEM in input order. *out is malloc'd (caller frees). BW_EINVAL
 * for an entry with no certificate or one that does not parse, or when the
 * bundle would be empty; BW_ETOOBIG over BW_CERTS_PEM_MAX.
 */
int bw_certs_bundle_join(const char *const *pems, size_t n, char **out, struct bw_error *err);

/*
 * Standard padded base64 of len bytes, with no newlines (EVP_EncodeBlock):
 * the form of caBundle and of Secret data. *out is a malloc'd NUL-terminated
 * string (caller frees). BW_ETOOBIG when the output would pass
 * BW_CERTS_BASE64_MAX.
 */
int bw_certs_base64_encode(const void *data, size_t len, char **out, struct bw_error *err);

/*
 * Decodes standard padded base64 (whitespace ignored) into a malloc'd buffer
 * with a NUL after the last byte, so text decodes to a string; *out_len is
 * the decoded length. Caller frees *out. BW_EINVAL for anything but base64.
 */
int bw_certs_base64_decode(const char *in, size_t len, char **out, size_t *out_len,
			   struct bw_error *err);

/*
 * For cert-manager users: reads a certificate file and a key file (regular
 * files, symbolic links followed, at most BW_CERTS_PEM_MAX bytes each) and
 * checks that the certificate parses and the key matches it, so a caller
 * never swaps in half of an update. On success *out holds the texts and
 * cert_mtime, key_mtime (either may be NULL) the files' modification times,
 * taken from the files that were read; keep them for bw_certs_files_changed().
 * On failure *out is zeroed. Errors: BW_EIO, BW_ETOOBIG, BW_EINVAL, each
 * naming the path.
 */
int bw_certs_load_files(const char *cert_path, const char *key_path, struct bw_certs_pair *out,
			struct timespec *cert_mtime, struct timespec *key_mtime,
			struct bw_error *err);

/* 1 when either file's modification time differs from the one given (or the
 * file cannot be stat'ed: a reload then reports why), else 0. */
int bw_certs_files_changed(const char *cert_path, const char *key_path,
			   const struct timespec *cert_mtime, const struct timespec *key_mtime);

#endif
