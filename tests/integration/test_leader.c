/*
 * Leader election between processes on the real API server. The test runs
 * itself as candidate processes ("test_leader candidate NS ID [SERVER]") that
 * print "leading ID" and "stopped ID" lines and, while leading, write their
 * identity and a counter into the ConfigMap itest-writes every 100 ms; like
 * bin/breakwater, a candidate that loses the lease exits at once (status 3).
 *  - one candidate leads, a second waits;
 *  - the leader is killed with SIGKILL: the second takes over once the lease
 *    expires (not before, not much after);
 *  - the new leader is stopped with SIGTERM: it releases the lease and a third
 *    candidate takes over at once, well before the lease would expire;
 *  - a hung API server: a leader talks to it through a TCP proxy on loopback
 *    that stalls (forwards nothing either way, keeps every socket open); the
 *    stalled leader must stop before the other candidate takes over, and once
 *    the stall ends no write of the old leader may land after the new
 *    leader's first (a watch on the ConfigMap sees the writes in commit order).
 *    When the stall ends, what it caught is never delivered: connections
 *    whose client gave up are closed, the others stay stalled for good (as
 *    after an API server restart behind a balancer, or a partition that broke
 *    them), and new connections work. So a write of the old leader can land
 *    only if it still believes it leads and sends a new one.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "itest.h"
#include "leader.h"
#include "watch.h"

#define LEASE_MS 4000
#define RENEW_MS 3000
#define RETRY_MS 500

#define WRITES_CM   "itest-writes"
#define LOST_STATUS 3

/* atomic: read by the leader's thread too */
static atomic_int terminated;

static void on_term(int sig)
{
	(void)sig;
	atomic_store(&terminated, 1);
}

/* A candidate's state, shared by its leader callbacks and its writer thread. */
struct candidate {
	const char *ns, *id;
	struct bw_client *client;
	atomic_int leading;
	atomic_int stop;
};

static void say_leading(void *ctx)
{
	struct candidate *cand = ctx;

	printf("leading %s\n", cand->id);
	fflush(stdout);
	atomic_store(&cand->leading, 1);
}

/* "ID sees HOLDER": the lease read names another holder, so a check that
 * this candidate waits is not made before it has looked. */
static void say_new_leader(const char *identity, void *ctx)
{
	struct candidate *cand = ctx;

	printf("%s sees %s\n", cand->id, identity);
	fflush(stdout);
}

static void say_stopped(void *ctx)
{
	struct candidate *cand = ctx;

	atomic_store(&cand->leading, 0);
	printf("stopped %s\n", cand->id);
	fflush(stdout);
	if (!atomic_load(&terminated))
		_exit(LOST_STATUS); /* lost the lease: as bin/breakwater does */
}

/* While leading, writes {holder: ID, seq: N} into the ConfigMap every 100 ms;
 * each write gives up after 1 s, so a stalled one does not hold the next. */
static void *writer(void *arg)
{
	struct candidate *cand = arg;
	char path[256], body[256];
	struct bw_request req = {.method = "PATCH",
				 .path = path,
				 .content_type = "application/merge-patch+json",
				 .body = body,
				 .timeout_ms = 1000};
	long seq = 0;

	bw_client_path(path, sizeof(path), &bw_res_configmaps, cand->ns, WRITES_CM, NULL, NULL);
	while (!atomic_load(&cand->stop)) {
		if (atomic_load(&cand->leading)) {
			snprintf(body, sizeof(body),
				 "{\"data\":{\"holder\":\"%s\",\"seq\":\"%ld\"}}", cand->id, ++seq);
			req.body_len = strlen(body);
			bw_client_do(cand->client, &req, NULL, NULL);
		}
		itest_sleep_ms(100);
	}
	return NULL;
}

/* The kubeconfig's client, or one that talks to server instead. */
static struct bw_client *candidate_client(const char *server)
{
	struct bw_kube_config cfg = {0};
	struct bw_client *client = NULL;
	struct bw_error err;

