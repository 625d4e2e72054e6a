// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Durable marks: see flowmark.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "flowmark.h"
#include "log.h"

void np_flow_marks_init(struct np_flow_marks *m, int fd, int fd_ct, int fd_deny)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->fd_ct = fd_ct;
	m->fd_deny = fd_deny;
}

void np_flow_marks_free(struct np_flow_marks *m)
{
	free(m->q);
	m->q = NULL;
	m->head = m->n = m->cap = 0;
}

bool np_flow_marks_on(const struct np_flow_marks *m)
{
	return m->fd >= 0;
}

void np_flow_marks_meta_key(struct np_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->deny = NP_FLOW_MARK_KEY_META;
}

static int grow(struct np_flow_marks *m)
{
	size_t nc = m->cap ? m->cap * 2 : 256;
	struct np_flow_mark_pending *q = malloc(nc * sizeof(*q));

	if (!q)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++)
		q[i] = m->q[(m->head + i) % m->cap];
	free(m->q);
	m->q = q;
	m->cap = nc;
	m->head = 0;
	return 0;
}

int np_flow_marks_push(struct np_flow_marks *m, const struct np_flow_mark_pending *p)
{
	if (m->fd < 0)
		return 0;
	if (m->n == m->cap && grow(m)) {
		m->failed++;
		return -ENOMEM;
	}
	m->q[(m->head + m->n) % m->cap] = *p;
	m->n++;
	return 0;
}

static int kernel_fd(const struct np_flow_marks *m, const struct np_flow_key *k)
{
	return k->deny ? m->fd_deny : m->fd_ct;
}

static void apply(struct np_flow_marks *m, const struct np_flow_mark_pending *p)
{
	struct np_ct_val v;
	int fd;

	switch (p->op) {
	case NP_MARK_SET:
	case NP_MARK_META:
		if (bpf_map_update_elem(m->fd, &p->key, &p->mark, BPF_ANY) == 0)
			m->written++;
		else
			m->failed++; /* full: a crash would repeat this flow's record */
		break;
	case NP_MARK_EXPIRE:
		fd = kernel_fd(m, &p->key);
		/* A packet since the look: the entry lives on, keep both. */
		if (fd >= 0 && bpf_map_lookup_elem(fd, &p->key.ct, &v) == 0 &&
		    v.last_seen == p->last_seen) {
			bpf_map_delete_elem(fd, &p->key.ct);
			m->expired++;
			if (bpf_map_delete_elem(m->fd, &p->key) == 0)
				m->deleted++;
		}
		break;
	}
}

void np_flow_marks_commit(struct np_flow_marks *m, uint64_t resolved)
{
	while (m->n && m->q[m->head].seq < resolved) {
		apply(m, &m->q[m->head]);
		m->head = (m->head + 1) % m->cap;
		m->n--;
	}
}

int np_flow_marks_get(const struct np_flow_marks *m, const struct np_flow_key *k,
		      struct np_flow_mark *out)
{
	if (m->fd < 0)
		return -ENOENT;
	return bpf_map_lookup_elem(m->fd, k, out) ? -ENOENT : 0;
}

int np_flow_marks_del(struct np_flow_marks *m, const struct np_flow_key *k)
{
	if (m->fd < 0 || bpf_map_delete_elem(m->fd, k))
		return -ENOENT;
	m->deleted++;
	return 0;
}

/* Is the mark of K (value MK) over?  See np_flow_marks_sweep. */
static bool mark_over(struct np_flow_marks *m, const struct np_flow_key *k,
		      const struct np_flow_mark *mk,
		      bool (*tracked)(void *ctx, const struct np_flow_key *k), void *ctx)
{
	struct np_ct_val v;
	int fd = kernel_fd(m, k);

	if (k->deny > 1)
		return false; /* META */
	if (fd < 0 || bpf_map_lookup_elem(fd, &k->ct, &v))
		return (mk->flags & NP_FLOW_MARK_ENDED) || !tracked || !tracked(ctx, k);
	return v.created != mk->created;
}

size_t np_flow_marks_sweep(struct np_flow_marks *m,
			   bool (*tracked)(void *ctx, const struct np_flow_key *k), void *ctx)
{
	struct np_flow_key key, next, *prev = NULL;
	struct np_flow_key *dead = NULL;
	size_t n_dead = 0, cap_dead = 0, removed = 0;
	struct np_flow_mark mk;

	if (m->fd < 0)
		return 0;
	/* Collect first: deleting while walking restarts the walk. */
	while (bpf_map_get_next_key(m->fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(m->fd, &key, &mk) || !mark_over(m, &key, &mk, tracked, ctx))
			continue;
		if (n_dead == cap_dead) {
			size_t nc = cap_dead ? cap_dead * 2 : 64;
			struct np_flow_key *p = realloc(dead, nc * sizeof(*p));

			if (!p)
				break; /* the next sweep gets the rest */
			dead = p;
			cap_dead = nc;
		}
		dead[n_dead++] = key;
	}
	for (size_t i = 0; i < n_dead; i++)
		if (np_flow_marks_del(m, &dead[i]) == 0)
			removed++;
	free(dead);
	return removed;
}
