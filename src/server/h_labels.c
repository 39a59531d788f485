/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h_labels.c - the metadata endpoints: label values (/pyroscope/label-values
 * and v0 /label-values), label names (/pyroscope/label-names, v0 /labels),
 * v0 /api/apps (one entry per service and profile type, named so that the
 * name works as a render query) and Kiln's /pyroscope/series (the label
 * sets themselves, for the web UI). All answer JSON built by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"

/* The optional query and the range; false when a 400 has been answered. */
static bool optional_target(struct kl_server *srv, const struct kl_req *req,
			    struct kl_query_target *tg, struct kl_resp *resp)
{
	struct kl_http_err herr;

	memset(&herr, 0, sizeof(herr));
	if (!kl_query_target_parse(srv->cfg, req, "query", "from", "until", false, tg, &herr))
		return true;
	kl_query_http_error(srv, resp, &herr);
	return false;
}

/*
 * Label names (label NULL) or the values of label, of the series matching
 * the optional query in the range, as a JSON array.
 */
static void answer_labels(struct kl_server *srv, const struct kl_req *req, const char *label,
			  struct kl_resp *resp)
{
	struct kl_query_target tg;
	struct kl_err err;
	char **v = NULL;
	size_t n = 0;
	int rc;

	if (!optional_target(srv, req, &tg, resp))
		return;
	err.msg[0] = '\0';
	if (label)
		rc = kl_store_label_values(srv->store, req->tenant, label, tg.q.sel, tg.q.from_ns,
					   tg.q.until_ns, &v, &n, &err);
	else
		rc = kl_store_label_names(srv->store, req->tenant, tg.q.sel, tg.q.from_ns,
					  tg.q.until_ns, &v, &n, &err);
	if (rc) {
		kl_query_store_error(srv, resp, rc, &err);
	} else {
		kl_query_strings_json(v, n, &resp->body);
		resp->status = 200;
		resp->content_type = "application/json";
	}
	kl_store_strings_free(v, n);
	kl_query_target_release(&tg);
}

void kl_h_label_values(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	const char *label = kl_req_param(req, "label");
	struct kl_http_err herr;

	if (!label || !*label) {
		memset(&herr, 0, sizeof(herr));
		kl_http_errf(&herr, -KL_EUSAGE, 400,
			     "label is required, e.g. label=service_name or label=__name__");
		kl_query_http_error(srv, resp, &herr);
		return;
	}
	/* Pyroscope answers __name__ with the profile type ids, the metric of its queries */
	answer_labels(srv, req, strcmp(label, "__name__") ? label : "__profile_type__", resp);
}

void kl_h_label_names(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	answer_labels(srv, req, NULL, resp);
}

/* Appends one label set as a JSON object {"name":"value",...}. */
static void labels_json(const struct kl_labels *ls, struct kl_buf *out)
{
	kl_buf_addch(out, '{');
	for (size_t i = 0; i < ls->n; i++) {
		kl_buf_addstr(out, i ? ",\"" : "\"");
		kl_buf_add_json_str(out, ls->v[i].name, strlen(ls->v[i].name));
		kl_buf_addstr(out, "\":\"");
		kl_buf_add_json_str(out, ls->v[i].value, strlen(ls->v[i].value));
		kl_buf_addch(out, '"');
	}
	kl_buf_addch(out, '}');
}

void kl_h_series(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	struct kl_query_target tg;
	struct kl_labels *v = NULL;
	struct kl_err err;
	size_t n = 0;
	int rc;

	if (!optional_target(srv, req, &tg, resp))
		return;
	err.msg[0] = '\0';
	rc = kl_store_series(srv->store, req->tenant, tg.q.sel, tg.q.from_ns, tg.q.until_ns, &v,
			     &n, &err);
	if (rc) {
		kl_query_store_error(srv, resp, rc, &err);
	} else {
		kl_buf_addch(&resp->body, '[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				kl_buf_addch(&resp->body, ',');
			labels_json(&v[i], &resp->body);
		}
		kl_buf_addch(&resp->body, ']');
		resp->status = 200;
		resp->content_type = "application/json";
	}
	kl_store_series_free(v, n);
	kl_query_target_release(&tg);
}

/* ---- /api/apps ----------------------------------------------------------- */

struct app {
	char *name;		/* owned */
	const char *spy;	/* borrowed from the series */
	const char *units;	/* static */
	int64_t sample_rate;
};

/* The five parts of a profile type id, copied into buf; false if it has not 5. */
static bool split_type(const char *id, char *buf, size_t size, const char *part[5])
{
	size_t n = strlen(id);
	int k = 0;

	if (n >= size)
		return false;
	memcpy(buf, id, n + 1);
	part[k++] = buf;
	for (char *p = buf; *p; p++) {
		if (*p != ':')
			continue;
		if (k == 5)
			return false;
		*p = '\0';
		part[k++] = p + 1;
	}
	return k == 5;
}