	if (!server)
		return itest_client();
	if (bw_kubeconfig_load(&cfg, getenv("KUBECONFIG"), NULL, &err) != 0)
		exit(1);
	free(cfg.server);
	cfg.server = strdup(server);
	if (bw_client_new(&client, &cfg, NULL, &err) != 0) {
		fprintf(stderr, "candidate: %s\n", err.message);
		exit(1);
	}
	bw_kubeconfig_release(&cfg);
	return client;
}

static int candidate(const char *ns, const char *id, const char *server)
{
	struct candidate cand = {.ns = ns, .id = id};
	struct bw_leader_options opts = {
	    .namespace = ns,
	    .name = "itest-lease",
	    .identity = id,
	    .lease_duration_ms = LEASE_MS,
	    .renew_deadline_ms = RENEW_MS,
	    .retry_period_ms = RETRY_MS,
	    .on_started_leading = say_leading,
	    .on_stopped_leading = say_stopped,
	    .on_new_leader = say_new_leader,
	    .ctx = &cand,
	};
	struct bw_leader *le = NULL;
	struct bw_error err;
	pthread_t w;

	cand.client = candidate_client(server);
	signal(SIGTERM, on_term);
	if (bw_leader_new(&le, cand.client, &opts, &err) || bw_leader_start(le, &err)) {
		fprintf(stderr, "candidate %s: %s\n", id, err.message);
		return 1;
	}
	pthread_create(&w, NULL, writer, &cand);
	while (!atomic_load(&terminated))
		pause();
	atomic_store(&cand.stop, 1); /* no write after a graceful stop either */
	pthread_join(w, NULL);
	bw_leader_free(le); /* releases the lease if we hold it */
	bw_client_free(cand.client);
	return 0;
}

/* --- a TCP proxy on loopback that can stall --- */

#define PROXY_CONNS 64

struct proxy {
	int listen_fd, port;
	struct sockaddr_in upstream;
	int down[PROXY_CONNS], up[PROXY_CONNS]; /* -1: free */
	int dead[PROXY_CONNS];			/* caught by a stall: never forwarded again */
	atomic_int stalled, stop;
	pthread_t thread;
};

static void proxy_close(struct proxy *p, int i)
{
	close(p->down[i]);
	if (p->up[i] >= 0)
		close(p->up[i]);
	p->down[i] = p->up[i] = -1;
	p->dead[i] = 0;
}

/* 1 when the client of this socket has hung up (its FIN may follow unread data). */
static int hung_up(int fd)
{
	struct pollfd pfd = {fd, POLLRDHUP, 0};

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Takes one connection off the backlog; 0 when there was none. A dead one
 * (made during a stall) is kept open and never forwarded. */
static int proxy_accept(struct proxy *p, int dead)
{
	int fd = accept(p->listen_fd, NULL, NULL), up = -1, i;

	if (fd < 0)
		return 0;
	for (i = 0; i < PROXY_CONNS && p->down[i] >= 0; i++)
		;
	if (!dead)
		up = socket(AF_INET, SOCK_STREAM, 0);
	if (i == PROXY_CONNS || hung_up(fd) ||
	    (!dead &&
	     (up < 0 || connect(up, (struct sockaddr *)&p->upstream, sizeof(p->upstream)) != 0))) {
		close(fd);
		if (up >= 0)
			close(up);
		return 1;
	}
	p->down[i] = fd;
	p->up[i] = up;
	p->dead[i] = dead;
	return 1;
}

/* Moves what is readable on from to to; 0 when the connection is over. */
static int proxy_pump(int from, int to)
{
	char buf[16384];
	ssize_t n = recv(from, buf, sizeof(buf), 0), off = 0;

	if (n <= 0)
		return 0;
	while (off < n) {
		ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);

		if (w <= 0)
			return 0;
		off += w;
	}
	return 1;
}

