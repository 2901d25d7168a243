/*
 * HTTP/1.x heads (http.h). Strict on framing (CRLF lines, no folding, no
 * NUL), lenient on everything the upstream will judge itself.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define MAX_CONNECTION_TOKENS 16

size_t bw_proxy_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' &&
		    buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* The next CRLF at or after p, before end (the head ends in one). */
static const char *crlf(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return end;
}

struct writer {
	char *out;
	size_t size, len;
	int full;
};

static void put(struct writer *w, const char *s, size_t n)
{
	if (w->full || n > w->size - w->len) {
		w->full = 1;
		return;
	}
	memcpy(w->out + w->len, s, n);
	w->len += n;
}

static int is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The first line: "METHOD SP TARGET SP HTTP/1.x" or "HTTP/1.x SP NNN SP reason". */
static int first_line(const char *s, size_t n, int request, struct bw_proxy_head_info *info)
{
	const char *sp1 = memchr(s, ' ', n), *sp2;
	size_t i;

	if (!sp1 || sp1 == s)
		return -1;
	if (request) {
		for (i = 0; s + i < sp1; i++)
			if (!is_tchar(s[i]))
				return -1;
		sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - s));
		if (!sp2 || sp2 == sp1 + 1 || (size_t)(s + n - (sp2 + 1)) != 8)
			return -1;
		return strncmp(sp2 + 1, "HTTP/1.1", 8) == 0 || strncmp(sp2 + 1, "HTTP/1.0", 8) == 0
			   ? 0
			   : -1;
	}
	if (sp1 - s != 8 || (strncmp(s, "HTTP/1.1", 8) != 0 && strncmp(s, "HTTP/1.0", 8) != 0))
		return -1;
	if (n < 12 || (n > 12 && s[12] != ' '))
		return -1;
	for (i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	info->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	return info->status >= 100 ? 0 : -1;
}

static int name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

/* Collects the comma-separated tokens of a Connection header value. */
static void connection_tokens(const char *v, size_t n, const char **tok, size_t *tlen, int *ntok)
{
	size_t i = 0, start;

	while (i < n && *ntok < MAX_CONNECTION_TOKENS) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (i > start) {
			tok[*ntok] = v + start;
			tlen[(*ntok)++] = i - start;
		}
	}
}

long bw_proxy_head_rewrite(const char *in, size_t len, int request, const char *host, char *out,
			   size_t size, struct bw_proxy_head_info *info)
{
	const char *tok[MAX_CONNECTION_TOKENS];
	size_t tlen[MAX_CONNECTION_TOKENS];
	struct writer w = {out, size, 0, 0};
	const char *line, *end = in + len, *eol, *colon;
	int ntok = 0, pass, t, drop;

	memset(info, 0, sizeof(*info));
	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0 || memchr(in, '\0', len))
		return -1;
	/* every LF ends a CRLF, every CR starts one */
	for (line = in; line < end; line++)
		if ((*line == '\n' && (line == in || line[-1] != '\r')) ||
		    (*line == '\r' && (line + 1 == end || line[1] != '\n')))
			return -1;
	eol = crlf(in, end);
	if (first_line(in, (size_t)(eol - in), request, info))
		return -1;
	put(&w, in, (size_t)(eol - in) + 2);

	/* pass 0 checks every header and reads Connection; pass 1 writes */
	for (pass = 0; pass < 2; pass++) {
		for (line = eol + 2; line < end - 2; line = crlf(line, end) + 2) {
			const char *next = crlf(line, end);
			size_t nlen;

			if (line[0] == ' ' || line[0] == '\t')
				return -1; /* obsolete line folding */
			colon = memchr(line, ':', (size_t)(next - line));
			if (!colon || colon == line)
				return -1;
			nlen = (size_t)(colon - line);
			for (t = 0; t < (int)nlen; t++)
				if (!is_tchar(line[t]))
					return -1;
			if (pass == 0) {
				if (name_is(line, nlen, "Connection"))
					connection_tokens(colon + 1, (size_t)(next - colon - 1),
							  tok, tlen, &ntok);
				if (name_is(line, nlen, "Upgrade"))
					info->upgrade = 1;
				continue;
			}
			drop = name_is(line, nlen, "Connection") ||
			       name_is(line, nlen, "Keep-Alive") ||
			       name_is(line, nlen, "Proxy-Connection") ||
			       (request && name_is(line, nlen, "Host"));
			for (t = 0; t < ntok && !drop; t++)
				drop = tlen[t] == nlen && strncasecmp(tok[t], line, nlen) == 0 &&
				       !name_is(line, nlen, "close") &&
				       !name_is(line, nlen, "Content-Length") &&
				       !name_is(line, nlen, "Transfer-Encoding");
			if (!drop)
				put(&w, line, (size_t)(next - line) + 2);
		}
	}
	if (request && host) {
		put(&w, "Host: ", 6);
		put(&w, host, strlen(host));
		put(&w, "\r\n", 2);
	}
	put(&w, "Connection: close\r\n\r\n", 21);
	return w.full ? -1 : (long)w.len;
}
