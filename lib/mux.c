/*
 * Streams on shared connections: see mux.h.
 *
 * One mutex guards the list of streams and every stream's state; each
 * stream has one condition variable, signalled when its state changes
 * either way (bytes arrived, bytes taken, done, cancelled). curl is only
 * ever called from the mux thread while a handle is in the multi handle,
 * and never with the mutex held (its callbacks take it).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mux.h"
#include "thread.h"

/* Bytes in flight are kept in chunks of one size, curl's largest write:
 * the mux thread allocates them and the consumer frees them, at the rate of
 * thousands of watch events a second at 10,000 Services, and one size is
 * reused by malloc where buffers grown by doubling to the cap (4 KiB to 128
 * KiB, freed after each delivery) left holes of every size. */
#define CHUNK_SIZE CURL_MAX_WRITE_SIZE

struct chunk {
	struct chunk *next;
	size_t len;
	char data[CHUNK_SIZE];
};

struct stream {
	CURL *h;
	pthread_cond_t cond;
	struct chunk *head, *tail; /* arrived, not yet delivered */
	size_t pending;		   /* bytes in them */
	long status;		   /* the HTTP status when the last bytes arrived */
	int added;		   /* in the multi handle */
	int cancel;		   /* the consumer stopped it: out of the multi, please */
	int done;		   /* out of the multi handle, rc set */
	CURLcode rc, cancel_rc;
	struct stream *next;
};

struct bw_mux {
	pthread_mutex_t lock;
	CURLM *multi;
	pthread_t thread;
	int started, stopping;
	struct stream *streams; /* every running stream */
};

int bw_mux_new(struct bw_mux **out, struct bw_error *err)
{
	struct bw_mux *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m || !(m->multi = curl_multi_init())) {
		free(m);
		return bw_error_set(err, BW_ENOMEM, "mux: out of memory");
	}
	pthread_mutex_init(&m->lock, NULL);
	curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	*out = m;
	return 0;
}

void bw_mux_free(struct bw_mux *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = 1;
	pthread_mutex_unlock(&m->lock);
	if (m->started) {
		curl_multi_wakeup(m->multi);
		pthread_join(m->thread, NULL);
	}
	curl_multi_cleanup(m->multi);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

size_t bw_mux_streams(struct bw_mux *m)
{
	size_t n = 0;

	pthread_mutex_lock(&m->lock);
	for (struct stream *s = m->streams; s; s = s->next)
		n++;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* Which mux a write callback runs for: the stream's handle carries the
 * stream (CURLOPT_PRIVATE), the stream's write data the mux. */
struct write_ctx {
	struct bw_mux *mux;
	struct stream *s;
};

static void free_chunks(struct chunk *c)
{
	for (struct chunk *next; c; c = next) {
		next = c->next;
		free(c);
	}
}

/* Appends n bytes to s's chunks, filling the last one first; the lock is
 * held. -1 (nothing appended) when out of memory. */
static int append(struct stream *s, const char *data, size_t n)
{
	struct chunk *c, *first = NULL, **link = &first;
	size_t room = s->tail ? CHUNK_SIZE - s->tail->len : 0, left = n > room ? n - room : 0;

	/* the new chunks first, so that a failure leaves s as it was */
	for (; left > 0; left -= left < CHUNK_SIZE ? left : CHUNK_SIZE) {
		if ((c = malloc(sizeof(*c))) == NULL) {
			free_chunks(first);
			return -1;
		}
		c->next = NULL;
		c->len = 0;
		*link = c;
		link = &c->next;
	}
	c = s->tail ? s->tail : first; /* where the bytes start */
	if (first) {
		if (s->tail)
			s->tail->next = first;
		else
			s->head = first;
	}
	s->pending += n;
	for (; n > 0; c = c->next) {
		size_t k = CHUNK_SIZE - c->len < n ? CHUNK_SIZE - c->len : n;

		memcpy(c->data + c->len, data, k);
		c->len += k;
		data += k;
		n -= k;
		s->tail = c;
	}
	return 0;
}

/* Drops what s holds undelivered; the lock is held. */
static void drop_pending(struct stream *s)
{
	free_chunks(s->head);
	s->head = s->tail = NULL;
	s->pending = 0;
}

/* curl's write callback, on the mux thread: the bytes go to the stream's
 * buffer, after waiting for room while it is past its cap. 0 (curl ends
 * the transfer) once the consumer cancelled. */
static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct write_ctx *w = userp;
	struct stream *s = w->s;
	size_t n = size * nmemb;
	long status = 0;

	curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&w->mux->lock);
	while (!s->cancel && s->pending > 0 && s->pending + n > BW_MUX_PENDING_MAX)
		pthread_cond_wait(&s->cond, &w->mux->lock);
	if (!s->cancel && append(s, data, n) != 0)
		s->cancel = 1, s->cancel_rc = CURLE_OUT_OF_MEMORY;
	s->status = status;
	pthread_cond_broadcast(&s->cond);
	n = s->cancel ? 0 : n;
	pthread_mutex_unlock(&w->mux->lock);
	return n;
}

/* Marks s done with rc and wakes its consumer; the lock is held. */
static void finish(struct stream *s, CURLcode rc)
{
	s->done = 1;
	s->rc = rc;
	pthread_cond_broadcast(&s->cond);
}

