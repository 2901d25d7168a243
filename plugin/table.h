/*
 * Text that fits a terminal for kubectl breakwater: tables whose widest
 * columns are shortened in the middle ("registry.lo...s:1.0.0") until a
 * row fits, and messages wrapped at spaces under an indent. Pure: they
 * write to the FILE given.
 *
 * Ownership: cells are borrowed. Thread-safety: none needed.
 */
#ifndef BW_PLUGIN_TABLE_H
#define BW_PLUGIN_TABLE_H

#include <stddef.h>
#include <stdio.h>

/* The terminal width the plugin's text is written for. */
#define BW_PLUGIN_WIDTH 80

/* Prints rows x cols cells (row-major; row 0 is the header) with two
 * spaces between columns, each row at most width bytes (plus indent
 * spaces): columns whose shrink flag is set are shortened, the widest
 * first, down to 8 characters each. The last column is not padded. */
void bw_plugin_table_print(FILE *out, const char *const *cells, size_t rows, size_t cols,
			   const int *shrink, size_t indent, size_t width);

/* text, wrapped at spaces so that each line, indent included, is at most
 * width bytes (a word longer than that is on a line of its own); each line
 * starts with indent spaces and ends with "\n". */
void bw_plugin_wrap(FILE *out, const char *text, size_t indent, size_t width);

/* s itself when it has at most max bytes, else its head and tail around
 * "..." (max bytes), in buf (max + 1 bytes at least). */
const char *bw_plugin_abbrev(const char *s, size_t max, char *buf, size_t size);

#endif