/*
 * The v0 name of a series: "<service>.<suffix>" when the old app.suffix
 * form selects exactly this profile type again, otherwise the new form
 * "<type id>{service_name="<service>"}", which selects it as well. Either
 * way the name can be pasted into render's query. NULL on out of memory.
 */
static char *app_name(const char *service, const char *type_id)
{
	static const char *const suffixes[] = {
		"cpu", "wall", "inuse_objects", "alloc_objects", "inuse_space", "alloc_space",
		"goroutines", "mutex_count", "mutex_duration", "block_count", "block_duration",
	};
	struct kl_buf b = KL_BUF_INIT;

	for (size_t i = 0; i < KL_ARRAY_SIZE(suffixes); i++) {
		struct kl_ingest_type t;
		size_t slen;
		char id[256];

		kl_buf_release(&b);
		kl_buf_addf(&b, "%s.%s", service, suffixes[i]);
		if (kl_buf_error(&b))
			goto out;
		if (kl_ingest_type_lookup(b.data, 100, &t, &slen, NULL))
			continue;
		snprintf(id, sizeof(id), "%s:%s:%s:%s:%s", t.name, t.type, t.unit, t.period_type,
			 t.period_unit);
		if (!strcmp(id, type_id))
			return kl_buf_detach(&b, NULL);
	}
	kl_buf_release(&b);
	kl_buf_addstr(&b, type_id);
	kl_buf_addstr(&b, "{service_name=\"");
	for (const char *p = service; *p; p++) {
		if (*p == '"' || *p == '\\')
			kl_buf_addch(&b, '\\');
		kl_buf_addch(&b, *p);
	}
	kl_buf_addstr(&b, "\"}");
	if (!kl_buf_error(&b))
		return kl_buf_detach(&b, NULL);
out:
	kl_buf_release(&b);
	return NULL;
}

static int app_cmp(const void *a, const void *b)
{
	return strcmp(((const struct app *)a)->name, ((const struct app *)b)->name);
}

void kl_h_apps(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	const char *from = kl_req_param(req, "from");
	struct kl_labels *v = NULL;
	struct kl_http_err herr;
	struct app *apps = NULL;
	int64_t from_ns, until_ns;
	size_t n = 0, napps = 0;
	struct kl_err err;
	int rc;

	memset(&herr, 0, sizeof(herr));
	err.msg[0] = '\0';
	/* apps lists everything stored unless a range is asked for */
	if (kl_query_range(from && *from ? from : "0", kl_req_param(req, "until"), req->now_ns, 0,
			   &from_ns, &until_ns, &herr)) {
		kl_query_http_error(srv, resp, &herr);
		return;
	}
	rc = kl_store_series(srv->store, req->tenant, NULL, from_ns, until_ns, &v, &n, &err);
	if (rc)
		goto out;
	apps = kl_calloc(n ? n : 1, sizeof(*apps));
	if (!apps) {
		rc = kl_errf(&err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *svc = kl_labels_get(&v[i], "service_name");
		const char *id = kl_labels_get(&v[i], "__profile_type__");
		const char *spy = kl_labels_get(&v[i], "pyroscope_spy");
		const char *part[5];
		char buf[256];

		if (!svc || !id || !split_type(id, buf, sizeof(buf), part))
			continue;
		apps[napps].name = app_name(svc, id);
		if (!apps[napps].name) {
			rc = kl_errf(&err, -ENOMEM, "out of memory");
			goto out;
		}
		apps[napps].spy = spy ? spy : "unknown";
		apps[napps].units = kl_flamebearer_units(part[1], part[2]);
		apps[napps].sample_rate = kl_query_sample_rate(part[2]);
		napps++;
	}
	qsort(apps, napps, sizeof(*apps), app_cmp);
	kl_buf_addch(&resp->body, '[');
	for (size_t i = 0, k = 0; i < napps; i++) {
		/* one entry per name: label sets differing in other labels merge */
		if (i && !strcmp(apps[i].name, apps[i - 1].name))
			continue;
		kl_buf_addstr(&resp->body, k++ ? ",{\"name\":\"" : "{\"name\":\"");
		kl_buf_add_json_str(&resp->body, apps[i].name, strlen(apps[i].name));
		kl_buf_addstr(&resp->body, "\",\"spyName\":\"");
		kl_buf_add_json_str(&resp->body, apps[i].spy, strlen(apps[i].spy));
		kl_buf_addstr(&resp->body, "\",\"sampleRate\":");
		kl_buf_add_i64(&resp->body, apps[i].sample_rate);
		kl_buf_addstr(&resp->body, ",\"units\":\"");
		kl_buf_addstr(&resp->body, apps[i].units);
		kl_buf_addstr(&resp->body, "\"}");
	}
	kl_buf_addch(&resp->body, ']');
	resp->status = 200;
	resp->content_type = "application/json";
out:
	if (rc)
		kl_query_store_error(srv, resp, rc, &err);
	for (size_t i = 0; i < napps; i++)
		kl_free(apps[i].name);
	kl_free(apps);
	kl_store_series_free(v, n);
}
