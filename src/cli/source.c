/* SPDX-License-Identifier: Apache-2.0 */
/*
 * source.c - where profiles come from: files, stdin and http(s) URLs, and
 * where output goes.
 *
 * URLs are fetched with libcurl (connect timeout 10 s; the whole transfer
 * may take as long as a Go /debug/pprof/profile?seconds=N endpoint needs,
 * so the overall timeout is N + 30 s when a seconds= parameter is present
 * and 60 s otherwise). zstd-compressed input is decompressed here, gzip is
 * left to the readers (pprof files are gzip by convention).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "cli.h"

/* Largest input accepted from any source, compressed or not. */
#define MAX_SOURCE_BYTES ((size_t)2 << 30)

static int read_stream(FILE *f, const char *name, struct kl_buf *out, struct kl_err *err)
{
	for (;;) {
		size_t n;

		if (kl_buf_reserve(out, 1 << 16)) {
			if (kl_buf_error(out) == -ENOMEM)
				return kl_errf(err, -ENOMEM, "%s: out of memory after %zu bytes",
					       name, out->len);
			return kl_errf(err, kl_buf_error(out), "%s: input larger than %zu bytes",
				       name, MAX_SOURCE_BYTES);
		}
		n = fread(out->data + out->len, 1, out->cap - out->len - 1, f);
		out->len += n;
		if (n == 0) {
			if (ferror(f))
				return kl_errf(err, -KL_EIO, "%s: read error: %s", name,
					       strerror(errno));
			break;
		}
	}
	if (out->data)
		out->data[out->len] = '\0';
	return 0;
}

static size_t curl_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct kl_buf *b = userdata;

	kl_buf_add(b, ptr, size * nmemb);
	return kl_buf_error(b) ? 0 : size * nmemb;
}

static long url_timeout(const char *url)
{
	const char *s = strstr(url, "seconds=");

	if (s) {
		long secs = strtol(s + 8, NULL, 10);

		if (secs > 0 && secs < 3600)
			return secs + 30;
	}
	return 60;
}

static int read_url(const char *url, struct kl_buf *out, struct kl_err *err)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	CURLcode rc;
	long status = 0;
	CURL *c;

	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return kl_errf(err, -KL_EIO, "%s: cannot initialise libcurl", url);
	c = curl_easy_init();
	if (!c)
		return kl_errf(err, -ENOMEM, "%s: cannot initialise libcurl", url);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, url_timeout(url));
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kiln");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		return kl_errf(err, -KL_EIO, "%s: %s", url,
			       curl_err[0] ? curl_err : curl_easy_strerror(rc));
	if (status < 200 || status > 299) {
		/* servers often explain themselves in the body: show its start */
		int n = (int)KL_MIN(out->len, (size_t)200);

		return kl_errf(err, -KL_EIO, "%s: HTTP status %ld%s%.*s", url, status,
			       n ? ": " : "", n, out->data ? out->data : "");
	}
	return 0;
}

static bool is_zstd(const struct kl_buf *b)
{
	return b->len >= 4 && (unsigned char)b->data[0] == 0x28 &&
	       (unsigned char)b->data[1] == 0xb5 && (unsigned char)b->data[2] == 0x2f &&
	       (unsigned char)b->data[3] == 0xfd;
}

static int unzstd(const char *name, struct kl_buf *b, struct kl_err *err)
{
	struct kl_buf out;
	ZSTD_DStream *ds = ZSTD_createDStream();
	ZSTD_inBuffer in = { b->data, b->len, 0 };
	int rc = 0;

	kl_buf_init(&out, MAX_SOURCE_BYTES);
	if (!ds)
		return kl_errf(err, -ENOMEM, "%s: out of memory", name);
	while (in.pos < in.size) {
		ZSTD_outBuffer o;
		size_t r;

		if (kl_buf_reserve(&out, 1 << 20)) {
			rc = kl_errf(err, kl_buf_error(&out), "%s: decompressed input too large",
				     name);
			goto out;
		}
		o = (ZSTD_outBuffer){ out.data + out.len, out.cap - out.len - 1, 0 };
		r = ZSTD_decompressStream(ds, &o, &in);
		if (ZSTD_isError(r)) {
			rc = kl_errf(err, -KL_EFORMAT, "%s: zstd: %s", name, ZSTD_getErrorName(r));
			goto out;
		}
		out.len += o.pos;
		if (r == 0 && in.pos == in.size)
			break;
	}
	if (out.data)
		out.data[out.len] = '\0';
	kl_buf_release(b);
	*b = out;
	out.data = NULL;
out:
	kl_buf_release(&out);
	ZSTD_freeDStream(ds);
	return rc;
}

int cli_read_source(const char *src, struct kl_buf *out, struct kl_err *err)
{
	int rc;

	kl_buf_init(out, MAX_SOURCE_BYTES);
	if (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8)) {
		rc = read_url(src, out, err);
	} else if (!strcmp(src, "-")) {
		rc = read_stream(stdin, "stdin", out, err);
	} else {
		FILE *f = fopen(src, "rb");

		if (!f)
			return kl_errf(err, -errno, "%s: %s", src, strerror(errno));
		rc = read_stream(f, src, out, err);
		fclose(f);
	}
	if (!rc && is_zstd(out))
		rc = unzstd(src, out, err);
	if (rc)
		kl_buf_release(out);
	return rc;
}

int cli_load_profile(const char *src, struct kl_profile **out, struct kl_err *err)
{
	struct kl_buf buf;
	int rc = cli_read_source(src, &buf, err);

	if (rc)
		return rc;
	rc = kl_format_read((const uint8_t *)buf.data, buf.len, NULL, out, err);
	if (rc)
		kl_err_prefix(err, "%s", src);
	kl_buf_release(&buf);
	return rc;
}

int cli_merge_sources(const char **srcs, int n, struct kl_profile **out, struct kl_err *err)
{
	struct kl_profile **ps = cli_xcalloc((size_t)n, sizeof(*ps));
	int rc = 0, loaded = 0;

	for (; loaded < n; loaded++) {
		rc = cli_load_profile(srcs[loaded], &ps[loaded], err);
		if (rc)
			goto out;
	}
	rc = kl_profile_merge(ps, (size_t)n, out, err);
out:
	for (int i = 0; i < loaded; i++)
		kl_profile_free(ps[i]);
	free(ps);
	return rc;
}

int cli_load_profiles(const char **srcs, int n, struct kl_profile **out, struct kl_err *err)
{
	if (n == 1)
		return cli_load_profile(srcs[0], out, err);
	return cli_merge_sources(srcs, n, out, err);
}

int cli_write_file(const char *path, const void *data, size_t len, struct kl_err *err)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "wb") : stdout;
	bool ok;

	if (!f)
		return kl_errf(err, -errno, "%s: %s", path, strerror(errno));
	ok = fwrite(data, 1, len, f) == len;
	ok = (f == stdout ? fflush(f) == 0 : fclose(f) == 0) && ok;
	if (!ok)
		return kl_errf(err, -KL_EIO, "%s: write failed: %s", path, strerror(errno));
	return 0;
}
