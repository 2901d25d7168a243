/*
 * Unit tests for lib/certs.c: a CA and a serving certificate, their
 * extensions, chain verification in time (a `now` argument, never sleeping),
 * key matching, the rotation rule, malformed input, CA bundles, base64, file
 * loading, several threads at once, and what the openssl command says of the
 * certificates. Runs from the repository root.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "check.h"

#define CA_CN	"breakwater-webhook-ca"
#define SVC	"breakwater-webhook.breakwater-system.svc"
#define SVC_FQ	"breakwater-webhook.breakwater-system.svc.cluster.local"
#define N_SANS	3
#define YEAR	(365L * 24 * 3600)
#define THREADS 4

static const char *const sans[N_SANS] = {SVC, SVC_FQ, "127.0.0.1"};
static char tmp_dir[] = "/tmp/bw-test-certs-XXXXXX";
static time_t now;

static int has(const char *s, const char *sub)
{
	return s && sub && strstr(s, sub) != NULL;
}

static int count(const char *s, const char *sub)
{
	int n = 0;

	while (s && (s = strstr(s, sub)) != NULL) {
		n++;
		s += strlen(sub);
	}
	return n;
}

static const char *tmp_path(const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", tmp_dir, name);
	return buf;
}

static int put(const char *name, const char *text)
{
	char path[512];
	FILE *f = fopen(tmp_path(name, path, sizeof(path)), "wb");
	int ok;

	if (!f)
		return -1;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Sets a file's modification time to a fixed moment in the past. */
static void age(const char *name)
{
	struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
	char path[512];

	utimensat(AT_FDCWD, tmp_path(name, path, sizeof(path)), times, 0);
}

/* Runs a shell command and returns its output (stdout and stderr), or NULL. */
static char *run(const char *cmd)
{
	char full[2048], *buf = NULL, *grown;
	size_t len = 0, size = 0, got;
	char chunk[4096];
	FILE *p;

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	p = popen(full, "r");
	if (!p)
		return NULL;
	while ((got = fread(chunk, 1, sizeof(chunk), p)) > 0) {
		if (len + got + 1 > size) {
			size = (len + got + 1) * 2;
			grown = realloc(buf, size);
			if (!grown)
				break;
			buf = grown;
		}
		memcpy(buf + len, chunk, got);
		len += got;
		buf[len] = '\0';
	}
	pclose(p);
	return buf;
}

static void test_ca(void)
{
	struct bw_certs_pair ca, ca2;
	struct bw_certs_info info;
	struct bw_error err;

	bw_error_clear(&err);
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca, &err), "make a CA: %s", err.message);
	CHECK(has(ca.cert_pem, "-----BEGIN CERTIFICATE-----"), "CA certificate is PEM");
	CHECK(has(ca.key_pem, "-----BEGIN PRIVATE KEY-----"), "CA key is PKCS#8 PEM");
	CHECK_INT(0, bw_certs_inspect(ca.cert_pem, strlen(ca.cert_pem), &info, &err),
		  "inspect the CA: %s", err.message);
	CHECK(info.is_ca, "CA is a CA");
	CHECK_INT(0, info.path_len, "CA pathlen 0");
	CHECK_INT(BW_CERTS_KU_KEY_CERT_SIGN | BW_CERTS_KU_CRL_SIGN, info.key_usage,
		  "CA key usage keyCertSign + cRLSign");
	CHECK(!info.server_auth, "CA has no extendedKeyUsage serverAuth");
	CHECK(info.self_signed, "CA is self-signed");
	CHECK_STR(CA_CN, info.subject_cn, "CA subject CN");
	CHECK_STR(CA_CN, info.issuer_cn, "CA issuer CN");
	CHECK_INT(now - BW_CERTS_BACKDATE, info.not_before, "CA notBefore backdated");
	CHECK_INT(now + BW_CERTS_CA_VALIDITY, info.not_after, "CA notAfter 10 years on");
	CHECK_INT(0, info.n_dns + info.n_ips, "CA has no SANs");
	CHECK(info.serial_hex && strlen(info.serial_hex) >= 24 && strlen(info.serial_hex) <= 34,
	      "CA serial is about 128 bits (%s)", info.serial_hex ? info.serial_hex : "none");
	CHECK_INT(0, bw_certs_key_matches(ca.cert_pem, ca.key_pem, &err), "CA key matches");
	CHECK_INT(0, bw_certs_signed_by(ca.cert_pem, ca.cert_pem, &err), "CA signed by itself");

	CHECK_INT(0, bw_certs_make_ca(CA_CN, 3600, now, &ca2, &err), "make a second CA");
	{
		struct bw_certs_info info2;

		CHECK_INT(0, bw_certs_inspect(ca2.cert_pem, strlen(ca2.cert_pem), &info2, &err),
			  "inspect the second CA");
		CHECK(info.serial_hex && info2.serial_hex &&
			  strcmp(info.serial_hex, info2.serial_hex) != 0,
		      "two CAs have different serials");
		CHECK_INT(now + 3600, info2.not_after, "CA validity given in seconds");
		bw_certs_info_release(&info2);
	}
	CHECK(strcmp(ca.key_pem, ca2.key_pem) != 0, "two CAs have different keys");
	CHECK_INT(BW_EINVAL, bw_certs_key_matches(ca.cert_pem, ca2.key_pem, &err),
		  "another CA's key does not match");
	CHECK_STR("key does not match the certificate", err.message, "key mismatch message");
	bw_certs_info_release(&info);
	bw_certs_pair_release(&ca);
	bw_certs_pair_release(&ca2);
	CHECK(ca.cert_pem == NULL && ca.key_pem == NULL, "release zeroes the pair");
	bw_certs_pair_release(&ca);
}

