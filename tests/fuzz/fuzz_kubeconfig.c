// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* libFuzzer: kubeconfig bytes (YAML or JSON), and base64 data fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct np_kubeconfig kc;
	struct np_error err;
	char *s, *out = NULL;
	size_t n;

	np_log_set_level(NP_LOG_ERROR);
	memset(&kc, 0, sizeof(kc));
	if (np_kubeconfig_parse(&kc, "fuzz-kubeconfig", (const char *)data, size, "/nonexistent", &err) == 0)
		np_kubeconfig_free(&kc);
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (np_base64_decode(s, &out, &n) == 0)
		free(out);
	free(s);
	return 0;
}
