/* The webhook's certificates: see certmanager.h. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "certmanager.h"
#include "file.h"
#include "log.h"
#include "names.h"
#include "thread.h"

#define CHECK_EVERY_S	    30
#define FILES_CHECK_EVERY_S 2
#define CA_FILE_MAX	    (256 * 1024)
/* After the caBundle changes, the API server's webhook clients pick it up
 * within a second or so; a certificate from a new CA is served only after
 * this many seconds, so no TLS handshake meets a bundle that lacks its CA. */
#define BUNDLE_SETTLE_S 5

struct bw_certmanager {
	struct bw_client *client;
	struct bw_certmanager_options o;
	char *strings[BW_CERTMANAGER_MAX_SANS + 12]; /* copies behind o's pointers */
	size_t n_strings, n_sans;

	char *served_cert;   /* what the server was handed last */
	char *served_ca;     /* the CA that signed it (self-managed) */
	char *registered_ca; /* the caBundle last written to the registrations */
	time_t bundle_since; /* when it was written */
	struct timespec cert_mtime, key_mtime;
	unsigned long rotations;

	pthread_t thread;
	int started, stopping;
	pthread_mutex_t lock;
	pthread_cond_t wake;
};

static const char *keep(struct bw_certmanager *cm, const char *s)
{
	char *copy;

	if (!s || cm->n_strings >= sizeof(cm->strings) / sizeof(cm->strings[0]))
		return NULL;
	copy = strdup(s);
	if (copy)
		cm->strings[cm->n_strings++] = copy;
	return copy;
}

int bw_certmanager_new(struct bw_certmanager **out, struct bw_client *client,
		       const struct bw_certmanager_options *opts, struct bw_error *err)
{
	struct bw_certmanager *cm = calloc(1, sizeof(*cm));
	struct bw_registration_options *r;

	*out = NULL;
	if (!cm)
		return bw_error_set(err, BW_ENOMEM, "out of memory");
	cm->client = client;
	cm->o = *opts;
	cm->o.namespace = keep(cm, opts->namespace);
	cm->o.secret_name =
	    keep(cm, opts->secret_name ? opts->secret_name : "breakwater-webhook-tls");
	cm->o.cert_file = keep(cm, opts->cert_file);
	cm->o.key_file = keep(cm, opts->key_file);
	cm->o.ca_file = keep(cm, opts->ca_file);
	for (size_t i = 0; i < BW_CERTMANAGER_MAX_SANS && opts->sans[i]; i++) {
		cm->o.sans[i] = keep(cm, opts->sans[i]);
		cm->n_sans = i + 1;
	}
	r = &cm->o.registration;
	r->name = keep(cm, opts->registration.name);
	r->url_base = keep(cm, opts->registration.url_base);
	r->service_namespace = keep(cm, opts->registration.service_namespace);
	r->service_name = keep(cm, opts->registration.service_name);
	r->scope_namespace = keep(cm, opts->registration.scope_namespace);
	r->operator_namespace = keep(cm, opts->registration.operator_namespace);
	r->ca_bundle_pem = NULL;
	pthread_mutex_init(&cm->lock, NULL);
	pthread_cond_init(&cm->wake, NULL);
	if (!(cm->o.cert_file && cm->o.key_file) && (!cm->o.namespace || cm->n_sans == 0)) {
		bw_certmanager_free(cm);
		return bw_error_set(err, BW_EINVAL,
				    "webhook certificates: give a namespace and names for the "
				    "Secret, or certificate and key files");
	}
	*out = cm;
	return 0;
}

void bw_certmanager_free(struct bw_certmanager *cm)
{
	if (!cm)
		return;
	bw_certmanager_stop(cm);
	for (size_t i = 0; i < cm->n_strings; i++)
		free(cm->strings[i]);
	free(cm->served_cert);
	free(cm->served_ca);
	free(cm->registered_ca);
	pthread_mutex_destroy(&cm->lock);
	pthread_cond_destroy(&cm->wake);
	free(cm);
}

unsigned long bw_certmanager_rotations(struct bw_certmanager *cm)
{
	unsigned long n;

	pthread_mutex_lock(&cm->lock);
	n = cm->rotations;
	pthread_mutex_unlock(&cm->lock);
	return n;
}

/* Hands the serving certificate to the server when it is not the one it has. */
static int hand_over(struct bw_certmanager *cm, const char *cert, const char *key)
{
	if (cm->served_cert && strcmp(cm->served_cert, cert) == 0)
		return 0;
	if (cm->o.on_cert && cm->o.on_cert(cert, key, cm->o.ctx) != 0)
		return BW_ERETRY;
	free(cm->served_cert);
	cm->served_cert = strdup(cert);
	pthread_mutex_lock(&cm->lock);
	cm->rotations++;
	pthread_mutex_unlock(&cm->lock);
	return 0;
}

