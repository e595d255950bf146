// Dashboards: a grid of graphs sharing the time bar's range, saved, found,
// loaded and deleted through /dashboard/save|find|load|delete. The saved
// state has graphite-web's shape (name, timeConfig, refreshConfig,
// graphSize, defaultGraphParams, graphs: [[id, params, url], ...]) so
// graphite-web and ferrograph open each other's dashboards.
'use strict';

var FG = window.FG;

FG.UNIT_NAMES = { s: 'seconds', min: 'minutes', h: 'hours', d: 'days', w: 'weeks', mon: 'months', y: 'years' };
// Graph parameters the dashboard sets for every graph.
FG.SHARED_PARAMS = ['from', 'until', 'tz', 'width', 'height'];

FG.dashboard = {
  name: '',
  graphs: [],
  loaded: {},

  // --- the saved state -------------------------------------------------

  fetchState: async function (name) {
    var answer = await FG.getJSON('/dashboard/load/' + encodeURIComponent(name));
    return answer && answer.state ? answer.state : null;
  },

  saveState: async function (name, state) {
    var answer = await FG.write('/dashboard/save/' + encodeURIComponent(name), [['state', JSON.stringify(state)]]);
    if (answer && answer.error) {
      throw new Error(answer.error);
    }
  },

  emptyState: function (name) {
    var t = FG.timebar.state;
    var size = this.graphSize();
    return this.stateFor(name, [], t, size);
  },

  // graphite-web's timeConfig for a from/until pair.
  timeConfig: function (from, until) {
    var rel = /^-(\d+)([a-z]+)$/.exec(from);
    var relUntil = /^-(\d+)([a-z]+)$/.exec(until);
    if (rel && (until === 'now' || relUntil)) {
      return {
        type: 'relative',
        relativeStartQuantity: rel[1],
        relativeStartUnits: FG.UNIT_NAMES[rel[2]] || rel[2],
        relativeUntilQuantity: relUntil ? relUntil[1] : '',
        relativeUntilUnits: relUntil ? (FG.UNIT_NAMES[relUntil[2]] || relUntil[2]) : 'now'
      };
    }
    var start = FG.fromGraphiteTime(from);
    var end = FG.fromGraphiteTime(until);
    return {
      type: 'absolute',
      startDate: start ? start.slice(0, 10) + 'T00:00:00' : '',
      startTime: start ? start.slice(11) : '',
      endDate: end ? end.slice(0, 10) + 'T00:00:00' : '',
      endTime: end ? end.slice(11) : ''
    };
  },

  // The time range a saved state asks for (defaultGraphParams first, as
  // graphite-web draws with them; timeConfig otherwise).
  timeOf: function (state) {
    var d = state.defaultGraphParams || {};
    var out = {};
    if (d.from) { out.from = String(d.from); }
    if (d.until) { out.until = String(d.until); }
    if (d.tz) { out.tz = String(d.tz); }
    var tc = state.timeConfig || {};
    if (!out.from && tc.type === 'relative' && tc.relativeStartQuantity) {
      out.from = '-' + tc.relativeStartQuantity + tc.relativeStartUnits;
      out.until = tc.relativeUntilUnits && tc.relativeUntilUnits !== 'now' && tc.relativeUntilQuantity
        ? '-' + tc.relativeUntilQuantity + tc.relativeUntilUnits : 'now';
    }
    var refresh = state.refreshConfig;
    if (refresh && refresh.enabled && refresh.interval) {
      out.refresh = Math.round(refresh.interval / 1000);
    }
    return out;
  },

  // One graph's parameters from a saved entry: [id, params, url] as saved
  // by graphite-web 0.9-1.1's dashboards, [id, target, params, url] too.
  paramsOf: function (entry) {
    var params = null;
    if (Array.isArray(entry)) {
      params = entry.filter(function (x) { return x && typeof x === 'object' && !Array.isArray(x); })[0] || null;
      if (!params && typeof entry[0] === 'string') {
        params = { target: new URLSearchParams(entry[0]).getAll('target') };
      }
    }
    if (!params) {
      return null;
    }
    var copy = Object.assign({}, params);
    copy.target = [].concat(copy.target || []).map(String);
    return copy;
  },

  graphEntry: function (params, state) {
    var id = FG.query(params.target.map(function (t) { return ['target', t]; }));
    var url = FG.renderUrl(Object.assign({}, state.defaultGraphParams || {}, state.graphSize || {}, params));
    return [id, params, url];
  },

  stateFor: function (name, graphs, time, size) {
    var defaults = { from: time.from, until: time.until, width: size.width, height: size.height };
    if (time.tz) {
      defaults.tz = time.tz;
    }
    var state = {
      name: name,
      timeConfig: this.timeConfig(time.from, time.until),
      refreshConfig: { enabled: time.refresh > 0, interval: (time.refresh || 60) * 1000 },
      graphSize: { width: size.width, height: size.height },
      defaultGraphParams: defaults,
      graphs: []
    };
    var self = this;
    state.graphs = graphs.map(function (g) { return self.graphEntry(g, state); });
    return state;
  },

  // --- the page ----------------------------------------------------------

  init: async function (name, params) {
    var self = this;
    this.grid = document.getElementById('dashboard-graphs');
    this.nameInput = document.getElementById('dashboard-name');
    this.sizeForm = document.getElementById('dashboard-size-form');
    this.bind();
    FG.tree.onLeaf = function (path) { self.addGraph({ target: [path] }); };
    FG.timebar.onChange(function (why) {
      if (why !== 'refresh') { self.setDirty(true); }
      self.drawAll(why === 'refresh');
    });
    this.find('');
    if (name) {
      await this.open(name, params);
    } else {
      this.drawAll(false);
    }
  },

  bind: function () {
    var self = this;
    document.getElementById('dashboard-save-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      self.save(self.nameInput.value.trim());
    });
    document.getElementById('dashboard-delete').addEventListener('click', function () { self.remove(); });
    document.getElementById('dashboard-new').addEventListener('click', function () {
      self.name = '';
      self.loaded = {};
      self.graphs = [];
      self.nameInput.value = '';
      history.pushState(null, '', '/dashboard/');
      self.setDirty(false);
      self.drawAll(false);
      self.nameInput.focus();
    });
    this.sizeForm.addEventListener('change', function () { self.setDirty(true); self.drawAll(false); });
    this.sizeForm.addEventListener('submit', function (ev) { ev.preventDefault(); self.drawAll(false); });
    var find = document.getElementById('dashboard-find');
    document.getElementById('dashboard-find-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      self.find(find.value.trim());
    });
    find.addEventListener('input', FG.debounce(function () { self.find(find.value.trim()); }, 250));
    var addForm = document.getElementById('dashboard-add-form');
    var addInput = document.getElementById('dashboard-add-target');
    FG.autocomplete(addInput);
    addForm.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var target = addInput.value.trim();
      if (target) {
        self.addGraph({ target: [target] });
        addInput.value = '';
      }
    });
  },

  open: async function (name, params) {
    var state;
    try {
      state = await this.fetchState(name);
    } catch (e) {
      FG.status('dashboard ' + name + ' could not be loaded: ' + e.message, true);
      return;
    }
    this.nameInput.value = name;
    if (!state) {
      FG.status('no dashboard named ' + name + ' yet: add graphs and Save to create it', true);
      this.name = name;
      this.drawAll(false);
      return;
    }
    var self = this;
    this.name = name;
    this.loaded = state;
    this.graphs = (state.graphs || []).map(function (g) { return self.paramsOf(g); }).filter(Boolean);
    var size = state.graphSize || {};
    if (size.width) { this.sizeForm.elements.width.value = size.width; }
    if (size.height) { this.sizeForm.elements.height.value = size.height; }
    // The address's from/until (a shared link) win over the saved range.
    var time = this.timeOf(state);
    ['from', 'until', 'tz', 'refresh'].forEach(function (k) {
      if (params.get(k) !== null) { delete time[k]; }
    });
    if (Object.keys(time).length) {
      FG.timebar.set(time);
    } else {
      this.drawAll(false);
    }
    this.setDirty(false);
  },

  graphSize: function () {
    // The composer's "Add to dashboard" asks too, before init ran.
    this.sizeForm = this.sizeForm || document.getElementById('dashboard-size-form');
    var f = this.sizeForm.elements;
    var auto = FG.autoSize(document.getElementById('main'));
    var width = Math.min(auto.width, 500);
    var height = Math.round(width * 0.6 / 10) * 10;
    f.width.placeholder = width;
    f.height.placeholder = height;
    return {
      width: Number(f.width.value) || width,
      height: Number(f.height.value) || height
    };
  },

  setDirty: function (dirty) {
    document.getElementById('dashboard-dirty').hidden = !dirty;
  },

  addGraph: function (params) {
    this.graphs.push(params);
    this.setDirty(true);
    this.drawAll(false);
    FG.status('graph added: ' + params.target.join(', '));
  },

  drawAll: function (refresh) {
    var self = this;
    var size = this.graphSize();
    var cards = this.graphs.map(function (params, i) { return self.card(params, i, size, refresh); });
    this.grid.replaceChildren.apply(this.grid, cards);
    this.grid.style.setProperty('--graph-width', size.width + 'px');
    document.getElementById('dashboard-empty').hidden = this.graphs.length > 0;
    document.title = (this.name ? this.name + ' \u2013 ' : '') + 'ferrograph dashboards';
    FG.events.refresh();
  },

  card: function (params, index, size, refresh) {
    var self = this;
    var render = {};
    Object.keys(params).forEach(function (k) {
      if (FG.SHARED_PARAMS.indexOf(k) < 0) { render[k] = params[k]; }
    });
    Object.assign(render, size, FG.timebar.renderParams());
    if (render.title === undefined && params.target.length === 1) {
      render.title = params.target[0];
    }
    var marks = FG.timebar.eventsTarget();
    if (marks) {
      render.target = render.target.concat([marks]);
    }
    render.format = 'png';
    if (refresh) {
      render._uniq = String(Date.now());
    }
    var caption = params.title || params.target.join(', ');
    var img = FG.el('img', { src: FG.renderUrl(render), width: String(size.width), height: String(size.height), alt: 'Graph of ' + caption });
    var editPairs = params.target.map(function (t) { return ['target', t]; }).concat(FG.timebar.urlPairs());
    var figure = FG.el('figure', { class: 'graph-card' }, [
      img,
      FG.el('figcaption', {}, [
        FG.el('span', { class: 'caption', text: caption, title: params.target.join('\n') }),
        FG.el('button', {
          type: 'button', text: '\u25c0', title: 'Move earlier', 'aria-label': 'Move the graph ' + caption + ' earlier',
          disabled: index === 0,
          onclick: function () { self.move(index, -1); }
        }),
        FG.el('button', {
          type: 'button', text: '\u25b6', title: 'Move later', 'aria-label': 'Move the graph ' + caption + ' later',
          disabled: index === self.graphs.length - 1,
          onclick: function () { self.move(index, 1); }
        }),
        FG.el('button', {
          type: 'button', text: 'Targets', 'aria-label': 'Edit the targets of ' + caption,
          onclick: function () { self.editTargets(figure, index); }
        }),
        FG.el('a', { href: '/composer/?' + FG.query(editPairs), text: 'Composer', title: 'Open this graph in the composer' }),
        FG.el('button', {
          type: 'button', text: 'Remove', 'aria-label': 'Remove the graph ' + caption,
          onclick: function () {
            self.graphs.splice(index, 1);
            self.setDirty(true);
            self.drawAll(false);
          }
        })
      ])
    ]);
    return figure;
  },

  move: function (index, by) {
    var to = index + by;
    if (to < 0 || to >= this.graphs.length) {
      return;
    }
    var moved = this.graphs.splice(index, 1)[0];
    this.graphs.splice(to, 0, moved);
    this.setDirty(true);
    this.drawAll(false);
    var buttons = this.grid.children[to].querySelectorAll('figcaption button');
    buttons[by < 0 ? 0 : 1].focus();
  },

  // Edits a graph's targets in place: one per line, Ctrl+Enter or Apply.
  editTargets: function (figure, index) {
    var self = this;
    var params = this.graphs[index];
    var area = FG.el('textarea', {
      class: 'targets-edit', rows: String(Math.max(2, params.target.length + 1)),
      'aria-label': 'Targets, one per line', spellcheck: 'false'
    });
    area.value = params.target.join('\n');
    var apply = function () {
      var targets = area.value.split('\n').map(function (t) { return t.trim(); }).filter(Boolean);
      if (targets.length) {
        params.target = targets;
        self.setDirty(true);
      }
      self.drawAll(false);
    };
    area.addEventListener('keydown', function (ev) {
      if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        apply();
      } else if (ev.key === 'Escape') {
        self.drawAll(false);
      }
    });
    var editor = FG.el('div', { class: 'targets-editor' }, [
      area,
      FG.el('button', { type: 'button', class: 'primary', text: 'Apply', onclick: apply }),
      FG.el('button', { type: 'button', text: 'Cancel', onclick: function () { self.drawAll(false); } })
    ]);
    figure.querySelector('figcaption').replaceWith(editor);
    area.focus();
  },

  save: async function (name) {
    if (!name) {
      FG.status('name the dashboard first', true);
      this.nameInput.focus();
      return;
    }
    var state = Object.assign({}, this.loaded,
      this.stateFor(name, this.graphs, FG.timebar.state, this.graphSize()));
    try {
      await this.saveState(name, state);
    } catch (e) {
      FG.status('not saved: ' + e.message, true);
      return;
    }
    this.name = name;
    this.loaded = state;
    history.replaceState(null, '', '/dashboard/' + encodeURIComponent(name));
    this.setDirty(false);
    FG.status('dashboard ' + name + ' saved');
    this.find(document.getElementById('dashboard-find').value.trim());
  },

  remove: async function () {
    var name = this.nameInput.value.trim() || this.name;
    if (!name || !window.confirm('Delete the dashboard ' + name + '?')) {
      return;
    }
    try {
      var answer = await FG.write('/dashboard/delete/' + encodeURIComponent(name), []);
      if (answer && answer.error) {
        throw new Error(answer.error);
      }
    } catch (e) {
      FG.status('not deleted: ' + e.message, true);
      return;
    }
    FG.status('dashboard ' + name + ' deleted');
    this.name = '';
    this.loaded = {};
    this.nameInput.value = '';
    history.replaceState(null, '', '/dashboard/');
    this.setDirty(this.graphs.length > 0);
    this.find(document.getElementById('dashboard-find').value.trim());
  },

  find: async function (text) {
    var list = document.getElementById('dashboard-list');
    var found;
    try {
      found = (await FG.getJSON('/dashboard/find/', [['query', text]])).dashboards || [];
    } catch (e) {
      list.replaceChildren(FG.el('li', { class: 'error', text: 'Dashboards cannot be listed: ' + e.message }));
      return;
    }
    var items = found.map(function (d) {
      return FG.el('li', {}, [FG.el('a', { href: '/dashboard/' + encodeURIComponent(d.name), text: d.name })]);
    });
    if (!items.length) {
      items = [FG.el('li', { class: 'hint', text: text ? 'No dashboard matches.' : 'No saved dashboards yet.' })];
    }
    list.replaceChildren.apply(list, items);
  }
};
