// SPDX-License-Identifier: Apache-2.0
/*
 * flamegraph.js - Kiln's flame graph viewer: one plain script, no framework,
 * no build step, no network. Used as is by `kiln flame -o x.html` (inlined
 * into the page) and by Kiln's web UI.
 *
 * It reads flamebearer JSON (Pyroscope's format: "single" with 4 ints per
 * node, "double" diff with 7) and exposes, on window.KilnFlame (or
 * module.exports under Node):
 *
 *   FlameData   the decoded profile: flat typed arrays, one entry per node,
 *               grouped by level and sorted by x, with parent links
 *   FlameGraph  the canvas view: icicle/flame, zoom, hover tooltip, search,
 *               colours by package, library or diff, highlight; events onHover,
 *               onClick, onContextMenu, onZoom
 *   FlameTable  the sortable table of functions (self, total), filtered by
 *               the graph's search
 *   FlameView   graph + table + toolbar (search, reset, mode, colours,
 *               breadcrumbs, diff legend) in one container
 *   format      value formatting by unit (time, bytes, counts)
 *
 * Typical use: new KilnFlame.FlameView(div, {title: 'CPU'}).setData(json);
 * or, for just the canvas: var g = new KilnFlame.FlameGraph(div);
 * g.setData(json); g.onClick = function (info) { ... }; g.search('^net/');
 *
 * The colour rules match src/render/render_util.c so that SVG and HTML
 * pictures of one profile look alike. Sections: formatting, colours, data,
 * graph, table, view.
 */
