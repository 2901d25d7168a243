#include <stdio.h>
#include <sys/prctl.h>

#include "thread.h"

void bw_thread_name(const char *prefix, const char *what)
{
	char name[16]; /* TASK_COMM_LEN */

	snprintf(name, sizeof(name), "%s%s%s", prefix, what ? "-" : "", what ? what : "");
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}
