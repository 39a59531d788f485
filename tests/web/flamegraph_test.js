// SPDX-License-Identifier: Apache-2.0
/*
 * flamegraph_test.js - tests of web/flamegraph/flamegraph.js under Node,
 * with a recording stand-in for the canvas: flamebearer decoding (single
 * and double, offsets, parents), search share, the function table's
 * aggregation, colours shared with the C renderers, drawing geometry in
 * both orientations and when zoomed, drawing time for 50,000 nodes, and
 * the trees the web UI builds (folded files, sandwich, diffs of two files).
 *
 * usage: node flamegraph_test.js [PAGE.html]
 * With a page written by `kiln flame -o x.html`, the script and data
 * embedded in it are checked too (the page's own copy of the viewer).
 * Prints one line per failure and exits 1 if any.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const vm = require('vm');
const { budget } = require('./budget.js');

const src = process.env.KILN_SRC || path.join(__dirname, '..', '..');
let failures = 0, passes = 0;

function check(what, cond, detail) {
	if (cond) {
		passes++;
	} else {
		failures++;
		console.log('FAIL: ' + what + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''));
	}
}

function near(a, b, eps) {
	return Math.abs(a - b) <= (eps || 1e-9);
}

/* Loads the viewer from source text as a browser would (global KilnFlame). */
function load(text) {
	const sandbox = { TextEncoder: TextEncoder, Math: Math, console: console };
	sandbox.window = sandbox;
	sandbox.addEventListener = sandbox.removeEventListener = function () {};
	vm.createContext(sandbox);
	vm.runInContext(text, sandbox);
	return sandbox.KilnFlame;
}

/* A canvas stand-in that records what is drawn. */
function fakeCanvas(width) {
	const rec = { rects: [], texts: [] };
	const ctx = {
		fillStyle: '', globalAlpha: 1, font: '', lineWidth: 1, strokeStyle: '', textBaseline: '',
		fillRect(x, y, w, h) { rec.rects.push({ x, y, w, h, fill: this.fillStyle, alpha: this.globalAlpha }); },
		fillText(s, x, y) { rec.texts.push({ s, x, y }); },
		strokeRect() {}, clearRect() { rec.rects = []; rec.texts = []; }, setTransform() {},
		measureText(s) { return { width: s.length * 7 }; },
	};
	const noop = { add() {}, remove() {} };
	const container = {
		classList: noop, clientWidth: width, appendChild() {},
		getBoundingClientRect() { return { left: 0, top: 0, width: width, height: 2000 }; },
	};
	const canvas = {
		tagName: 'CANVAS', clientWidth: width, width: 0, height: 0, style: {}, parentNode: container,
		classList: noop, getContext() { return ctx; }, addEventListener() {}, removeEventListener() {},
		getBoundingClientRect() { return { left: 0, top: 0 }; },
	};
	return { canvas, rec };
}

/* Encodes a tree {name, self, children} as single-format flamebearer. */
function encode(root) {
	const names = ['total'], index = { total: 0 }, levels = [];
	(function total(n) {
		n.total = n.self + (n.children || []).reduce((s, c) => s + total(c), 0);
		return n.total;
	})(root);
	(function walk(n, depth, x) {
		if (!levels[depth])
			levels[depth] = { end: 0, vals: [] };
		const lv = levels[depth];
		if (!(n.name in index)) {
			index[n.name] = names.length;
			names.push(n.name);
		}
		lv.vals.push(x - lv.end, n.total, n.self, index[n.name]);
		lv.end = x + n.total;
		let cx = x;
		for (const c of n.children || []) {
			walk(c, depth + 1, cx);
			cx += c.total;
		}
	})(root, 0, 0);
	return {
		version: 1,
		flamebearer: { names, levels: levels.map((l) => l.vals), numTicks: root.total, maxSelf: 0 },
		metadata: { format: 'single', units: 'samples', sampleRate: 100, name: 'cpu' },
	};
}