static void *mux_thread(void *arg)
{
	struct bw_mux *m = arg;
	struct stream *s, *todo[64];
	size_t n, i;
	int running, adding;

	bw_thread_name("mux", NULL);
	for (;;) {
		/* streams to add and to take out, collected under the lock and
		 * handed to curl without it */
		pthread_mutex_lock(&m->lock);
		if (m->stopping && !m->streams) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		for (n = 0, s = m->streams; s && n < sizeof(todo) / sizeof(todo[0]); s = s->next) {
			if (!s->added && s->cancel && !s->done)
				finish(s, s->cancel_rc); /* stopped before it started */
			else if ((!s->added && !s->cancel) || (s->added && s->cancel && !s->done))
				todo[n++] = s;
		}
		pthread_mutex_unlock(&m->lock);
		for (i = 0; i < n; i++) {
			s = todo[i];
			pthread_mutex_lock(&m->lock);
			adding = !s->added;
			pthread_mutex_unlock(&m->lock);
			if (adding) {
				CURLMcode mc = curl_multi_add_handle(m->multi, s->h);

				pthread_mutex_lock(&m->lock);
				s->added = 1;
				if (mc != CURLM_OK) {
					s->added = 0;
					finish(s, CURLE_OUT_OF_MEMORY);
				}
				pthread_mutex_unlock(&m->lock);
			} else {
				curl_multi_remove_handle(m->multi, s->h);
				pthread_mutex_lock(&m->lock);
				finish(s, s->cancel_rc);
				pthread_mutex_unlock(&m->lock);
			}
		}

		curl_multi_perform(m->multi, &running);
		for (CURLMsg *msg; (msg = curl_multi_info_read(m->multi, &running));) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			s = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			{
				CURLcode rc = msg->data.result;

				curl_multi_remove_handle(m->multi, msg->easy_handle);
				pthread_mutex_lock(&m->lock);
				finish(s, s->cancel ? s->cancel_rc : rc);
				pthread_mutex_unlock(&m->lock);
			}
		}
		/* a second at most: a cancelled stream is also woken for */
		curl_multi_poll(m->multi, NULL, 0, 1000, NULL);
	}
	return NULL;
}

/* Starts the thread unless it runs; the lock is held. */
static int start(struct bw_mux *m)
{
	if (m->started)
		return 0;
	if (pthread_create(&m->thread, NULL, mux_thread, m) != 0)
		return -1;
	m->started = 1;
	return 0;
}

static void unlink_stream(struct bw_mux *m, struct stream *s)
{
	for (struct stream **p = &m->streams; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			return;
		}
}

/* The consumer's side, with the lock held: delivers what arrived (the lock
 * let go meanwhile), ticks, and says whether to stop (the CURLcode to end
 * with) or 0 to go on. */
static CURLcode consume(struct bw_mux *m, struct stream *s, bw_mux_deliver_fn deliver,
			bw_mux_tick_fn tick, void *ctx)
{
	long status = s->status;
	struct chunk *taken = s->head, *c;
	int stop = 0;

	/* the chunks are the consumer's now; the mux fills new ones */
	s->head = s->tail = NULL;
	s->pending = 0;
	pthread_cond_broadcast(&s->cond); /* room again */
	pthread_mutex_unlock(&m->lock);
	for (c = taken; c && !stop; c = c->next)
		if (deliver(c->data, c->len, status, ctx) != 0)
			stop = CURLE_WRITE_ERROR;
	if (!stop && tick && tick(ctx) != 0)
		stop = CURLE_ABORTED_BY_CALLBACK;
	free_chunks(taken);
	pthread_mutex_lock(&m->lock);
	return (CURLcode)stop;
}

CURLcode bw_mux_perform(struct bw_mux *m, CURL *h, bw_mux_deliver_fn deliver, bw_mux_tick_fn tick,
			void *ctx)
{
	struct stream s = {.h = h};
	struct write_ctx w = {m, &s};
	CURLcode rc;

	pthread_cond_init(&s.cond, NULL);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w);
	curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)&s);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);

	pthread_mutex_lock(&m->lock);
	if (m->stopping || start(m) != 0) {
		pthread_mutex_unlock(&m->lock);
		pthread_cond_destroy(&s.cond);
		return CURLE_OUT_OF_MEMORY;
	}
	s.next = m->streams;
	m->streams = &s;
	pthread_mutex_unlock(&m->lock);
	curl_multi_wakeup(m->multi);

	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct timespec until;
		CURLcode stop;

		if (s.pending == 0 && !s.done) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&s.cond, &m->lock, &until);
		}
		if (s.done && s.pending == 0)
			break;
		if (s.cancel) { /* stopped: nothing more is delivered */
			drop_pending(&s);
			if (s.done)
				break;
			pthread_cond_wait(&s.cond, &m->lock);
			continue;
		}
		stop = consume(m, &s, deliver, tick, ctx);
		if (stop && !s.done) {
			s.cancel = 1;
			s.cancel_rc = stop;
			pthread_cond_broadcast(&s.cond); /* a write waiting for room */
			pthread_mutex_unlock(&m->lock);
			curl_multi_wakeup(m->multi);
			pthread_mutex_lock(&m->lock);
		} else if (stop) {
			s.rc = stop;
			drop_pending(&s); /* stopped: the rest is not delivered */
		}
	}
	rc = s.rc;
	unlink_stream(m, &s);
	drop_pending(&s);
	pthread_mutex_unlock(&m->lock);
	pthread_cond_destroy(&s.cond);
	return rc;
}
