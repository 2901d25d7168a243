/*
 * kubectl breakwater: the same binary run as a kubectl plugin. operator/main.c
 * hands it the command line when the binary is called as kubectl-breakwater
 * (a link on PATH: kubectl finds it) or as `breakwater plugin ...`.
 * Commands and exit codes are in docs/plugin.md.
 */
#ifndef BW_PLUGIN_H
#define BW_PLUGIN_H

/* Runs one command. prog is how the user called it ("kubectl breakwater"
 * or "breakwater plugin") for usage and messages; argv[0] is the command
 * (or a flag). Returns the exit status: 0, 1 (failed) or 2 (usage). */
int bw_plugin_main(const char *prog, int argc, char **argv);

#endif
