/* SPDX-License-Identifier: Apache-2.0 */
/*
 * detect.c - recognising a profile's format from its content, and the
 * reader that dispatches on it.
 *
 * Order matters: pprof is binary (and usually gzip), the JSON formats start
 * with '{' and are told apart by their keys, perf script has a recognisable
 * header line per event, and folded is the fallback for text whose lines
 * end in a count.
 */
#include <string.h>

#include "formats.h"

static const char *const format_names[] = {
	[KL_FORMAT_UNKNOWN] = "unknown",
	[KL_FORMAT_PPROF] = "pprof",
	[KL_FORMAT_FOLDED] = "folded",
	[KL_FORMAT_PERF_SCRIPT] = "perf-script",
	[KL_FORMAT_SPEEDSCOPE] = "speedscope",
	[KL_FORMAT_FLAMEBEARER] = "flamebearer",
};

const char *kl_format_name(enum kl_format f)
{
	if ((size_t)f >= KL_ARRAY_SIZE(format_names))
		return "unknown";
	return format_names[f];
}

int kl_format_parse(const char *name, enum kl_format *out)
{
	for (size_t i = 1; i < KL_ARRAY_SIZE(format_names); i++) {
		if (!strcmp(name, format_names[i])) {
			*out = (enum kl_format)i;
			return 0;
		}
	}
	if (!strcmp(name, "collapsed")) {
		*out = KL_FORMAT_FOLDED;
		return 0;
	}
	if (!strcmp(name, "perf")) {
		*out = KL_FORMAT_PERF_SCRIPT;
		return 0;
	}
	return -KL_EUSAGE;
}

/* Skips leading whitespace and a UTF-8 byte order mark. */
static size_t skip_space(const uint8_t *d, size_t len)
{
	size_t i = 0;

	if (len >= 3 && d[0] == 0xef && d[1] == 0xbb && d[2] == 0xbf)
		i = 3;
	while (i < len && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r'))
		i++;
	return i;
}

/* True if the first 4 KiB contain no NUL and few control bytes. */
static bool looks_textual(const uint8_t *d, size_t len)
{
	size_t n = KL_MIN(len, (size_t)4096), bad = 0;

	for (size_t i = 0; i < n; i++) {
		if (d[i] == 0)
			return false;
		if (d[i] < 0x20 && d[i] != '\n' && d[i] != '\r' && d[i] != '\t')
			bad++;
	}
	return bad * 100 <= n;
}

/* True if the first non-comment line ends with a space and a number. */
static bool looks_folded(const uint8_t *d, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t end = i;

		while (end < len && d[end] != '\n')
			end++;
		if (end > i && d[i] != '#') {
			size_t j = end;

			while (j > i && (d[j - 1] == '\r' || d[j - 1] == ' '))
				j--;
			if (j == i || d[j - 1] < '0' || d[j - 1] > '9')
				return false;
			while (j > i && d[j - 1] >= '0' && d[j - 1] <= '9')
				j--;
			return j > i && (d[j - 1] == ' ' || d[j - 1] == '\t');
		}
		i = end + 1;
	}
	return false;
}

enum kl_format kl_format_detect(const uint8_t *data, size_t len)
{
	size_t i;

	if (kl_is_gzip(data, len))
		return KL_FORMAT_PPROF;	/* the only format we read compressed */
	i = skip_space(data, len);
	if (i < len && data[i] == '{') {
		/* both are JSON objects; flamebearer has a "flamebearer" key */
		const char *s = (const char *)data + i;
		size_t n = KL_MIN(len - i, (size_t)4096);

		if (memmem(s, n, "\"flamebearer\"", 13) || memmem(s, n, "\"levels\"", 8))
			return KL_FORMAT_FLAMEBEARER;
		if (memmem(s, n, "speedscope", 10) || memmem(s, n, "\"shared\"", 8))
			return KL_FORMAT_SPEEDSCOPE;
		return KL_FORMAT_UNKNOWN;
	}
	if (!looks_textual(data, len))
		return KL_FORMAT_PPROF;
	if (kl_perf_script_detect((const char *)data, len))
		return KL_FORMAT_PERF_SCRIPT;
	if (looks_folded(data + i, len - i))
		return KL_FORMAT_FOLDED;
	return KL_FORMAT_UNKNOWN;
}

int kl_format_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		   struct kl_profile **out, struct kl_err *err)
{
	*out = NULL;
	if (len == 0)
		return kl_errf(err, -KL_EFORMAT, "empty input");
	switch (kl_format_detect(data, len)) {
	case KL_FORMAT_PPROF:
		return kl_pprof_read(data, len, lim, out, err);
	case KL_FORMAT_FOLDED:
		return kl_folded_read(data, len, lim, out, err);
	case KL_FORMAT_PERF_SCRIPT:
		return kl_perf_script_read(data, len, lim, out, err);
	case KL_FORMAT_SPEEDSCOPE:
		return kl_speedscope_read(data, len, lim, out, err);
	case KL_FORMAT_FLAMEBEARER:
		return kl_flamebearer_read(data, len, lim, out, err);
	case KL_FORMAT_UNKNOWN:
		break;
	}
	return kl_errf(err, -KL_EFORMAT,
		       "unrecognised profile format (tried pprof, folded, perf script, "
		       "speedscope, flamebearer)");
}