/* data[key] of a Secret, decoded, or NULL. */
static char *secret_value(const json_t *secret, const char *key)
{
	const char *b64 = json_string_value(json_object_get(json_object_get(secret, "data"), key));
	char *out = NULL;
	size_t len;

	if (!b64 || bw_certs_base64_decode(b64, strlen(b64), &out, &len, NULL) != 0)
		return NULL;
	return out;
}

static int put_value(json_t *data, const char *key, const char *value, struct bw_error *err)
{
	char *b64 = NULL;
	int ret;

	if (!value) {
		json_object_del(data, key);
		return 0;
	}
	if ((ret = bw_certs_base64_encode(value, strlen(value), &b64, err)) != 0)
		return ret;
	json_object_set_new(data, key, json_string(b64));
	free(b64);
	return 0;
}

struct material {
	char *ca_cert, *ca_key, *old_ca, *cert, *key;
};

static void material_release(struct material *m)
{
	free(m->ca_cert);
	bw_certs_free_secret(m->ca_key);
	free(m->old_ca);
	free(m->cert);
	bw_certs_free_secret(m->key);
	memset(m, 0, sizeof(*m));
}

/* A serving certificate never outlives its CA. A CA with less than a third
 * of a serving certificate's lifetime left (one made with a shorter
 * --webhook-ca-validity, then read by a replica that wants longer serving
 * certificates) would only sign certificates already due for renewal, one
 * after another: it is replaced instead. */
static int ca_too_short(struct bw_certmanager *cm, const char *ca_pem, time_t now, char *why,
			size_t why_size)
{
	long serving = cm->o.validity_s > 0 ? cm->o.validity_s : BW_CERTS_SERVING_VALIDITY;
	struct bw_certs_info info = {0};
	int short_lived = 0;

	if (ca_pem && bw_certs_inspect(ca_pem, strlen(ca_pem), &info, NULL) == 0 &&
	    info.not_after - now < serving / 3) {
		snprintf(why, why_size, "it expires in %lds, too soon to sign a %lds certificate",
			 (long)(info.not_after - now), serving);
		short_lived = 1;
	}
	bw_certs_info_release(&info);
	return short_lived;
}

/* Renews what needs it; returns 1 when something changed, 0 when not, < 0 on error. */
static int renew(struct bw_certmanager *cm, struct material *m, time_t now, time_t *next,
		 struct bw_error *err)
{
	const char *const *sans = cm->o.sans;
	struct bw_certs_pair pair = {0};
	time_t when;
	char why[256];
	int changed = 0, ret;

	if (bw_certs_needs_rotation(m->ca_cert, NULL, 0, now, &when, why, sizeof(why)) ||
	    !m->ca_key || bw_certs_key_matches(m->ca_cert, m->ca_key, NULL) != 0 ||
	    ca_too_short(cm, m->ca_cert, now, why, sizeof(why))) {
		bw_log_info("certs", "making a new webhook CA: %s", m->ca_cert ? why : "none yet");
		if ((ret = bw_certs_make_ca("breakwater-webhook-ca", cm->o.ca_validity_s, now,
					    &pair, err)) != 0)
			return ret;
		/* the old CA stays trusted while certificates it signed may be served */
		free(m->old_ca);
		m->old_ca = m->ca_cert;
		bw_certs_free_secret(m->ca_key);
		m->ca_cert = pair.cert_pem;
		m->ca_key = pair.key_pem;
		memset(&pair, 0, sizeof(pair));
		changed = 1;
	} else if (when < *next) {
		*next = when;
	}
	if (changed ||
	    bw_certs_needs_rotation(m->cert, sans, cm->n_sans, now, &when, why, sizeof(why)) ||
	    bw_certs_signed_by(m->cert, m->ca_cert, NULL) != 0 || !m->key ||
	    bw_certs_key_matches(m->cert, m->key, NULL) != 0) {
		bw_log_info("certs", "making a new webhook serving certificate: %s",
			    m->cert ? why : "none yet");
		if ((ret = bw_certs_make_serving(m->ca_cert, m->ca_key, sans, cm->n_sans,
						 cm->o.validity_s, now, &pair, err)) != 0)
			return ret;
		free(m->cert);
		bw_certs_free_secret(m->key);
		m->cert = pair.cert_pem;
		m->key = pair.key_pem;
		changed = 1;
		bw_certs_needs_rotation(m->cert, sans, cm->n_sans, now, &when, NULL, 0);
	}
	if (when < *next)
		*next = when;
	return changed;
}

static int write_secret(struct bw_certmanager *cm, json_t *secret, const struct material *m,
			struct bw_error *err)
{
	json_t *data;
	int ret, create = secret == NULL;

