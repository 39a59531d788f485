// SPDX-License-Identifier: Apache-2.0
/*
 * util.js - the web UI's plumbing, shared by the other scripts through
 * window.Kiln: calls to the server's query API (fetch with cancellation
 * and readable errors), times (now-1h, absolute seconds), selectors, the
 * view state kept in the URL, and small DOM helpers. No framework, no
 * build step: the files of web/app are served as they are (h_static.c).
 */
(function (global) {
	'use strict';
	var K = global.Kiln = global.Kiln || {};

	/* ---- DOM ------------------------------------------------------------ */

	K.$ = function (sel, root) { return (root || document).querySelector(sel); };
	K.$$ = function (sel, root) { return [].slice.call((root || document).querySelectorAll(sel)); };
	K.esc = KilnFlame.esc;

	/* <tag class=cls>text</tag>, optionally appended to parent. */
	K.el = function (tag, cls, text, parent) {
		var e = document.createElement(tag);
		if (cls)
			e.className = cls;
		if (text !== undefined && text !== null)
			e.textContent = text;
		if (parent)
			parent.appendChild(e);
		return e;
	};

	/* Saves a Blob (or a URL) as a file named name. */
	K.download = function (what, name) {
		var a = document.createElement('a'), url = typeof what === 'string' ? what : URL.createObjectURL(what);
		a.href = url;
		a.download = name;
		document.body.appendChild(a);
		a.click();
		a.remove();
		if (typeof what !== 'string')
			setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
	};

	/* ---- server API ----------------------------------------------------- */

	/* URL of path with params (undefined/null/'' values left out). */
	K.url = function (path, params) {
		var q = [];
		Object.keys(params || {}).forEach(function (k) {
			var v = params[k];
			if (v !== undefined && v !== null && v !== '')
				q.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
		});
		return path + (q.length ? '?' + q.join('&') : '');
	};

	/*
	 * GETs path?params and parses JSON. Rejects with an Error whose message
	 * is the server's one-line answer (and .status), or 'aborted' when
	 * signal fires. init: extra fetch options (method, body, signal).
	 */
	K.api = function (path, params, init) {
		init = init || {};
		K.inflight = (K.inflight || 0) + 1;
		return fetch(K.url(path, params), { method: init.method || 'GET', body: init.body, signal: init.signal,
			credentials: 'same-origin' })
			.then(function (r) {
				return r.text().then(function (t) {
					var e;
					if (!r.ok) {
						e = new Error((t || r.statusText).trim() || 'HTTP ' + r.status);
						e.status = r.status;
						throw e;
					}
					try {
						return JSON.parse(t);
					} catch (x) {
						throw new Error('the server answered something that is not JSON: ' + t.slice(0, 120));
					}
				});
			}, function (e) {
				if (e && e.name === 'AbortError')
					throw e;
				throw new Error('cannot reach the Kiln server (' + e.message + '): is `kiln server` running?');
			})
			.finally(function () { K.inflight--; });
	};

	/* ---- times ---------------------------------------------------------- */

	var UNIT = { s: 1, m: 60, min: 60, h: 3600, d: 86400, w: 604800, M: 2592000, mon: 2592000, y: 31536000 };

	/* Unix seconds of a time as the server reads it (now, now-1h, seconds). */
	K.toSec = function (s, nowSec) {
		var m;
		nowSec = nowSec || Date.now() / 1000;
		s = String(s || 'now').trim();
		if (s === 'now')
			return nowSec;
		m = /^now-(\d+)(s|m|min|h|d|w|M|mon|y)$/.exec(s);
		if (m)
			return nowSec - m[1] * UNIT[m[2]];
		if (/^\d+$/.test(s)) {
			/* the same length rules as the server: 13 digits ms, 16 us, 19 ns */
			if (s.length === 13)
				return +s / 1e3;
			if (s.length === 16)
				return +s / 1e6;
			if (s.length === 19)
				return +s / 1e9;
			return +s;
		}
		return NaN;
	};

	K.isRelative = function (s) { return /^now/.test(String(s)); };

	/* "2026-11-21 10:30:05" in local time. */
	K.fmtTime = function (sec, withSeconds) {
		var d = new Date(sec * 1000), p = function (n) { return (n < 10 ? '0' : '') + n; };
		return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' +
			p(d.getMinutes()) + (withSeconds ? ':' + p(d.getSeconds()) : '');
	};

	/* A range for people: "last 1 h" or "10:00 – 11:00". */
	K.fmtRange = function (from, until) {
		var m = /^now-(\d+)(\w+)$/.exec(from);
		if (m && until === 'now')
			return 'last ' + m[1] + ' ' + m[2];
		return K.fmtTime(K.toSec(from), true) + ' \u2013 ' + K.fmtTime(K.toSec(until), true);
	};

	/* ---- selectors -------------------------------------------------------- */

	/* Quotes a label value for a selector ("..." with Go escapes). */
	K.quote = function (v) {
		return '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
	};

	/*
	 * The selector of a profile type, a service and the user's matcher text
	 * ('env="prod", region=~"eu.*"'), which is passed on as typed: the
	 * server checks it and says where it is wrong.
	 */
	K.selector = function (type, service, matchers) {
		var parts = [];
		if (service)
			parts.push('service_name=' + K.quote(service));
		matchers = String(matchers || '').trim().replace(/^\{|\}$/g, '').trim();
		if (matchers)
			parts.push(matchers);
		return (type || '') + '{' + parts.join(', ') + '}';
	};

	/* Adds or replaces the matcher of label name in matcher text. */
	K.setMatcher = function (text, name, value) {
		var parts = String(text || '').split(',').map(function (s) { return s.trim(); }).filter(function (s) {
			return s && s.split(/[!=~]/)[0].trim() !== name;
		});
		parts.push(name + '=' + K.quote(value));
		return parts.join(', ');
	};

	/* ---- view state in the URL --------------------------------------------- */

	/*
	 * Every key of the view state and its default. The URL holds what
	 * differs from the defaults, so a copied link opens the same view.
	 */
	K.defaults = {
		service: '', type: '', q: '', from: 'now-1h', until: 'now', view: 'flame', mode: 'icicle',
		search: '', zoom: '', fn: '', group: '', lfrom: '', luntil: '', rfrom: '', runtil: '', lq: '',
		rq: '', refresh: '', embed: '', table: 'self', color: 'package', lzoom: '', rzoom: '', dzoom: '',
	};

	K.readState = function () {
		var p = new URLSearchParams(location.search), s = {};
		Object.keys(K.defaults).forEach(function (k) {
			s[k] = p.has(k) ? p.get(k) : K.defaults[k];
		});
		return s;
	};

	/* Writes state into the URL; push adds a history entry (back button). */
	K.writeState = function (s, push) {
		var p = new URLSearchParams();
		Object.keys(K.defaults).forEach(function (k) {
			if (s[k] !== undefined && s[k] !== K.defaults[k])
				p.set(k, s[k]);
		});
		var u = location.pathname + (p.toString() ? '?' + p.toString() : '');
		if (u !== location.pathname + location.search)
			history[push ? 'pushState' : 'replaceState'](null, '', u);
	};

	/* ---- units ---------------------------------------------------------- */

	/* A formatter of values of a render answer (ns -> ms/s, bytes -> KiB/MiB). */
	K.formatter = function (meta) {
		meta = meta || {};
		return function (v) { return KilnFlame.format(v, meta.units, +meta.sampleRate); };
	};
})(window);