static void *proxy_run(void *arg)
{
	struct proxy *p = arg;
	int was_stalled = 0;

	while (!atomic_load(&p->stop)) {
		struct pollfd pfds[1 + 2 * PROXY_CONNS];
		int idx[1 + 2 * PROXY_CONNS], n = 0;

		if (atomic_load(&p->stalled)) {
			/* a hung server: read nothing, send nothing, close nothing */
			was_stalled = 1;
			itest_sleep_ms(10);
			continue;
		}
		if (was_stalled) {
			/* the stall is over; what it caught is never delivered: a
			 * connection whose client gave up is closed, the others
			 * (backlog too) stay stalled until their client gives up */
			while (proxy_accept(p, 1))
				;
			for (int i = 0; i < PROXY_CONNS; i++)
				if (p->down[i] >= 0)
					p->dead[i] = 1;
			was_stalled = 0;
		}
		for (int i = 0; i < PROXY_CONNS; i++)
			if (p->dead[i] && hung_up(p->down[i]))
				proxy_close(p, i);
		pfds[n] = (struct pollfd){p->listen_fd, POLLIN, 0};
		idx[n++] = -1;
		for (int i = 0; i < PROXY_CONNS; i++) {
			if (p->down[i] < 0 || p->dead[i])
				continue;
			pfds[n] = (struct pollfd){p->down[i], POLLIN, 0};
			idx[n++] = 2 * i;
			pfds[n] = (struct pollfd){p->up[i], POLLIN, 0};
			idx[n++] = 2 * i + 1;
		}
		if (poll(pfds, (nfds_t)n, 10) <= 0)
			continue;
		for (int k = 0; k < n && !atomic_load(&p->stalled); k++) {
			int i = idx[k] / 2;

			if (!pfds[k].revents)
				continue;
			if (idx[k] < 0) {
				proxy_accept(p, 0);
			} else if (p->down[i] >= 0 && !p->dead[i]) {
				int ok = idx[k] % 2 == 0 ? proxy_pump(p->down[i], p->up[i])
							 : proxy_pump(p->up[i], p->down[i]);
				if (!ok)
					proxy_close(p, i);
			}
		}
	}
	return NULL;
}

