// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* What the netpolctl commands against a running agent share: see opsctl.h and opsctl_int.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <curl/curl.h>
#include <jansson.h>

#include "loader.h"
#include "log.h"
#include "mapusage.h"
#include "netpol.h"
#include "opsctl.h"
#include "opsctl_int.h"
#include "pkt.h"
#include "verdict.h"

/* ---- common options ---- */

void np_ctl_defaults(struct ctl *c)
{
	const char *env = getenv("NETPOL_PIN_PATH");
	const char *addr = getenv("NETPOL_METRICS_ADDRESS");

	c->pin_root = env && *env ? env : NP_PIN_DEFAULT;
	if (!addr || !*addr || strcmp(addr, "off") == 0)
		addr = NP_METRICS_DEFAULT_ADDRESS;
	/* An agent listening on every address is reached on loopback. */
	if (addr[0] == ':')
		snprintf(c->agent, sizeof(c->agent), "http://127.0.0.1%s", addr);
	else if (strncmp(addr, "0.0.0.0:", 8) == 0)
		snprintf(c->agent, sizeof(c->agent), "http://127.0.0.1%s", addr + 7);
	else
		snprintf(c->agent, sizeof(c->agent), "http://%s", addr);
	c->json = false;
}

/* 1: handled (a common option), 0: not ours, -EINVAL: bad value. */
int np_ctl_opt(struct ctl *c, int opt, const char *cmd)
{
	switch (opt) {
	case OPT_PIN:
		c->pin_root = optarg;
		return 1;
	case OPT_AGENT: {
		size_t n = strlen(optarg);

		if (strncmp(optarg, "http://", 7) != 0 || n >= sizeof(c->agent)) {
			fprintf(stderr, "netpolctl %s: --agent: \"%s\" is not an http:// URL (e.g. http://127.0.0.1:9090)\n",
				cmd, optarg);
			return -EINVAL;
		}
		snprintf(c->agent, sizeof(c->agent), "%s", optarg);
		while (n > 7 && c->agent[n - 1] == '/')
			c->agent[--n] = '\0';
		return 1;
	}
	case OPT_OUTPUT:
		if (strcmp(optarg, "json") == 0) {
			c->json = true;
		} else if (strcmp(optarg, "table") == 0) {
			c->json = false;
		} else {
			fprintf(stderr, "netpolctl %s: --output: \"%s\" is not table or json\n", cmd, optarg);
			return -EINVAL;
		}
		return 1;
	default:
		return 0;
	}
}

/* ---- the agent's HTTP endpoint ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	np_sb_add(ctx, p, size * n);
	return size * n;
}

/* GET BASE+PATH.  0 with *STATUS and BODY filled, or -EIO with ERRBUF. */
int np_ctl_get(const struct ctl *c, const char *path, long *status, struct np_strbuf *body,
		     char *errbuf, size_t errlen)
{
	char url[1024], cerr[CURL_ERROR_SIZE] = "";
	CURL *h = curl_easy_init();
	CURLcode rc;

	if (!h) {
		snprintf(errbuf, errlen, "libcurl could not start");
		return -ENOMEM;
	}
	snprintf(url, sizeof(url), "%s%s", c->agent, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* the agent is on this node */
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http");
	rc = curl_easy_perform(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	else
		snprintf(errbuf, errlen, "%.300s: %.200s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
	curl_easy_cleanup(h);
	np_sb_add(body, "", 0);
	return rc == CURLE_OK ? 0 : -EIO;
}

/* GET PATH as JSON; NULL with ERRBUF on failure or a non-200 answer. */
json_t *np_ctl_json(const struct ctl *c, const char *path, long *status, char *errbuf,
			  size_t errlen)
{
	struct np_strbuf b = { 0 };
	json_error_t jerr;
	json_t *j = NULL;
	long st = 0;

	if (np_ctl_get(c, path, &st, &b, errbuf, errlen))
		goto cleanup;
	if (status)
		*status = st;
	j = json_loads(b.p, 0, &jerr);
	if (!j) {
		snprintf(errbuf, errlen, "%s%s: not JSON (HTTP %ld): %.200s", c->agent, path, st, b.p);
		goto cleanup;
	}
	if (st != 200) {
		json_t *e = json_object_get(j, "error");

		snprintf(errbuf, errlen, "%s%s: HTTP %ld: %s", c->agent, path, st,
			 json_is_string(e) ? json_string_value(e) : "error");
		json_decref(j);
		j = NULL;
	}
cleanup:
	np_sb_free(&b);
	return j;
}

/* ---- pinned maps ---- */

int np_ctl_pinned_fd(const struct ctl *c, const char *name, bool versioned)
{
	char path[PATH_MAX];

	if (versioned)
		snprintf(path, sizeof(path), "%s/v%u/%s", c->pin_root, NP_PIN_LAYOUT_VERSION, name);
	else
		snprintf(path, sizeof(path), "%s/%s", c->pin_root, name);
	return bpf_obj_get(path);
}

void np_ctl_print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		puts(s);
	free(s);
}

const char *np_ctl_addr(const struct np_addr *a, char *buf, size_t len)
{
	return np_addr_str(a, buf, len);
}