function testDecode(K) {
	/* the example of pyroscope-compat.md section 4 */
	const d = new K.FlameData({
		version: 1,
		flamebearer: { names: ['total', 'main', 'foo', 'bar'],
			levels: [[0, 300, 0, 0], [0, 300, 0, 1], [0, 100, 100, 2, 0, 200, 200, 3]],
			numTicks: 300, maxSelf: 200 },
		metadata: { format: 'single', units: 'samples', sampleRate: 100, name: 'cpu' },
	});
	check('decode: node count', d.n === 4, d.n);
	check('decode: bar x', d.x[3] === 100 && d.w[3] === 200, [d.x[3], d.w[3]]);
	check('decode: parents', d.parent[0] === -1 && d.parent[1] === 0 && d.parent[2] === 1 && d.parent[3] === 1,
		Array.from(d.parent));
	const info = d.info(2);
	check('info: foo', info.name === 'foo' && info.total === 100 && near(info.percentOfTotal, 100 / 3) &&
		near(info.percentOfParent, 100 / 3), info);
	const m = new Uint8Array(d.n);
	check('match: foo share', near(d.match(/foo/, m), 1 / 3), Array.from(m));
	check('match: nested counted once', near(d.match(/main|foo|bar/, m), 1));
	check('match: root excluded', near(d.match(/total/, m), 0));
	const rows = d.functions();
	const byName = {};
	rows.forEach((r) => { byName[r.name] = r; });
	check('table: rows', rows.length === 3 && byName.main.total === 300 && byName.main.self === 0 &&
		byName.bar.self === 200, rows);

	/* offsets: x deltas are relative to the end of the previous node */
	const g = new K.FlameData({ names: ['total', 'a', 'b', 'c'],
		levels: [[0, 20, 2, 0], [2, 5, 1, 1, 1, 2, 2, 2], [3, 4, 4, 3]] });
	check('offsets: x', g.x[1] === 2 && g.x[2] === 8 && g.x[3] === 3, Array.from(g.x));
	check('offsets: parents', g.parent[3] === 1 && g.parent[2] === 0, Array.from(g.parent));
	check('find', g.find(1, 7.5) === -1 && g.find(1, 8) === 2 && g.find(1, 6.9) === 1);

	/* recursion: a total is counted once per path */
	const r = new K.FlameData(encode({ name: 'total', self: 0, children: [
		{ name: 'a', self: 1, children: [{ name: 'a', self: 2, children: [{ name: 'b', self: 3 }] }] },
		{ name: 'b', self: 4 } ] }));
	const rr = {};
	r.functions().forEach((x) => { rr[x.name] = x; });
	check('table: recursion', rr.a.total === 6 && rr.a.self === 3 && rr.b.total === 7 && rr.b.self === 7, rr);

	let threw = false;
	try {
		new K.FlameData({ names: ['total'], levels: [[0, 1, 0]] });
	} catch (e) {
		threw = /4-int/.test(e.message);
	}
	check('decode: bad level length throws', threw);
	const bad = new K.FlameData({ names: ['total'], levels: [[0, 10, 0, 0], [0, 5, 5, 99]] });
	check('decode: bad name index', bad.nameOf(1) === '?');
}

function testDouble(K) {
	/* base: a=60 b=40; new: a=150 b=50 */
	const fb = {
		version: 1,
		flamebearer: { names: ['total', 'a', 'b'],
			levels: [[0, 100, 0, 0, 200, 0, 0], [0, 60, 60, 0, 150, 150, 1, 0, 40, 40, 0, 50, 50, 2]],
			numTicks: 300, maxSelf: 150 },
		metadata: { format: 'double', units: 'samples' },
		leftTicks: 100, rightTicks: 200,
	};
	const d = new K.FlameData(fb);
	check('double: combined widths', d.w[0] === 300 && d.w[1] === 210 && d.x[2] === 210 && d.w[2] === 90,
		[Array.from(d.x), Array.from(d.w)]);
	check('double: change', near(d.change(1), 0.75 - 0.6) && near(d.change(2), 0.25 - 0.4));
	check('double: scale', near(d.diffScale, 0.15));
	check('double: colours', K.diffColor(d.change(1), d.diffScale) === 'rgb(255,20,20)' &&
		K.diffColor(d.change(2), d.diffScale) === 'rgb(20,20,255)' && K.diffColor(0, 1) === 'rgb(220,220,220)');
	const rows = d.functions();
	check('double: table', rows.length === 2 && rows[0].baseTotal === 60 && rows[0].newTotal === 150 &&
		near(rows[0].change, 15), rows);

	/* a profile against itself: no colour anywhere */
	const same = new K.FlameData({ names: ['total', 'a'], levels: [[0, 10, 0, 0, 10, 0, 0], [0, 10, 10, 0, 10, 10, 1]] },
		{ format: 'double' });
	const fc = fakeCanvas(1000);
	const g = new K.FlameGraph(fc.canvas, { tooltip: false });
	g.setData(same);
	check('double: itself all grey', fc.rec.rects.length === 2 &&
		fc.rec.rects.every((r) => r.fill === 'rgb(220,220,220)'), fc.rec.rects);
}

