/*
 * The webhook's certificates. Either the operator makes its own (a CA and a
 * serving certificate, kept in a Secret its replicas share) or it reads
 * files that cert-manager or an administrator maintain. Either way the
 * serving certificate is handed to the HTTPS server, which switches new
 * connections to it without dropping any, and the webhook registrations
 * (registration.h) are written with the CA as caBundle: the operator's own,
 * or in files mode the CA file's (checked to sign the certificate first;
 * without a CA file the registrations carry no caBundle, for cert-manager's
 * CA injector or the API server's own roots).
 *
 * Rotation: the serving certificate is replaced at two thirds of its
 * lifetime (or when it lacks a name it must have); the CA likewise, and then
 * the old CA stays in the caBundle beside the new one until it expires, so
 * the API server trusts both the certificate being replaced and its
 * successor. A serving certificate from the same CA needs no caBundle change
 * at all: rotating it fails no admission. Replicas race to write the Secret
 * with optimistic concurrency (resourceVersion); the loser reads the
 * winner's certificates.
 *
 * Ownership: the client and the callback's ctx are borrowed and must
 * outlive the manager; option strings are copied.
 * Thread-safety: after start, the manager's thread runs sync(); stop and
 * free from the thread that started it.
 */
#ifndef BW_WEBHOOK_CERTMANAGER_H
#define BW_WEBHOOK_CERTMANAGER_H

#include <time.h>

#include "client.h"
#include "registration.h"

#define BW_CERTMANAGER_MAX_SANS 8

struct bw_certmanager_options {
	/* self-managed: the Secret */
	const char *namespace;
	const char *secret_name;		   /* default breakwater-webhook-tls */
	const char *sans[BW_CERTMANAGER_MAX_SANS]; /* names the serving certificate must carry */
	long validity_s;			   /* serving certificate; default 1 year */
	long ca_validity_s;			   /* CA; default 10 years */
	/* files (cert-manager): used instead when both are set */
	const char *cert_file, *key_file;
	const char *ca_file; /* the caBundle in files mode; NULL: none is written */
	/* where the webhook is, for the registrations (name NULL: none are written) */
	struct bw_registration_options registration;
	/* called with each new serving certificate; nonzero return: try again later */
	int (*on_cert)(const char *cert_pem, const char *key_pem, void *ctx);
	void *ctx;
};

struct bw_certmanager;

int bw_certmanager_new(struct bw_certmanager **out, struct bw_client *client,
		       const struct bw_certmanager_options *opts, struct bw_error *err);
void bw_certmanager_free(struct bw_certmanager *cm);

/* One pass: make sure the certificates are current, handed over and
 * registered. *next gets when the next pass is due. */
int bw_certmanager_sync(struct bw_certmanager *cm, time_t *next, struct bw_error *err);

/* Runs sync() in a thread of its own when due (at least every 30 s, to pick
 * up another replica's rotation; every 2 s for files); stops on
 * bw_certmanager_stop(). */
int bw_certmanager_start(struct bw_certmanager *cm, struct bw_error *err);
void bw_certmanager_stop(struct bw_certmanager *cm);

/* How many times a new serving certificate was handed over. */
unsigned long bw_certmanager_rotations(struct bw_certmanager *cm);

#endif
