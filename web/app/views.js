// SPDX-License-Identifier: Apache-2.0
/*
 * views.js - the building blocks of the UI's profile views, on top of the
 * flame graph viewer (web/flamegraph/flamegraph.js):
 *   Kiln.FlamePanel     a flame graph and/or its function table ("flame",
 *                       "table", "both"), with breadcrumbs and the frame
 *                       context menu
 *   Kiln.SandwichPanel  a function's callers above and callees below, next
 *                       to the table that picks the function
 *   Kiln.contextMenu    the right-click menu
 *   Kiln.diffLegend     the colour legend of a diff
 *   Kiln.colorLegend    which package / library the largest colours are
 */
(function (global) {
	'use strict';
	var K = global.Kiln, F = global.KilnFlame;

	/* zoom animation in ms: none for people who asked their system for less motion */
	K.motion = global.matchMedia && global.matchMedia('(prefers-reduced-motion: reduce)').matches ? 0 : 180;

	/* ---- context menu ------------------------------------------------------ */

	var menu = null;

	K.closeMenu = function () {
		if (menu) {
			menu.remove();
			menu = null;
		}
	};

	/* Shows items [{label, action}] at the mouse event's position. */
	K.contextMenu = function (items, e) {
		K.closeMenu();
		menu = K.el('div', 'ctxmenu', null, document.body);
		menu.setAttribute('role', 'menu');
		items.forEach(function (it) {
			var b = K.el('button', 'ctxmenu-item', it.label, menu);
			b.type = 'button';
			b.setAttribute('role', 'menuitem');
			b.addEventListener('click', function () {
				K.closeMenu();
				it.action();
			});
		});
		var x = Math.min(e.clientX, window.innerWidth - menu.offsetWidth - 4);
		var y = Math.min(e.clientY, window.innerHeight - menu.offsetHeight - 4);
		menu.style.left = Math.max(0, x) + 'px';
		menu.style.top = Math.max(0, y) + 'px';
		/* keyboard: the first item has focus, arrows move, Esc closes (main.js) */
		menu.addEventListener('keydown', function (ev) {
			var items = K.$$('.ctxmenu-item', menu), k = items.indexOf(document.activeElement);
			if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
				ev.preventDefault();
				k = (k + (ev.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length;
				items[k].focus();
			}
		});
		menu.firstChild.focus();
	};
	document.addEventListener('mousedown', function (e) {
		if (menu && !menu.contains(e.target))
			K.closeMenu();
	});

	K.copyText = function (text) {
		K.copied = text;
		if (navigator.clipboard && navigator.clipboard.writeText)
			navigator.clipboard.writeText(text).catch(function () {});
	};

	/* ---- flame panel ---------------------------------------------------------- */

	/*
	 * new FlamePanel(el, opts): opts.layout 'flame' | 'table' | 'both',
	 * opts.mode 'icicle' | 'flame', opts.onSandwich(name) (context menu
	 * entry), opts.onZoom(pathOfNames). setData(json) shows a render
	 * answer (single or double).
	 */
	function FlamePanel(el, opts) {
		var self = this;
		this.opts = opts = opts || {};
		this.el = el;
		el.classList.add('fp');
		el.innerHTML = '<div class="fp-crumbs"></div><div class="fp-body"><div class="fp-table"></div>' +
			'<div class="fp-graph"></div></div>';
		this.crumbs = K.$('.fp-crumbs', el);
		this.graphBox = K.$('.fp-graph', el);
		this.tableBox = K.$('.fp-table', el);
		this.graph = new F.FlameGraph(this.graphBox, { mode: opts.mode || 'icicle', animate: K.motion });
		this.table = new F.FlameTable(this.tableBox, this.graph, {
			onRowClick: function (name) {
				if (self.opts.onRowClick)
					self.opts.onRowClick(name);
				else
					self.graph.highlight(name);
			},
		});
		this.full = null;	/* the data before "collapse above" */
		this.graph.onZoom = function () {
			self._crumbs();
			if (self.opts.onZoom)
				self.opts.onZoom(self.zoomPath());
		};
		this.graph.onContextMenu = function (info, e) { self._menu(info, e); };
		var crumb = function (e) {
			var n = e.target.dataset ? e.target.dataset.node : undefined;
			if (e.type === 'keydown' && e.key !== 'Enter' && e.key !== ' ')
				return;
			if (n !== undefined)
				e.preventDefault();
			if (n === 'full')
				self.uncollapse();
			else if (n !== undefined)
				self.graph.zoomTo(+n);
		};
		this.crumbs.addEventListener('click', crumb);
		this.crumbs.addEventListener('keydown', crumb);
		this.setLayout(opts.layout || 'flame');
	}

	FlamePanel.prototype = {
		setData: function (json) {
			this.full = null;
			this.json = json;
			this.graph.setData(json);
			if (this.graph.query)
				this.graph.search(this.graph.query);
			this.table.update();
			this._crumbs();
			return this;
		},

		setLayout: function (l) {
			this.layout = l;
			this.el.dataset.layout = l;
			this.tableBox.hidden = l === 'flame';
			this.graphBox.hidden = l === 'table';
			this.graph.render();
		},

		setMode: function (m) {
			this.graph.setMode(m);
		},

		/* Searches graph and table; returns the matched share (0..1). */
		search: function (q) {
			var share = this.graph.search(q);
			this.table.update();
			return share;
		},

		/* Names from the root's child to the zoomed node (for the URL). */
		zoomPath: function () {
			return this.graph.breadcrumbs().slice(1).map(function (o) { return o.name; });
		},

		/* Zooms to the node reached by following names from the root. */
		zoomToPath: function (names) {
			var d = this.graph.data, i = 0, k, c, found;
			if (!d || !d.n)
				return false;
			for (k = 0; k < names.length; k++) {
				found = -1;
				for (c = d.firstChild[i]; c >= 0; c = d.nextSibling[c]) {
					if (d.nameOf(c) === names[k]) {
						found = c;
						break;
					}
				}
				if (found < 0)
					break;
				i = found;
			}
			this.graph.zoomTo(i);
			return k === names.length;
		},

		/* "Collapse above": the subtree of node i becomes the whole graph. */
		collapse: function (i) {
			var d = this.graph.data, meta = this.json && this.json.metadata;
			if (!d || d.double)
				return;
			var full = this.full || this.json;
			this.graph.setData(F.fromTree(d.toTree(i), meta));
			this.full = full;
			this.table.update();
			this._crumbs();
		},

		uncollapse: function () {
			if (this.full)
				this.setData(this.full);
		},

		_menu: function (info, e) {
			var self = this, items = [
				{ label: 'Focus on subtree', action: function () { self.graph.zoomTo(info.index); } },
			];
			if (!this.graph.data.double)
				items.push({ label: 'Collapse above (make it the root)', action: function () { self.collapse(info.index); } });
			items.push({ label: 'Reset view', action: function () {
				self.uncollapse();
				self.graph.reset();
			} });
			if (this.opts.onSandwich)
				items.push({ label: 'Open in sandwich view', action: function () { self.opts.onSandwich(info.name); } });
			items.push({ label: 'Highlight similar frames', action: function () { self.graph.highlight(info.name); } });
			items.push({ label: 'Copy function name', action: function () { K.copyText(info.name); } });
			K.contextMenu(items, e);
		},

		_crumbs: function () {
			var g = this.graph, html = [];
			if (this.full)
				html.push('<a data-node="full" role="button" tabindex="0" title="Undo collapse above">\u2190 whole ' +
					'profile</a> \u00b7 ');
			html.push(g.breadcrumbs().map(function (o, k, all) {
				return k === all.length - 1 ? '<span aria-current="location">' + K.esc(o.name) + '</span>' :
					'<a data-node="' + o.index + '" role="button" tabindex="0" title="Zoom out to ' + K.esc(o.name) +
					'">' + K.esc(o.name) + '</a>';
			}).join(' \u203a '));
			this.crumbs.innerHTML = html.join('');
		},
	};

	/* ---- sandwich ------------------------------------------------------------ */

	/*
	 * new SandwichPanel(el, opts): the table (click a function) and, for the
	 * chosen function, its callers (root at the bottom) over its callees.
	 * opts.onPick(name) is told when a row is clicked.
	 */
	function SandwichPanel(el, opts) {
		var self = this;
		opts = opts || {};
		el.classList.add('sw');
		el.innerHTML = '<div class="sw-table"></div><div class="sw-graphs"><div class="sw-title"></div>' +
			'<div class="sw-label">Callers</div><div class="sw-callers"></div>' +
			'<div class="sw-label">Callees</div><div class="sw-callees"></div></div>';
		this.el = el;
		this.title = K.$('.sw-title', el);
		this.main = new F.FlameGraph(K.el('div', 'sw-hidden', null, el), { tooltip: false });
		this.table = new F.FlameTable(K.$('.sw-table', el), this.main, {
			onRowClick: function (name) {
				self.show(name);
				if (opts.onPick)
					opts.onPick(name);
			},
		});
		this.callers = new F.FlameGraph(K.$('.sw-callers', el), { mode: 'flame', animate: K.motion });
		this.callees = new F.FlameGraph(K.$('.sw-callees', el), { mode: 'icicle', animate: K.motion });
	}

	SandwichPanel.prototype = {
		setData: function (json, fn) {
			this.json = json;
			this.main.setData(json);
			this.table.update();
			this.show(fn);
		},

		show: function (fn) {
			var d = this.main.data, s, meta = this.json && this.json.metadata;
			this.fn = fn || '';
			if (!d || !fn) {
				this.title.textContent = 'Pick a function in the table (or right-click a frame \u2192 Open in sandwich view).';
				this.callers.setData(F.fromTree(F.treeNode('total'), meta));
				this.callees.setData(F.fromTree(F.treeNode('total'), meta));
				return;
			}
			this._mark();
			s = d.sandwich(fn);
			this.title.textContent = fn + ': total ' + d.formatValue(s.callees.total) + ' (' +
				F.pct(s.callees.total, d.numTicks) + ' of all)';
			this.callers.setData(F.fromTree(s.callers, meta));
			this.callees.setData(F.fromTree(s.callees, meta));
			this.main.highlight(null);
		},

		search: function (q) {
			var share = this.main.search(q);
			this.callers.search(q);
			this.callees.search(q);
			this.table.update();
			this._mark();
			return share;
		},

		/* Marks the chosen function's row in the table. */
		_mark: function () {
			var fn = this.fn;
			K.$$('tr[data-name]', this.table.el).forEach(function (tr) { tr.classList.toggle('on', tr.dataset.name === fn); });
		},
	};

	/* ---- diff legend ---------------------------------------------------------- */

	K.diffLegend = function (el, data) {
		var f = function (v) { return K.esc(data.formatValue(v)); };
		el.innerHTML = '<span class="kfg-sw" style="background:' + F.diffColor(-1, 1) + '"></span>shrank ' +
			'<span class="kfg-sw" style="background:' + F.diffColor(0, 1) + '"></span>unchanged ' +
			'<span class="kfg-sw" style="background:' + F.diffColor(1, 1) + '"></span>grew' +
			' <span class="muted">(change of the share of the total; full colour at \u00b1' +
			(100 * data.diffScale).toFixed(2) + '%) \u00b7 baseline ' + f(data.leftTicks) + ', comparison ' +
			f(data.rightTicks) + '</span>';
	};

	/*
	 * The colour legend for 'package' / 'library': the keys of the most
	 * time (self, summed by key) in graph g, each with its swatch; empty
	 * for 'none', a diff or no graph.
	 */
	K.colorLegend = function (el, g, by) {
		var d = g && g.data, sums = new Map(), i, k, top;
		if (!d || !d.n || by === 'none') {
			el.innerHTML = '';
			return;
		}
		for (i = 1; i < d.n; i++) {
			if (d.self[i] > 0) {
				k = d.colorKey(i, by);
				sums.set(k, (sums.get(k) || 0) + d.self[i]);
			}
		}
		top = Array.from(sums.entries()).sort(function (a, b) { return b[1] - a[1]; }).slice(0, 5);
		el.innerHTML = top.map(function (e) {
			return '<span class="cl-item" data-key="' + K.esc(e[0]) + '"><span class="kfg-sw" style="background:' +
				F.keyColor(e[0], by) + '"></span>' + K.esc(e[0]) + '</span>';
		}).join(' ');
		el.title = 'The ' + (by === 'library' ? 'libraries' : 'packages') + ' with the most self time, by colour';
	};

	K.FlamePanel = FlamePanel;
	K.SandwichPanel = SandwichPanel;
})(window);