function testColors(K) {
	check('package: go', K.packageOf('net/http.(*conn).serve') === 'net/http');
	check('package: main', K.packageOf('main.work.func1') === 'main');
	check('package: c++', K.packageOf('std::vector<int>::at') === 'std');
	check('package: module', K.packageOf('[libc.so.6]') === '[libc.so.6]');
	check('package: kernel', K.packageOf('do_syscall_64_[k]') === '[kernel]');
	check('package: plain', K.packageOf('malloc') === 'malloc');
	const libs = {
		'[libc.so.6]': 'libc.so.6', 'libc.so.6+0x1f3': 'libc.so.6', 'do_syscall_64_[k]': '[kernel]',
		'memcpy (/usr/lib/x86_64-linux-gnu/libc.so.6)': 'libc.so.6', 'std::vector<int>::at': 'std',
		'boost::asio::io_context::run': 'boost', 'net/http.(*conn).serve': 'net', 'runtime.mallocgc': 'runtime',
		'github.com/foo/bar/baz.(*T).Fn': 'github.com/foo/bar', 'golang.org/x/net/http2.(*Framer).ReadFrame':
			'golang.org/x/net', 'java.util.HashMap.get': 'java.util', 'com.example.shop.Cart.total': 'com.example',
		'java/util/HashMap.get_[j]': 'java.util', 'malloc': '',
	};
	for (const n of Object.keys(libs))
		check('library: ' + n, K.libraryOf(n) === libs[n], K.libraryOf(n));
	/* colour keys: library, else the package; a libraries array from the server wins */
	const d = new K.FlameData({ names: ['total', '[libz.so.1]', 'inflate', 'compute'],
		levels: [[0, 10, 0, 0], [0, 6, 0, 1, 0, 4, 4, 3], [0, 6, 6, 2]], numTicks: 10, libraries: ['', '', 'libz.so.1', ''] },
	{ units: 'samples' });
	check('colour key: module of a name', d.colorKey(1, 'library') === 'libz.so.1');
	/* nodes are numbered level by level: 2 is compute, 3 inflate */
	check('colour key: libraries array', d.colorKey(2, 'library') === 'compute' && d.colorKey(3, 'library') === 'libz.so.1',
		[d.colorKey(2, 'library'), d.colorKey(3, 'library')]);
	check('colour key: package', d.colorKey(3, 'package') === 'inflate');
	const fc = fakeCanvas(1000);
	const g = new K.FlameGraph(fc.canvas, { tooltip: false, colorBy: 'library' });
	g.setData(d);
	check('library colours: [libz.so.1] and inflate alike, compute not', fc.rec.rects.length === 4 &&
		fc.rec.rects[1].fill === fc.rec.rects[3].fill && fc.rec.rects[2].fill !== fc.rec.rects[1].fill, fc.rec.rects);
	g.setColorBy('none');
	check('colour none: one colour', new Set(fc.rec.rects.map((r) => r.fill)).size === 1, fc.rec.rects);
	/* FNV-1a as in render_util.c; the value is checked there too */
	check('hash: fnv1a', K.hashName('main') === 0xea90e208, K.hashName('main').toString(16));
	check('format: ns', K.format(1.5e9, 'nanoseconds') === '1.50 s' && K.format(999, 'nanoseconds') === '999 ns');
	check('format: pyroscope cpu', K.format(2.5e6, 'samples', 1e9) === '2.50 ms');
	check('format: bytes', K.format(3 * 1048576, 'bytes') === '3.00 MiB');
	check('format: count', K.format(1234567, 'objects') === '1,234,567 objects');
}