static void test_serving(void)
{
	struct bw_certs_pair ca, srv, ca_b, srv_b, srv_short, srv6;
	struct bw_certs_info info;
	struct bw_error err;
	const char *v6[] = {"::1", "webhook.test"};
	size_t i;

	bw_error_clear(&err);
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca, &err), "make a CA");
	CHECK_INT(0,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 0, now, &srv, &err),
		  "make a serving certificate: %s", err.message);
	CHECK_INT(0, bw_certs_inspect(srv.cert_pem, strlen(srv.cert_pem), &info, &err),
		  "inspect it: %s", err.message);
	CHECK(!info.is_ca, "serving certificate is not a CA");
	CHECK_INT(BW_CERTS_KU_DIGITAL_SIGNATURE, info.key_usage, "key usage digitalSignature");
	CHECK(info.server_auth, "extendedKeyUsage serverAuth");
	CHECK(!info.self_signed, "not self-signed");
	CHECK_STR(SVC, info.subject_cn, "CN is the first DNS name");
	CHECK_STR(CA_CN, info.issuer_cn, "issuer is the CA");
	CHECK_INT(2, info.n_dns, "two DNS SANs");
	CHECK_STR(SVC, info.n_dns > 0 ? info.dns[0] : NULL, "DNS SAN 1");
	CHECK_STR(SVC_FQ, info.n_dns > 1 ? info.dns[1] : NULL, "DNS SAN 2");
	CHECK_INT(1, info.n_ips, "one IP SAN");
	CHECK_STR("127.0.0.1", info.n_ips > 0 ? info.ips[0] : NULL, "IP SAN");
	CHECK_INT(now - BW_CERTS_BACKDATE, info.not_before, "notBefore backdated for clock skew");
	CHECK_INT(now + BW_CERTS_SERVING_VALIDITY, info.not_after, "notAfter one year on");

	CHECK_INT(0, bw_certs_signed_by(srv.cert_pem, ca.cert_pem, &err), "signed by the CA: %s",
		  err.message);
	CHECK_INT(BW_EINVAL, bw_certs_signed_by(ca.cert_pem, srv.cert_pem, &err),
		  "the CA is not signed by the serving certificate");
	CHECK_INT(0, bw_certs_key_matches(srv.cert_pem, srv.key_pem, &err), "serving key matches");
	CHECK_INT(BW_EINVAL, bw_certs_key_matches(srv.cert_pem, ca.key_pem, &err),
		  "the CA key does not match the serving certificate");
	CHECK_STR("key does not match the certificate", err.message, "mismatch message");

	/* the chain, in time */
	CHECK_INT(0, bw_certs_verify(srv.cert_pem, ca.cert_pem, now, NULL, &err),
		  "chain verifies now: %s", err.message);
	for (i = 0; i < N_SANS; i++)
		CHECK_INT(0, bw_certs_verify(srv.cert_pem, ca.cert_pem, now, sans[i], &err),
			  "chain verifies for host %s: %s", sans[i], err.message);
	CHECK_INT(BW_EINVAL, bw_certs_verify(srv.cert_pem, ca.cert_pem, now, "other.svc", &err),
		  "another host name does not verify");
	CHECK(has(err.message, "does not verify") && has(err.message, "hostname mismatch"),
	      "host mismatch message: %s", err.message);
	CHECK_INT(BW_EINVAL, bw_certs_verify(srv.cert_pem, ca.cert_pem, now, "10.0.0.1", &err),
		  "another IP address does not verify");
	CHECK_INT(
	    0, bw_certs_verify(srv.cert_pem, ca.cert_pem, now - BW_CERTS_BACKDATE + 1, NULL, &err),
	    "verifies a few minutes before now (clock skew)");
	CHECK_INT(
	    BW_EINVAL,
	    bw_certs_verify(srv.cert_pem, ca.cert_pem, now - BW_CERTS_BACKDATE - 60, NULL, &err),
	    "does not verify before notBefore");
	CHECK(has(err.message, "not yet valid"), "not yet valid message: %s", err.message);
	CHECK_INT(BW_EINVAL,
		  bw_certs_verify(srv.cert_pem, ca.cert_pem, info.not_after + 1, NULL, &err),
		  "does not verify after expiry");
	CHECK(has(err.message, "expired"), "expiry message: %s", err.message);
	CHECK_INT(BW_EINVAL, bw_certs_verify(ca.cert_pem, ca.cert_pem, now, NULL, &err),
		  "the CA is not a serving certificate (purpose sslserver)");
	bw_certs_info_release(&info);

	/* a short validity, tested with `now` rather than sleeping */
	CHECK_INT(
	    0,
	    bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 60, now, &srv_short, &err),
	    "make a 60-second certificate");
	CHECK_INT(0, bw_certs_verify(srv_short.cert_pem, ca.cert_pem, now + 59, SVC, &err),
		  "short certificate verifies at +59 s");
	CHECK_INT(BW_EINVAL, bw_certs_verify(srv_short.cert_pem, ca.cert_pem, now + 61, SVC, &err),
		  "short certificate fails at +61 s");
	CHECK(has(err.message, "certificate has expired"), "message: %s", err.message);

	/* a certificate from another CA */
	CHECK_INT(0, bw_certs_make_ca("another-ca", 0, now, &ca_b, &err), "make another CA");
	CHECK_INT(
	    0,
	    bw_certs_make_serving(ca_b.cert_pem, ca_b.key_pem, sans, N_SANS, 0, now, &srv_b, &err),
	    "make a certificate from it");
	CHECK_INT(BW_EINVAL, bw_certs_verify(srv_b.cert_pem, ca.cert_pem, now, SVC, &err),
		  "a certificate from another CA does not verify");
	CHECK(has(err.message, "unable to get local issuer certificate"), "message: %s",
	      err.message);
	CHECK_INT(BW_EINVAL, bw_certs_signed_by(srv_b.cert_pem, ca.cert_pem, &err),
		  "nor is it signed by the first CA");
	CHECK_STR("certificate is not signed by CA \"" CA_CN "\"", err.message, "message");
	CHECK_INT(0, bw_certs_verify(srv_b.cert_pem, ca_b.cert_pem, now, SVC, &err),
		  "it verifies against its own CA");

	/* IPv6 and a CN that is an IP-only list's first address */
	CHECK_INT(0, bw_certs_make_serving(ca.cert_pem, ca.key_pem, v6, 2, 0, now, &srv6, &err),
		  "IPv6 SAN: %s", err.message);
	CHECK_INT(0, bw_certs_inspect(srv6.cert_pem, strlen(srv6.cert_pem), &info, &err),
		  "inspect it");
	CHECK_STR("::1", info.n_ips ? info.ips[0] : NULL, "IPv6 SAN text");
	CHECK_STR("webhook.test", info.subject_cn, "CN is the first DNS name, not the first SAN");
	CHECK_INT(0, bw_certs_verify(srv6.cert_pem, ca.cert_pem, now, "::1", &err),
		  "verifies for ::1");
	bw_certs_info_release(&info);

	/* the serving certificate never outlives its CA */
	bw_certs_pair_release(&ca_b);
	bw_certs_pair_release(&srv_b);
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 1000, now, &ca_b, &err), "make a short CA");
	CHECK_INT(
	    0,
	    bw_certs_make_serving(ca_b.cert_pem, ca_b.key_pem, sans, N_SANS, 0, now, &srv_b, &err),
	    "make a certificate from it");
	CHECK_INT(0, bw_certs_inspect(srv_b.cert_pem, strlen(srv_b.cert_pem), &info, &err),
		  "inspect it");
	CHECK_INT(now + 1000, info.not_after, "notAfter clamped to the CA's");
	bw_certs_info_release(&info);
	bw_certs_pair_release(&srv_b);
	CHECK_INT(BW_EINVAL,
		  bw_certs_make_serving(ca_b.cert_pem, ca_b.key_pem, sans, N_SANS, 0, now + 2000,
					&srv_b, &err),
		  "an expired CA signs nothing");
	CHECK(has(err.message, "CA certificate: expired"), "message: %s", err.message);

	bw_certs_pair_release(&ca);
	bw_certs_pair_release(&srv);
	bw_certs_pair_release(&ca_b);
	bw_certs_pair_release(&srv_b);
	bw_certs_pair_release(&srv_short);
	bw_certs_pair_release(&srv6);
}

