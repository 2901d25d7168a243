/*
 * Long-lived streams (watches) multiplexed on shared connections: one
 * thread drives every stream of a client through one curl multi handle, so
 * over HTTP/2 the operator's dozen watches share one TLS connection instead
 * of holding one each (some 150 KiB apiece: TLS state, curl's and nghttp2's
 * buffers).
 *
 * The bytes are still handed over on the thread that asked for the stream:
 * the mux thread only moves them from curl into a per-stream buffer, and
 * bw_mux_perform() delivers them from there. So a stream's parsing keeps
 * running beside the others' (a restart's initial lists stay parallel), and
 * a slow consumer holds back only the bytes past its buffer's cap: while
 * its buffer is full the mux thread waits for it to drain (every stream
 * shares that thread), which only a consumer taking longer than a network
 * read would make noticeable.
 *
 * Ownership: the mux belongs to its creator; bw_mux_free() must not race
 * with a running bw_mux_perform(). Handles stay the caller's: bw_mux_perform
 * borrows one for the transfer and gives it back out of the multi handle.
 * Thread-safety: bw_mux_perform may be called from any number of threads at
 * once, each with its own handle.
 */
#ifndef BW_MUX_H
#define BW_MUX_H

#include <stddef.h>

#include <curl/curl.h>

#include "error.h"

/* Bytes a stream may hold undelivered before the mux thread waits for it. */
#define BW_MUX_PENDING_MAX (128 * 1024)

struct bw_mux;

/* An empty mux; its thread starts with the first stream. BW_ENOMEM. */
int bw_mux_new(struct bw_mux **out, struct bw_error *err);

/* Stops the thread and frees everything; no stream may be running. NULL is
 * a no-op. */
void bw_mux_free(struct bw_mux *mux);

/* Each piece of the body, on bw_mux_perform()'s thread, with the response's
 * HTTP status as curl had it when the piece arrived: nonzero stops the
 * transfer (bw_mux_perform then returns CURLE_WRITE_ERROR). */
typedef int (*bw_mux_deliver_fn)(const char *data, size_t len, long status, void *ctx);
/* About once a second while the stream is open and after each delivery, on
 * the same thread: nonzero stops the transfer (CURLE_ABORTED_BY_CALLBACK). */
typedef int (*bw_mux_tick_fn)(void *ctx);

/*
 * Runs the transfer configured on h to its end, as curl_easy_perform(h)
 * would, but on the mux's connections: h's write and progress callbacks
 * are replaced (deliver and tick take their place), and it waits for an
 * HTTP/2 connection to multiplex on rather than opening another
 * (CURLOPT_PIPEWAIT). Returns the transfer's CURLcode; on return h is out
 * of the multi handle, and curl_easy_getinfo() on it may be called.
 * CURLE_OUT_OF_MEMORY when the mux's thread cannot be started.
 */
CURLcode bw_mux_perform(struct bw_mux *mux, CURL *h, bw_mux_deliver_fn deliver, bw_mux_tick_fn tick,
			void *ctx);

/* Streams running now: for tests. */
size_t bw_mux_streams(struct bw_mux *mux);

#endif