function testDraw(K) {
	const fb = encode({ name: 'total', self: 0, children: [
		{ name: 'main.a', self: 10, children: [{ name: 'main.b', self: 30 }, { name: 'runtime.c', self: 20 }] },
		{ name: 'main.d', self: 40 } ] });
	const fc = fakeCanvas(1000);
	const g = new K.FlameGraph(fc.canvas, { tooltip: false, rowHeight: 20 });
	g.setData(fb);
	const byText = (s) => fc.rec.rects.find((r, k) => fc.rec.texts.some((t) => t.s === s && near(t.x, r.x + 3) && near(t.y, r.y + 10)));
	check('draw: all frames', fc.rec.rects.length === 5, fc.rec.rects.length);
	const a = byText('main.a');
	check('draw: main.a geometry (flame: root at bottom)', a && near(a.x, 0) && near(a.w, 599.5) && a.y === 20, a);
	const root = byText('total');
	check('draw: root at the bottom', root && root.y === 40, root);
	check('draw: colours by package', a && byText('main.d').fill === a.fill && byText('runtime.c').fill !== a.fill);

	g.setMode('icicle');
	check('draw: icicle root on top', byText('total').y === 0 && byText('main.b').y === 40);

	/* zoom to main.a: its parent is drawn full width and faded, main.d hidden */
	const ia = g.data.find(1, 0);
	g.zoomTo(ia);
	const z = byText('main.a');
	check('zoom: node full width', z && near(z.x, 0) && near(z.w, 999.5), z);
	check('zoom: ancestor full and faded', byText('total').w === 999.5 && byText('total').alpha < 1);
	check('zoom: outside hidden', !byText('main.d'));
	const b = byText('main.b');
	check('zoom: child scaled', b && near(b.w, 30 / 60 * 1000 - 0.5), b);
	check('zoom: breadcrumbs', g.breadcrumbs().map((o) => o.name).join('>') === 'total>main.a');
	check('zoom: hit test', g.nodeAt({ clientX: 700, clientY: 45 }) === g.data.find(2, 42) &&
		g.data.nameOf(g.nodeAt({ clientX: 700, clientY: 45 })) === 'runtime.c');
	g.reset();
	check('reset', g.zoomed === 0 && byText('main.d'));

	/* search: matches are drawn magenta and the share returned */
	const share = g.search('main\\.(b|d)');
	check('search: share', near(share, 0.7), share);
	check('search: colour', byText('main.b').fill === 'rgb(190,0,190)' && byText('main.a').fill !== 'rgb(190,0,190)');
	check('search: literal fallback', near(g.search('runtime.c('), 0));
	g.search('');
	check('search: cleared', g.matched === null);

	/* clicks zoom unless the handler says no */
	let clicked = null;
	g.onClick = (info) => { clicked = info.name; return false; };
	g._click({ clientX: 100, clientY: 25 });
	check('onClick: handler sees node, can cancel zoom', clicked === 'main.a' && g.zoomed === 0, clicked);
}

function testSpeed(K) {
	/* a wide, deep tree of about 50,000 nodes with Go-like names */
	let seed = 42, count = 1;
	const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
	function grow(depth) {
		const n = { name: 'pkg' + Math.floor(rnd() * 40) + '.fn' + Math.floor(rnd() * 500), self: 1 + Math.floor(rnd() * 100), children: [] };
		const kids = depth > 40 ? 0 : Math.floor(rnd() * 4);
		for (let i = 0; i < kids && count < 50000; i++, count++)
			n.children.push(grow(depth + 1));
		return n;
	}
	const root = { name: 'total', self: 0, children: [] };
	while (count < 50000) {
		count++;
		root.children.push(grow(1));
	}
	const fb = encode(root);
	let t0 = Date.now();
	const d = new K.FlameData(fb);
	const tDecode = Date.now() - t0;
	check('speed: nodes', d.n >= 50000, d.n);
	const fc = fakeCanvas(1600);
	const g = new K.FlameGraph(fc.canvas, { tooltip: false });
	g.setData(d);
	t0 = Date.now();
	for (let i = 0; i < 5; i++)
		g.render();
	const tDraw = (Date.now() - t0) / 5;
	t0 = Date.now();
	g.search('fn1');
	const tSearch = Date.now() - t0;
	t0 = Date.now();
	const rows = d.functions();
	const tTable = Date.now() - t0;
	console.log('speed: ' + d.n + ' nodes: decode ' + tDecode + ' ms, draw ' + tDraw + ' ms (' +
		fc.rec.rects.length + ' rects), search ' + tSearch + ' ms, table ' + tTable + ' ms (' + rows.length + ' rows)');
	const limit = budget(200);
	check('speed: draw under 200 ms (' + limit + ' ms at this load)', tDraw < limit, tDraw);
	check('speed: narrow frames skipped', fc.rec.rects.length < d.n, fc.rec.rects.length);
}