	if (create)
		secret = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:s, s:{}}", "apiVersion",
				   "v1", "kind", "Secret", "metadata", "name", cm->o.secret_name,
				   "namespace", cm->o.namespace, "labels", BW_LABEL_MANAGED,
				   BW_MANAGER, "type", "kubernetes.io/tls", "data");
	else
		json_incref(secret);
	data = json_object_get(secret, "data");
	if (!data) {
		data = json_object();
		json_object_set_new(secret, "data", data);
	}
	if ((ret = put_value(data, "tls.crt", m->cert, err)) != 0 ||
	    (ret = put_value(data, "tls.key", m->key, err)) != 0 ||
	    (ret = put_value(data, "ca.crt", m->ca_cert, err)) != 0 ||
	    (ret = put_value(data, "ca.key", m->ca_key, err)) != 0 ||
	    (ret = put_value(data, "ca-previous.crt", m->old_ca, err)) != 0)
		goto out;
	if (create)
		ret = bw_client_create(cm->client, &bw_res_secrets, cm->o.namespace, secret, NULL,
				       err);
	else
		ret = bw_client_update(cm->client, &bw_res_secrets, cm->o.namespace,
				       cm->o.secret_name, NULL, secret, NULL, err);
out:
	json_decref(secret);
	return ret;
}

/* Writes the registrations with bundle ("": none) as caBundle, unless that is
 * what they were last written with. */
static int register_webhooks(struct bw_certmanager *cm, const char *bundle, struct bw_error *err)
{
	struct bw_patch_options po = {.field_manager = BW_FIELD_MANAGER, .force = 1};
	struct bw_registration_options r = cm->o.registration;
	json_t *mutating = NULL, *validating = NULL;
	int ret;

	if (!r.name || (cm->registered_ca && strcmp(cm->registered_ca, bundle) == 0))
		return 0;
	r.ca_bundle_pem = *bundle ? bundle : NULL;
	if ((ret = bw_registration_render(&r, &mutating, &validating, err)) != 0)
		goto out;
	if ((ret = bw_client_patch(cm->client, &bw_res_mutating_webhooks, NULL, r.name, NULL,
				   BW_PATCH_APPLY, mutating, &po, NULL, err)) != 0 ||
	    (ret = bw_client_patch(cm->client, &bw_res_validating_webhooks, NULL, r.name, NULL,
				   BW_PATCH_APPLY, validating, &po, NULL, err)) != 0)
		goto out;
	free(cm->registered_ca);
	cm->registered_ca = strdup(bundle);
	cm->bundle_since = time(NULL);
	bw_log_info("certs", "webhook configurations %s registered", r.name);
out:
	json_decref(mutating);
	json_decref(validating);
	return ret;
}

static int sync_secret(struct bw_certmanager *cm, time_t now, time_t *next, struct bw_error *err)
{
	struct material m = {0};
	json_t *secret = NULL;
	const char *bundle_parts[2];
	char *bundle = NULL;
	int ret, changed;

	ret = bw_client_get(cm->client, &bw_res_secrets, cm->o.namespace, cm->o.secret_name, NULL,
			    &secret, err);
	if (ret != 0 && ret != BW_ENOTFOUND)
		goto out;
	if (secret) {
		m.ca_cert = secret_value(secret, "ca.crt");
		m.ca_key = secret_value(secret, "ca.key");
		m.old_ca = secret_value(secret, "ca-previous.crt");
		m.cert = secret_value(secret, "tls.crt");
		m.key = secret_value(secret, "tls.key");
	}
	/* a previous CA past its expiry is trusted no more */
	if (m.old_ca) {
		struct bw_certs_info info = {0};

		if (bw_certs_inspect(m.old_ca, strlen(m.old_ca), &info, NULL) != 0 ||
		    info.not_after <= now) {
			free(m.old_ca);
			m.old_ca = NULL;
		}
		bw_certs_info_release(&info);
	}
	changed = renew(cm, &m, now, next, err);
	if (changed < 0) {
		ret = changed;
		goto out;
	}
	if (changed) {
		ret = write_secret(cm, secret, &m, err);
		if (ret == BW_ECONFLICT) {
			/* another replica wrote first: take its certificates next pass */
			bw_log_info("certs",
				    "another replica renewed the certificates; reading them");
			*next = now;
			ret = 0;
			goto out;
		}
		if (ret != 0)
			goto out;
	}
	/* the registrations trust the CA (and the previous one) before the
	 * server presents a certificate signed by a new one */
	bundle_parts[0] = m.ca_cert;
	bundle_parts[1] = m.old_ca;
	if ((ret = bw_certs_bundle_join(bundle_parts, 2, &bundle, err)) != 0 ||
	    (ret = register_webhooks(cm, bundle, err)) != 0)
		goto out;
	if (cm->served_cert && cm->o.registration.name &&
	    now < cm->bundle_since + BUNDLE_SETTLE_S &&
	    bw_certs_signed_by(m.cert, cm->served_ca ? cm->served_ca : "", NULL) != 0) {
		/* a certificate from a CA the API server may not trust yet: later */
		*next = cm->bundle_since + BUNDLE_SETTLE_S;
		goto out;
	}
	if ((ret = hand_over(cm, m.cert, m.key)) != 0)
		goto out;
	if (!cm->served_ca || strcmp(cm->served_ca, m.ca_cert) != 0) {
		free(cm->served_ca);
		cm->served_ca = strdup(m.ca_cert);
	}
out:
	free(bundle);
	material_release(&m);
	json_decref(secret);
	return ret;
}

