/*
 * HTTP/1.x heads (http.h). Strict on framing (CRLF lines, no folding, no
 * NUL, one unambiguous body length), lenient on everything the upstream
 * will judge itself.
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
	if (!w->out) { /* info only: count */
		w->len += n;
		return;
	}
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
		if (strncmp(sp2 + 1, "HTTP/1.1", 8) != 0 && strncmp(sp2 + 1, "HTTP/1.0", 8) != 0)
			return -1;
		info->minor = sp2[8] - '0';
		info->head_method = sp1 - s == 4 && strncmp(s, "HEAD", 4) == 0;
		return 0;
	}
	if (sp1 - s != 8 || (strncmp(s, "HTTP/1.1", 8) != 0 && strncmp(s, "HTTP/1.0", 8) != 0))
		return -1;
	if (n < 12 || (n > 12 && s[12] != ' '))
		return -1;
	for (i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return -1;
	info->minor = s[7] - '0';
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

static int token_is(const char *t, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(t, want, n) == 0;
}

/* Content-Length: digits only (with optional white space around them), and
 * the same value when it comes twice. */
static int read_content_length(const char *v, size_t n, struct bw_proxy_head_info *info)
{
	long long value = 0;
	size_t i = 0, digits = 0;

	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	for (; i < n && v[i] >= '0' && v[i] <= '9'; i++, digits++) {
		if (value > (1LL << 53))
			return -1;
		value = value * 10 + (v[i] - '0');
	}
	while (i < n && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (!digits || i != n || (info->content_length >= 0 && info->content_length != value))
		return -1;
	info->content_length = value;
	return 0;
}

/* Transfer-Encoding: chunked when its last coding is. */
static void read_transfer_encoding(const char *v, size_t n, struct bw_proxy_head_info *info)
{
	const char *tok[MAX_CONNECTION_TOKENS];
	size_t tlen[MAX_CONNECTION_TOKENS];
	int ntok = 0;

	connection_tokens(v, n, tok, tlen, &ntok);
	info->transfer_encoding = 1;
	info->chunked = ntok > 0 && token_is(tok[ntok - 1], tlen[ntok - 1], "chunked");
}

long bw_proxy_head_rewrite(const char *in, size_t len, int request, const char *host,
			   const char *connection, char *out, size_t size,
			   struct bw_proxy_head_info *info)
{
	const char *tok[MAX_CONNECTION_TOKENS];
	size_t tlen[MAX_CONNECTION_TOKENS];
	struct writer w = {out, size, 0, 0};
	const char *line, *end = in + len, *eol, *colon;
	int ntok = 0, pass, t, drop, has_upgrade = 0;
	int keep_upgrade = connection && strcasecmp(connection, "upgrade") == 0;

	memset(info, 0, sizeof(*info));
	info->content_length = -1;
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
					has_upgrade = 1;
				if (name_is(line, nlen, "Content-Length") &&
				    read_content_length(colon + 1, (size_t)(next - colon - 1),
							info))
					return -1;
				if (name_is(line, nlen, "Transfer-Encoding"))
					read_transfer_encoding(colon + 1,
							       (size_t)(next - colon - 1), info);
				continue;
			}
			if (name_is(line, nlen, "Upgrade")) {
				if (keep_upgrade)
					put(&w, line, (size_t)(next - line) + 2);
				continue;
			}
			drop = name_is(line, nlen, "Connection") ||
			       name_is(line, nlen, "Keep-Alive") ||
			       name_is(line, nlen, "Proxy-Connection") ||
			       (request && name_is(line, nlen, "Host")) ||
			       (!request && info->transfer_encoding &&
				name_is(line, nlen, "Content-Length"));
			for (t = 0; t < ntok && !drop; t++)
				drop = tlen[t] == nlen && strncasecmp(tok[t], line, nlen) == 0 &&
				       !name_is(line, nlen, "close") &&
				       !name_is(line, nlen, "Content-Length") &&
				       !name_is(line, nlen, "Transfer-Encoding");
			if (!drop)
				put(&w, line, (size_t)(next - line) + 2);
		}
		if (pass == 0) {
			for (t = 0; t < ntok; t++) {
				info->conn_close |= token_is(tok[t], tlen[t], "close");
				info->conn_keep_alive |= token_is(tok[t], tlen[t], "keep-alive");
				info->upgrade |=
				    has_upgrade && token_is(tok[t], tlen[t], "upgrade");
			}
			if (request && info->transfer_encoding &&
			    (!info->chunked || info->content_length >= 0))
				return -1; /* ambiguous framing: refused (request smuggling) */
		}
	}
	if (request && host) {
		put(&w, "Host: ", 6);
		put(&w, host, strlen(host));
		put(&w, "\r\n", 2);
	}
	put(&w, "Connection: ", 12);
	put(&w, connection ? connection : "close", strlen(connection ? connection : "close"));
	put(&w, "\r\n\r\n", 4);
	return w.full ? -1 : (long)w.len;
}
