// Events: the list of those in the time range (/events/get_data), and a
// form that posts one (POST /events/, with the write token). On graphs,
// events are marked by the time bar's "Events" option (drawAsInfinite).
'use strict';

var FG = window.FG;

// Most events listed (the newest).
FG.EVENTS_SHOWN = 100;

FG.events = {
  init: function () {
    var self = this;
    this.details = document.getElementById('events-details');
    this.body = document.getElementById('events-body');
    this.details.addEventListener('toggle', function () {
      if (self.details.open) {
        self.refresh();
      }
    });
    var form = document.getElementById('event-form');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      self.post(form);
    });
  },

  formatWhen: function (seconds) {
    var options = { dateStyle: 'medium', timeStyle: 'medium' };
    var tz = FG.timebar.state.tz;
    try {
      if (tz) {
        options.timeZone = tz;
      }
      return new Intl.DateTimeFormat(undefined, options).format(new Date(seconds * 1000));
    } catch (e) {
      return new Date(seconds * 1000).toISOString();
    }
  },

  // Reloads the list when it is open (closed, it costs nothing).
  refresh: async function () {
    if (!this.details.open) {
      return;
    }
    var t = FG.timebar.state;
    var pairs = [['from', t.from], ['until', t.until]];
    if (t.events && t.eventTags) {
      pairs.push(['tags', t.eventTags]);
    }
    var list;
    try {
      list = await FG.getJSON('/events/get_data', pairs);
    } catch (e) {
      this.body.replaceChildren(FG.el('tr', {}, [FG.el('td', { colspan: '4', class: 'error', text: e.message })]));
      return;
    }
    var self = this;
    list.sort(function (a, b) { return b.when - a.when; });
    var rows = list.slice(0, FG.EVENTS_SHOWN).map(function (e) {
      return FG.el('tr', {}, [
        FG.el('td', { text: self.formatWhen(e.when) }),
        FG.el('td', { text: e.what }),
        FG.el('td', { text: (e.tags || []).join(' ') }),
        FG.el('td', { text: typeof e.data === 'string' ? e.data : JSON.stringify(e.data) })
      ]);
    });
    if (!rows.length) {
      rows = [FG.el('tr', {}, [FG.el('td', { colspan: '4', class: 'hint', text: 'No events in this time range.' })])];
    }
    this.body.replaceChildren.apply(this.body, rows);
  },

  post: async function (form) {
    var f = form.elements;
    var event = { what: f.what.value.trim(), tags: f.tags.value.trim(), data: f.data.value };
    try {
      await FG.write('/events/', event);
    } catch (e) {
      FG.status('event not posted: ' + e.message, true);
      return;
    }
    form.reset();
    FG.status('event posted');
    this.refresh();
    FG.timebar.emit('refresh');
  }
};