/* Files mode: the registrations trust the CA file, once it is seen to sign
 * the certificate being served (cert-manager updates tls.crt and ca.crt
 * together; a torn pair is left for the next pass). */
static int register_files(struct bw_certmanager *cm, struct bw_error *err)
{
	char *ca = NULL;
	int ret;

	if (!cm->o.registration.name)
		return 0;
	if (!cm->o.ca_file)
		return register_webhooks(cm, "", err);
	if ((ret = bw_file_read(cm->o.ca_file, "webhook CA file", CA_FILE_MAX, BW_FILE_REGULAR_ONLY,
				&ca, NULL, NULL, err)) != 0)
		return ret;
	if ((ret = bw_certs_verify(cm->served_cert, ca, time(NULL), NULL, err)) != 0) {
		char why[sizeof(err->message)];

		snprintf(why, sizeof(why), "%s", err->message);
		bw_error_set(err, ret, "%s does not sign %s (%s); the registrations keep their CA",
			     cm->o.ca_file, cm->o.cert_file, why);
	} else {
		ret = register_webhooks(cm, ca, err);
	}
	free(ca);
	return ret;
}

static int sync_files(struct bw_certmanager *cm, struct bw_error *err)
{
	struct bw_certs_pair pair = {0};
	int ret;

	if (!cm->served_cert || bw_certs_files_changed(cm->o.cert_file, cm->o.key_file,
						       &cm->cert_mtime, &cm->key_mtime)) {
		if ((ret = bw_certs_load_files(cm->o.cert_file, cm->o.key_file, &pair,
					       &cm->cert_mtime, &cm->key_mtime, err)) != 0)
			return ret; /* a half-written update: the next pass tries again */
		ret = hand_over(cm, pair.cert_pem, pair.key_pem);
		if (ret == 0)
			bw_log_info("certs", "webhook certificate loaded from %s", cm->o.cert_file);
		bw_certs_pair_release(&pair);
		if (ret != 0)
			return ret;
	}
	return register_files(cm, err); /* a no-op while the CA is unchanged */
}

int bw_certmanager_sync(struct bw_certmanager *cm, time_t *next, struct bw_error *err)
{
	time_t now = time(NULL);
	int ret;

	*next = now + CHECK_EVERY_S;
	if (cm->o.cert_file && cm->o.key_file) {
		ret = sync_files(cm, err);
		*next = now + FILES_CHECK_EVERY_S; /* a stat() each: cheap */
	} else
		ret = sync_secret(cm, now, next, err);
	if (*next < now + 1)
		*next = now + 1;
	return ret;
}

static void *run(void *arg)
{
	struct bw_certmanager *cm = arg;
	struct bw_error err;
	time_t next = time(NULL);

	bw_thread_name("certs", NULL);
	pthread_mutex_lock(&cm->lock);
	while (!cm->stopping) {
		struct timespec until = {next, 0};

		if (pthread_cond_timedwait(&cm->wake, &cm->lock, &until) != ETIMEDOUT)
			continue;
		pthread_mutex_unlock(&cm->lock);
		if (bw_certmanager_sync(cm, &next, &err) != 0) {
			bw_log_warn("certs", "%s; retrying in 5s", err.message);
			next = time(NULL) + 5;
		}
		pthread_mutex_lock(&cm->lock);
	}
	pthread_mutex_unlock(&cm->lock);
	return NULL;
}

int bw_certmanager_start(struct bw_certmanager *cm, struct bw_error *err)
{
	int rc = pthread_create(&cm->thread, NULL, run, cm);

	if (rc != 0)
		return bw_error_set(err, BW_ENOMEM, "cannot start the certificate manager: %s",
				    strerror(rc));
	cm->started = 1;
	return 0;
}

void bw_certmanager_stop(struct bw_certmanager *cm)
{
	pthread_mutex_lock(&cm->lock);
	cm->stopping = 1;
	pthread_cond_broadcast(&cm->wake);
	pthread_mutex_unlock(&cm->lock);
	if (cm->started) {
		pthread_join(cm->thread, NULL);
		cm->started = 0;
	}
}
