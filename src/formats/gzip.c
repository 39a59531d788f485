/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gzip.c - gzip compression and bounded decompression with zlib, and
 * whole-buffer decompression with libdeflate when the build has it
 * (KL_HAVE_LIBDEFLATE: the server and CLI; the agent keeps zlib only).
 * libdeflate decodes a whole buffer in one call, ~2x faster than zlib's
 * streaming inflate on 2-50 kB profiles, and kl_gunzip is a third of the
 * server's ingest CPU; zlib stays for what libdeflate cannot size up front.
 */
#include <string.h>
#include <zlib.h>

#ifdef KL_HAVE_LIBDEFLATE
#include <libdeflate.h>
#include <pthread.h>
#endif

#include "formats.h"

bool kl_is_gzip(const uint8_t *data, size_t len)
{
	return len >= 2 && data[0] == 0x1f && data[1] == 0x8b;
}

#ifdef KL_HAVE_LIBDEFLATE
/*
 * One decompressor per thread (it is ~10 kB of tables, not thread-safe, and
 * its allocation would cost as much as a small profile's decode); freed by
 * the key's destructor at thread exit.
 */
static pthread_key_t dd_key;
static pthread_once_t dd_once = PTHREAD_ONCE_INIT;
static bool dd_key_ok;

static void dd_free(void *d)
{
	libdeflate_free_decompressor(d);
}

static void dd_init(void)
{
	dd_key_ok = !pthread_key_create(&dd_key, dd_free);
}

static struct libdeflate_decompressor *dd_get(void)
{
	struct libdeflate_decompressor *d;

	pthread_once(&dd_once, dd_init);
	if (!dd_key_ok)
		return NULL;
	d = pthread_getspecific(dd_key);
	if (!d && (d = libdeflate_alloc_decompressor()) &&
	    pthread_setspecific(dd_key, d)) {
		libdeflate_free_decompressor(d);
		d = NULL;
	}
	return d;
}

/*
 * The first member of data into out (empty, initialised by the caller)
 * when the size hint want is right: 1 to fall back to zlib (wrong hint,
 * no decompressor, bad data: zlib then says what is wrong), 0 done.
 */
static int gunzip_whole(const uint8_t *data, size_t len, size_t want, struct kl_buf *out)
{
	struct libdeflate_decompressor *d = dd_get();
	size_t in_used = 0, got = 0;

	if (!d || kl_buf_reserve(out, want + 1)) {
		out->error = 0;
		return 1;
	}
	if (libdeflate_gzip_decompress_ex(d, data, len, out->data, want, &in_used, &got) !=
	    LIBDEFLATE_SUCCESS)
		return 1;
	out->len = got;
	out->data[got] = '\0';
	return 0;
}
#endif

int kl_gunzip(const uint8_t *data, size_t len, size_t max_out, struct kl_buf *out,
	      struct kl_err *err)
{
	kl_buf_init(out, 0);
	return kl_gunzip_reuse(data, len, max_out, out, err);
}

int kl_gunzip_reuse(const uint8_t *data, size_t len, size_t max_out, struct kl_buf *out,
		    struct kl_err *err)
{
	z_stream zs;
	int zrc = Z_OK, rc = 0;
	size_t want = 0;

	/*
	 * The trailer's ISIZE (size mod 2^32 of the last member) is a hint:
	 * used when plausible (deflate expands at most ~1032:1, and within the
	 * limit) it sizes the output once instead of growing it from 64 KiB,
	 * which for small profiles was mostly untouched memory, and for large
	 * ones a series of copies. A wrong hint only costs growth.
	 */
	if (len >= 18) {
		uint32_t isize = (uint32_t)data[len - 4] | (uint32_t)data[len - 3] << 8 |
				 (uint32_t)data[len - 2] << 16 | (uint32_t)data[len - 1] << 24;

		if (isize && isize / 1100 <= len && (!max_out || isize <= max_out))
			want = isize;
	}
	/* out's storage, if any, is kept: the caller reuses it (kl_buf_spare_take) */
	out->len = 0;
	out->error = 0;
	out->limit = max_out ? max_out : ((size_t)1 << 30);
#ifdef KL_HAVE_LIBDEFLATE
	if (want && !gunzip_whole(data, len, want, out))
		return 0;
	out->len = 0;
#endif
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
		return kl_errf(err, -ENOMEM, "gzip: cannot initialise zlib");
	zs.next_in = (Bytef *)data;
	while (zrc != Z_STREAM_END) {
		size_t room;

		if (kl_buf_reserve(out, want ? want : KL_MAX(len, (size_t)1 << 16))) {
			if (kl_buf_error(out) == -ENOMEM)
				rc = kl_errf(err, -ENOMEM, "gzip: out of memory after %zu bytes",
					     out->len);
			else
				rc = kl_errf(err, -KL_ELIMIT,
					     "gzip: decompressed data exceeds %zu bytes", out->limit);
			goto out;
		}
		want = 0;
		room = out->cap - out->len - 1;
		if (room > UINT32_MAX)
			room = UINT32_MAX;
		zs.next_out = (Bytef *)out->data + out->len;
		zs.avail_out = (uInt)room;
		if (zs.avail_in == 0) {
			size_t chunk = KL_MIN(len - (size_t)((const uint8_t *)zs.next_in - data),
					      (size_t)UINT32_MAX);

			zs.avail_in = (uInt)chunk;
		}
		zrc = inflate(&zs, Z_NO_FLUSH);
		out->len += room - zs.avail_out;
		if (zrc == Z_STREAM_END)
			break;
		if (zrc == Z_BUF_ERROR && zs.avail_in == 0) {
			rc = kl_errf(err, -KL_ETRUNC, "gzip: data ends early (truncated file?)");
			goto out;
		}
		if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
			rc = kl_errf(err, -KL_EFORMAT, "gzip: %s", zs.msg ? zs.msg : "bad data");
			goto out;
		}
	}
	out->data[out->len] = '\0';
out:
	inflateEnd(&zs);
	if (rc)
		kl_buf_release(out);
	return rc;
}

int kl_gzip(const void *data, size_t len, struct kl_buf *out, struct kl_err *err)
{
	z_stream zs;
	int zrc;

	memset(&zs, 0, sizeof(zs));
	/*
	 * level 1, as Go's runtime/pprof: profiles are written often (agents,
	 * exports) and level 6 costs 4x the time for ~10% smaller files
	 */
	if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return kl_errf(err, -ENOMEM, "gzip: cannot initialise zlib");
	if (kl_buf_reserve(out, deflateBound(&zs, len) + 1)) {
		deflateEnd(&zs);
		return kl_errf(err, kl_buf_error(out), "gzip: output too large");
	}
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	zs.next_out = (Bytef *)out->data + out->len;
	zs.avail_out = (uInt)(out->cap - out->len - 1);
	zrc = deflate(&zs, Z_FINISH);
	out->len += zs.total_out;
	deflateEnd(&zs);
	if (zrc != Z_STREAM_END)
		return kl_errf(err, -KL_EIO, "gzip: compression failed");
	return 0;
}