static void test_rotation(void)
{
	static const int pct[] = {0, 60, 67, 90, 100, 150};
	static const int want[] = {0, 0, 1, 1, 1, 1};
	const char *extra[] = {SVC, "new-name.breakwater-system.svc"};
	const char *wild_sans[] = {"*.breakwater-system.svc"};
	const char *need_wild[] = {SVC, "anything.breakwater-system.svc"};
	const char *need_ip[] = {"127.0.0.1", "::1"};
	struct bw_certs_pair ca, srv, wild;
	struct bw_certs_info info;
	struct bw_error err;
	char why[256];
	time_t when, life, due;
	size_t i;

	bw_error_clear(&err);
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca, &err), "make a CA");
	CHECK_INT(
	    0, bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 3000, now, &srv, &err),
	    "make a serving certificate");
	CHECK_INT(0, bw_certs_inspect(srv.cert_pem, strlen(srv.cert_pem), &info, &err), "inspect");
	life = info.not_after - info.not_before;
	due = info.not_before + life * 2 / 3;
	CHECK_INT(3000 + BW_CERTS_BACKDATE, life, "lifetime includes the backdating");
	for (i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
		time_t at = info.not_before + life * pct[i] / 100;

		when = 0;
		CHECK_INT(want[i],
			  bw_certs_needs_rotation(srv.cert_pem, sans, N_SANS, at, &when, why,
						  sizeof(why)),
			  "rotation at %d%% of the lifetime: %s", pct[i], why);
		CHECK_INT(due, when, "rotation moment at %d%%", pct[i]);
	}
	CHECK_INT(0, bw_certs_needs_rotation(srv.cert_pem, sans, N_SANS, due - 1, NULL, NULL, 0),
		  "one second before two thirds: no");
	CHECK_INT(1, bw_certs_needs_rotation(srv.cert_pem, sans, N_SANS, due, NULL, NULL, 0),
		  "at exactly two thirds: yes");
	CHECK_INT(0, bw_certs_needs_rotation(srv.cert_pem, NULL, 0, now, NULL, NULL, 0),
		  "no required SANs: the time rule only");
	CHECK_INT(0, bw_certs_needs_rotation(srv.cert_pem, need_ip, 1, now, NULL, NULL, 0),
		  "a required IP SAN that is there");

	when = 0;
	CHECK_INT(1, bw_certs_needs_rotation(srv.cert_pem, extra, 2, now, &when, why, sizeof(why)),
		  "a missing SAN triggers rotation");
	CHECK(has(why, "new-name.breakwater-system.svc"), "reason names the SAN: %s", why);
	CHECK_INT(now, when, "rotate now for a missing SAN");
	CHECK_INT(1, bw_certs_needs_rotation(srv.cert_pem, need_ip, 2, now, NULL, why, sizeof(why)),
		  "a missing IP SAN triggers rotation (%s)", why);
	CHECK_INT(1, bw_certs_needs_rotation(NULL, sans, N_SANS, now, &when, why, sizeof(why)),
		  "a missing certificate triggers rotation");
	CHECK_STR("no certificate", why, "reason");
	CHECK_INT(1, bw_certs_needs_rotation("", sans, N_SANS, now, &when, NULL, 0),
		  "an empty certificate triggers rotation");
	CHECK_INT(1, bw_certs_needs_rotation("garbage", sans, N_SANS, now, &when, why, sizeof(why)),
		  "a certificate that does not parse triggers rotation");
	CHECK_STR("certificate: not PEM", why, "reason");
	CHECK_INT(now, when, "rotate now when it does not parse");
	CHECK_INT(0, bw_certs_needs_rotation(srv.cert_pem, sans, N_SANS, now, NULL, why, 8),
		  "a short reason buffer is fine");
	CHECK_INT(7, strlen(why), "reason cut to the buffer");

	/* the CA's own rotation is the same rule with no SANs */
	CHECK_INT(0, bw_certs_needs_rotation(ca.cert_pem, NULL, 0, now + 6 * YEAR, NULL, NULL, 0),
		  "CA at 60%%: keep");
	CHECK_INT(1, bw_certs_needs_rotation(ca.cert_pem, NULL, 0, now + 7 * YEAR, NULL, NULL, 0),
		  "CA at 70%%: rotate");

	/* a wildcard SAN covers a required name, as a TLS client would see it */
	CHECK_INT(0,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, wild_sans, 1, 0, now, &wild, &err),
		  "make a wildcard certificate: %s", err.message);
	CHECK_INT(0,
		  bw_certs_needs_rotation(wild.cert_pem, need_wild, 2, now, NULL, why, sizeof(why)),
		  "wildcard covers the names: %s", why);
	CHECK_INT(1,
		  bw_certs_needs_rotation(wild.cert_pem, sans, N_SANS, now, NULL, why, sizeof(why)),
		  "wildcard does not cover the FQDN or the IP: %s", why);

	bw_certs_info_release(&info);
	bw_certs_pair_release(&ca);
	bw_certs_pair_release(&srv);
	bw_certs_pair_release(&wild);
}

