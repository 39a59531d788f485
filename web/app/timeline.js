// SPDX-License-Identifier: Apache-2.0
/*
 * timeline.js - Kiln.Timeline: the canvas chart of a selection's values over
 * the time range (the render answer's "timeline", or several of them from
 * groupBy), with highlighted sub-ranges (the comparison's left and right)
 * and drag-to-select, which calls onSelect(fromSec, untilSec).
 */
(function (global) {
	'use strict';
	var K = global.Kiln;

	/* Colours of series and selections, in order. */
	K.PALETTE = ['#e8590c', '#1c7ed6', '#2f9e44', '#ae3ec9', '#f08c00', '#0ca678', '#d6336c', '#5c7cfa',
		'#74b816', '#868e96'];

	function cssVar(name, dflt) {
		var v = getComputedStyle(document.documentElement).getPropertyValue(name);
		return v && v.trim() ? v.trim() : dflt;
	}

	/*
	 * new Timeline(el, {height, onSelect, format, small}): a canvas in el.
	 * setData(series, from, until, selections): series [{timeline, color,
	 * label}], from/until Unix seconds, selections [{from, until, color}].
	 */
	function Timeline(el, opts) {
		var self = this;
		this.opts = opts || {};
		this.el = el;
		el.classList.add('tl');
		this.canvas = K.el('canvas', 'tl-canvas', null, el);
		this.canvas.style.height = (this.opts.height || 90) + 'px';
		this.series = [];
		this.sel = [];
		this.drag = null;
		this.canvas.addEventListener('mousedown', function (e) {
			if (!self.opts.onSelect || e.button !== 0)
				return;
			e.preventDefault();
			self.drag = { x0: self._x(e), x1: self._x(e) };
			var move = function (ev) {
				self.drag.x1 = self._x(ev);
				self.render();
			};
			var up = function (ev) {
				var d = self.drag, a, b;
				document.removeEventListener('mousemove', move);
				document.removeEventListener('mouseup', up);
				self.drag = null;
				d.x1 = self._x(ev);
				self.render();
				if (Math.abs(d.x1 - d.x0) < 3)
					return;
				a = self._sec(Math.min(d.x0, d.x1));
				b = self._sec(Math.max(d.x0, d.x1));
				self.opts.onSelect(Math.floor(a), Math.ceil(b));
			};
			document.addEventListener('mousemove', move);
			document.addEventListener('mouseup', up);
		});
		this.canvas.addEventListener('mousemove', function (e) {
			self.canvas.title = self._tip(self._x(e));
		});
		if (typeof ResizeObserver !== 'undefined') {
			this._ro = new ResizeObserver(function () { self.render(); });
			this._ro.observe(el);
		}
	}

	var PAD_L = 64, PAD_B = 18, PAD_T = 6;

	Timeline.prototype = {
		setData: function (series, from, until, selections) {
			this.series = series || [];
			this.from = from;
			this.until = until > from ? until : from + 1;
			this.sel = selections || [];
			this.render();
		},

		_x: function (e) {
			var r = this.canvas.getBoundingClientRect();
			return Math.max(PAD_L, Math.min(r.width, e.clientX - r.left));
		},

		_sec: function (x) {
			var w = this.cssW - PAD_L;
			return this.from + (x - PAD_L) / (w || 1) * (this.until - this.from);
		},

		_px: function (sec) {
			return PAD_L + (sec - this.from) / (this.until - this.from) * (this.cssW - PAD_L);
		},

		/* The value under x, for the title tooltip. */
		_tip: function (x) {
			var sec = this._sec(x), f = this.opts.format || String, out = [K.fmtTime(sec, true)];
			this.series.forEach(function (s) {
				var t = s.timeline, k;
				if (!t || !t.samples)
					return;
				k = Math.floor((sec - t.startTime) / (t.durationDelta || 1));
				if (k >= 0 && k < t.samples.length)
					out.push((s.label ? s.label + ': ' : '') + f(t.samples[k]));
			});
			return out.join('\n');
		},

		render: function () {
			var c = this.canvas, ctx = c.getContext('2d'), dpr = window.devicePixelRatio || 1;
			var W = c.clientWidth, H = c.clientHeight, self = this, max = 0, fg, grid, i, k, t;
			if (!W || !H)
				return;
			this.cssW = W;
			c.width = Math.round(W * dpr);
			c.height = Math.round(H * dpr);
			ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
			ctx.clearRect(0, 0, W, H);
			fg = cssVar('--muted', '#666');
			grid = cssVar('--grid', '#e6e6e6');
			this.series.forEach(function (s) {
				(s.timeline && s.timeline.samples || []).forEach(function (v) {
					if (v > max)
						max = v;
				});
			});
			var plotH = H - PAD_B - PAD_T, y = function (v) { return PAD_T + plotH - (max ? v / max * plotH : 0); };
			/* selections under the data */
			this.sel.forEach(function (s) {
				var a = self._px(s.from), b = self._px(s.until);
				ctx.fillStyle = s.color || 'rgba(28,126,214,0.18)';
				ctx.fillRect(a, PAD_T, Math.max(b - a, 2), plotH);
			});
			/* grid and labels */
			ctx.font = '11px system-ui, sans-serif';
			ctx.fillStyle = fg;
			ctx.strokeStyle = grid;
			ctx.lineWidth = 1;
			ctx.textBaseline = 'middle';
			ctx.textAlign = 'right';
			[0, 0.5, 1].forEach(function (f) {
				var yy = Math.round(y(max * f)) + 0.5;
				ctx.beginPath();
				ctx.moveTo(PAD_L, yy);
				ctx.lineTo(W, yy);
				ctx.stroke();
				if (max)
					ctx.fillText((self.opts.format || String)(max * f), PAD_L - 4, yy);
			});
			ctx.textAlign = 'center';
			ctx.textBaseline = 'top';
			var ticks = Math.max(2, Math.floor((W - PAD_L) / 140));
			for (i = 0; i <= ticks; i++) {
				var sec = this.from + (this.until - this.from) * i / ticks, xx = this._px(sec);
				var span = this.until - this.from, lbl = K.fmtTime(sec, span < 600);
				lbl = span < 86400 ? lbl.slice(11) : lbl.slice(5);
				ctx.textAlign = i === 0 ? 'left' : i === ticks ? 'right' : 'center';
				ctx.fillText(lbl, xx, H - PAD_B + 4);
			}
			/* the series: bars for one, lines for several */
			this.series.forEach(function (s, n) {
				t = s.timeline;
				if (!t || !t.samples)
					return;
				var step = t.durationDelta || 1, color = s.color || K.PALETTE[n % K.PALETTE.length];
				ctx.fillStyle = color;
				ctx.strokeStyle = color;
				ctx.lineWidth = 1.5;
				if (self.series.length === 1) {
					ctx.globalAlpha = 0.75;
					for (k = 0; k < t.samples.length; k++) {
						if (!t.samples[k])
							continue;
						var a = self._px(t.startTime + k * step), b = self._px(t.startTime + (k + 1) * step);
						var yy = y(t.samples[k]);
						/* at least 3 px, so that one profile in a long range stays visible */
						ctx.fillRect(a, yy, Math.max(b - a - (b - a > 4 ? 1 : 0), 3), PAD_T + plotH - yy);
					}
					ctx.globalAlpha = 1;
				} else {
					ctx.beginPath();
					for (k = 0; k < t.samples.length; k++) {
						var xm = self._px(t.startTime + (k + 0.5) * step);
						if (k)
							ctx.lineTo(xm, y(t.samples[k]));
						else
							ctx.moveTo(xm, y(t.samples[k]));
					}
					ctx.stroke();
				}
			});
			/* the selection being dragged */
			if (this.drag) {
				ctx.fillStyle = 'rgba(100,100,100,0.25)';
				ctx.fillRect(Math.min(this.drag.x0, this.drag.x1), PAD_T, Math.abs(this.drag.x1 - this.drag.x0), plotH);
			}
		},
	};

	/* A small line of one timeline (tag explorer rows). */
	K.sparkline = function (canvas, timeline, color) {
		var ctx = canvas.getContext('2d'), dpr = window.devicePixelRatio || 1, W = canvas.clientWidth || 160;
		var H = canvas.clientHeight || 24, s = timeline && timeline.samples || [], max = Math.max.apply(null, s.concat([0]));
		canvas.width = W * dpr;
		canvas.height = H * dpr;
		ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
		ctx.fillStyle = color;
		s.forEach(function (v, k) {
			var h = max ? v / max * (H - 2) : 0;
			ctx.fillRect(k * W / s.length, H - h, Math.max(W / s.length, 1), h);
		});
	};

	K.Timeline = Timeline;
})(window);
