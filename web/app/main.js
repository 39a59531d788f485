// SPDX-License-Identifier: Apache-2.0
/*
 * main.js - the Kiln web UI application: the query bar (service, profile
 * type, label matchers with completion, time range, refresh), the views
 * (flame graph, table, both, sandwich, tag explorer, comparison, diff,
 * dropped files), exports, the view state in the URL, theme and keys.
 * It talks only to the server's public query API (docs/http-api.md) and
 * /api/convert for dropped files. window.kilnTest exposes what the browser
 * tests need to point at frames (tests/web/ui_test.js).
 */
(function (global) {
	'use strict';
	var K = global.Kiln, F = global.KilnFlame, $ = K.$, $$ = K.$$;
	var S = K.readState();
	var ui = {}, meta = { services: [], types: [], labels: [] }, last = {}, ctl = null, loads = 0;
	var fileData = null, lastMatcherLabel = null;

	/* ---- status: loading, empty, error ---------------------------------------- */

	var loadingTimer = null, loadingT0 = 0;

	/*
	 * The line under the tabs: state 'loading' (msg: what runs) shows a
	 * spinner, the time so far and Cancel; 'ready' nothing; 'empty',
	 * 'error' and 'cancelled' say what happened, hint what to do, and
	 * actions [{label, run}] become buttons (Retry, a longer range ...).
	 */
	function setStatus(state, msg, hint, actions) {
		var el = $('#status');
		clearInterval(loadingTimer);
		document.body.dataset.state = state;
		el.className = 'st-' + state;
		if (state === 'loading') {
			loadingT0 = Date.now();
			/* the counter is aria-hidden: a screen reader hears "Loading flame" once, not every tick */
			el.innerHTML = '<span class="spin" aria-hidden="true"></span> Loading ' + K.esc(msg || 'query') +
				'\u2026 <span class="elapsed" aria-hidden="true"></span> ' +
				'<button type="button" class="st-act" id="cancel" title="Stop waiting for this query">Cancel</button>';
			var tick = el.querySelector('.elapsed');
			/* long queries show that they are still running */
			loadingTimer = setInterval(function () {
				tick.textContent = ((Date.now() - loadingT0) / 1000).toFixed(1) + ' s';
			}, 100);
			el.querySelector('#cancel').addEventListener('click', cancel);
			return;
		}
		el.innerHTML = msg ? K.esc(msg) + (hint ? ' <span class="hint">' + K.esc(hint) + '</span>' : '') : '';
		(actions || []).forEach(function (a) {
			var b = K.el('button', 'st-act', a.label, el);
			b.type = 'button';
			b.addEventListener('click', a.run);
		});
	}

	/* Cancel: aborts the running query's requests. */
	function cancel() {
		var s = ((Date.now() - loadingT0) / 1000).toFixed(1);
		if (ctl)
			ctl.abort();
		setStatus('cancelled', 'Query cancelled after ' + s + ' s.', 'Retry runs it again; a shorter range or more ' +
			'labels make it faster.', [{ label: 'Retry', run: function () { load(); } }]);
	}

	/* ---- queries -------------------------------------------------------------- */

	function selector(extra) {
		var q = S.q;
		if (extra)
			q = q ? q + ', ' + extra : extra;
		return K.selector(S.type, S.service, q);
	}

	function renderParams(extra, from, until) {
		return { query: selector(extra), from: from || S.from, until: until || S.until };
	}

	/* The comparison's two ranges (seconds): from the URL, else the halves of the main range. */
	function sides() {
		var a = K.toSec(S.from), b = K.toSec(S.until), mid = Math.round((a + b) / 2);
		return {
			lf: S.lfrom ? K.toSec(S.lfrom) : Math.floor(a), lu: S.luntil ? K.toSec(S.luntil) : mid,
			rf: S.rfrom ? K.toSec(S.rfrom) : mid, ru: S.runtil ? K.toSec(S.runtil) : Math.ceil(b),
		};
	}

	function loadMeta() {
		return K.api('/pyroscope/label-values', { label: 'service_name', from: '0' }).then(function (svcs) {
			meta.services = svcs || [];
			if (!S.service || meta.services.indexOf(S.service) < 0)
				S.service = S.service && !meta.services.length ? S.service : (meta.services[0] || '');
			fillSelect(ui.service, meta.services, S.service);
			return loadTypes();
		});
	}

	function loadTypes() {
		var q = S.service ? '{service_name=' + K.quote(S.service) + '}' : '';
		return Promise.all([
			K.api('/pyroscope/label-values', { label: '__name__', query: q, from: '0' }),
			K.api('/pyroscope/label-names', { query: q, from: '0' }),
		]).then(function (r) {
			meta.types = r[0] || [];
			lastMatcherLabel = null;
			meta.labels = (r[1] || []).filter(function (n) { return n.slice(0, 2) !== '__' && n !== 'service_name'; });
			if (meta.types.indexOf(S.type) < 0) {
				S.type = meta.types.filter(function (t) { return /:cpu:/.test(t); })[0] || meta.types[0] || '';
			}
			fillSelect(ui.ptype, meta.types, S.type, function (t) {
				var p = t.split(':');
				return p.length >= 3 ? p[0] + ' \u00b7 ' + p[1] + ' (' + p[2] + ')' : t;
			});
			completions();
		});
	}

	function fillSelect(sel, values, current, label) {
		sel.innerHTML = values.map(function (v) {
			return '<option value="' + K.esc(v) + '">' + K.esc(label ? label(v) : v) + '</option>';
		}).join('');
		if (!values.length)
			sel.innerHTML = '<option value="">(none)</option>';
		sel.value = current;
	}

	/* Label matcher completion: names, then the values of the name being typed. */
	function completions() {
		var text = ui.matchers.value, cut = text.lastIndexOf(','), head = cut >= 0 ? text.slice(0, cut + 1) + ' ' : '';
		var cur = text.slice(cut + 1).trim(), m = /^([A-Za-z0-9_.]+)\s*(=~|!=|!~|=)/.exec(cur), list = ui.matchersList;
		if (!m) {
			list.innerHTML = meta.labels.map(function (n) {
				return '<option value="' + K.esc(head + n + '=') + '"></option>';
			}).join('');
			return;
		}
		if (lastMatcherLabel === m[1] + '|' + head)
			return;
		lastMatcherLabel = m[1] + '|' + head;
		K.api('/pyroscope/label-values', { label: m[1], query: S.service ? '{service_name=' + K.quote(S.service) + '}' : '',
			from: '0' }).then(function (vals) {
			list.innerHTML = (vals || []).map(function (v) {
				return '<option value="' + K.esc(head + m[1] + m[2] + K.quote(v)) + '"></option>';
			}).join('');
		}).catch(function () {});
	}

	/* ---- loading the current view ----------------------------------------------- */

	function fail(e) {
		if (e && e.name === 'AbortError')
			return;
		var hint = e.status === 400 ? 'Check the label matchers and the range.' :
			e.status === 422 ? 'The query is too large: choose a shorter range or more labels.' :
				e.status === 401 || e.status === 403 ? 'This server needs a token with the read right.' :
					'Try again, or look at the server log.';
		setStatus('error', 'Error: ' + e.message, hint, [{ label: 'Retry', run: function () { load(); } }]);
	}

	function emptyMessage(json) {
		var acts = [], span = K.toSec(S.until) - K.toSec(S.from);
		if (!meta.services.length)
			return ['No profiles are stored yet.', 'Send some: point a Pyroscope SDK or `kiln record --push` at this ' +
				'server, or drop a profile file on this page to view it.'];
		if (!json || !json.flamebearer || !json.flamebearer.numTicks) {
			if (span < 7 * 86400 - 60)
				acts.push({ label: 'Show the last 7 days', run: function () { setRange('now-7d', 'now'); } });
			if (S.q)
				acts.push({ label: 'Remove the labels', run: function () {
					S.q = '';
					changed(true);
				} });
			return ['No data for ' + selector() + ' in ' + K.fmtRange(S.from, S.until) + '.',
				'Try a longer range, another profile type or fewer labels.', acts];
		}
		return null;
	}

	/* Loads the current view; quiet: an auto refresh (keeps the status line). */
	function load(quiet) {
		var view = S.view, p;
		if (ctl)
			ctl.abort();
		ctl = new AbortController();
		var signal = ctl.signal;
		K.writeState(S);
		syncControls();
		if (view === 'file') {
			showFile();
			return Promise.resolve();
		}
		if (!S.type) {
			setStatus('empty', emptyMessage(null)[0], emptyMessage(null)[1]);
			return Promise.resolve();
		}
		if (quiet && document.body.dataset.state === 'ready') {
			/* auto refresh: no loading line every few seconds, a small mark instead */
			$('#refresh').classList.add('busy');
		} else {
			setStatus('loading', view);
		}
		var t0 = performance.now();
		if (view === 'tags')
			p = loadTags(signal);
		else if (view === 'compare')
			p = loadCompare(signal);
		else if (view === 'diff')
			p = loadDiff(signal);
		else
			p = loadSingle(signal);
		return p.then(function (empty) {
			if (signal.aborted)
				return;
			loads++;
			K.lastLoadMs = performance.now() - t0;
			if (empty)
				setStatus('empty', empty[0], empty[1], empty[2]);
			else
				setStatus('ready', '');
			applySearch();
			applyColors();
		}, fail).finally(function () {
			if (ctl.signal === signal)
				$('#refresh').classList.remove('busy');
		});
	}

	function mainTimeline(json) {
		var f = K.formatter(json.metadata);
		ui.timeline.opts.format = f;
		ui.timeline.setData([{ timeline: json.timeline, color: K.PALETTE[0] }], K.toSec(S.from), K.toSec(S.until));
	}

	function loadSingle(signal) {
		return K.api('/pyroscope/render', renderParams(), { signal: signal }).then(function (json) {
			last.single = json;
			mainTimeline(json);
			if (S.view === 'sandwich') {
				ui.sandwich.setData(json, S.fn);
			} else {
				ui.panel.setLayout(S.view);
				ui.panel.setData(json);
				if (S.zoom)
					ui.panel.zoomToPath(S.zoom.split(';'));
			}
			return emptyMessage(json);
		});
	}

	function loadTags(signal) {
		var from = K.toSec(S.from), until = K.toSec(S.until);
		ui.tags.setLabels(meta.labels, S.group);
		if (!S.group) {
			ui.tags.clear();
			return Promise.resolve(meta.labels.length ? null :
				['The selected series have no labels to explore.', 'Labels come from the ingest name (app{env=prod}) or pprof labels.']);
		}
		var params = renderParams();
		params.groupBy = S.group;
		params.maxNodes = 1;
		return K.api('/pyroscope/render', params, { signal: signal }).then(function (json) {
			ui.tags.setData(S.group, json, from, until);
			return null;
		});
	}

	function loadCompare(signal) {
		var s = sides(), from = K.toSec(S.from), until = K.toSec(S.until);
		$('#diff-panel').hidden = true;
		$$('.cmp-panel').forEach(function (e) { e.hidden = false; });
		return Promise.all([
			K.api('/pyroscope/render', renderParams(null, '' + Math.floor(from), '' + Math.ceil(until)), { signal: signal }),
			K.api('/pyroscope/render', renderParams(S.lq, '' + s.lf, '' + s.lu), { signal: signal }),
			K.api('/pyroscope/render', renderParams(S.rq, '' + s.rf, '' + s.ru), { signal: signal }),
		]).then(function (r) {
			compareTimelines(r[0], s);
			ui.left.setData(r[1]);
			ui.right.setData(r[2]);
			if (S.lzoom)
				ui.left.zoomToPath(S.lzoom.split(';'));
			if (S.rzoom)
				ui.right.zoomToPath(S.rzoom.split(';'));
			return emptyMessage(r[0]);
		});
	}

	function loadDiff(signal) {
		var s = sides(), from = K.toSec(S.from), until = K.toSec(S.until);
		$('#diff-panel').hidden = false;
		$$('.cmp-panel').forEach(function (e) { e.hidden = true; });
		return Promise.all([
			K.api('/pyroscope/render', renderParams(null, '' + Math.floor(from), '' + Math.ceil(until)), { signal: signal }),
			K.api('/pyroscope/render-diff', {
				leftQuery: selector(S.lq), leftFrom: '' + s.lf, leftUntil: '' + s.lu,
				rightQuery: selector(S.rq), rightFrom: '' + s.rf, rightUntil: '' + s.ru,
			}, { signal: signal }),
		]).then(function (r) {
			compareTimelines(r[0], s);
			last.diff = r[1];
			ui.diff.setData(r[1]);
			if (S.dzoom)
				ui.diff.zoomToPath(S.dzoom.split(';'));
			K.diffLegend($('#legend'), ui.diff.graph.data);
			return emptyMessage(r[0]);
		});
	}

	function compareTimelines(json, s) {
		var f = K.formatter(json.metadata), from = K.toSec(S.from), until = K.toSec(S.until);
		[['l', ui.ltl, s.lf, s.lu, 'rgba(28,126,214,0.22)'], ['r', ui.rtl, s.rf, s.ru, 'rgba(224,49,49,0.2)']].forEach(function (x) {
			x[1].opts.format = f;
			x[1].setData([{ timeline: json.timeline, color: K.PALETTE[0] }], from, until, [{ from: x[2], until: x[3], color: x[4] }]);
		});
		$('#cmp-left .cmp-range').textContent = K.fmtTime(s.lf, true) + ' \u2013 ' + K.fmtTime(s.lu, true);
		$('#cmp-right .cmp-range').textContent = K.fmtTime(s.rf, true) + ' \u2013 ' + K.fmtTime(s.ru, true);
	}

	/* ---- dropped files (nothing is stored) -------------------------------------- */

	/* Reads a File into flamebearer JSON: folded text here, anything else by /api/convert. */
	function readFile(file) {
		return file.arrayBuffer().then(function (buf) {
			var bytes = new Uint8Array(buf), text = null;
			if (!(bytes[0] === 0x1f && bytes[1] === 0x8b)) {
				text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.slice(0, 4096));
				if (/^[^\n{]*;[^\n]* \d+\s*$/m.test(text) && !/^\s*[{[]/.test(text)) {
					var tree = F.parseFolded(new TextDecoder().decode(bytes));
					return { name: file.name, json: F.fromTree(tree, { units: 'samples', name: 'samples' }) };
				}
			}
			return K.api('/api/convert', { format: 'flamebearer' }, { method: 'POST', body: buf }).then(function (json) {
				return { name: file.name, json: json };
			});
		});
	}

	function dropFiles(files) {
		files = [].slice.call(files, 0, 2);
		if (!files.length)
			return;
		setStatus('loading', 'reading ' + files.map(function (f) { return f.name; }).join(', '));
		Promise.all(files.map(readFile)).then(function (r) {
			if (r.length === 2) {
				var a = new F.FlameData(r[0].json), b = new F.FlameData(r[1].json);
				fileData = { name: r[0].name + ' \u2192 ' + r[1].name, json: F.diffTrees(a.toTree(0), b.toTree(0), r[1].json.metadata) };
			} else {
				fileData = r[0];
			}
			$('#adhoc-tab').hidden = false;
			S.view = 'file';
			load();
			setStatus('ready', '');
		}).catch(function (e) { setStatus('error', 'Cannot read the file: ' + e.message, 'Kiln reads pprof, folded, perf script and speedscope files.'); });
	}

	function showFile() {
		if (!fileData) {
			setStatus('empty', 'No file dropped yet.', 'Drop a profile file on the page.');
			return;
		}
		$('#file-head').textContent = fileData.name + ' (local file, not stored on the server)';
		ui.file.setLayout('both');
		ui.file.setData(fileData.json);
		if (ui.file.graph.data.double)
			K.diffLegend($('#legend'), ui.file.graph.data);
		setStatus('ready', '');
		applySearch();
		applyColors();
	}

	/* ---- search, mode, view ----------------------------------------------------- */

	function activePanels() {
		switch (S.view) {
		case 'compare':
			return [ui.left, ui.right];
		case 'diff':
			return [ui.diff];
		case 'sandwich':
			return [ui.sandwich];
		case 'file':
			return [ui.file];
		case 'tags':
			return [];
		default:
			return [ui.panel];
		}
	}

	/* The graph PNG export and the tests use: the first visible flame graph. */
	function activeGraph() {
		var p = activePanels()[0];
		return p ? (p.graph || p.callees) : null;
	}

	function applySearch() {
		var shares = activePanels().map(function (p) { return p.search(S.search); });
		ui.matched.textContent = S.search && shares.length ? 'Matched: ' + shares.map(function (s) {
			return (100 * s).toFixed(2) + '%';
		}).join(' | ') + ' of total' : '';
	}

	function setView(v) {
		S.view = v;
		if (v !== 'flame' && v !== 'table' && v !== 'both')
			S.zoom = '';
		load();
	}

	function syncControls() {
		var single = ['flame', 'table', 'both', 'sandwich'].indexOf(S.view) >= 0;
		$$('#tabs button').forEach(function (b) {
			b.classList.toggle('on', b.dataset.view === S.view);
			b.setAttribute('aria-selected', b.dataset.view === S.view ? 'true' : 'false');
		});
		$('#v-single').hidden = !single;
		$('#panel').hidden = S.view === 'sandwich';
		$('#sandwich').hidden = S.view !== 'sandwich';
		$('#v-tags').hidden = S.view !== 'tags';
		$('#v-compare').hidden = S.view !== 'compare' && S.view !== 'diff';
		$('#v-file').hidden = S.view !== 'file';
		$('#legend').hidden = S.view !== 'diff' && !(S.view === 'file' && fileData && fileData.json.metadata.format === 'double');
		ui.search.value = S.search;
		ui.mode.textContent = S.mode === 'icicle' ? 'Flame (root at bottom)' : 'Icicle (root on top)';
		ui.matchers.value = S.q;
		ui.service.value = S.service;
		ui.ptype.value = S.type;
		var rel = K.isRelative(S.from) && S.until === 'now' && ui.range.querySelector('option[value="' + S.from + '"]');
		ui.range.value = rel ? S.from : 'abs';
		$('#abs').hidden = !!rel;
		if (!rel) {
			ui.absFrom.value = localInput(K.toSec(S.from));
			ui.absUntil.value = localInput(K.toSec(S.until));
		}
		$('#range-label').textContent = K.fmtRange(S.from, S.until);
		$$('.cmp-q').forEach(function (i) { i.value = i.dataset.side === 'l' ? S.lq : S.rq; });
		if (S.refresh && !ui.auto.querySelector('option[value="' + S.refresh + '"]'))
			K.el('option', null, S.refresh + ' s', ui.auto).value = S.refresh;
		ui.auto.value = S.refresh;
		ui.colorby.value = S.color;
		/* a diff is coloured by the change, the tag explorer has no frames */
		ui.colorby.disabled = S.view === 'diff' || S.view === 'tags';
		[ui.panel, ui.left, ui.right, ui.diff, ui.file].forEach(function (p) {
			if (p.graph.opts.mode !== S.mode)
				p.setMode(S.mode);
		});
	}

	function localInput(sec) {
		var d = new Date(sec * 1000 - new Date(sec * 1000).getTimezoneOffset() * 60000);
		return isNaN(d) ? '' : d.toISOString().slice(0, 19);
	}

	/* ---- exports ----------------------------------------------------------------- */

	function exportUrl(format) {
		var s;
		if (S.view === 'diff') {
			s = sides();
			return format === 'json' ? K.url('/pyroscope/render-diff', {
				leftQuery: selector(S.lq), leftFrom: '' + s.lf, leftUntil: '' + s.lu,
				rightQuery: selector(S.rq), rightFrom: '' + s.rf, rightUntil: '' + s.ru,
			}) : null;
		}
		if (S.view === 'file' || S.view === 'tags' || !S.type)
			return null;
		var p = renderParams();
		if (S.view === 'compare') {
			s = sides();
			p = renderParams(S.rq, '' + s.rf, '' + s.ru);
		}
		p.format = format;
		return K.url('/pyroscope/render', p);
	}

	function updateExports() {
		$$('#export a[data-export]').forEach(function (a) {
			var u = exportUrl(a.dataset.export);
			if (u) {
				a.href = u;
				a.classList.remove('off');
			} else {
				a.removeAttribute('href');
				a.classList.add('off');
			}
		});
		var j = $('#export a[data-export=json]');
		if (S.view === 'file' && fileData) {
			j.href = URL.createObjectURL(new Blob([JSON.stringify(fileData.json)], { type: 'application/json' }));
			j.classList.remove('off');
		}
	}

	function exportPng() {
		var g = activeGraph();
		if (!g || !g.canvas)
			return;
		g.canvas.toBlob(function (b) { K.download(b, 'flamegraph.png'); }, 'image/png');
	}

	/* ---- wiring ------------------------------------------------------------------- */

	function changed(push) {
		K.writeState(S, push);
		return load();
	}

	function setRange(from, until) {
		S.from = String(from);
		S.until = String(until);
		S.lfrom = S.luntil = S.rfrom = S.runtil = '';
		S.zoom = S.lzoom = S.rzoom = S.dzoom = '';
		return changed(true);
	}

	function init() {
		var body = document.body;
		ui.service = $('#service');
		ui.ptype = $('#ptype');
		ui.matchers = $('#matchers');
		ui.matchersList = $('#matchers-list');
		ui.range = $('#range');
		ui.absFrom = $('#abs-from');
		ui.absUntil = $('#abs-until');
		ui.search = $('#search');
		ui.matched = $('#matched');
		ui.mode = $('#mode');
		ui.auto = $('#auto');
		ui.colorby = $('#colorby');
		applyTheme(localStorage.getItem('kiln-theme') || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
		if (S.embed) {
			body.classList.add('embed');
			if (['flame', 'table', 'both'].indexOf(S.view) < 0)
				S.view = 'flame';
		}
		var onSandwich = function (name) {
			S.fn = name;
			setView('sandwich');
		};
		/* each graph's zoom lives in the URL under its own key */
		var zoomKey = function (key) {
			return function (path) {
				S[key] = path.join(';');
				K.writeState(S);
			};
		};
		ui.panel = new K.FlamePanel($('#panel'), { mode: S.mode, onSandwich: onSandwich, onZoom: zoomKey('zoom') });
		ui.sandwich = new K.SandwichPanel($('#sandwich'), { onPick: function (n) { S.fn = n; K.writeState(S); } });
		ui.timeline = new K.Timeline($('#timeline'), { onSelect: setRange });
		ui.tags = new K.TagExplorer($('#v-tags'), {
			onLabel: function (l) {
				S.group = l;
				changed(true);
			},
			onFilter: function (label, value) {
				S.q = K.setMatcher(S.q, label, value);
				S.view = 'flame';
				changed(true);
			},
		});
		var sideSelect = function (side) {
			return function (a, b) {
				S[side + 'from'] = String(a);
				S[side + 'until'] = String(b);
				changed(true);
			};
		};
		ui.ltl = new K.Timeline($('#cmp-left .cmp-tl'), { height: 70, onSelect: sideSelect('l') });
		ui.rtl = new K.Timeline($('#cmp-right .cmp-tl'), { height: 70, onSelect: sideSelect('r') });
		ui.left = new K.FlamePanel($('#cmp-left .cmp-panel'), { mode: S.mode, onSandwich: onSandwich,
			onZoom: zoomKey('lzoom') });
		ui.right = new K.FlamePanel($('#cmp-right .cmp-panel'), { mode: S.mode, onSandwich: onSandwich,
			onZoom: zoomKey('rzoom') });
		ui.diff = new K.FlamePanel($('#diff-panel'), { mode: S.mode, layout: 'flame', onZoom: zoomKey('dzoom') });
		ui.file = new K.FlamePanel($('#file-panel'), { mode: S.mode, layout: 'both' });

		ui.service.addEventListener('change', function () {
			S.service = ui.service.value;
			S.type = '';
			S.zoom = S.fn = '';
			loadTypes().then(function () { changed(true); }, fail);
		});
		ui.ptype.addEventListener('change', function () {
			S.type = ui.ptype.value;
			S.zoom = S.fn = '';
			changed(true);
		});
		ui.matchers.addEventListener('input', completions);
		ui.matchers.addEventListener('keydown', function (e) {
			if (e.key === 'Enter') {
				S.q = ui.matchers.value.trim();
				S.zoom = '';
				changed(true);
			}
		});
		ui.matchers.addEventListener('change', function () {
			if (ui.matchers.value.trim() !== S.q && /["'`]\s*$|^$/.test(ui.matchers.value.trim())) {
				S.q = ui.matchers.value.trim();
				changed(true);
			}
		});
		ui.range.addEventListener('change', function () {
			if (ui.range.value === 'abs') {
				$('#abs').hidden = false;
				ui.absFrom.value = localInput(K.toSec(S.from));
				ui.absUntil.value = localInput(K.toSec(S.until));
				return;
			}
			setRange(ui.range.value, 'now');
		});
		$('#abs-apply').addEventListener('click', function () {
			var a = new Date(ui.absFrom.value).getTime() / 1000, b = new Date(ui.absUntil.value).getTime() / 1000;
			if (a >= 0 && b > a)
				setRange(Math.floor(a), Math.ceil(b));
			else
				setStatus('error', 'The range needs a start before its end.');
		});
		$('#refresh').addEventListener('click', function () { loadMeta().then(function () { return load(); }, fail); });
		ui.auto.addEventListener('change', function () {
			S.refresh = ui.auto.value;
			K.writeState(S);
			autoRefresh();
		});
		autoRefresh();
		ui.colorby.addEventListener('change', function () {
			S.color = ui.colorby.value;
			K.writeState(S);
			applyColors();
		});
		$('#theme').addEventListener('click', function () {
			applyTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark');
			localStorage.setItem('kiln-theme', document.documentElement.dataset.theme);
		});
		$('#tabs').addEventListener('click', function (e) {
			var b = e.target.closest('button[data-view]');
			if (b)
				setView(b.dataset.view);
		});
		var searchTimer = null;
		ui.search.addEventListener('input', function () {
			clearTimeout(searchTimer);
			searchTimer = setTimeout(function () {
				S.search = ui.search.value;
				K.writeState(S);
				applySearch();
			}, 120);
		});
		$('#reset').addEventListener('click', reset);
		ui.mode.addEventListener('click', function () {
			S.mode = S.mode === 'icicle' ? 'flame' : 'icicle';
			K.writeState(S);
			syncControls();
			ui.sandwich.callers.render();
		});
		$$('.cmp-q').forEach(function (inp) {
			inp.addEventListener('keydown', function (e) {
				if (e.key !== 'Enter')
					return;
				S[inp.dataset.side + 'q'] = inp.value.trim();
				changed(true);
			});
		});
		$('#export').addEventListener('toggle', updateExports);
		$('#export').addEventListener('click', function (e) {
			var t = e.target.closest('[data-export]');
			if (!t)
				return;
			if (t.dataset.export === 'png')
				exportPng();
			else if (t.dataset.export === 'link')
				K.copyText(location.href);
			$('#export').open = false;
		});
		document.addEventListener('keydown', function (e) {
			var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName);
			if (e.key === '/' && !typing) {
				e.preventDefault();
				ui.search.focus();
				ui.search.select();
			} else if (e.key === 'Escape' && document.body.dataset.state === 'loading') {
				cancel();
			} else if (e.key === 'Escape') {
				K.closeMenu();
				$('#export').open = false;
				if (e.target === ui.search || !typing) {
					reset();
					ui.search.blur();
				}
			}
		});
		/* drag and drop of profile files */
		var depth = 0;
		document.addEventListener('dragenter', function (e) {
			if (e.dataTransfer && [].indexOf.call(e.dataTransfer.types, 'Files') >= 0) {
				depth++;
				$('#drop').hidden = false;
			}
		});
		document.addEventListener('dragleave', function () {
			if (--depth <= 0) {
				depth = 0;
				$('#drop').hidden = true;
			}
		});
		document.addEventListener('dragover', function (e) { e.preventDefault(); });
		document.addEventListener('drop', function (e) {
			e.preventDefault();
			depth = 0;
			$('#drop').hidden = true;
			if (e.dataTransfer && e.dataTransfer.files.length)
				dropFiles(e.dataTransfer.files);
		});
		window.addEventListener('popstate', function () {
			S = K.readState();
			autoRefresh();
			load();
		});
		syncControls();
		loadMeta().then(function () { return load(); }, fail);
	}

	/*
	 * Auto refresh: every S.refresh seconds (any number from the URL, the
	 * picker offers 10 s ... 5 min) while the range is relative, the view
	 * loads again quietly, keeping zoom and search; a refresh still running
	 * (a slow server) is not stacked with another.
	 */
	var autoTimer = null;

	function autoRefresh() {
		clearTimeout(autoTimer);
		if (!(+S.refresh > 0))
			return;
		autoTimer = setTimeout(function tick() {
			var p = K.isRelative(S.from) && S.view !== 'file' && document.body.dataset.state !== 'loading' ?
				load(true) : null;
			Promise.resolve(p).then(function () {
				if (+S.refresh > 0)
					autoTimer = setTimeout(tick, Math.max(1, +S.refresh) * 1000);
			});
		}, Math.max(1, +S.refresh) * 1000);
	}

	/* Colours: every graph that is not a diff by S.color, with a legend of the main one's largest. */
	function applyColors() {
		var by = S.color || 'package';
		/* setColorBy redraws: only when it changes (not on every load of a large graph) */
		[ui.panel, ui.left, ui.right, ui.file].forEach(function (p) {
			var want = p.graph.data && p.graph.data.double ? null : by;
			if (p.graph.data && p.graph.opts.colorBy !== want)
				p.graph.setColorBy(want);
		});
		[ui.sandwich.callers, ui.sandwich.callees, ui.sandwich.main].forEach(function (g) {
			if (g.data && g.opts.colorBy !== by)
				g.setColorBy(by);
		});
		var g = activeGraph();
		K.colorLegend($('#colors-legend'), g && g.data && !g.data.double && S.view !== 'table' ? g : null, by);
	}

	function reset() {
		S.search = '';
		S.zoom = '';
		ui.search.value = '';
		activePanels().forEach(function (p) {
			if (p.uncollapse)
				p.uncollapse();
			if (p.graph)
				p.graph.reset();
		});
		K.writeState(S);
		applySearch();
	}

	function applyTheme(t) {
		document.documentElement.dataset.theme = t;
		[ui.timeline, ui.ltl, ui.rtl].forEach(function (tl) {
			if (tl)
				tl.render();
		});
	}

	/* ---- test hook: what a person sees, addressable by name -------------------------- */

	function graphs() {
		return {
			main: ui.panel.graph, left: ui.left.graph, right: ui.right.graph, diff: ui.diff.graph,
			callers: ui.sandwich.callers, callees: ui.sandwich.callees, file: ui.file.graph,
		};
	}

	global.kilnTest = {
		state: function () { return Object.assign({}, S); },
		loads: function () { return loads; },
		idle: function () {
			var g = graphs();
			return !K.inflight && document.body.dataset.state !== 'loading' &&
				!Object.keys(g).some(function (k) { return g[k].animating; });
		},
		/* Frames drawn in graph `which`, in page coordinates. */
		nodes: function (which) {
			var g = graphs()[which || 'main'], r = g.canvas.getBoundingClientRect();
			return g.visibleNodes().map(function (n) {
				return { index: n.index, name: n.name, x: r.left + n.x, y: r.top + n.y, w: n.w, h: n.h,
					cx: r.left + n.x + Math.min(n.w, 40) / 2, cy: r.top + n.y + n.h / 2 };
			});
		},
		/* The colour drawn at the middle of the first frame called name: [r, g, b, alpha 0..255]. */
		pixel: function (which, name) {
			var g = graphs()[which || 'main'], n = g.visibleNodes().filter(function (o) { return o.name === name; })[0];
			if (!n)
				return null;
			var dpr = window.devicePixelRatio || 1, px = g.ctx.getImageData(Math.round((n.x + Math.min(n.w, 20) / 2) * dpr),
				Math.round((n.y + 2) * dpr), 1, 1).data;
			return [px[0], px[1], px[2], px[3]];
		},
		info: function (which, index) { return graphs()[which || 'main'].data.info(index); },
		/* The colour of the label of the first frame called name, '#rrggbb'. */
		labelColor: function (which, name) {
			var g = graphs()[which || 'main'], n = g.visibleNodes().filter(function (o) { return o.name === name; })[0];
			return n ? g.labelColor(n.index) : null;
		},
		lastLoadMs: function () { return K.lastLoadMs; },
		copied: function () { return K.copied; },
	};

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', init);
	else
		init();
})(window);