static void test_malformed(void)
{
	static const struct {
		const char *pem;
		const char *message;
	} cases[] = {
	    {"", "certificate: not PEM"},
	    {"hello", "certificate: not PEM"},
	    {"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
	     "certificate: no CERTIFICATE block"},
	    {"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	     "certificate: cannot parse: "},
	    {"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
	     "certificate: cannot parse: "},
	    {"-----BEGIN CERTIFICATE-----\nMIIB\n", "certificate: cannot parse: "},
	};
	const char *bad_sans[] = {"bad name!"};
	const char *empty_label[] = {"a..b"};
	const char *null_san[] = {NULL};
	struct bw_certs_pair ca, srv, out;
	struct bw_certs_info info;
	struct bw_error err;
	char long_cn[80], *trunc, *big;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bw_error_clear(&err);
		CHECK_INT(BW_EINVAL,
			  bw_certs_inspect(cases[i].pem, strlen(cases[i].pem), &info, &err),
			  "malformed case %zu refused", i);
		CHECK(strncmp(err.message, cases[i].message, strlen(cases[i].message)) == 0,
		      "malformed case %zu message: %s", i, err.message);
		CHECK(info.subject_cn == NULL && info.n_dns == 0, "malformed case %zu: info zeroed",
		      i);
		bw_certs_info_release(&info);
	}
	CHECK_INT(BW_EINVAL, bw_certs_inspect(NULL, 0, &info, &err), "NULL refused");
	CHECK_INT(BW_EINVAL, bw_certs_inspect("hello\0-----BEGIN ", 6, &info, &err),
		  "inspect honours the length");

	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca, &err), "make a CA");
	CHECK_INT(0,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 0, now, &srv, &err),
		  "make a serving certificate");

	trunc = strdup(srv.cert_pem);
	if (trunc) {
		trunc[strlen(trunc) / 2] = '\0';
		CHECK_INT(BW_EINVAL, bw_certs_inspect(trunc, strlen(trunc), &info, &err),
			  "a truncated certificate is refused");
		CHECK(has(err.message, "certificate: cannot parse"), "message: %s", err.message);
		free(trunc);
	}
	big = malloc((size_t)BW_CERTS_PEM_MAX + 2);
	if (big) {
		memset(big, 'A', (size_t)BW_CERTS_PEM_MAX + 1);
		big[BW_CERTS_PEM_MAX + 1] = '\0';
		CHECK_INT(BW_ETOOBIG, bw_certs_inspect(big, strlen(big), &info, &err),
			  "an oversized certificate is refused");
		CHECK_INT(BW_ETOOBIG, bw_certs_key_matches(srv.cert_pem, big, &err),
			  "an oversized key is refused");
		free(big);
	}

	/* keys */
	CHECK_INT(BW_EINVAL, bw_certs_key_matches(srv.cert_pem, "nonsense", &err), "bad key");
	CHECK_STR("key: not PEM", err.message, "message");
	CHECK_INT(BW_EINVAL, bw_certs_key_matches(srv.cert_pem, srv.cert_pem, &err),
		  "a certificate is not a key");
	CHECK_STR("key: no PRIVATE KEY block", err.message, "message");
	CHECK_INT(BW_EINVAL,
		  bw_certs_key_matches(
		      srv.cert_pem,
		      "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", &err),
		  "a broken key");
	CHECK(has(err.message, "key: cannot parse"), "message: %s", err.message);
	CHECK_INT(BW_EINVAL,
		  bw_certs_key_matches(srv.cert_pem,
				       "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
				       "-----END ENCRYPTED PRIVATE KEY-----\n",
				       &err),
		  "an encrypted key is refused, not prompted for");
	CHECK_STR("key: encrypted keys are not supported", err.message, "message");
	CHECK_INT(BW_EINVAL, bw_certs_key_matches(NULL, srv.key_pem, &err), "NULL certificate");
	CHECK_STR("certificate: missing", err.message, "message");

	/* bad arguments to the makers */
	CHECK_INT(BW_EINVAL, bw_certs_make_ca("", 0, now, &out, &err), "empty CN refused");
	CHECK(out.cert_pem == NULL && out.key_pem == NULL, "out zeroed on failure");
	memset(long_cn, 'a', sizeof(long_cn) - 1);
	long_cn[sizeof(long_cn) - 1] = '\0';
	CHECK_INT(BW_EINVAL, bw_certs_make_ca(long_cn, 0, now, &out, &err), "long CN refused");
	CHECK_INT(BW_EINVAL, bw_certs_make_ca("a\nb", 0, now, &out, &err), "control byte refused");
	CHECK_INT(BW_EINVAL, bw_certs_make_ca(CA_CN, 200 * YEAR, now, &out, &err),
		  "two centuries refused");
	CHECK_INT(BW_EINVAL,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, bad_sans, 1, 0, now, &out, &err),
		  "a bad SAN refused");
	CHECK_STR("serving certificate: \"bad name!\" is neither an IP address nor a DNS name",
		  err.message, "message");
	CHECK_INT(
	    BW_EINVAL,
	    bw_certs_make_serving(ca.cert_pem, ca.key_pem, empty_label, 1, 0, now, &out, &err),
	    "an empty DNS label refused");
	CHECK_INT(BW_EINVAL,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, null_san, 1, 0, now, &out, &err),
		  "a NULL SAN refused");
	CHECK_INT(BW_EINVAL,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, 0, 0, now, &out, &err),
		  "no SANs refused");
	CHECK_INT(
	    BW_EINVAL,
	    bw_certs_make_serving(srv.cert_pem, srv.key_pem, sans, N_SANS, 0, now, &out, &err),
	    "a serving certificate is not a CA");
	CHECK(has(err.message, "CA certificate: not a CA"), "message: %s", err.message);
	CHECK_INT(BW_EINVAL,
		  bw_certs_make_serving(ca.cert_pem, srv.key_pem, sans, N_SANS, 0, now, &out, &err),
		  "a CA key that does not match refused");
	CHECK_STR("CA key does not match the CA certificate", err.message, "message");
	CHECK_INT(BW_EINVAL,
		  bw_certs_make_serving("junk", ca.key_pem, sans, N_SANS, 0, now, &out, &err),
		  "a CA certificate that is not PEM");
	CHECK_STR("CA certificate: not PEM", err.message, "message");
	CHECK(out.cert_pem == NULL && out.key_pem == NULL, "out zeroed on failure");
	CHECK_INT(BW_EINVAL, bw_certs_verify(srv.cert_pem, "junk", now, NULL, &err),
		  "verify with a bundle that is not PEM");
	CHECK_STR("CA bundle: not PEM", err.message, "message");
	CHECK_INT(BW_EINVAL, bw_certs_verify(srv.cert_pem, ca.cert_pem, now, "bad host!", &err),
		  "verify with a bad host name");

	bw_certs_pair_release(&ca);
	bw_certs_pair_release(&srv);
}

