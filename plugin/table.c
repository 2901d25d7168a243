/* Terminal-width text for kubectl breakwater (plugin/table.h). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "table.h"

#define MIN_SHRUNK 8

const char *bw_plugin_abbrev(const char *s, size_t max, char *buf, size_t size)
{
	return bw_error_abbrev(s ? s : "", max, buf, size);
}

void bw_plugin_table_print(FILE *out, const char *const *cells, size_t rows, size_t cols,
			   const int *shrink, size_t indent, size_t width)
{
	size_t w[16] = {0}, total, c, r;
	char buf[512];

	if (cols == 0 || cols > 16)
		return;
	for (r = 0; r < rows; r++)
		for (c = 0; c < cols; c++) {
			size_t len = strlen(cells[r * cols + c] ? cells[r * cols + c] : "");

			if (len > w[c])
				w[c] = len;
		}
	for (;;) {
		size_t widest = cols;

		total = indent;
		for (c = 0; c < cols; c++)
			total += w[c] + (c + 1 < cols ? 2 : 0);
		if (total <= width)
			break;
		for (c = 0; c < cols; c++)
			if (shrink && shrink[c] && w[c] > MIN_SHRUNK &&
			    (widest == cols || w[c] > w[widest]))
				widest = c;
		if (widest == cols)
			break;
		w[widest]--;
	}
	for (r = 0; r < rows; r++) {
		char line[2048];
		size_t len = 0;

		for (c = 0; c < cols && len < sizeof(line); c++) {
			const char *s = cells[r * cols + c] ? cells[r * cols + c] : "";
			size_t max = w[c] < sizeof(buf) - 1 ? w[c] : sizeof(buf) - 1;

			s = bw_plugin_abbrev(s, max, buf, sizeof(buf));
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%-*s%s", (int)w[c],
						s, c + 1 < cols ? "  " : "");
		}
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		while (len > 0 && line[len - 1] == ' ') /* no trailing blanks */
			len--;
		fprintf(out, "%*s%.*s\n", (int)indent, "", (int)len, line);
	}
}

void bw_plugin_wrap(FILE *out, const char *text, size_t indent, size_t width)
{
	const char *p = text ? text : "";
	size_t room = width > indent + 20 ? width - indent : 20;

	while (*p == ' ')
		p++;
	do {
		size_t len = strlen(p), cut = len;

		if (len > room) {
			cut = room;
			while (cut > 0 && p[cut] != ' ')
				cut--;
			if (cut == 0) /* one long word: up to its end */
				for (cut = room; p[cut] && p[cut] != ' '; cut++)
					;
		}
		fprintf(out, "%*s%.*s\n", (int)indent, "", (int)cut, p);
		p += cut;
		while (*p == ' ')
			p++;
	} while (*p);
}
