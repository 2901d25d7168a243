/*
 * libFuzzer target for the kubeconfig parser: any bytes in, no crash, leak
 * or sanitizer report out. Relative file paths resolve against the seed
 * folder; the parser reads only regular files of at most 1 MiB.
 */
#include <stddef.h>
#include <stdint.h>

#include "kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_kube_config cfg;
	struct bw_error err;

	bw_kubeconfig_parse(&cfg, (const char *)data, size, "tests/unit/data/kubeconfig", NULL,
			    &err);
	bw_kubeconfig_release(&cfg);
	bw_kubeconfig_parse(&cfg, (const char *)data, size, "tests/unit/data/kubeconfig", "dev",
			    &err);
	bw_kubeconfig_release(&cfg);
	return 0;
}