static void test_bundle(void)
{
	struct bw_certs_pair ca1, ca2, ca1b, ca3, s1, s2, s1b, s3;
	struct bw_error err;
	char *bundle = NULL, *again = NULL, *b2 = NULL;
	const char *parts[5];

	bw_error_clear(&err);
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca1, &err), "make CA 1");
	CHECK_INT(0, bw_certs_make_ca("breakwater-webhook-ca-2", 0, now, &ca2, &err), "make CA 2");
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca1b, &err), "make CA 1b (same CN as 1)");
	CHECK_INT(0, bw_certs_make_ca("stranger", 0, now, &ca3, &err), "make CA 3");
	CHECK_INT(0,
		  bw_certs_make_serving(ca1.cert_pem, ca1.key_pem, sans, N_SANS, 0, now, &s1, &err),
		  "serving from CA 1");
	CHECK_INT(0,
		  bw_certs_make_serving(ca2.cert_pem, ca2.key_pem, sans, N_SANS, 0, now, &s2, &err),
		  "serving from CA 2");
	CHECK_INT(
	    0, bw_certs_make_serving(ca1b.cert_pem, ca1b.key_pem, sans, N_SANS, 0, now, &s1b, &err),
	    "serving from CA 1b");
	CHECK_INT(0,
		  bw_certs_make_serving(ca3.cert_pem, ca3.key_pem, sans, N_SANS, 0, now, &s3, &err),
		  "serving from CA 3");

	parts[0] = ca2.cert_pem; /* the new CA first, then the old one */
	parts[1] = NULL;
	parts[2] = ca1.cert_pem;
	parts[3] = "";
	parts[4] = ca2.cert_pem; /* a repeat */
	CHECK_INT(0, bw_certs_bundle_join(parts, 5, &bundle, &err), "join two CAs: %s",
		  err.message);
	CHECK_INT(2, count(bundle, "-----BEGIN CERTIFICATE-----"), "two certificates, no repeat");
	CHECK(bundle && strncmp(bundle, ca2.cert_pem, strlen(ca2.cert_pem)) == 0,
	      "input order kept");
	CHECK_INT(0, bw_certs_verify(s1.cert_pem, bundle, now, SVC, &err),
		  "the old CA's certificate verifies against the bundle: %s", err.message);
	CHECK_INT(0, bw_certs_verify(s2.cert_pem, bundle, now, SVC, &err),
		  "the new CA's certificate verifies against the bundle: %s", err.message);
	CHECK_INT(BW_EINVAL, bw_certs_verify(s3.cert_pem, bundle, now, SVC, &err),
		  "a stranger's certificate does not");
	CHECK_INT(0, bw_certs_signed_by(s2.cert_pem, bundle, &err),
		  "signed_by looks at the bundle's first certificate");
	CHECK_INT(BW_EINVAL, bw_certs_signed_by(s1.cert_pem, bundle, &err),
		  "and only at the first");

	/* joining a bundle again is stable */
	parts[0] = bundle;
	parts[1] = ca1.cert_pem;
	CHECK_INT(0, bw_certs_bundle_join(parts, 2, &again, &err), "join a bundle with its part");
	CHECK_STR(bundle, again, "same bundle");

	/* two CAs with the same name: the key identifiers tell them apart */
	parts[0] = ca1.cert_pem;
	parts[1] = ca1b.cert_pem;
	CHECK_INT(0, bw_certs_bundle_join(parts, 2, &b2, &err), "join two CAs of one name");
	CHECK_INT(0, bw_certs_verify(s1.cert_pem, b2, now, SVC, &err),
		  "same-name CA 1's certificate verifies: %s", err.message);
	CHECK_INT(0, bw_certs_verify(s1b.cert_pem, b2, now, SVC, &err),
		  "same-name CA 1b's certificate verifies: %s", err.message);
	CHECK_INT(BW_EINVAL, bw_certs_verify(s1b.cert_pem, ca1.cert_pem, now, SVC, &err),
		  "but not against CA 1 alone");

	/* a serving certificate with its chain appended still verifies (leaf first) */
	{
		char chain[16384];

		snprintf(chain, sizeof(chain), "%s%s", s1.cert_pem, ca1.cert_pem);
		CHECK_INT(0, bw_certs_verify(chain, ca1.cert_pem, now, SVC, &err),
			  "leaf + chain verifies: %s", err.message);
	}

	free(bundle);
	bundle = NULL;
	parts[0] = NULL;
	parts[1] = "";
	CHECK_INT(BW_EINVAL, bw_certs_bundle_join(parts, 2, &bundle, &err), "an empty bundle");
	CHECK_STR("CA bundle: no certificates", err.message, "message");
	CHECK(bundle == NULL, "no output on failure");
	parts[0] = ca1.cert_pem;
	parts[1] = "not a certificate";
	CHECK_INT(BW_EINVAL, bw_certs_bundle_join(parts, 2, &bundle, &err), "a bad entry");
	CHECK_STR("CA bundle entry 1: not PEM", err.message, "message");
	CHECK_INT(BW_EINVAL, bw_certs_bundle_join(NULL, 0, &bundle, &err), "no entries at all");

	free(again);
	free(b2);
	bw_certs_pair_release(&ca1);
	bw_certs_pair_release(&ca2);
	bw_certs_pair_release(&ca1b);
	bw_certs_pair_release(&ca3);
	bw_certs_pair_release(&s1);
	bw_certs_pair_release(&s2);
	bw_certs_pair_release(&s1b);
	bw_certs_pair_release(&s3);
}

