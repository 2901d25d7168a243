/*
 * Names for the process's threads, as ps -L, top -H, perf and gdb show them
 * ("wq-services", "rf-deployments", "httpd"), so a thread's CPU or a hang
 * can be told apart from the others without a debugger.
 *
 * Thread-safety: names the calling thread only; call it first thing in a
 * thread's start function.
 */
#ifndef BW_THREAD_H
#define BW_THREAD_H

/* Names the calling thread prefix-what ("rf" and "deployments" make
 * "rf-deployments"), or prefix alone when what is NULL; cut to the 15 bytes
 * Linux keeps. Failure is ignored: a name is a convenience. */
void bw_thread_name(const char *prefix, const char *what);

#endif
