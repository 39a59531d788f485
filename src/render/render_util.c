/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render_util.c - colours, value formatting and XML-safe text shared by the
 * SVG and HTML flame graph renderers.
 *
 * Frame names come from profiles made elsewhere and may hold any bytes, so
 * everything that reaches SVG goes through render_add_xml, which never lets
 * an invalid UTF-8 sequence or a control character through: one bad name
 * must not make the whole file unreadable to an XML parser.
 */
#include <string.h>

#include "render_util.h"

size_t render_package_len(const char *name, size_t n, bool *kernel)
{
	size_t lim = n, slash = 0;
	const char *p;

	*kernel = n >= 4 && !memcmp(name + n - 4, "_[k]", 4);
	if (n && name[0] == '[') {
		p = memchr(name, ']', n);
		return p ? (size_t)(p - name) + 1 : n;
	}
	/* The prefix ends before any argument list, template or space. */
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '(' || name[i] == '<' || name[i] == ' ') {
			lim = i;
			break;
		}
	}
	for (size_t i = 0; i + 1 < lim; i++) {
		if (name[i] == ':' && name[i + 1] == ':')
			return i ? i : lim;
	}
	for (size_t i = 0; i < lim; i++) {
		if (name[i] == '/')
			slash = i + 1;
	}
	for (size_t i = slash; i < lim; i++) {
		if (name[i] == '.')
			return i ? i : lim;
	}
	/* Go methods: "pkg.(*T).m" stops the scan at '(' before the dot. */
	if (lim < n && lim > 0 && name[lim - 1] == '.')
		return lim - 1;
	return lim ? lim : n;
}

/* FNV-1a, 32 bits: tiny and identical in the JavaScript viewer. */
static uint32_t fnv1a(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

struct kl_rgb render_name_color(const char *name, size_t n)
{
	bool kernel;
	size_t len = render_package_len(name, n, &kernel);
	uint32_t h = kernel ? fnv1a("[kernel]", 8) : fnv1a(name, len);
	double v1 = (h & 0xff) / 255.0, v2 = ((h >> 8) & 0xff) / 255.0;
	double v3 = ((h >> 16) & 0xff) / 255.0;

	/* FlameGraph's "hot" palette: red-orange-yellow, never too dark. */
	return (struct kl_rgb){ (uint8_t)(205 + 50 * v3 + 0.5), (uint8_t)(230 * v1 + 0.5),
				(uint8_t)(55 * v2 + 0.5) };
}

struct kl_rgb render_diff_color(double d, double scale)
{
	double t;
	uint8_t c;

	if (d > -RENDER_DIFF_EPS && d < RENDER_DIFF_EPS)
		return (struct kl_rgb){ 220, 220, 220 };
	t = (d < 0 ? -d : d) / scale;
	if (t > 1)
		t = 1;
	c = (uint8_t)(220 - 200 * t + 0.5);
	if (d > 0)
		return (struct kl_rgb){ 255, c, c };
	return (struct kl_rgb){ c, c, 255 };
}

static void add_grouped(struct kl_buf *b, int64_t v)
{
	char digits[24];
	int n = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		kl_buf_addch(b, '-');
	while (n--) {
		kl_buf_addch(b, digits[n]);
		if (n && n % 3 == 0)
			kl_buf_addch(b, ',');
	}
}

void render_add_value(struct kl_buf *b, int64_t v, const char *unit)
{
	static const char *const time_units[] = { "ns", "us", "ms", "s" };
	static const char *const byte_units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double x = (double)v, ax = x < 0 ? -x : x;
	int i = 0;

	if (!unit || !*unit)
		unit = "samples";
	if (strstr(unit, "nanoseconds")) {
		for (; ax >= 1000 && i < 3; i++, ax /= 1000, x /= 1000)
			;
		if (i == 0)
			kl_buf_addf(b, "%lld ns", (long long)v);
		else
			kl_buf_addf(b, "%.2f %s", x, time_units[i]);
	} else if (!strcmp(unit, "bytes")) {
		for (; ax >= 1024 && i < 4; i++, ax /= 1024, x /= 1024)
			;
		if (i == 0)
			kl_buf_addf(b, "%lld B", (long long)v);
		else
			kl_buf_addf(b, "%.2f %s", x, byte_units[i]);
	} else {
		add_grouped(b, v);
		kl_buf_addch(b, ' ');
		render_add_xml(b, unit, strlen(unit), SIZE_MAX);
	}
}

/*
 * Decodes one UTF-8 character at s[0..n): returns its length and sets *cp,
 * or returns 0 when the bytes are not a valid, shortest-form sequence.
 */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static bool xml_char_ok(uint32_t c)
{
	return c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
	       (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000;
}

size_t render_utf8_chars(const char *s, size_t n)
{
	size_t chars = 0;
	uint32_t cp;

	for (size_t i = 0; i < n; chars++) {
		size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);

		i += len ? len : 1;
	}
	return chars;
}

size_t render_add_xml(struct kl_buf *b, const char *s, size_t n, size_t max_chars)
{
	size_t keep = SIZE_MAX, chars = 0;
	uint32_t cp;

	if (max_chars != SIZE_MAX && render_utf8_chars(s, n) > max_chars)
		keep = max_chars >= 2 ? max_chars - 2 : 0;
	for (size_t i = 0; i < n && chars < keep; chars++) {
		size_t len = utf8_decode((const unsigned char *)s + i, n - i, &cp);

		if (!len || !xml_char_ok(cp)) {
			kl_buf_addch(b, '?');
			i += len ? len : 1;
			continue;
		}
		switch (cp) {
		case '<': kl_buf_addstr(b, "&lt;"); break;
		case '>': kl_buf_addstr(b, "&gt;"); break;
		case '&': kl_buf_addstr(b, "&amp;"); break;
		case '"': kl_buf_addstr(b, "&quot;"); break;
		case '\'': kl_buf_addstr(b, "&#39;"); break;
		default: kl_buf_add(b, s + i, len); break;
		}
		i += len;
	}
	if (keep != SIZE_MAX && max_chars >= 2) {
		kl_buf_addstr(b, "..");
		chars += 2;
	}
	return chars;
}
