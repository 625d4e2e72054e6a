/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * AWS credentials, found the way the AWS SDKs find them on EKS, first
 * configured source wins:
 *   1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN)
 *   2. IRSA web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE ->
 *      STS AssumeRoleWithWebIdentity (unsigned form POST; the token file is
 *      re-read for every call, kubelet rotates it); AWS_ENDPOINT_URL_STS,
 *      AWS_ROLE_SESSION_NAME
 *   3. EKS Pod Identity / container credentials:
 *      AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 *      (or AWS_CONTAINER_AUTHORIZATION_TOKEN)
 *   4. IMDSv2 instance role (AWS_EC2_METADATA_SERVICE_ENDPOINT, default
 *      http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true skips it)
 * Temporary credentials are refreshed before they expire (5 minutes before,
 * or half their lifetime when that is shorter), asynchronously on the event
 * loop.  Secrets, tokens and signatures are never logged.
 */
#ifndef NP_AWSCREDS_H
#define NP_AWSCREDS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "evloop.h"
#include "httpm.h"

enum np_aws_source {
	NP_AWS_SRC_NONE = 0,
	NP_AWS_SRC_ENV,
	NP_AWS_SRC_WEB_IDENTITY,
	NP_AWS_SRC_POD_IDENTITY,
	NP_AWS_SRC_IMDS,
};

struct np_aws_creds {
	char *akid;
	char *secret;
	char *token;      /* NULL for long-term keys */
	int64_t expires;  /* Unix seconds; 0 = does not expire */
};

/* Where to get credentials: np_awscreds_cfg_from_env() fills it from the
 * environment; tests fill it directly.  Strings are borrowed. */
struct np_awscreds_cfg {
	const char *access_key, *secret_key, *session_token;
	const char *role_arn, *web_identity_token_file, *role_session_name, *sts_endpoint;
	const char *container_uri, *container_token_file, *container_token;
	const char *imds_endpoint;
	bool imds_disabled;
	const char *region;  /* for the regional STS endpoint */
	const char *ca_file; /* AWS_CA_BUNDLE */
	long timeout_ms;     /* per HTTP request; 0 = 5000 */
};

void np_awscreds_cfg_from_env(struct np_awscreds_cfg *cfg, const char *region);
enum np_aws_source np_awscreds_pick(const struct np_awscreds_cfg *cfg);
const char *np_aws_source_name(enum np_aws_source s);

typedef void (*np_awscreds_ready_cb)(void *ctx);

struct np_awscreds {
	struct np_awscreds_cfg cfg;
	enum np_aws_source source;
	struct np_aws_creds cur;
	int64_t fetched_at;      /* Unix seconds */
	struct np_httpm *http;
	struct np_loop *loop;
	struct np_http_req *req; /* running fetch */
	int step;                /* IMDS: 0 token, 1 role name, 2 credentials */
	char *imds_token, *imds_role;
	struct np_timer retry;
	unsigned failures;
	uint64_t refreshes;      /* successful fetches */
	np_awscreds_ready_cb ready;
	void *ready_ctx;
};

int np_awscreds_init(struct np_awscreds *c, const struct np_awscreds_cfg *cfg,
		     struct np_httpm *http, np_awscreds_ready_cb ready, void *ctx);
void np_awscreds_free(struct np_awscreds *c);

/* Current credentials when usable for at least 60 more seconds (NOW in
 * Unix seconds), else NULL; starts a refresh when they are close to expiry
 * or absent.  READY is called when a refresh ends. */
const struct np_aws_creds *np_awscreds_get(struct np_awscreds *c, int64_t now);
/* The service said the credentials are bad or expired: fetch new ones. */
void np_awscreds_invalidate(struct np_awscreds *c);

/*
 * May credentials or signed requests go to URL?  The AWS SDKs' rules:
 * https:// anywhere; plain http:// only to a loopback host (localhost,
 * 127.0.0.0/8, ::1: the tests' fake endpoints) and, for the container
 * credentials (CONTAINER true), the ECS and EKS Pod Identity agents
 * (169.254.170.2, 169.254.170.23, fd00:ec2::23).  0, or -EINVAL with the
 * reason in ERR.
 */
int np_aws_url_check(const char *url, bool container, char *err, size_t err_len);

/* Parsers of the three answers (pure; exposed for tests).  0 or -EINVAL. */
int np_awscreds_parse_sts(const char *xml, struct np_aws_creds *out);
int np_awscreds_parse_json(const char *json, struct np_aws_creds *out);
/* "2026-11-29T01:02:03Z" (fraction and +00:00 allowed) -> Unix seconds. */
int np_iso8601_parse(const char *s, int64_t *out);
void np_aws_creds_clear(struct np_aws_creds *c);
/* Percent-encode S for a form body or URL (RFC 3986 unreserved kept). */
char *np_url_encode(const char *s);

#endif