static void test_base64(void)
{
	/* RFC 4648 section 10 */
	static const char *const vec[][2] = {
	    {"", ""},
	    {"f", "Zg=="},
	    {"fo", "Zm8="},
	    {"foo", "Zm9v"},
	    {"foob", "Zm9vYg=="},
	    {"fooba", "Zm9vYmE="},
	    {"foobar", "Zm9vYmFy"},
	};
	static const char *const bad[] = {"Zm9v!", "Zg=", "Zg=a", "Z===", "Zm9vY"};
	struct bw_certs_pair ca;
	struct bw_error err;
	char *enc, *dec;
	size_t i, len;
	const unsigned char bin[] = {0x00, 0xff, 0x10, 0x00, 0x80};

	bw_error_clear(&err);
	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		enc = NULL;
		dec = NULL;
		CHECK_INT(0, bw_certs_base64_encode(vec[i][0], strlen(vec[i][0]), &enc, &err),
			  "encode \"%s\"", vec[i][0]);
		CHECK_STR(vec[i][1], enc, "base64 of \"%s\"", vec[i][0]);
		CHECK_INT(0, bw_certs_base64_decode(vec[i][1], strlen(vec[i][1]), &dec, &len, &err),
			  "decode \"%s\"", vec[i][1]);
		CHECK_STR(vec[i][0], dec, "decoded \"%s\"", vec[i][1]);
		CHECK_INT(strlen(vec[i][0]), len, "decoded length of \"%s\"", vec[i][1]);
		free(enc);
		free(dec);
	}
	CHECK_INT(0, bw_certs_base64_decode("Zm9v\nYmFy\n", 10, &dec, &len, &err),
		  "whitespace ignored");
	CHECK_STR("foobar", dec, "decoded");
	free(dec);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(BW_EINVAL,
			  bw_certs_base64_decode(bad[i], strlen(bad[i]), &dec, &len, &err),
			  "\"%s\" is not base64", bad[i]);
		CHECK(dec == NULL, "no output for \"%s\"", bad[i]);
	}
	CHECK_INT(0, bw_certs_base64_encode(bin, sizeof(bin), &enc, &err), "encode binary");
	CHECK_STR("AP8QAIA=", enc, "binary vector");
	CHECK_INT(0, bw_certs_base64_decode(enc, strlen(enc), &dec, &len, &err), "decode binary");
	CHECK(len == sizeof(bin) && dec && memcmp(dec, bin, len) == 0, "binary round trip");
	free(enc);
	free(dec);

	/* a caBundle: one line, no newlines, round trips */
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca, &err), "make a CA");
	CHECK_INT(0, bw_certs_base64_encode(ca.cert_pem, strlen(ca.cert_pem), &enc, &err),
		  "encode a PEM certificate");
	CHECK(enc && !strchr(enc, '\n') && strlen(enc) > 64, "no newlines in a long encoding");
	CHECK_INT(0, bw_certs_base64_decode(enc, strlen(enc), &dec, &len, &err), "decode it");
	CHECK_STR(ca.cert_pem, dec, "PEM round trip");
	free(enc);
	free(dec);
	bw_certs_pair_release(&ca);
}