(function (global) {
	'use strict';

	/* ---- formatting ------------------------------------------------- */

	function grouped(v) {
		var s = String(Math.round(Math.abs(v))), out = '';
		while (s.length > 3) {
			out = ',' + s.slice(-3) + out;
			s = s.slice(0, -3);
		}
		return (v < 0 ? '-' : '') + s + out;
	}

	function scaled(v, base, units) {
		var a = Math.abs(v), i = 0;
		while (a >= base && i < units.length - 1) {
			a /= base;
			v /= base;
			i++;
		}
		return (i === 0 ? String(v) : v.toFixed(2)) + ' ' + units[i];
	}

	/*
	 * Formats value v of a profile whose unit is units ("nanoseconds",
	 * "bytes", "samples", "objects", ...). Pyroscope's CPU profiles say
	 * "samples" with sampleRate 1e9: those are nanoseconds too.
	 */
	function format(v, units, sampleRate) {
		units = units || 'samples';
		if (/nanoseconds$/.test(units) || (units === 'samples' && sampleRate === 1e9))
			return scaled(v, 1000, ['ns', 'us', 'ms', 's']);
		if (units === 'bytes')
			return scaled(v, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB']);
		return grouped(v) + ' ' + units;
	}

	function pct(part, whole) {
		if (!(whole > 0))
			return '0.00%';
		return (100 * part / whole).toFixed(2) + '%';
	}

	function escapeRegExp(s) {
		return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
	}

	/* A regex from what the user typed: a regex if it compiles, else the literal text. */
	function makeMatcher(q) {
		if (q instanceof RegExp)
			return q;
		try {
			return new RegExp(q, 'i');
		} catch (e) {
			return new RegExp(escapeRegExp(q), 'i');
		}
	}

	/* ---- colours (mirror of render_util.c) ---------------------------- */

	var encoder = typeof TextEncoder !== 'undefined' ? new TextEncoder() : null;

	/* The part of a frame name that decides its colour (render_package_len). */
	function packageOf(name) {
		var lim = name.length, slash = 0, i, c;
		if (/_\[k\]$/.test(name))
			return '[kernel]';
		if (name.charAt(0) === '[') {
			i = name.indexOf(']');
			return i >= 0 ? name.slice(0, i + 1) : name;
		}
		for (i = 0; i < name.length; i++) {
			c = name.charAt(i);
			if (c === '(' || c === '<' || c === ' ') {
				lim = i;
				break;
			}
		}
		i = name.indexOf('::');
		if (i >= 0 && i + 1 < lim)
			return i ? name.slice(0, i) : name.slice(0, lim || name.length);
		for (i = 0; i < lim; i++) {
			if (name.charAt(i) === '/')
				slash = i + 1;
		}
		for (i = slash; i < lim; i++) {
			if (name.charAt(i) === '.')
				return i ? name.slice(0, i) : name.slice(0, lim);
		}
		if (lim < name.length && lim > 0 && name.charAt(lim - 1) === '.')
			return name.slice(0, lim - 1);
		return lim ? name.slice(0, lim) : name;
	}

	function baseName(path) {
		return path.slice(path.lastIndexOf('/') + 1);
	}

	/*
	 * The library a frame comes from, as far as its name tells (the
	 * "library" colouring; '' when it does not): the module of a native
	 * frame ("[libc.so.6]" from pprof mappings and perf, "libc.so.6+0x1f3",
	 * "fn (/usr/lib/libc.so.6)"), the kernel, a C++ top namespace (std,
	 * boost), a Go module (github.com/org/repo) or standard package's first
	 * element (net/http -> net), a Java package's first two elements.
	 */
	function libraryOf(name) {
		var m, i, lim, head, segs, comps, k;
		if (/_\[k\]$/.test(name) || /^\[kernel/.test(name))
			return '[kernel]';
		if (name.charAt(0) === '[') {
			m = /^\[([^\]\s<]+)/.exec(name);
			return m ? baseName(m[1]) : name;
		}
		m = /^([^\s()<>;]+)\+0x[0-9a-fA-F]+$/.exec(name);
		if (m)
			return baseName(m[1]);
		m = /\((\/[^()]+)\)$/.exec(name);
		if (m)
			return baseName(m[1]);
		name = name.replace(/_\[[ij]\]$/, '');
		lim = name.search(/[(< ]/);
		head = lim >= 0 ? name.slice(0, lim) : name;
		i = head.indexOf('::');
		if (i > 0)
			return head.slice(0, i);
		segs = head.split('/');
		if (segs.length > 1 && segs[0].indexOf('.') > 0) {
			/* a Go module path, github.com/org/repo/pkg.Fn: the last segment is "pkg.Fn" */
			segs[segs.length - 1] = segs[segs.length - 1].split('.')[0];
			return segs.slice(0, 3).join('/');
		}
		comps = head.split(/[/.]/).filter(function (c) { return c; });
		if (comps.length >= 3 && /^[a-z]/.test(comps[0])) {
			/* Java: lower-case package elements, then the Class */
			for (k = 1; k < comps.length && !/^[A-Z]/.test(comps[k]); k++)
				;
			if (k >= 2 && k < comps.length)
				return comps.slice(0, 2).join('.');
		}
		return comps.length >= 2 ? comps[0] : '';
	}

	/* FNV-1a over the UTF-8 bytes, as in C. */
	function hashName(s) {
		var h = 2166136261, bytes = null, i, n = s.length;
		/* ASCII is its own UTF-8: encode only names that need it (drawing calls this a lot) */
		for (i = 0; i < n; i++) {
			if (s.charCodeAt(i) > 0x7f) {
				bytes = encoder ? encoder.encode(s) : null;
				n = bytes ? bytes.length : n;
				break;
			}
		}
		for (i = 0; i < n; i++) {
			h ^= bytes ? bytes[i] : s.charCodeAt(i) & 0xff;
			h = Math.imul(h, 16777619) >>> 0;
		}
		return h >>> 0;
	}

	var colorCache = new Map();

	function warmColor(key) {
		var c = colorCache.get(key);
		if (c)
			return c;
		if (colorCache.size > 200000)
			colorCache.clear();
		c = hotColor(key);
		colorCache.set(key, c);
		return c;
	}

	function hotColor(key) {
		var h = hashName(key);
		var v1 = (h & 0xff) / 255, v2 = ((h >>> 8) & 0xff) / 255, v3 = ((h >>> 16) & 0xff) / 255;
		return 'rgb(' + Math.round(205 + 50 * v3) + ',' + Math.round(230 * v1) + ',' +
			Math.round(55 * v2) + ')';
	}

	var libCache = new Map();

	/*
	 * Colours by library: a hue from the whole circle (the warm palette
	 * keeps packages apart, but a handful of libraries drawn in reds and
	 * oranges look alike), light enough for black text. As rgb() so that
	 * the legend's swatch and the canvas pixel compare equal.
	 */
	function libColor(key) {
		var c = libCache.get(key), h, sat, l, f, a;
		if (c)
			return c;
		h = hashName(key);
		sat = 0.5 + ((h >>> 12) & 0xff) / 255 * 0.25;
		l = 0.68 + ((h >>> 20) & 0xff) / 255 * 0.1;
		a = sat * Math.min(l, 1 - l);
		f = function (n) {
			var k = (n + (h % 360) / 30) % 12;
			return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
		};
		c = 'rgb(' + f(0) + ',' + f(8) + ',' + f(4) + ')';
		if (libCache.size > 20000)
			libCache.clear();
		libCache.set(key, c);
		return c;
	}

	/* The colour of a colour key (FlameData.colorKey) when colouring by `by`. */
	function keyColor(key, by) {
		return by === 'library' ? libColor(key) : warmColor(key);
	}

	var DIFF_EPS = 1e-9;

	/* d: change of share (new - base); scale: the change drawn at full colour. */
	function diffColor(d, scale) {
		var t, c;
		if (d > -DIFF_EPS && d < DIFF_EPS)
			return 'rgb(220,220,220)';
		t = Math.min(1, Math.abs(d) / scale);
		c = Math.round(220 - 200 * t);
		return d > 0 ? 'rgb(255,' + c + ',' + c + ')' : 'rgb(' + c + ',' + c + ',255)';
	}

	/* search matches: magenta, dark enough for white text (5.3:1) */
	var MATCH_COLOR = 'rgb(190,0,190)';
	/* colour by "none": one colour, so that search matches and structure stand out */
	var PLAIN_COLOR = 'rgb(236,178,112)';

	/* ---- data ---------------------------------------------------------- */

	var MAX_NODES = 20000000;

	/*
	 * Decodes flamebearer JSON: either the whole response ({flamebearer,
	 * metadata, leftTicks, rightTicks}) or the inner flamebearer object with
	 * an optional second argument for the metadata. Throws on bad input.
	 *
	 * Nodes are numbered level by level, left to right: the nodes of level d
	 * are levelStart[d] .. levelStart[d+1]-1, sorted by x. For a diff a
	 * node's x and w are in combined ticks (base + new), as Pyroscope draws
	 * them, and lt/ls/rt/rs hold the two sides.
	 */
	function FlameData(json, metadata) {
		var fb = json && json.flamebearer ? json.flamebearer : json;
		var meta = metadata || (json && json.metadata) || {};
		var levels, names, step, n = 0, d, j, k, row, i;

		if (!fb || !Array.isArray(fb.levels) || !Array.isArray(fb.names))
			throw new Error('not flamebearer JSON: levels and names are required');
		levels = fb.levels;
		names = fb.names;
		this.format = meta.format || fb.format || 'single';
		this.double = this.format === 'double';
		step = this.double ? 7 : 4;
		for (d = 0; d < levels.length; d++) {
			if (!Array.isArray(levels[d]) || levels[d].length % step)
				throw new Error('flamebearer: level ' + d + ' is not a list of ' + step + '-int nodes');
			n += levels[d].length / step;
			if (n > MAX_NODES)
				throw new Error('flamebearer: more than ' + MAX_NODES + ' nodes');
		}
		this.names = names.map(function (s) { return String(s); });
		/* optional: the library of each name (a server that knows mappings may send it) */
		this.libraries = Array.isArray(fb.libraries) && fb.libraries.length === names.length ? fb.libraries : null;
		this.units = meta.units || 'samples';
		this.sampleRate = +meta.sampleRate || 0;
		this.name = meta.name || '';
		this.n = n;
		this.levels = levels.length;
		this.levelStart = new Int32Array(levels.length + 1);
		this.x = new Float64Array(n);
		this.w = new Float64Array(n);
		this.self = new Float64Array(n);
		this.nameIdx = new Int32Array(n);
		this.depth = new Int32Array(n);
		this.parent = new Int32Array(n);
		if (this.double) {
			this.lt = new Float64Array(n);
			this.ls = new Float64Array(n);
			this.rt = new Float64Array(n);
			this.rs = new Float64Array(n);
		}
		k = 0;
		for (d = 0; d < levels.length; d++) {
			var lx = 0, rx = 0;
			row = levels[d];
			this.levelStart[d] = k;
			for (j = 0; j < row.length; j += step, k++) {
				var nm = row[j + step - 1] | 0;
				this.nameIdx[k] = nm >= 0 && nm < names.length ? nm : -1;
				this.depth[k] = d;
				if (this.double) {
					lx += num(row[j]);
					rx += num(row[j + 3]);
					this.lt[k] = num(row[j + 1]);
					this.ls[k] = num(row[j + 2]);
					this.rt[k] = num(row[j + 4]);
					this.rs[k] = num(row[j + 5]);
					this.x[k] = lx + rx;
					this.w[k] = this.lt[k] + this.rt[k];
					this.self[k] = this.ls[k] + this.rs[k];
					lx += this.lt[k];
					rx += this.rt[k];
				} else {
					lx += num(row[j]);
					this.x[k] = lx;
					this.w[k] = num(row[j + 1]);
					this.self[k] = num(row[j + 2]);
					lx += this.w[k];
				}
			}
		}
		this.levelStart[levels.length] = k;
		this.numTicks = n ? this.w[0] : 0;
		this.leftTicks = this.double ? (+json.leftTicks || (n ? this.lt[0] : 0)) : this.numTicks;
		this.rightTicks = this.double ? (+json.rightTicks || (n ? this.rt[0] : 0)) : 0;
		this._link();
		this._diffScale();
	}

	function num(v) {
		v = +v;
		return isFinite(v) && v > 0 ? v : 0;
	}

	FlameData.prototype = {
		/* Parents by a merge of each level with the one above (both sorted by x). */
		_link: function () {
			var d, i, p, pend;
			if (this.n)
				this.parent[0] = -1;
			for (d = 1; d < this.levels; d++) {
				p = this.levelStart[d - 1];
				pend = this.levelStart[d];
				for (i = this.levelStart[d]; i < this.levelStart[d + 1]; i++) {
					while (p + 1 < pend && this.x[p] + this.w[p] < this.x[i] + this.w[i])
						p++;
					this.parent[i] = p < pend ? p : 0;
				}
			}
			/* children as linked lists, in x order (for the table's walk) */
			this.firstChild = new Int32Array(this.n).fill(-1);
			this.nextSibling = new Int32Array(this.n).fill(-1);
			for (i = this.n - 1; i > 0; i--) {
				p = this.parent[i];
				this.nextSibling[i] = this.firstChild[p];
				this.firstChild[p] = i;
			}
		},

		/* Change of share of the total for node i (diffs): new - base. */
		change: function (i) {
			var b = this.leftTicks > 0 ? this.lt[i] / this.leftTicks : 0;
			var a = this.rightTicks > 0 ? this.rt[i] / this.rightTicks : 0;
			return a - b;
		},

		_diffScale: function () {
			var m = 0, i, c;
			if (this.double) {
				for (i = 0; i < this.n; i++) {
					c = Math.abs(this.change(i));
					if (c > m)
						m = c;
				}
			}
			this.diffScale = Math.max(m, 0.005);
		},

		nameOf: function (i) {
			var k = this.nameIdx[i];
			return k >= 0 ? this.names[k] : '?';
		},

		/*
		 * What decides node i's colour when colouring by 'package',
		 * 'library' or 'name'. Library: from the JSON's libraries array or
		 * the name (libraryOf); a name that tells none falls back to its
		 * package, so plain C frames keep telling apart.
		 */
		colorKey: function (i, by) {
			var name = this.nameOf(i), k = this.nameIdx[i], lib;
			if (by === 'name')
				return name;
			if (by === 'library') {
				lib = this.libraries && k >= 0 && this.libraries[k] ? String(this.libraries[k]) : libraryOf(name);
				return lib || packageOf(name);
			}
			return packageOf(name);
		},

		/* Node i in level d covering tick, or -1 (binary search). */
		find: function (d, tick) {
			var lo, hi, mid;
			if (d < 0 || d >= this.levels)
				return -1;
			lo = this.levelStart[d];
			hi = this.levelStart[d + 1] - 1;
			while (lo <= hi) {
				mid = (lo + hi) >> 1;
				if (this.x[mid] + this.w[mid] <= tick)
					lo = mid + 1;
				else if (this.x[mid] > tick)
					hi = mid - 1;
				else
					return mid;
			}
			return -1;
		},

		/* First node of level d whose right edge is past tick. */
		firstAfter: function (d, tick) {
			var lo = this.levelStart[d], hi = this.levelStart[d + 1], mid;
			while (lo < hi) {
				mid = (lo + hi) >> 1;
				if (this.x[mid] + this.w[mid] <= tick)
					lo = mid + 1;
				else
					hi = mid;
			}
			return lo;
		},

		/* Path from the root to node i, root first. */
		path: function (i) {
			var out = [];
			for (; i >= 0; i = this.parent[i])
				out.push(i);
			return out.reverse();
		},

		formatValue: function (v) {
			return format(v, this.units, this.sampleRate);
		},

		/* Everything a tooltip, a table or an event handler wants about node i. */
		info: function (i) {
			var p = this.parent[i], o = {
				index: i,
				name: this.nameOf(i),
				depth: this.depth[i],
				self: this.self[i],
				total: this.w[i],
				percentOfTotal: this.numTicks > 0 ? 100 * this.w[i] / this.numTicks : 0,
				percentOfParent: p >= 0 && this.w[p] > 0 ? 100 * this.w[i] / this.w[p] : 100,
			};
			if (this.double) {
				o.baseSelf = this.ls[i];
				o.baseTotal = this.lt[i];
				o.newSelf = this.rs[i];
				o.newTotal = this.rt[i];
				o.change = 100 * this.change(i);
			}
			return o;
		},

		/*
		 * Per-function rows: self summed over all nodes of a name, total
		 * summed over the outermost nodes of a name on each path (so that
		 * recursion is not counted twice).
		 */
		functions: function () {
			var nn = this.names.length, onPath = new Int32Array(nn + 1);
			var self = new Float64Array(nn + 1), total = new Float64Array(nn + 1);
			var ls, lt, rs, rt, stack = [], rows = [], i, k, c, used = new Uint8Array(nn + 1);
			if (this.double) {
				ls = new Float64Array(nn + 1);
				lt = new Float64Array(nn + 1);
				rs = new Float64Array(nn + 1);
				rt = new Float64Array(nn + 1);
			}
			if (!this.n)
				return rows;
			/* the root is not a function: walk its children */
			for (c = this.firstChild[0]; c >= 0; c = this.nextSibling[c])
				stack.push(c);
			while (stack.length) {
				i = stack.pop();
				if (i < 0) {
					onPath[this.nameIdx[~i] + 1]--;
					continue;
				}
				k = this.nameIdx[i] + 1;
				used[k] = 1;
				self[k] += this.self[i];
				if (this.double) {
					ls[k] += this.ls[i];
					rs[k] += this.rs[i];
				}
				if (!onPath[k]) {
					total[k] += this.w[i];
					if (this.double) {
						lt[k] += this.lt[i];
						rt[k] += this.rt[i];
					}
				}
				onPath[k]++;
				stack.push(~i);
				for (c = this.firstChild[i]; c >= 0; c = this.nextSibling[c])
					stack.push(c);
			}
			for (k = 0; k <= nn; k++) {
				if (!used[k])
					continue;
				var r = { name: k ? this.names[k - 1] : '?', self: self[k], total: total[k] };
				if (this.double) {
					r.baseSelf = ls[k];
					r.baseTotal = lt[k];
					r.newSelf = rs[k];
					r.newTotal = rt[k];
					r.change = 100 * ((this.rightTicks > 0 ? rt[k] / this.rightTicks : 0) -
						(this.leftTicks > 0 ? lt[k] / this.leftTicks : 0));
				}
				rows.push(r);
			}
			return rows;
		},

		/*
		 * Marks nodes whose name matches re (matched[i] = 1) and returns the
		 * share of the total they cover, nested matches counted once.
		 */
		match: function (re, matched) {
			var covered = new Uint8Array(this.n), sum = 0, i, p, k;
			/* test each distinct name once: 0 = not yet, 1 = no, 2 = yes */
			var byName = new Uint8Array(this.names.length + 1);
			for (i = 0; i < this.n; i++) {
				k = this.nameIdx[i] + 1;
				if (!byName[k])
					byName[k] = re.test(this.nameOf(i)) ? 2 : 1;
				matched[i] = i > 0 && byName[k] === 2 ? 1 : 0;
				p = this.parent[i];
				if (matched[i] && !(p >= 0 && covered[p]))
					sum += this.w[i];
				covered[i] = matched[i] || (p >= 0 && covered[p]) ? 1 : 0;
			}
			return this.numTicks > 0 ? sum / this.numTicks : 0;
		},

		/* Node i and everything under it as a tree (see fromTree); side 0 single, 1/2 diff sides. */
		toTree: function (i, side) {
			var d = this, w = side === 1 ? d.lt : side === 2 ? d.rt : d.w;
			var s = side === 1 ? d.ls : side === 2 ? d.rs : d.self;
			function walk(k) {
				var node = treeNode(d.nameOf(k)), c;
				node.total = w[k];
				node.self = s[k];
				for (c = d.firstChild[k]; c >= 0; c = d.nextSibling[c]) {
					var nm = d.nameOf(c);
					if (w[c] > 0)
						mergeTree(node.children[nm] || (node.children[nm] = treeNode(nm)), walk(c));
				}
				return node;
			}
			return walk(i >= 0 && i < this.n ? i : 0);
		},

		/*
		 * The sandwich of function name: {callers, callees}, two trees rooted
		 * at name. callees merges the subtrees under the outermost calls of
		 * name; callers inverts the paths above them (the root's children
		 * are the direct callers). Both roots hold the function's total.
		 */
		sandwich: function (name) {
			var callers = treeNode(name), callees = treeNode(name), d = this;
			var onPath = 0, stack = [], i, c, p, node, kid;
			if (!this.n)
				return { callers: callers, callees: callees };
			for (c = this.firstChild[0]; c >= 0; c = this.nextSibling[c])
				stack.push(c);
			while (stack.length) {
				i = stack.pop();
				if (i < 0) {
					onPath--;
					continue;
				}
				if (d.nameOf(i) === name) {
					if (!onPath) {
						mergeTree(callees, this.toTree(i));
						callers.total += d.w[i];
						node = callers;
						for (p = d.parent[i]; p > 0; p = d.parent[p]) {
							kid = node.children[d.nameOf(p)];
							if (!kid)
								kid = node.children[d.nameOf(p)] = treeNode(d.nameOf(p));
							kid.total += d.w[i];
							node = kid;
						}
						node.self += d.w[i];
					}
					onPath++;
					stack.push(-1);
				}
				for (c = this.firstChild[i]; c >= 0; c = this.nextSibling[c])
					stack.push(c);
			}
			return { callers: callers, callees: callees };
		},
	};

	/* ---- trees: building flamebearer in the browser -------------------- */

	/*
	 * A tree node: {name, self, total, children: {name: node}} (and self2,
	 * total2 for the second side of a diff). Used for sandwich views, "collapse
	 * above", files dropped on the page and diffs of two such files.
	 */
	function treeNode(name) {
		return { name: name, self: 0, total: 0, self2: 0, total2: 0, children: Object.create(null) };
	}

	/* Adds src's values into dst (same position), recursively. */
	function mergeTree(dst, src) {
		var k, kid;
		dst.self += src.self;
		dst.total += src.total;
		dst.self2 += src.self2;
		dst.total2 += src.total2;
		for (k in src.children) {
			kid = dst.children[k];
			/* a copy, so that merging more into dst never changes src */
			mergeTree(kid || (dst.children[k] = treeNode(k)), src.children[k]);
		}
		return dst;
	}

	/* A copy of tree with side 1's values moved to side 2 (for diffs). */
	function asSecond(t) {
		var o = treeNode(t.name), k;
		o.self2 = t.self;
		o.total2 = t.total;
		for (k in t.children)
			o.children[k] = asSecond(t.children[k]);
		return o;
	}

	/*
	 * Flamebearer JSON of a tree (the /render answer's shape): "single", or
	 * "double" when double is true (self2/total2 are the new side). Siblings
	 * are sorted by name, as the server does. meta: metadata to attach.
	 */
	function fromTree(root, meta, double) {
		var names = [], index = Object.create(null), levels = [], ends = [], maxSelf = 0;
		function nameIdx(n) {
			if (!(n in index)) {
				index[n] = names.length;
				names.push(n);
			}
			return index[n];
		}
		nameIdx(root.name);
		function walk(t, depth, x, x2) {
			var row = levels[depth] || (levels[depth] = []), e = ends[depth] || (ends[depth] = [0, 0]);
			var keys = Object.keys(t.children).sort(), k;
			var nm = depth === 0 ? 0 : nameIdx(t.name);
			if (double) {
				row.push(x - e[0], t.total, t.self, x2 - e[1], t.total2, t.self2, nm);
				e[1] = x2 + t.total2;
				maxSelf = Math.max(maxSelf, t.self, t.self2);
			} else {
				row.push(x - e[0], t.total, t.self, nm);
				maxSelf = Math.max(maxSelf, t.self);
			}
			e[0] = x + t.total;
			for (k = 0; k < keys.length; k++) {
				var c = t.children[keys[k]];
				if (c.total <= 0 && (!double || c.total2 <= 0))
					continue;
				walk(c, depth + 1, x, x2);
				x += c.total;
				x2 += c.total2;
			}
		}
		walk(root, 0, 0, 0);
		var out = {
			version: 1,
			flamebearer: { names: names, levels: levels, numTicks: root.total + (double ? root.total2 : 0),
				maxSelf: maxSelf },
			metadata: Object.assign({ format: double ? 'double' : 'single' }, meta || {}),
		};
		out.metadata.format = double ? 'double' : 'single';
		if (double) {
			out.leftTicks = root.total;
			out.rightTicks = root.total2;
		}
		return out;
	}

	/* A double flamebearer comparing tree a (base) with tree b (new). */
	function diffTrees(a, b, meta) {
		var root = treeNode('total');
		mergeTree(root, a);
		mergeTree(root, asSecond(b));
		return fromTree(root, meta, true);
	}

	/*
	 * Parses folded stacks ("a;b;c 12" per line; a line without a number
	 * counts 1) into a tree. Throws when no line holds a stack.
	 */
	function parseFolded(text) {
		var root = treeNode('total'), lines = String(text).split('\n'), i, m, frames, v, node, j, kid, n = 0;
		for (i = 0; i < lines.length; i++) {
			m = /^(.*?)(?:\s+(\d+(?:\.\d+)?))?\s*$/.exec(lines[i]);
			if (!m || !m[1] || m[1].charAt(0) === '#')
				continue;
			v = m[2] === undefined ? 1 : +m[2];
			frames = m[1].split(';');
			node = root;
			root.total += v;
			for (j = 0; j < frames.length; j++) {
				kid = node.children[frames[j]];
				if (!kid)
					kid = node.children[frames[j]] = treeNode(frames[j]);
				kid.total += v;
				node = kid;
			}
			node.self += v;
			n++;
		}
		if (!n)
			throw new Error('no folded stacks ("frame;frame;frame count" lines) in the file');
		return root;
	}

	/* ---- graph --------------------------------------------------------- */

	/*
	 * new FlameGraph(el, opts): el is a <canvas> or an element to put one in.
	 * opts: mode 'flame' (root at the bottom, default) or 'icicle',
	 * colorBy 'package' (default), 'library', 'name', 'none' or 'diff' (default for diffs),
	 * rowHeight (18), font, minPx (0.5: narrower frames are not drawn),
	 * tooltip (true).
	 */
	function FlameGraph(el, opts) {
		var self = this;
		opts = opts || {};
		this.opts = {
			mode: opts.mode === 'icicle' ? 'icicle' : 'flame',
			colorBy: opts.colorBy || null,
			rowHeight: opts.rowHeight || 18,
			font: opts.font || '12px ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace',
			minPx: opts.minPx === undefined ? 0.5 : opts.minPx,
			tooltip: opts.tooltip !== false,
			animate: opts.animate || 0,
		};
		if (el.tagName && el.tagName.toUpperCase() === 'CANVAS') {
			this.canvas = el;
		} else {
			this.canvas = document.createElement('canvas');
			el.appendChild(this.canvas);
		}
		this.container = this.canvas.parentNode;
		if (this.container && this.container.classList)
			this.container.classList.add('kfg-graph');
		this.canvas.classList.add('kfg-canvas');
		/* for screen readers: a picture, described by setData (the table has the numbers) */
		if (this.canvas.setAttribute)
			this.canvas.setAttribute('role', 'img');
		this.ctx = this.canvas.getContext('2d');
		this.data = null;
		this.zoomed = 0;
		this.query = '';
		this.matched = null;
		this.matchedShare = 0;
		this.highlighted = null;
		this.hovered = -1;
		this.onHover = null;
		this.onClick = null;
		this.onContextMenu = null;
		this.onZoom = null;
		this._colors = [];
		this._textW = null;
		if (this.opts.tooltip && this.container) {
			this.tooltip = document.createElement('div');
			this.tooltip.className = 'kfg-tooltip';
			this.tooltip.style.display = 'none';
			this.container.appendChild(this.tooltip);
		}
		this._listeners = [];
		this._listen(this.canvas, 'mousemove', function (e) { self._move(e); });
		this._listen(this.canvas, 'mouseleave', function () { self._leave(); });
		this._listen(this.canvas, 'click', function (e) { self._click(e); });
		this._listen(this.canvas, 'contextmenu', function (e) { self._context(e); });
		/* keyboard: the canvas takes focus, arrows move a focus frame (_key) */
		this.focused = -1;
		if (opts.keyboard !== false && this.canvas.setAttribute && typeof document !== 'undefined') {
			this.canvas.tabIndex = 0;
			this.live = document.createElement('div');
			this.live.className = 'kfg-live';
			this.live.setAttribute('aria-live', 'polite');
			this.live.style.cssText = 'position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)';
			if (this.container)
				this.container.appendChild(this.live);
			this._listen(this.canvas, 'keydown', function (e) { self._key(e); });
			this._listen(this.canvas, 'blur', function () {
				self.focused = -1;
				self._tip(-1);
				self.render();
			});
		}
		if (typeof ResizeObserver !== 'undefined' && this.container) {
			this._resize = new ResizeObserver(function () { self.render(); });
			this._resize.observe(this.container);
		} else if (typeof window !== 'undefined') {
			this._listen(window, 'resize', function () { self.render(); });
		}
	}

	FlameGraph.prototype = {
		_listen: function (target, type, fn) {
			target.addEventListener(type, fn);
			this._listeners.push([target, type, fn]);
		},

		/* Removes listeners and the elements this graph added. */
		destroy: function () {
			this._listeners.forEach(function (l) { l[0].removeEventListener(l[1], l[2]); });
			this._listeners = [];
			if (this._resize)
				this._resize.disconnect();
			if (this.tooltip && this.tooltip.parentNode)
				this.tooltip.parentNode.removeChild(this.tooltip);
			if (this.live && this.live.parentNode)
				this.live.parentNode.removeChild(this.live);
		},

		/* Shows a profile: flamebearer JSON or a FlameData. Resets zoom and search. */
		setData: function (fb, metadata) {
			this.data = fb instanceof FlameData ? fb : new FlameData(fb, metadata);
			this.zoomed = 0;
			this._anim = null;
			this._animTok = null;
			this.animating = false;
			this.highlighted = null;
			this.focused = -1;
			this._colors = [];
			this._textW = new Float32Array(this.data.names.length).fill(-1);
			if (this.canvas.setAttribute)
				this.canvas.setAttribute('aria-label', (this.data.double ? 'Diff flame graph' : 'Flame graph') + ' of ' +
					this.data.formatValue(this.data.numTicks) + ', ' + this.data.n + ' frames');
			if (this.query)
				this.search(this.query);
			else
				this.matched = null;
			this.render();
			return this;
		},

		setMode: function (mode) {
			this.opts.mode = mode === 'icicle' ? 'icicle' : 'flame';
			this.render();
		},

		/* 'package', 'library', 'name', 'none' or 'diff'; null: the default for the data. */
		setColorBy: function (by) {
			this.opts.colorBy = by;
			this._colors = [];
			this.render();
		},

		colorBy: function () {
			if (this.opts.colorBy)
				return this.opts.colorBy === 'diff' && !this.data.double ? 'package' : this.opts.colorBy;
			return this.data && this.data.double ? 'diff' : 'package';
		},

		/* Zooms to a node (index or info object); 0 or reset() shows all. */
		zoomTo: function (node) {
			var i = typeof node === 'object' && node ? node.index : node;
			if (!this.data)
				return;
			if (!(i >= 0 && i < this.data.n))
				i = 0;
			this._animate(this._range(), i);
			if (this.onZoom)
				this.onZoom(this.data.info(i), this.breadcrumbs());
		},

		reset: function () {
			this.zoomTo(0);
		},

		/*
		 * Sets the zoomed node; with opts.animate (milliseconds) the shown
		 * range moves from `from` to the node's over that time (ease-out).
		 */
		_animate: function (from, i) {
			var self = this, ms = this.opts.animate, t0, d = this.data;
			var to = { x: d.x[i], w: d.w[i] > 0 ? d.w[i] : 1 }, tok = this._animTok = {};
			this.zoomed = i;
			this.animating = false;
			this._anim = null;
			if (!ms || typeof requestAnimationFrame === 'undefined' || !from) {
				this.render();
				return;
			}
			this.animating = true;
			t0 = Date.now();
			function step() {
				var t = Math.min(1, (Date.now() - t0) / ms), e = 1 - (1 - t) * (1 - t) * (1 - t);
				if (self._animTok !== tok)
					return;
				self._anim = t < 1 ? { x: from.x + (to.x - from.x) * e, w: from.w + (to.w - from.w) * e } : null;
				self.render();
				if (t < 1)
					requestAnimationFrame(step);
				else
					self.animating = false;
			}
			step();
		},

		/* The zoomed node's path from the root, as info objects. */
		breadcrumbs: function () {
			var d = this.data;
			return d ? d.path(this.zoomed).map(function (i) { return d.info(i); }) : [];
		},

		/*
		 * Highlights frames whose name matches q (a regex, or literal text if
		 * it is not one) and returns the share of the total they cover, in
		 * [0, 1]. An empty q clears the search.
		 */
		search: function (q) {
			this.query = q || '';
			this.matchedShare = 0;
			if (!this.query || !this.data) {
				this.matched = null;
			} else {
				this.matcher = makeMatcher(this.query);
				this.matched = new Uint8Array(this.data.n);
				this.matchedShare = this.data.match(this.matcher, this.matched);
			}
			this.render();
			return this.matchedShare;
		},

		/*
		 * Outlines frames: null clears; a node index, an array of indexes or
		 * a function name (every node of that name).
		 */
		highlight: function (what) {
			var d = this.data, set = null, i;
			if (d && what !== null && what !== undefined) {
				set = new Uint8Array(d.n);
				if (typeof what === 'string') {
					for (i = 0; i < d.n; i++)
						set[i] = d.nameOf(i) === what ? 1 : 0;
				} else {
					[].concat(what).forEach(function (k) {
						if (k >= 0 && k < d.n)
							set[k] = 1;
					});
				}
			}
			this.highlighted = set;
			this.render();
		},

		_color: function (i) {
			var d = this.data, k, by = this.colorBy();
			if (by === 'diff')
				return diffColor(d.change(i), d.diffScale);
			if (by === 'none')
				return PLAIN_COLOR;
			k = d.nameIdx[i] + 1;
			if (this._colors[k] === undefined)
				this._colors[k] = keyColor(d.colorKey(i, by), by);
			return this._colors[k];
		},

		_size: function () {
			var dpr = (typeof window !== 'undefined' && window.devicePixelRatio) || 1;
			var cssW = this.canvas.clientWidth || (this.container && this.container.clientWidth) || 0;
			var rows = this.data ? Math.max(this.data.levels, 1) : 1;
			var cssH = rows * this.opts.rowHeight;
			if (this.canvas.style)
				this.canvas.style.height = cssH + 'px';
			if (this.canvas.width !== Math.round(cssW * dpr) || this.canvas.height !== Math.round(cssH * dpr)) {
				this.canvas.width = Math.round(cssW * dpr);
				this.canvas.height = Math.round(cssH * dpr);
			}
			this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
			this.cssW = cssW;
			this.cssH = cssH;
		},

		_y: function (depth) {
			var h = this.opts.rowHeight;
			return this.opts.mode === 'icicle' ? depth * h : (this.data.levels - 1 - depth) * h;
		},

		/* Truncates name to fit width px, with an ellipsis; '' if nothing fits. */
		_fit: function (i, name, width) {
			var ctx = this.ctx, k = this.data.nameIdx[i] + 1, full = this._textW[k], n, s;
			if (full < 0 || full === undefined)
				full = this._textW[k] = ctx.measureText(name).width;
			if (full <= width)
				return name;
			n = Math.floor(name.length * width / full);
			while (n > 1) {
				s = name.slice(0, n - 1) + '\u2026';
				if (ctx.measureText(s).width <= width)
					return s;
				n--;
			}
			return '';
		},

		/*
		 * Draws everything. Frames narrower than minPx are skipped (their
		 * descendants are narrower still), so the cost follows what is
		 * visible, not the size of the profile.
		 */
		render: function () {
			var d = this.data, ctx = this.ctx, h = this.opts.rowHeight, self = this;
			if (!d || !ctx)
				return;
			this._size();
			ctx.clearRect(0, 0, this.cssW, this.cssH);
			if (!d.n || !this.cssW)
				return;
			ctx.font = this.opts.font;
			ctx.textBaseline = 'middle';
			/* dimmed frames fade into the page: on a dark one further, under light text */
			var dark = this._darkPage(), dimText = dark ? '#f0f0f0' : '#000', dimAlpha = dark ? 0.35 : 0.55;
			this._each(function (i, x, y, w, ancestor) {
				var label, dim = ancestor || (self.matched && !self.matched[i]);
				ctx.globalAlpha = dim ? dimAlpha : 1;
				ctx.fillStyle = self.matched && self.matched[i] ? MATCH_COLOR : self._color(i);
				ctx.fillRect(x, y, Math.max(w - 0.5, 0.5), h - 1);
				if (self.highlighted && self.highlighted[i]) {
					ctx.globalAlpha = 1;
					ctx.lineWidth = 2;
					ctx.strokeStyle = 'rgb(0,0,0)';
					ctx.strokeRect(x + 1, y + 1, Math.max(w - 2.5, 0.5), h - 3);
				}
				if (w > 24) {
					label = self._fit(i, d.nameOf(i), w - 6);
					if (label) {
						ctx.globalAlpha = 1;
						ctx.fillStyle = self.matched && self.matched[i] ? '#fff' : dim ? dimText : '#000';
						ctx.fillText(label, x + 3, y + h / 2);
					}
				}
			});
			ctx.globalAlpha = 1;
			if (this.focused >= 0 && this.focused < d.n) {
				var b = this._box(this.focused);
				ctx.lineWidth = 2;
				ctx.strokeStyle = dark ? '#74c0fc' : '#1c7ed6';
				ctx.strokeRect(Math.max(b.x, 0) + 1, b.y + 1, Math.max(Math.min(b.w, this.cssW) - 2.5, 2), h - 3);
			}
		},

		/*
		 * Is the page behind the canvas dark (a dark theme)? Dimmed frames
		 * are drawn half transparent over it, so their text turns light.
		 * Read from the canvas's CSS text colour, which a theme sets.
		 */
		_darkPage: function () {
			var c = typeof getComputedStyle === 'function' && this.canvas.nodeType ?
				(getComputedStyle(this.canvas).color.match(/[\d.]+/g) || []) : [];
			return c.length >= 3 && 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 128;
		},

		/* The colour of node i's label as render() draws it (tests, tools). */
		labelColor: function (i) {
			var dim = (this.matched && !this.matched[i]) || this.data.depth[i] < this.data.depth[this.zoomed];
			return this.matched && this.matched[i] ? '#fff' : dim && this._darkPage() ? '#f0f0f0' : '#000';
		},

		/* The ticks shown across the width: the zoomed node's, or the animation's. */
		_range: function () {
			var d = this.data, z = this.zoomed;
			if (this._anim)
				return this._anim;
			return { x: d.x[z], w: d.w[z] > 0 ? d.w[z] : 1 };
		},

		/*
		 * Calls fn(i, x, y, w, isAncestor) for every frame drawn, in CSS px.
		 * Frames narrower than minPx are skipped (their descendants are
		 * narrower still), so the cost follows what is visible, not the size
		 * of the profile; many frames inside one pixel column count once.
		 */
		_each: function (fn) {
			var d = this.data, r = this._range(), zx = r.x, zw = r.w, scale = this.cssW / zw;
			var zd = d.depth[this.zoomed], lv, i, end, x, w, px0;
			for (lv = 0; lv < d.levels; lv++) {
				i = d.firstAfter(lv, zx);
				end = d.levelStart[lv + 1];
				px0 = -1;
				for (; i < end && d.x[i] < zx + zw; i++) {
					w = d.w[i] * scale;
					if (lv < zd) {
						/* an ancestor of the zoomed node: full width, faded */
						x = 0;
						w = this.cssW;
					} else {
						x = (d.x[i] - zx) * scale;
						if (w < this.opts.minPx)
							continue;
					}
					if (w < 1.5 && Math.floor(x) === px0)
						continue;
					px0 = Math.floor(x);
					fn(i, x, this._y(lv), w, lv < zd);
				}
			}
		},

		/*
		 * The frames on screen as [{index, name, x, y, w, h}] in CSS px
		 * relative to the canvas (for tests and tools that want to point
		 * at a frame by name).
		 */
		visibleNodes: function () {
			var out = [], d = this.data, h = this.opts.rowHeight;
			if (!d || !d.n || !this.cssW)
				return out;
			this._each(function (i, x, y, w) {
				out.push({ index: i, name: d.nameOf(i), x: x, y: y, w: w, h: h });
			});
			return out;
		},

		/* The node under a mouse event, or -1. */
		nodeAt: function (e) {
			var d = this.data, rect, px, py, lv, tick;
			if (!d || !d.n || !this.cssW)
				return -1;
			rect = this.canvas.getBoundingClientRect();
			px = e.clientX - rect.left;
			py = e.clientY - rect.top;
			lv = Math.floor(py / this.opts.rowHeight);
			if (this.opts.mode !== 'icicle')
				lv = d.levels - 1 - lv;
			if (lv < 0 || lv >= d.levels || px < 0 || px > this.cssW)
				return -1;
			if (lv < d.depth[this.zoomed])
				return d.path(this.zoomed)[lv];
			tick = this._range().x + px / this.cssW * this._range().w;
			return d.find(lv, tick);
		},

		/* Tooltip HTML for node i (text is escaped). */
		tooltipHTML: function (i) {
			var d = this.data, o = d.info(i), f = function (v) { return esc(d.formatValue(v)); };
			var rows = [];
			if (!d.double) {
				rows.push(['Total', f(o.total) + ' (' + pct(o.total, d.numTicks) + ' of all, ' +
					o.percentOfParent.toFixed(2) + '% of parent)']);
				rows.push(['Self', f(o.self) + ' (' + pct(o.self, d.numTicks) + ')']);
			} else {
				rows.push(['Base', f(o.baseTotal) + ' (' + pct(o.baseTotal, d.leftTicks) + '), self ' + f(o.baseSelf)]);
				rows.push(['New', f(o.newTotal) + ' (' + pct(o.newTotal, d.rightTicks) + '), self ' + f(o.newSelf)]);
				rows.push(['Change', (o.change >= 0 ? '+' : '') + o.change.toFixed(2) + '% of total']);
			}
			return '<div class="kfg-tt-name">' + esc(o.name) + '</div><table>' +
				rows.map(function (r) { return '<tr><th>' + r[0] + '</th><td>' + r[1] + '</td></tr>'; }).join('') +
				'</table>';
		},

		_move: function (e) {
			var i = this.nodeAt(e);
			if (i !== this.hovered) {
				this.hovered = i;
				this.canvas.style.cursor = i >= 0 ? 'pointer' : 'default';
				if (this.onHover)
					this.onHover(i >= 0 ? this.data.info(i) : null, e);
			}
			this._tip(i, e.clientX, e.clientY);
		},

		/* Shows node i's tooltip near the point (clientX, clientY); i < 0 hides it. */
		_tip: function (i, clientX, clientY) {
			if (!this.tooltip)
				return;
			if (i < 0) {
				this.tooltip.style.display = 'none';
				return;
			}
			this.tooltip.innerHTML = this.tooltipHTML(i);
			this.tooltip.style.display = 'block';
			var cr = this.container.getBoundingClientRect();
			var lx = clientX - cr.left + 14, ly = clientY - cr.top + 14;
			var tw = this.tooltip.offsetWidth, th = this.tooltip.offsetHeight;
			if (lx + tw > cr.width)
				lx = Math.max(0, clientX - cr.left - tw - 14);
			if (ly + th > cr.height && clientY - cr.top - th - 14 > 0)
				ly = clientY - cr.top - th - 14;
			this.tooltip.style.left = lx + 'px';
			this.tooltip.style.top = ly + 'px';
		},

		/* Where node i is drawn, in CSS px of the canvas: {x, y, w} (w 0: not on screen). */
		_box: function (i) {
			var d = this.data, r = this._range(), scale = this.cssW / r.w;
			if (d.depth[i] < d.depth[this.zoomed])
				return { x: 0, y: this._y(d.depth[i]), w: this.cssW };
			var x = (d.x[i] - r.x) * scale, w = d.w[i] * scale;
			return { x: x, y: this._y(d.depth[i]), w: x + w <= 0 || x >= this.cssW ? 0 : w };
		},

		/*
		 * The keyboard on a focused graph: arrows move a focus frame
		 * (left/right: neighbours on the row; up/down: towards the root or
		 * the first child, as drawn), Enter/Space zoom like a click, the
		 * context-menu key or Shift+F10 open the frame's menu. The focused
		 * frame is outlined, its tooltip shown and read out (aria-live).
		 */
		_key: function (e) {
			var d = this.data, i = this.focused, up, next, b, r;
			if (!d || !d.n)
				return;
			if (i < 0 || i >= d.n)
				i = this.zoomed;
			up = this.opts.mode === 'icicle' ? 'ArrowUp' : 'ArrowDown';
			switch (e.key) {
			case 'ArrowLeft':
			case 'ArrowRight':
				next = i + (e.key === 'ArrowLeft' ? -1 : 1);
				if (next < d.levelStart[d.depth[i]] || next >= d.levelStart[d.depth[i] + 1])
					next = i;
				break;
			case 'ArrowUp':
			case 'ArrowDown':
				next = e.key === up ? (i ? d.parent[i] : i) : (d.firstChild[i] >= 0 ? d.firstChild[i] : i);
				break;
			case 'Enter':
			case ' ':
				e.preventDefault();
				this.zoomTo(i === this.zoomed ? this.data.parent[i] : i);
				this._focusTo(i);
				return;
			case 'ContextMenu':
			case 'F10':
				if (e.key === 'F10' && !e.shiftKey)
					return;
				if (!this.onContextMenu)
					return;
				e.preventDefault();
				b = this._box(i);
				r = this.canvas.getBoundingClientRect();
				this.onContextMenu(d.info(i), { clientX: r.left + b.x + Math.min(b.w, 40) / 2,
					clientY: r.top + b.y + this.opts.rowHeight / 2, preventDefault: function () {} });
				return;
			default:
				return;
			}
			e.preventDefault();
			this._focusTo(next);
		},

		_focusTo: function (i) {
			var b, r;
			this.focused = i;
			this.render();
			b = this._box(i);
			r = this.canvas.getBoundingClientRect();
			this._tip(i, r.left + b.x + Math.min(b.w, 40) / 2, r.top + b.y + this.opts.rowHeight / 2);
			if (this.live) {
				var o = this.data.info(i);
				this.live.textContent = o.name + ': total ' + this.data.formatValue(o.total) + ', ' +
					pct(o.total, this.data.numTicks) + ' of all, self ' + this.data.formatValue(o.self);
			}
		},

		_leave: function () {
			if (this.tooltip)
				this.tooltip.style.display = 'none';
			if (this.hovered >= 0 && this.onHover)
				this.onHover(null, null);
			this.hovered = -1;
		},

		/* A click zooms, unless an onClick handler returns false. */
		_click: function (e) {
			var i = this.nodeAt(e);
			if (i < 0)
				return;
			if (this.onClick && this.onClick(this.data.info(i), e) === false)
				return;
			this.zoomTo(i === this.zoomed ? this.data.parent[i] : i);
		},

		_context: function (e) {
			var i = this.nodeAt(e);
			if (i < 0 || !this.onContextMenu)
				return;
			e.preventDefault();
			this.onContextMenu(this.data.info(i), e);
		},
	};

	function esc(s) {
		return String(s).replace(/[&<>"']/g, function (c) {
			return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
		});
	}

	/* ---- table --------------------------------------------------------- */

	/*
	 * new FlameTable(el, graph, opts): a table of functions under el, kept
	 * in step with graph's data and search. Click a header to sort; click a
	 * row to search for that function (opts.onRowClick overrides); hovering
	 * a row outlines its frames. opts.maxRows (default 1000).
	 */
	function FlameTable(el, graph, opts) {
		var self = this;
		opts = opts || {};
		this.el = el;
		this.graph = graph;
		this.maxRows = opts.maxRows || 1000;
		this.onRowClick = opts.onRowClick || null;
		this.sortKey = 'self';
		this.desc = true;
		this.rows = [];
		this._data = null;
		el.classList.add('kfg-table-wrap');
		el.addEventListener('click', function (e) {
			var t = e.target.closest ? e.target.closest('th,tr') : null;
			if (!t)
				return;
			if (t.tagName === 'TH' && t.dataset.key) {
				self.sortBy(t.dataset.key);
			} else if (t.tagName === 'TR' && t.dataset.name !== undefined) {
				if (self.onRowClick)
					self.onRowClick(t.dataset.name);
				else
					self.graph.search('^' + escapeRegExp(t.dataset.name) + '$');
			}
		});
		el.addEventListener('mouseover', function (e) {
			var t = e.target.closest ? e.target.closest('tr') : null;
			if (t && t.dataset.name !== undefined)
				self.graph.highlight(t.dataset.name);
		});
		el.addEventListener('mouseleave', function () { self.graph.highlight(null); });
	}

	FlameTable.prototype = {
		columns: function () {
			if (this.graph.data && this.graph.data.double) {
				return [['baseSelf', 'Base self'], ['newSelf', 'New self'], ['baseTotal', 'Base total'],
					['newTotal', 'New total'], ['change', 'Change'], ['name', 'Function']];
			}
			return [['self', 'Self'], ['selfPct', 'Self %'], ['total', 'Total'], ['totalPct', 'Total %'],
				['name', 'Function']];
		},

		sortBy: function (key, desc) {
			if (key === 'selfPct')
				key = 'self';
			if (key === 'totalPct')
				key = 'total';
			if (desc === undefined)
				desc = key === this.sortKey ? !this.desc : key !== 'name';
			this.sortKey = key;
			this.desc = desc;
			this.update();
		},

		/* The rows shown: aggregated, filtered by the graph's search, sorted. */
		visibleRows: function () {
			var g = this.graph, d = g.data, key = this.sortKey, desc = this.desc, rows;
			if (!d)
				return [];
			if (this._data !== d) {
				this.rows = d.functions();
				this._data = d;
			}
			if (d.double && (key === 'self' || key === 'total'))
				key = key === 'self' ? 'newSelf' : 'newTotal';
			if (!d.double && !(key in { self: 1, total: 1, name: 1 }))
				key = 'self';
			rows = g.query ? this.rows.filter(function (r) { return g.matcher.test(r.name); }) : this.rows.slice();
			rows.sort(function (a, b) {
				var c = key === 'name' ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a[key] - b[key];
				if (!c)
					c = a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
				return desc ? -c : c;
			});
			return rows;
		},

		update: function () {
			var g = this.graph, d = g.data, rows = this.visibleRows(), cols = this.columns(), self = this;
			var html = [], f = function (v) { return esc(d.formatValue(v)); };
			if (!d) {
				this.el.innerHTML = '';
				return;
			}
			html.push('<table class="kfg-table"><thead><tr>');
			cols.forEach(function (c) {
				var k = self.sortKey;
				if (d.double && (k === 'self' || k === 'total'))
					k = k === 'self' ? 'newSelf' : 'newTotal';
				var on = c[0] === k || (c[0] === 'selfPct' && k === 'self') || (c[0] === 'totalPct' && k === 'total');
				html.push('<th data-key="' + c[0] + '"' + (on ? ' class="kfg-sorted"' : '') + '>' + c[1] +
					(on ? (self.desc ? ' \u25be' : ' \u25b4') : '') + '</th>');
			});
			html.push('</tr></thead><tbody>');
			rows.slice(0, this.maxRows).forEach(function (r) {
				html.push('<tr data-name="' + esc(r.name) + '">');
				if (d.double) {
					html.push('<td>' + f(r.baseSelf) + '</td><td>' + f(r.newSelf) + '</td><td>' + f(r.baseTotal) +
						'</td><td>' + f(r.newTotal) + '</td><td class="' +
						(r.change > 1e-7 ? 'kfg-grew' : r.change < -1e-7 ? 'kfg-shrank' : '') + '">' +
						(r.change >= 0 ? '+' : '') + r.change.toFixed(2) + '%</td>');
				} else {
					html.push('<td>' + f(r.self) + '</td><td>' + pct(r.self, d.numTicks) + '</td><td>' + f(r.total) +
						'</td><td>' + pct(r.total, d.numTicks) + '</td>');
				}
				html.push('<td class="kfg-fn" title="' + esc(r.name) + '">' + esc(r.name) + '</td></tr>');
			});
			html.push('</tbody></table>');
			if (rows.length > this.maxRows)
				html.push('<div class="kfg-more">' + this.maxRows + ' of ' + rows.length + ' functions shown</div>');
			this.el.innerHTML = html.join('');
		},
	};

	/* ---- view: toolbar + graph + table ---------------------------------- */

	/*
	 * new FlameView(el, opts): the complete viewer in el. opts: title,
	 * subtitle, mode, view ('both', 'graph' or 'table'), plus FlameGraph
	 * options. setData(flamebearer) shows a profile.
	 */
	function FlameView(el, opts) {
		var self = this, q;
		opts = opts || {};
		this.el = el;
		el.classList.add('kfg');
		el.innerHTML =
			(opts.title ? '<h1 class="kfg-title"></h1>' : '') +
			(opts.subtitle ? '<div class="kfg-subtitle"></div>' : '') +
			'<div class="kfg-toolbar">' +
			'<input class="kfg-search" type="search" placeholder="Search (regex)" spellcheck="false">' +
			'<span class="kfg-matched"></span>' +
			'<button class="kfg-reset" type="button" title="Show the whole graph">Reset</button>' +
			'<button class="kfg-mode" type="button"></button>' +
			'<select class="kfg-colors" title="Colour frames by">' +
			'<option value="package">Colour: package</option><option value="library">Colour: library</option>' +
			'<option value="name">Colour: function</option><option value="none">Colour: none</option>' +
			'<option value="diff">Colour: diff</option></select>' +
			'<select class="kfg-view" title="What to show"><option value="both">Graph and table</option>' +
			'<option value="graph">Graph</option><option value="table">Table</option></select>' +
			'</div>' +
			'<div class="kfg-legend" hidden></div>' +
			'<div class="kfg-crumbs"></div>' +
			'<div class="kfg-graph-box"></div>' +
			'<div class="kfg-table-box"></div>';
		q = function (c) { return el.querySelector('.' + c); };
		if (opts.title)
			q('kfg-title').textContent = opts.title;
		if (opts.subtitle)
			q('kfg-subtitle').textContent = opts.subtitle;
		this.graph = new FlameGraph(q('kfg-graph-box'), opts);
		this.table = new FlameTable(q('kfg-table-box'), this.graph, opts);
		this.searchBox = q('kfg-search');
		this.matchedEl = q('kfg-matched');
		this.modeBtn = q('kfg-mode');
		this.colorSel = q('kfg-colors');
		this.viewSel = q('kfg-view');
		this.crumbs = q('kfg-crumbs');
		this.legend = q('kfg-legend');
		this._modeLabel();
		var timer = null;
		this.searchBox.addEventListener('input', function () {
			clearTimeout(timer);
			timer = setTimeout(function () { self.search(self.searchBox.value); }, 120);
		});
		this.searchBox.addEventListener('keydown', function (e) {
			if (e.key === 'Escape') {
				self.searchBox.value = '';
				self.search('');
			}
		});
		q('kfg-reset').addEventListener('click', function () {
			self.searchBox.value = '';
			self.search('');
			self.graph.reset();
		});
		this.modeBtn.addEventListener('click', function () {
			self.graph.setMode(self.graph.opts.mode === 'icicle' ? 'flame' : 'icicle');
			self._modeLabel();
		});
		this.colorSel.addEventListener('change', function () { self.graph.setColorBy(self.colorSel.value); });
		this.viewSel.addEventListener('change', function () { self.setView(self.viewSel.value); });
		this.crumbs.addEventListener('click', function (e) {
			var i = e.target.dataset ? e.target.dataset.node : undefined;
			if (i !== undefined)
				self.graph.zoomTo(+i);
		});
		this.graph.onZoom = function () { self._crumbs(); };
		this.table.onRowClick = function (name) {
			self.searchBox.value = '^' + escapeRegExp(name) + '$';
			self.search(self.searchBox.value);
		};
		/* Ctrl-F searches the graph, unless opts.ctrlF is false (pages with several views) */
		document.addEventListener('keydown', function (e) {
			if (opts.ctrlF !== false && (e.ctrlKey || e.metaKey) && e.key === 'f') {
				e.preventDefault();
				self.searchBox.focus();
				self.searchBox.select();
			}
		});
		this.setView(opts.view || 'both');
	}

	FlameView.prototype = {
		setData: function (fb, metadata) {
			this.graph.setData(fb, metadata);
			var d = this.graph.data;
			this.colorSel.value = this.graph.colorBy();
			this.colorSel.querySelector('option[value=diff]').disabled = !d.double;
			this._legend();
			this._crumbs();
			this.table.update();
			return this;
		},

		/* Searches graph and table; returns the matched share of the total. */
		search: function (q) {
			var share = this.graph.search(q);
			this.matchedEl.textContent = q ? 'Matched: ' + (100 * share).toFixed(2) + '%' : '';
			this.table.update();
			return share;
		},

		setView: function (v) {
			this.viewSel.value = v;
			this.el.querySelector('.kfg-graph-box').hidden = v === 'table';
			this.el.querySelector('.kfg-table-box').hidden = v === 'graph';
			this.graph.render();
		},

		_modeLabel: function () {
			this.modeBtn.textContent = this.graph.opts.mode === 'icicle' ? 'Flame (root at bottom)' : 'Icicle (root on top)';
		},

		_crumbs: function () {
			var g = this.graph;
			this.crumbs.innerHTML = g.breadcrumbs().map(function (o, k, all) {
				return k === all.length - 1 ? '<span>' + esc(o.name) + '</span>'
					: '<a role="link" tabindex="0" data-node="' + o.index + '">' + esc(o.name) + '</a>';
			}).join(' \u203a ');
		},

		_legend: function () {
			var d = this.graph.data, s;
			if (!d.double) {
				this.legend.hidden = true;
				return;
			}
			s = (100 * d.diffScale).toFixed(2);
			this.legend.hidden = false;
			this.legend.innerHTML = 'Share of total: <span class="kfg-sw" style="background:' + diffColor(-1, 1) +
				'"></span>shrank <span class="kfg-sw" style="background:' + diffColor(0, 1) +
				'"></span>unchanged <span class="kfg-sw" style="background:' + diffColor(1, 1) +
				'"></span>grew (full colour at \u00b1' + s + '%). Base ' + esc(d.formatValue(d.leftTicks)) +
				', new ' + esc(d.formatValue(d.rightTicks)) + '.';
		},
	};

	var api = {
		FlameData: FlameData,
		FlameGraph: FlameGraph,
		FlameTable: FlameTable,
		FlameView: FlameView,
		format: format,
		pct: pct,
		esc: esc,
		escapeRegExp: escapeRegExp,
		treeNode: treeNode,
		mergeTree: mergeTree,
		fromTree: fromTree,
		diffTrees: diffTrees,
		parseFolded: parseFolded,
		packageOf: packageOf,
		libraryOf: libraryOf,
		hashName: hashName,
		warmColor: warmColor,
		keyColor: keyColor,
		diffColor: diffColor,
		makeMatcher: makeMatcher,
	};
	if (typeof module !== 'undefined' && module.exports)
		module.exports = api;
	else
		global.KilnFlame = api;
})(typeof window !== 'undefined' ? window : this);
