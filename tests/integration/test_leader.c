/*
 * Leader election between processes on the real API server. The test runs
 * itself as candidate processes ("test_leader candidate NS ID") that print
 * "leading ID" and "stopped ID" lines:
 *  - one candidate leads, a second waits;
 *  - the leader is killed with SIGKILL: the second takes over once the lease
 *    expires (not before, not much after);
 *  - the new leader is stopped with SIGTERM: it releases the lease and a third
 *    candidate takes over at once, well before the lease would expire.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "itest.h"
#include "leader.h"

#define LEASE_MS 4000
#define RENEW_MS 3000
#define RETRY_MS 500

static volatile sig_atomic_t terminated;

static void on_term(int sig)
{
	(void)sig;
	terminated = 1;
}

static void say_leading(void *ctx)
{
	printf("leading %s\n", (const char *)ctx);
	fflush(stdout);
}

static void say_stopped(void *ctx)
{
	printf("stopped %s\n", (const char *)ctx);
	fflush(stdout);
}

static int candidate(const char *ns, const char *id)
{
	struct bw_leader_options opts = {
	    .namespace = ns,
	    .name = "itest-lease",
	    .identity = id,
	    .lease_duration_ms = LEASE_MS,
	    .renew_deadline_ms = RENEW_MS,
	    .retry_period_ms = RETRY_MS,
	    .on_started_leading = say_leading,
	    .on_stopped_leading = say_stopped,
	    .ctx = (void *)id,
	};
	struct bw_client *c = itest_client();
	struct bw_leader *le = NULL;
	struct bw_error err;

	signal(SIGTERM, on_term);
	if (bw_leader_new(&le, c, &opts, &err) || bw_leader_start(le, &err)) {
		fprintf(stderr, "candidate %s: %s\n", id, err.message);
		return 1;
	}
	while (!terminated)
		pause();
	bw_leader_free(le); /* releases the lease if we hold it */
	bw_client_free(c);
	return 0;
}

struct proc {
	pid_t pid;
	int out; /* read end of its stdout */
	char seen[4096];
	size_t len;
};

static void spawn(struct proc *p, const char *self, const char *ns, const char *id)
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
		execl(self, self, "candidate", ns, id, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	p->out = fds[0];
	fcntl(p->out, F_SETFL, O_NONBLOCK);
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

int main(int argc, char **argv)
{
	struct proc a, b, cc;
	struct bw_client *c;
	char ns[128], *h;
	int64_t t0;
	long took;

	bw_log_configure(BW_LOG_WARN, BW_LOG_TEXT, NULL);
	if (argc == 4 && strcmp(argv[1], "candidate") == 0)
		return candidate(argv[2], argv[3]);

	c = itest_client();
	if (itest_namespace(c, "leader", ns, sizeof(ns)) != 0)
		return 1;

	spawn(&a, "/proc/self/exe", ns, "alpha");
	CHECK(wait_output(&a, "leading alpha", 10000) >= 0, "the first candidate leads");
	spawn(&b, "/proc/self/exe", ns, "bravo");
	itest_sleep_ms(2 * RETRY_MS + 500);
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
	itest_sleep_ms(2 * RETRY_MS + 500);
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

	itest_delete_namespace(c, ns);
	bw_client_free(c);
	return check_exit();
}