static void test_files(void)
{
	struct bw_certs_pair ca, srv, other, got;
	struct timespec cm, km;
	struct bw_error err;
	char cpath[512], kpath[512], path[512];
	FILE *f;

	bw_error_clear(&err);
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca, &err), "make a CA");
	CHECK_INT(0,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 0, now, &srv, &err),
		  "make a serving certificate");
	CHECK_INT(
	    0, bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 0, now, &other, &err),
	    "make another");
	tmp_path("tls.crt", cpath, sizeof(cpath));
	tmp_path("tls.key", kpath, sizeof(kpath));
	CHECK(put("tls.crt", srv.cert_pem) == 0 && put("tls.key", srv.key_pem) == 0,
	      "write the files");
	age("tls.crt");
	age("tls.key");

	CHECK_INT(0, bw_certs_load_files(cpath, kpath, &got, &cm, &km, &err), "load them: %s",
		  err.message);
	CHECK_STR(srv.cert_pem, got.cert_pem, "certificate text");
	CHECK_STR(srv.key_pem, got.key_pem, "key text");
	CHECK_INT(1000000000, cm.tv_sec, "certificate mtime");
	CHECK_INT(1000000000, km.tv_sec, "key mtime");
	CHECK_INT(0, bw_certs_files_changed(cpath, kpath, &cm, &km), "not changed");
	bw_certs_pair_release(&got);

	/* half an update: a new key with the old certificate */
	CHECK(put("tls.key", other.key_pem) == 0, "replace the key");
	CHECK_INT(1, bw_certs_files_changed(cpath, kpath, &cm, &km), "changed");
	CHECK_INT(BW_EINVAL, bw_certs_load_files(cpath, kpath, &got, NULL, NULL, &err),
		  "a key that does not match is refused");
	CHECK(has(err.message, "key does not match the certificate") && has(err.message, cpath),
	      "message: %s", err.message);
	CHECK(got.cert_pem == NULL && got.key_pem == NULL, "out zeroed on failure");
	CHECK(put("tls.crt", other.cert_pem) == 0, "then the certificate");
	CHECK_INT(0, bw_certs_load_files(cpath, kpath, &got, &cm, NULL, &err), "reload: %s",
		  err.message);
	CHECK_STR(other.cert_pem, got.cert_pem, "the new certificate");
	bw_certs_pair_release(&got);

	CHECK_INT(BW_EIO,
		  bw_certs_load_files(tmp_path("missing.crt", path, sizeof(path)), kpath, &got,
				      NULL, NULL, &err),
		  "a missing file");
	CHECK(has(err.message, "missing.crt") && has(err.message, "No such file"), "message: %s",
	      err.message);
	CHECK_INT(1, bw_certs_files_changed(path, kpath, &cm, &km), "a missing file is a change");
	CHECK_INT(BW_EIO, bw_certs_load_files(tmp_dir, kpath, &got, NULL, NULL, &err),
		  "a folder is not a file");
	f = fopen(tmp_path("big.crt", path, sizeof(path)), "wb");
	if (f) {
		static char block[4096];
		int i;

		memset(block, 'A', sizeof(block));
		for (i = 0; i < (int)(BW_CERTS_PEM_MAX / sizeof(block)); i++)
			fwrite(block, 1, sizeof(block), f);
		fputc('\n', f);
		fclose(f);
	}
	CHECK_INT(BW_ETOOBIG, bw_certs_load_files(path, kpath, &got, NULL, NULL, &err),
		  "a file over 1 MiB");
	CHECK(has(err.message, "limit"), "message: %s", err.message);
	CHECK(put("junk.crt", "not a certificate\n") == 0, "write junk");
	CHECK_INT(BW_EINVAL,
		  bw_certs_load_files(tmp_path("junk.crt", path, sizeof(path)), kpath, &got, NULL,
				      NULL, &err),
		  "a file that is not a certificate");
	CHECK(has(err.message, "certificate file ") && has(err.message, "junk.crt: not PEM"),
	      "message: %s", err.message);
	CHECK_INT(BW_EINVAL,
		  bw_certs_load_files(cpath, tmp_path("junk.crt", path, sizeof(path)), &got, NULL,
				      NULL, &err),
		  "a file that is not a key");
	CHECK(has(err.message, "key file ") && has(err.message, "junk.crt: not PEM"), "message: %s",
	      err.message);

	bw_certs_pair_release(&ca);
	bw_certs_pair_release(&srv);
	bw_certs_pair_release(&other);
}

