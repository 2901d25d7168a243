/* Kubernetes name rules; see dnsname.h. */
#include <string.h>

#include "dnsname.h"

int bw_is_dns1123_label(const char *s)
{
	size_t i, n;

	if (!s)
		return 0;
	n = strlen(s);
	if (n == 0 || n > BW_DNS_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int bw_is_dns1035_label(const char *s)
{
	return bw_is_dns1123_label(s) && s[0] >= 'a' && s[0] <= 'z';
}
