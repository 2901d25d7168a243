/* lib/thread.h: bw_thread_name(), read back from /proc as ps and perf read it. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "thread.h"

/* The calling thread's name, from prctl's own record in /proc. */
static void own_name(char *out, size_t size)
{
	FILE *f = fopen("/proc/thread-self/comm", "r");

	out[0] = '\0';
	if (f) {
		if (fgets(out, (int)size, f))
			out[strcspn(out, "\n")] = '\0';
		fclose(f);
	}
}

static void *named(void *arg)
{
	char *out = arg;

	bw_thread_name("rf", "deployments");
	own_name(out, 64);
	bw_thread_name("wq", "horizontalpodautoscalers");
	own_name(out + 64, 64);
	bw_thread_name("httpd", NULL);
	own_name(out + 128, 64);
	return NULL;
}

int main(void)
{
	char names[192], main_before[64], main_after[64];
	pthread_t t;

	own_name(main_before, sizeof(main_before));
	CHECK(pthread_create(&t, NULL, named, names) == 0 && pthread_join(t, NULL) == 0,
	      "a thread names itself");
	CHECK_STR("rf-deployments", names, "prefix and what, joined by a dash");
	CHECK_STR("wq-horizontalpo", names + 64, "cut to the 15 bytes Linux keeps");
	CHECK_STR("httpd", names + 128, "the prefix alone when what is NULL");
	own_name(main_after, sizeof(main_after));
	CHECK_STR(main_before, main_after, "other threads keep their names");
	return check_exit();
}
