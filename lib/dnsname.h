/*
 * Kubernetes name rules (apimachinery's IsDNS1123Label and IsDNS1035Label),
 * once for the whole program: which strings may be a namespace, a core/v1
 * Service name, a label part of a host name. Pure functions of the string.
 */
#ifndef BW_DNSNAME_H
#define BW_DNSNAME_H

/* The longest DNS label: 63 bytes. */
#define BW_DNS_LABEL_MAX 63

/* An RFC 1123 label, what a namespace is: 1-63 of [a-z0-9-], starting and
 * ending with a letter or digit ("1team" is a valid namespace). */
int bw_is_dns1123_label(const char *s);

/* An RFC 1035 label, what a core/v1 Service name is: an RFC 1123 label that
 * starts with a letter. */
int bw_is_dns1035_label(const char *s);

#endif