/* Starts a proxy to the API server of server_url ("https://127.0.0.1:PORT"). */
static int proxy_start(struct proxy *p, const char *server_url)
{
	struct sockaddr_in addr = {.sin_family = AF_INET};
	socklen_t len = sizeof(addr);
	const char *colon = strrchr(server_url, ':');

	memset(p, 0, sizeof(*p));
	for (int i = 0; i < PROXY_CONNS; i++)
		p->down[i] = p->up[i] = -1;
	if (strncmp(server_url, "https://127.0.0.1:", 18) != 0 || !colon)
		return -1;
	p->upstream.sin_family = AF_INET;
	p->upstream.sin_port = htons((uint16_t)atoi(colon + 1));
	p->upstream.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (p->listen_fd < 0 || bind(p->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    listen(p->listen_fd, 64) != 0 ||
	    getsockname(p->listen_fd, (struct sockaddr *)&addr, &len) != 0)
		return -1;
	p->port = ntohs(addr.sin_port);
	return pthread_create(&p->thread, NULL, proxy_run, p) == 0 ? 0 : -1;
}

static void proxy_stop(struct proxy *p)
{
	atomic_store(&p->stop, 1);
	pthread_join(p->thread, NULL);
	for (int i = 0; i < PROXY_CONNS; i++)
		if (p->down[i] >= 0)
			proxy_close(p, i);
	close(p->listen_fd);
}

/* --- a watch on the ConfigMap the leaders write: every write, in commit order --- */

#define WRITES_MAX 4096

struct writes {
	struct bw_client *client;
	const char *ns;
	pthread_t thread;
	atomic_int stop;
	struct bw_line_reader lines;
	pthread_mutex_t lock;
	int n;
	char holder[WRITES_MAX][16];
	int64_t seen_ms[WRITES_MAX]; /* when the event arrived */
};

static int on_write_line(const char *line, size_t len, void *ctx)
{
	struct writes *w = ctx;
	enum bw_watch_type type;
	json_t *obj = NULL;
	const char *h;

	if (bw_watch_event_parse(line, len, &type, &obj, NULL) == 0 &&
	    (type == BW_WATCH_ADDED || type == BW_WATCH_MODIFIED)) {
		h = json_string_value(json_object_get(json_object_get(obj, "data"), "holder"));
		pthread_mutex_lock(&w->lock);
		if (h && w->n < WRITES_MAX) {
			snprintf(w->holder[w->n], sizeof(w->holder[0]), "%s", h);
			w->seen_ms[w->n++] = bw_now_ms();
		}
		pthread_mutex_unlock(&w->lock);
	}
	json_decref(obj);
	return 0;
}

static int on_write_data(const char *data, size_t len, void *ctx)
{
	struct writes *w = ctx;

	return bw_line_reader_feed(&w->lines, data, len, on_write_line, w, NULL) ? BW_EPARSE : 0;
}

static int on_write_tick(void *ctx)
{
	return atomic_load(&((struct writes *)ctx)->stop);
}

static void *watch_writes(void *arg)
{
	struct writes *w = arg;
	char path[512];

	bw_client_path(path, sizeof(path), &bw_res_configmaps, w->ns, NULL, NULL, NULL);
	bw_client_stream(w->client, path, "watch=1&fieldSelector=metadata.name%3D" WRITES_CM, NULL,
			 on_write_data, on_write_tick, w, NULL);
	return NULL;
}

struct proc {
	pid_t pid;
	int out; /* read end of its stdout */
	char seen[4096];
	size_t len;
};

static void spawn_via(struct proc *p, const char *self, const char *ns, const char *id,
		      const char *server)
{
	int fds[2];

	memset(p, 0, sizeof(*p));
	if (pipe(fds) != 0)
		exit(1);
	p->pid = fork();
	if (p->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(self, self, "candidate", ns, id, server, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	p->out = fds[0];
	fcntl(p->out, F_SETFL, O_NONBLOCK);
}

static void spawn(struct proc *p, const char *self, const char *ns, const char *id)
{
	spawn_via(p, self, ns, id, NULL);
}

/* Reads what p has printed so far. */
static void drain(struct proc *p)
{
	ssize_t n = read(p->out, p->seen + p->len, sizeof(p->seen) - 1 - p->len);

	if (n > 0) {
		p->len += (size_t)n;
		p->seen[p->len] = '\0';
	}
}

/* Waits up to timeout_ms for text in p's output; returns the ms it took, or -1. */
static long wait_output(struct proc *p, const char *text, long timeout_ms)
{
	int64_t start = bw_now_ms();

	for (;;) {
		struct pollfd pfd = {p->out, POLLIN, 0};
		ssize_t n;

		if (strstr(p->seen, text))
			return (long)(bw_now_ms() - start);
		if (bw_now_ms() - start > timeout_ms)
			return -1;
		poll(&pfd, 1, 50);
		n = read(p->out, p->seen + p->len, sizeof(p->seen) - 1 - p->len);
		if (n > 0) {
			p->len += (size_t)n;
			p->seen[p->len] = '\0';
		}
	}
}

static int exit_status(struct proc *p)
{
	int status = 0;

	waitpid(p->pid, &status, 0);
	close(p->out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *holder(struct bw_client *c, const char *ns)
{
	json_t *lease = NULL;
	char *h = NULL;

	if (bw_client_get(c, &bw_res_leases, ns, "itest-lease", NULL, &lease, NULL) == 0) {
		const char *s = json_string_value(
		    json_object_get(json_object_get(lease, "spec"), "holderIdentity"));
		h = strdup(s ? s : "");
	}
	json_decref(lease);
	return h;
}

/* Index of the first write by id at or after from, or -1. */
static int find_write(struct writes *w, const char *id, int from)
{
	for (int i = from; i < w->n; i++)
		if (strcmp(w->holder[i], id) == 0)
			return i;
	return -1;
}

static void test_hung_api_server(struct bw_client *c, const char *ns)
{
	static struct writes w;
	struct proxy px;
	struct proc d, e;
	char server[64];
	json_t *cm =
	    json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "apiVersion", "v1", "kind", "ConfigMap",
		      "metadata", "name", WRITES_CM, "data", "holder", "none");
	int64_t t_stall, t_stop = -1, t_lead = -1, deadline;
	int first_e, late_d, last_d, status;

	CHECK(bw_client_create(c, &bw_res_configmaps, ns, cm, NULL, NULL) == 0,
	      "the ConfigMap the leaders write exists");
	json_decref(cm);
	w.client = c;
	w.ns = ns;
	pthread_mutex_init(&w.lock, NULL);
	bw_line_reader_init(&w.lines, 1 << 20);
	pthread_create(&w.thread, NULL, watch_writes, &w);
	{
		struct bw_kube_config cfg = {0};

		bw_kubeconfig_load(&cfg, getenv("KUBECONFIG"), NULL, NULL);
		CHECK(cfg.server && proxy_start(&px, cfg.server) == 0,
		      "a stallable proxy to the API server on loopback");
		bw_kubeconfig_release(&cfg);
	}
	snprintf(server, sizeof(server), "https://127.0.0.1:%d", px.port);

	spawn_via(&d, "/proc/self/exe", ns, "delta", server);
	CHECK(wait_output(&d, "leading delta", 10000) >= 0, "a leader behind the proxy leads");
	spawn(&e, "/proc/self/exe", ns, "echo");
	CHECK(wait_output(&e, "echo sees delta", 10000) >= 0,
	      "echo reads the lease: delta holds it");
	itest_sleep_ms(2 * RETRY_MS); /* its next tries */
	drain(&e);		      /* what it printed meanwhile */
	CHECK(strstr(e.seen, "leading") == NULL, "a second candidate, direct, waits");
	pthread_mutex_lock(&w.lock);
	CHECK(find_write(&w, "delta", 0) >= 0, "the leader writes while it leads");
	pthread_mutex_unlock(&w.lock);

	/* the API server hangs for the leader only */
	atomic_store(&px.stalled, 1);
	t_stall = bw_now_ms();
	deadline = t_stall + LEASE_MS + 10000;
	while (t_lead < 0 && bw_now_ms() < deadline) {
		struct pollfd pfds[2] = {{d.out, POLLIN, 0}, {e.out, POLLIN, 0}};

		poll(pfds, 2, 20);
		drain(&d);
		drain(&e);
		if (t_stop < 0 && strstr(d.seen, "stopped delta"))
			t_stop = bw_now_ms() - t_stall;
		if (strstr(e.seen, "leading echo"))
			t_lead = bw_now_ms() - t_stall;
	}
	printf("# stall at 0 ms: the stalled leader stopped at %ld ms, the other took over at "
	       "%ld ms (lease %d ms, renew deadline %d ms, retry %d ms)\n",
	       (long)t_stop, (long)t_lead, LEASE_MS, RENEW_MS, RETRY_MS);
	CHECK(t_lead >= 0, "the direct candidate takes over from the stalled leader");
	/* its last good renewal began before the stall: the deadline falls
	 * within RENEW_MS of it; the slack is the waking and the pipe (TSan
	 * slows both), still short of the lease */
	CHECK(t_stop >= 0 && t_stop <= RENEW_MS + 500,
	      "the stalled leader gives up by its renew deadline (%ld ms <= %d ms)", (long)t_stop,
	      RENEW_MS + 500);
	CHECK(t_stop >= 0 && t_lead >= 0 && t_stop < t_lead,
	      "the stalled leader stops before the other takes over (%ld ms before)",
	      (long)(t_lead - t_stop));

	/* the new leader writes; then the old one's stall ends */
	for (deadline = bw_now_ms() + 5000; bw_now_ms() < deadline; itest_sleep_ms(20)) {
		pthread_mutex_lock(&w.lock);
		first_e = find_write(&w, "echo", 0);
		pthread_mutex_unlock(&w.lock);
		if (first_e >= 0)
			break;
	}
	itest_sleep_ms(1000);
	atomic_store(&px.stalled, 0);
	/* until the old leader is gone (at once, when it stopped in time; an old
	 * leader that still believes it leads writes on through new connections
	 * until its stalled renew times out), and a moment for writes to land */
	if (wait_output(&d, "stopped delta", 40000) < 0)
		kill(d.pid, SIGKILL);
	itest_sleep_ms(1000);
	atomic_store(&w.stop, 1);
	pthread_join(w.thread, NULL);

	first_e = find_write(&w, "echo", 0);
	late_d = first_e >= 0 ? find_write(&w, "delta", first_e) : -1;
	last_d = -1;
	for (int i = 0; i < (first_e >= 0 ? first_e : w.n); i++)
		if (strcmp(w.holder[i], "delta") == 0)
			last_d = i;
	CHECK(first_e >= 0, "the new leader writes");
	CHECK(late_d < 0,
	      "no write of the old leader lands after the new leader's first (%d writes "
	      "seen; old leader's late one at %d)",
	      w.n, late_d);
	if (last_d >= 0 && t_lead >= 0)
		printf("# the old leader's last write landed %ld ms before the takeover\n",
		       (long)(t_stall + t_lead - w.seen_ms[last_d]));
	status = exit_status(&d);
	CHECK_INT(LOST_STATUS, status, "the stalled leader exited as a lost leader does");

	kill(e.pid, SIGTERM);
	CHECK_INT(0, exit_status(&e), "the new leader exits cleanly");
	proxy_stop(&px);
	bw_line_reader_release(&w.lines);
}

int main(int argc, char **argv)
{
	struct proc a, b, cc;
	struct bw_client *c;
	char ns[128], *h;
	int64_t t0;
	long took;

	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "candidate") == 0)
		return candidate(argv[2], argv[3], argc == 5 ? argv[4] : NULL);

	c = itest_client();
	if (itest_namespace(c, "leader", ns, sizeof(ns)) != 0)
		return 1;

	spawn(&a, "/proc/self/exe", ns, "alpha");
	CHECK(wait_output(&a, "leading alpha", 10000) >= 0, "the first candidate leads");
	spawn(&b, "/proc/self/exe", ns, "bravo");
	CHECK(wait_output(&b, "bravo sees alpha", 10000) >= 0,
	      "bravo reads the lease: alpha holds it");
	itest_sleep_ms(2 * RETRY_MS); /* its next tries */
	drain(&b);		      /* what it printed meanwhile */
	CHECK(strstr(b.seen, "leading") == NULL, "the second candidate waits");
	h = holder(c, ns);
	CHECK_STR("alpha", h, "the lease names the leader");
	free(h);

	kill(a.pid, SIGKILL);
	t0 = bw_now_ms();
	exit_status(&a);
	took = wait_output(&b, "leading bravo", LEASE_MS + 10000);
	took = took < 0 ? -1 : (long)(bw_now_ms() - t0);
	printf("# takeover after SIGKILL: %ld ms (lease %d ms)\n", took, LEASE_MS);
	CHECK(took >= 0, "after the leader is killed, the second candidate takes over");
	CHECK(took >= LEASE_MS - 2 * RETRY_MS, "not before the lease expired (%ld ms >= %d ms)",
	      took, LEASE_MS - 2 * RETRY_MS);
	CHECK(took >= 0 && took <= LEASE_MS + 4 * RETRY_MS + 2000,
	      "and soon after (%ld ms <= %d ms)", took, LEASE_MS + 4 * RETRY_MS + 2000);

	spawn(&cc, "/proc/self/exe", ns, "charlie");
	CHECK(wait_output(&cc, "charlie sees bravo", 10000) >= 0,
	      "charlie reads the lease: bravo holds it");
	itest_sleep_ms(2 * RETRY_MS); /* its next tries */
	drain(&cc);		      /* what it printed meanwhile */
	CHECK(strstr(cc.seen, "leading") == NULL, "a third candidate waits");

	kill(b.pid, SIGTERM);
	t0 = bw_now_ms();
	took = wait_output(&cc, "leading charlie", LEASE_MS + 10000);
	took = took < 0 ? -1 : (long)(bw_now_ms() - t0);
	printf("# takeover after a graceful stop: %ld ms\n", took);
	CHECK(took >= 0 && took < LEASE_MS - RETRY_MS,
	      "a graceful stop releases the lease: takeover in %ld ms, before it would expire",
	      took);
	CHECK(wait_output(&b, "stopped bravo", 5000) >= 0, "the stopped leader said it stopped");
	CHECK_INT(0, exit_status(&b), "and exited cleanly");

	kill(cc.pid, SIGTERM);
	CHECK_INT(0, exit_status(&cc), "the last candidate exits cleanly");
	h = holder(c, ns);
	CHECK_STR("", h, "and left the lease free");
	free(h);

	test_hung_api_server(c, ns);

	itest_delete_namespace(c, ns);
	bw_client_free(c);
	return check_exit();
}
