// The shared time bar: presets, absolute from/until, time zone,
// auto-refresh and event markers. Both views draw with its state and redraw
// when it changes (or when the refresh timer fires).
'use strict';

var FG = window.FG;

FG.PRESETS = [
  ['-1h', '1 h'], ['-6h', '6 h'], ['-12h', '12 h'], ['-1d', '1 day'],
  ['-7d', '7 days'], ['-30d', '30 days'], ['-365d', '1 year']
];

// graphite's absolute form HH:MM_YYYYMMDD <-> datetime-local's YYYY-MM-DDTHH:MM.
FG.toGraphiteTime = function (local) {
  var m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)/.exec(local || '');
  return m ? m[4] + ':' + m[5] + '_' + m[1] + m[2] + m[3] : '';
};

FG.fromGraphiteTime = function (text) {
  var m = /^(\d\d):(\d\d)_(\d{4})(\d\d)(\d\d)$/.exec(text || '');
  return m ? m[3] + '-' + m[4] + '-' + m[5] + 'T' + m[1] + ':' + m[2] : '';
};

FG.timebar = {
  state: { from: '-1h', until: 'now', tz: '', refresh: 0, events: false, eventTags: '' },
  listeners: [],
  timer: null,

  // `params` is a URLSearchParams (or anything with get()); `defaults`
  // overrides the built-in defaults where the URL says nothing.
  init: function (params, defaults) {
    var s = this.state;
    Object.keys(defaults || {}).forEach(function (k) { s[k] = defaults[k]; });
    var get = function (k) { var v = params.get(k); return v === null ? undefined : v; };
    if (get('from') !== undefined) { s.from = get('from'); }
    if (get('until') !== undefined) { s.until = get('until'); }
    if (get('tz') !== undefined) { s.tz = get('tz'); }
    if (get('refresh') !== undefined) { s.refresh = parseInt(get('refresh'), 10) || 0; }
    if (get('events') !== undefined) { s.events = get('events') === '1'; }
    if (get('eventTags') !== undefined) { s.eventTags = get('eventTags'); }
    this.form = document.getElementById('timebar');
    this.buildPresets();
    this.fillTimeZones();
    this.show();
    this.bind();
    this.schedule();
  },

  onChange: function (fn) {
    this.listeners.push(fn);
  },

  emit: function (why) {
    this.listeners.forEach(function (fn) { fn(why); });
  },

  buildPresets: function () {
    var self = this;
    var box = this.form.querySelector('.presets');
    FG.PRESETS.forEach(function (p) {
      box.appendChild(FG.el('button', {
        type: 'button', 'data-from': p[0], text: p[1],
        title: 'from=' + p[0] + ' until=now',
        onclick: function () { self.set({ from: p[0], until: 'now' }); }
      }));
    });
  },

  fillTimeZones: function () {
    var list = document.getElementById('tz-list');
    var zones = ['UTC'];
    try {
      if (Intl.supportedValuesOf) {
        zones = Intl.supportedValuesOf('timeZone');
      }
    } catch (e) {
      zones = ['UTC'];
    }
    zones.forEach(function (z) { list.appendChild(FG.el('option', { value: z })); });
  },

  // The form shows the state.
  show: function () {
    var f = this.form.elements;
    var s = this.state;
    f.from.value = s.from;
    f.until.value = s.until;
    f.fromAbs.value = FG.fromGraphiteTime(s.from);
    f.untilAbs.value = FG.fromGraphiteTime(s.until);
    f.tz.value = s.tz;
    f.refresh.value = String(s.refresh);
    if (f.refresh.value !== String(s.refresh)) {
      f.refresh.appendChild(FG.el('option', { value: String(s.refresh), text: s.refresh + ' s' }));
      f.refresh.value = String(s.refresh);
    }
    f.events.checked = s.events;
    f.eventTags.value = s.eventTags;
    f.eventTags.hidden = !s.events;
    Array.prototype.forEach.call(this.form.querySelectorAll('.presets button'), function (b) {
      b.classList.toggle('active', b.getAttribute('data-from') === s.from && s.until === 'now');
    });
  },

  // The state from the form (text fields win over the pickers, which
  // write into them when changed).
  read: function () {
    var f = this.form.elements;
    return {
      from: f.from.value.trim() || '-1h',
      until: f.until.value.trim() || 'now',
      tz: f.tz.value.trim(),
      refresh: parseInt(f.refresh.value, 10) || 0,
      events: f.events.checked,
      eventTags: f.eventTags.value.trim()
    };
  },

  bind: function () {
    var self = this;
    var f = this.form.elements;
    this.form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      self.set(self.read());
    });
    f.fromAbs.addEventListener('change', function () {
      var t = FG.toGraphiteTime(f.fromAbs.value);
      if (t) { f.from.value = t; self.set(self.read()); }
    });
    f.untilAbs.addEventListener('change', function () {
      var t = FG.toGraphiteTime(f.untilAbs.value);
      if (t) { f.until.value = t; self.set(self.read()); }
    });
    ['refresh', 'events'].forEach(function (name) {
      f[name].addEventListener('change', function () { self.set(self.read()); });
    });
  },

  set: function (changes) {
    var s = this.state;
    Object.keys(changes).forEach(function (k) { s[k] = changes[k]; });
    this.show();
    this.schedule();
    this.emit('time');
  },

  schedule: function () {
    var self = this;
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    if (this.state.refresh > 0) {
      this.timer = setInterval(function () { self.emit('refresh'); }, this.state.refresh * 1000);
    }
  },

  // What a /render URL takes from the bar.
  renderParams: function () {
    var s = this.state;
    var p = { from: s.from, until: s.until };
    if (s.tz) { p.tz = s.tz; }
    return p;
  },

  // What a page URL keeps of the bar (besides the render params).
  urlPairs: function () {
    var s = this.state;
    var pairs = [['from', s.from], ['until', s.until]];
    if (s.tz) { pairs.push(['tz', s.tz]); }
    if (s.refresh) { pairs.push(['refresh', String(s.refresh)]); }
    if (s.events) { pairs.push(['events', '1']); }
    if (s.events && s.eventTags) { pairs.push(['eventTags', s.eventTags]); }
    return pairs;
  },

  // The extra target that marks events, or null.
  eventsTarget: function () {
    return this.state.events ? FG.eventsTarget(this.state.eventTags) : null;
  }
};
