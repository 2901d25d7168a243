/* UTF-8 cuts and repair: see utf8.h. */
#include "utf8.h"

static int continuation(unsigned char c)
{
	return (c & 0xC0) == 0x80;
}

size_t bw_utf8_cut(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && continuation((unsigned char)s[max]))
		max--;
	return max;
}

size_t bw_utf8_seq(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if (!continuation(s[i]))
			return 0; /* also at the NUL of a string cut short */
	if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) ||
	    (s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] > 0x8F))
		return 0;
	return n;
}

void bw_utf8_repair(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r;
	size_t n;

	while (*r) {
		if (!(n = bw_utf8_seq(r))) {
			r++;
			continue;
		}
		while (n--)
			*w++ = *r++;
	}
	*w = '\0';
}