/* The viewer and data inside a page written by kiln flame. */
function testPage(file) {
	const html = fs.readFileSync(file, 'utf8');
	check('page: no network references', !/(src|href)\s*=\s*["']?(https?:)?\/\//i.test(html) && !/https?:\/\//.test(html));
	const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
	const data = scripts.find((m) => /id="kiln-data"/.test(m[1]));
	const viewer = scripts.find((m) => /KilnFlame/.test(m[2]) && /FlameData/.test(m[2]));
	check('page: data and viewer present', data && viewer);
	if (!data || !viewer)
		return;
	const K = load(viewer[2]);
	const d = new K.FlameData(JSON.parse(data[2]));
	check('page: data decodes', d.n > 1 && d.numTicks > 0, d.n);
	const rows = d.functions();
	check('page: functions', rows.length > 1);
	const m = new Uint8Array(d.n);
	const share = d.match(/./, m);
	check('page: everything matches all', near(share, 1, 1e-6) || d.double, share);
	console.log('page: ' + d.n + ' nodes, ' + rows.length + ' functions, ' + d.format + ', units ' + d.units);
}

/* Trees built in the browser: folded text, flamebearer and back, sandwich, diffs of two trees. */
function testTrees(K) {
	const t = K.parseFolded('main;a;c 10\nmain;b 30\nmain;a 5\n# comment\nmain;b;a;c 7\nidle\n');
	check('folded: root total', t.total === 53, t.total);
	check('folded: a line without a count counts 1', t.children.idle.total === 1);
	check('folded: self and total', t.children.main.children.a.total === 15 && t.children.main.children.a.self === 5);
	const fb = K.fromTree(t, { units: 'samples' });
	const d = new K.FlameData(fb);
	check('fromTree: decodes', d.n === 8 && d.numTicks === 53 && fb.flamebearer.maxSelf === 30, [d.n, d.numTicks]);
	const back = d.toTree(0);
	check('toTree: round trip', JSON.stringify(K.fromTree(back, { units: 'samples' })) === JSON.stringify(fb));
	const s = d.sandwich('c');
	check('sandwich: callees total', s.callees.total === 17, s.callees.total);
	check('sandwich: direct callers', s.callers.children.a.total === 17 && s.callers.children.a.children.main.total === 10 &&
		s.callers.children.a.children.b.children.main.total === 7, s.callers);
	const r = d.sandwich('a');
	check('sandwich: recursion counted once', r.callees.total === 22 && r.callees.children.c.total === 17, r.callees);
	const diff = new K.FlameData(K.diffTrees(K.parseFolded('main;x 10\nmain;y 90'), K.parseFolded('main;x 60\nmain;y 40')));
	const x = d && [...Array(diff.n).keys()].find((i) => diff.nameOf(i) === 'x');
	check('diffTrees: double format', diff.double && diff.leftTicks === 100 && diff.rightTicks === 100);
	check('diffTrees: x grew by 50 points', near(diff.change(x), 0.5), diff.change(x));
	let threw = false;
	try {
		K.parseFolded('\n\n');
	} catch (e) {
		threw = true;
	}
	check('folded: empty input is an error', threw);
}

const K = load(fs.readFileSync(path.join(src, 'web/flamegraph/flamegraph.js'), 'utf8'));
testTrees(K);
testDecode(K);
testDouble(K);
testColors(K);
testDraw(K);
testSpeed(K);
for (const f of process.argv.slice(2))
	testPage(f);
console.log(passes + ' passed, ' + failures + ' failed');
process.exit(failures ? 1 : 0);