/* What the openssl command makes of the certificates. */
static void test_openssl_cli(void)
{
	struct bw_certs_pair ca, srv;
	struct bw_error err;
	char cmd[1536], ca_path[512], crt_path[512], key_path[512], *out;

	bw_error_clear(&err);
	out = run("openssl version");
	if (!has(out, "OpenSSL")) {
		printf("# openssl command not found: skipping its checks\n");
		free(out);
		return;
	}
	free(out);
	CHECK_INT(0, bw_certs_make_ca(CA_CN, 0, now, &ca, &err), "make a CA");
	CHECK_INT(0,
		  bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 0, now, &srv, &err),
		  "make a serving certificate");
	CHECK(put("ca.crt", ca.cert_pem) == 0 && put("srv.crt", srv.cert_pem) == 0 &&
		  put("srv.key", srv.key_pem) == 0,
	      "write the files");
	tmp_path("ca.crt", ca_path, sizeof(ca_path));
	tmp_path("srv.crt", crt_path, sizeof(crt_path));
	tmp_path("srv.key", key_path, sizeof(key_path));

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -text -in '%s'", ca_path);
	out = run(cmd);
	CHECK(has(out, "Version: 3 (0x2)"), "CA: X.509 v3");
	CHECK(has(out, "Subject: CN = " CA_CN), "CA: subject");
	CHECK(has(out, "ASN1 OID: prime256v1"), "CA: P-256 key");
	CHECK(has(out, "ecdsa-with-SHA256"), "CA: ECDSA with SHA-256");
	CHECK(has(out, "X509v3 Basic Constraints: critical") && has(out, "CA:TRUE, pathlen:0"),
	      "CA: basicConstraints critical CA:TRUE pathlen:0");
	CHECK(has(out, "X509v3 Key Usage: critical") && has(out, "Certificate Sign, CRL Sign"),
	      "CA: keyUsage critical keyCertSign cRLSign");
	CHECK(has(out, "X509v3 Subject Key Identifier"), "CA: subjectKeyIdentifier");
	free(out);

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -text -in '%s'", crt_path);
	out = run(cmd);
	CHECK(has(out, "Issuer: CN = " CA_CN), "serving: issuer");
	CHECK(has(out, "Subject: CN = " SVC), "serving: subject");
	CHECK(has(out, "DNS:" SVC ", DNS:" SVC_FQ ", IP Address:127.0.0.1"), "serving: SANs");
	CHECK(has(out, "TLS Web Server Authentication"), "serving: serverAuth");
	CHECK(has(out, "X509v3 Key Usage: critical") && has(out, "Digital Signature"),
	      "serving: keyUsage critical digitalSignature");
	CHECK(has(out, "X509v3 Authority Key Identifier"), "serving: authorityKeyIdentifier");
	CHECK(has(out, "CA:FALSE"), "serving: CA:FALSE");
	free(out);

	snprintf(cmd, sizeof(cmd),
		 "openssl verify -x509_strict -purpose sslserver -verify_hostname '%s' "
		 "-CAfile '%s' '%s'",
		 SVC_FQ, ca_path, crt_path);
	out = run(cmd);
	CHECK(has(out, ": OK"), "openssl verify -x509_strict: %s", out ? out : "(nothing)");
	free(out);
	snprintf(cmd, sizeof(cmd),
		 "openssl verify -x509_strict -verify_ip 127.0.0.1 -CAfile '%s' '%s'", ca_path,
		 crt_path);
	out = run(cmd);
	CHECK(has(out, ": OK"), "openssl verify -verify_ip 127.0.0.1");
	free(out);
	snprintf(cmd, sizeof(cmd), "openssl verify -attime %lld -CAfile '%s' '%s'",
		 (long long)now + 2 * YEAR, ca_path, crt_path);
	out = run(cmd);
	CHECK(has(out, "certificate has expired"), "openssl verify two years on: expired");
	free(out);
	snprintf(cmd, sizeof(cmd), "openssl pkey -noout -text -in '%s'", key_path);
	out = run(cmd);
	CHECK(has(out, "Private-Key: (256 bit") && has(out, "prime256v1"), "key: P-256");
	free(out);

	bw_certs_pair_release(&ca);
	bw_certs_pair_release(&srv);
}

struct worker {
	int failures;
	char message[512];
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct bw_certs_pair ca, srv;
	struct bw_error err;
	int i;

	for (i = 0; i < 5; i++) {
		bw_error_clear(&err);
		if (bw_certs_make_ca(CA_CN, 0, now, &ca, &err) ||
		    bw_certs_make_serving(ca.cert_pem, ca.key_pem, sans, N_SANS, 0, now, &srv,
					  &err)) {
			w->failures++;
			snprintf(w->message, sizeof(w->message), "%s", err.message);
			bw_certs_pair_release(&ca);
			continue;
		}
		if (bw_certs_verify(srv.cert_pem, ca.cert_pem, now, SVC, &err) ||
		    bw_certs_key_matches(srv.cert_pem, srv.key_pem, &err) ||
		    bw_certs_verify(srv.cert_pem, ca.cert_pem, now + 2 * YEAR, SVC, &err) == 0) {
			w->failures++;
			snprintf(w->message, sizeof(w->message), "%s", err.message);
		}
		bw_certs_pair_release(&ca);
		bw_certs_pair_release(&srv);
	}
	return NULL;
}

static void test_threads(void)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	int i, started[THREADS];

	memset(w, 0, sizeof(w));
	for (i = 0; i < THREADS; i++)
		started[i] = pthread_create(&t[i], NULL, worker_run, &w[i]) == 0;
	for (i = 0; i < THREADS; i++) {
		if (started[i])
			pthread_join(t[i], NULL);
		CHECK(started[i] && w[i].failures == 0, "thread %d: make and verify in parallel %s",
		      i, w[i].message);
	}
}

static void cleanup(void)
{
	static const char *const names[] = {"tls.crt", "tls.key", "big.crt", "junk.crt",
					    "ca.crt",  "srv.crt", "srv.key"};
	char path[512];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unlink(tmp_path(names[i], path, sizeof(path)));
	rmdir(tmp_dir);
}

int main(void)
{
	if (!mkdtemp(tmp_dir)) {
		printf("not ok - cannot make a temporary folder: %s\n", strerror(errno));
		return 1;
	}
	now = time(NULL);
	test_ca();
	test_serving();
	test_rotation();
	test_malformed();
	test_bundle();
	test_base64();
	test_files();
	test_openssl_cli();
	test_threads();
	cleanup();
	return check_exit();
}
