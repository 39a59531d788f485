// SPDX-License-Identifier: Apache-2.0
/*
 * tags.js - Kiln.TagExplorer: pick a label (region, vehicle, ...) and see
 * each of its values' share of the selection as a table and as timelines
 * (one render call with groupBy=<label>); clicking a value filters the
 * query by it (onFilter(label, value)).
 */
(function (global) {
	'use strict';
	var K = global.Kiln;

	/* new TagExplorer(el, {onFilter, onLabel}) */
	function TagExplorer(el, opts) {
		var self = this;
		this.opts = opts || {};
		this.el = el;
		el.classList.add('tx');
		el.innerHTML = '<div class="tx-head"><label>Label <select class="tx-label"></select></label>' +
			'<span class="tx-note muted"></span></div><div class="tx-chart"></div><div class="tx-table"></div>';
		this.select = K.$('.tx-label', el);
		this.note = K.$('.tx-note', el);
		this.tableEl = K.$('.tx-table', el);
		this.timeline = new K.Timeline(K.$('.tx-chart', el), { height: 140 });
		this.select.addEventListener('change', function () {
			if (self.opts.onLabel)
				self.opts.onLabel(self.select.value);
		});
		this.tableEl.addEventListener('click', function (e) {
			var tr = e.target.closest('tr[data-value]');
			if (tr && self.opts.onFilter)
				self.opts.onFilter(self.label, tr.dataset.value);
		});
	}

	TagExplorer.prototype = {
		/* The label names to offer (internal __ names are hidden). */
		setLabels: function (names, current) {
			var opts = names.filter(function (n) { return n.slice(0, 2) !== '__' && n !== 'service_name'; });
			this.select.innerHTML = '<option value="">(choose a label)</option>' + opts.map(function (n) {
				return '<option>' + K.esc(n) + '</option>';
			}).join('');
			this.select.value = current || '';
			if (!opts.length)
				this.note.textContent = 'The selected series have no labels besides the service.';
		},

		/* Shows a render answer made with groupBy=label over from..until (seconds). */
		setData: function (label, json, from, until) {
			var groups = json && json.groups || {}, f = K.formatter(json && json.metadata), rows = [], all = 0;
			this.label = label;
			Object.keys(groups).forEach(function (v) {
				var sum = 0;
				(groups[v].samples || []).forEach(function (x) { sum += x; });
				rows.push({ value: v, sum: sum, timeline: groups[v] });
				all += sum;
			});
			rows.sort(function (a, b) { return b.sum - a.sum || (a.value < b.value ? -1 : 1); });
			rows.forEach(function (r, k) { r.color = K.PALETTE[Math.min(k, K.PALETTE.length - 1)]; });
			this.note.textContent = rows.length ? rows.length + ' values of ' + label + '; click one to filter by it.' :
				'No values of ' + label + ' in this range.';
			this.timeline.opts.format = f;
			this.timeline.setData(rows.slice(0, K.PALETTE.length).map(function (r) {
				return { timeline: r.timeline, color: r.color, label: r.value };
			}), from, until);
			var html = ['<table class="kfg-table tx-rows"><thead><tr><th></th><th class="tx-v">' + K.esc(label) +
				'</th><th>Share</th><th>Total</th><th>Over time</th></tr></thead><tbody>'];
			rows.forEach(function (r) {
				html.push('<tr data-value="' + K.esc(r.value) + '" title="Filter by ' + K.esc(label + '=' + r.value) +
					'"><td><span class="kfg-sw" style="background:' + r.color + '"></span></td><td class="tx-v">' +
					K.esc(r.value) + '</td><td class="tx-share">' + KilnFlame.pct(r.sum, all) + '</td><td>' + K.esc(f(r.sum)) +
					'</td><td><canvas class="tx-spark"></canvas></td></tr>');
			});
			html.push('</tbody></table>');
			this.tableEl.innerHTML = html.join('');
			K.$$('.tx-spark', this.tableEl).forEach(function (c, k) { K.sparkline(c, rows[k].timeline, rows[k].color); });
		},

		clear: function (msg) {
			this.label = '';
			this.note.textContent = msg || 'Choose a label to see how its values share the profile.';
			this.tableEl.innerHTML = '';
			this.timeline.setData([], 0, 1);
		},
	};

	K.TagExplorer = TagExplorer;
})(window);
