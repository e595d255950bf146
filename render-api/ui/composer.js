// The graph composer: targets, graph options and the shared time bar make
// one /render PNG. Its state lives in the address (graphite-web's
// /composer/?target=...&from=...&until=... links), so a link redraws it.
'use strict';

var FG = window.FG;

// Graph options the form edits (the others in a link are kept as given).
FG.GRAPH_OPTIONS = ['title', 'width', 'height', 'graphType', 'areaMode', 'lineWidth', 'yMin', 'yMax', 'hideLegend'];
// Parameters of the page, not of the graph.
FG.PAGE_ONLY = ['target', 'from', 'until', 'tz', 'refresh', 'events', 'eventTags', 'format', '_uniq', 'jsonp'];

// A size that fits the space left of the window: what a graph gets when
// neither the link nor the user chose one.
FG.autoSize = function (container) {
  var width = Math.round(Math.max(300, Math.min(1400, (container.clientWidth || 800) - 24)) / 10) * 10;
  var height = Math.round(Math.max(220, Math.min(500, width * 0.45)) / 10) * 10;
  return { width: width, height: height };
};

FG.composer = {
  init: function (params) {
    var self = this;
    this.form = document.getElementById('composer-form');
    this.img = document.getElementById('composer-graph');
    this.error = document.getElementById('composer-error');
    this.extra = [];
    var f = this.form.elements;
    FG.GRAPH_OPTIONS.forEach(function (name) {
      var v = params.get(name);
      if (v === null) {
        return;
      }
      if (name === 'hideLegend') {
        f.hideLegend.checked = v === 'true' || v === '1';
      } else {
        f[name].value = v;
      }
    });
    params.forEach(function (value, key) {
      if (FG.GRAPH_OPTIONS.indexOf(key) < 0 && FG.PAGE_ONLY.indexOf(key) < 0) {
        self.extra.push([key, value]);
      }
    });
    FG.targetList.init(document.getElementById('targets'), document.getElementById('add-target'), params.getAll('target'));
    this.form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      self.draw(false);
    });
    this.form.addEventListener('change', function (ev) {
      if (!ev.target.classList || !ev.target.classList.contains('target-input')) {
        self.draw(false);
      }
    });
    this.img.addEventListener('error', function () { self.explain(self.img.getAttribute('src')); });
    this.img.addEventListener('load', function () { self.error.hidden = true; });
    document.getElementById('composer-add-to-dashboard').addEventListener('click', function () {
      self.addToDashboard(document.getElementById('composer-dashboard-name').value.trim());
    });
    FG.tree.onLeaf = function (path) {
      FG.targetList.append(path);
      self.draw(false);
    };
    FG.timebar.onChange(function (why) { self.draw(why === 'refresh'); });
    this.draw(false);
  },

  // The graph's own parameters (targets and options, no time range).
  graphParams: function () {
    var f = this.form.elements;
    var p = { target: FG.targetList.values() };
    ['title', 'graphType', 'areaMode', 'lineWidth', 'yMin', 'yMax'].forEach(function (name) {
      var v = f[name].value.trim();
      if (v) {
        p[name] = v;
      }
    });
    if (f.hideLegend.checked) {
      p.hideLegend = 'true';
    }
    this.extra.forEach(function (pair) { p[pair[0]] = pair[1]; });
    return p;
  },

  size: function () {
    var f = this.form.elements;
    var auto = FG.autoSize(document.getElementById('main'));
    f.width.placeholder = auto.width;
    f.height.placeholder = auto.height;
    return {
      width: f.width.value.trim() || String(auto.width),
      height: f.height.value.trim() || String(auto.height)
    };
  },

  // The page address that redraws this graph.
  link: function () {
    var f = this.form.elements;
    var pairs = FG.targetList.values().map(function (t) { return ['target', t]; });
    pairs = pairs.concat(FG.timebar.urlPairs());
    FG.GRAPH_OPTIONS.forEach(function (name) {
      if (name === 'hideLegend') {
        if (f.hideLegend.checked) { pairs.push(['hideLegend', 'true']); }
      } else if (f[name].value.trim()) {
        pairs.push([name, f[name].value.trim()]);
      }
    });
    pairs = pairs.concat(this.extra);
    return '/composer/?' + FG.query(pairs);
  },

  draw: function (refresh) {
    var graph = this.graphParams();
    var link = this.link();
    document.getElementById('composer-link').href = link;
    if (!graph.target.length) {
      this.img.hidden = true;
      this.img.removeAttribute('src');
      this.error.textContent = 'Add a target (type one above, or click a metric in the tree), then Draw.';
      this.error.hidden = false;
      this.error.className = 'hint';
      return;
    }
    history.replaceState(null, '', link);
    var params = Object.assign({}, graph, this.size(), FG.timebar.renderParams());
    var marks = FG.timebar.eventsTarget();
    if (marks) {
      params.target = params.target.concat([marks]);
    }
    params.format = 'png';
    if (refresh) {
      // A new address, so the browser fetches the graph again.
      params._uniq = String(Date.now());
    }
    var url = FG.renderUrl(params);
    document.getElementById('composer-png').href = url;
    this.img.hidden = false;
    this.img.width = Number(params.width);
    this.img.height = Number(params.height);
    this.img.src = url;
    FG.events.refresh();
  },

  // The server's reason when a graph does not load.
  explain: async function (url) {
    if (!url) {
      return;
    }
    var message = 'The graph could not be drawn.';
    try {
      var resp = await fetch(url);
      if (!resp.ok) {
        message = 'The graph could not be drawn: ' + resp.status + ' ' + (await resp.text()).trim();
      }
    } catch (e) {
      message = 'The server cannot be reached: ' + e.message;
    }
    this.img.hidden = true;
    this.error.className = 'error';
    this.error.textContent = message;
    this.error.hidden = false;
  },

  addToDashboard: async function (name) {
    if (!name) {
      FG.status('name the dashboard to add this graph to', true);
      document.getElementById('composer-dashboard-name').focus();
      return;
    }
    var graph = this.graphParams();
    if (!graph.target.length) {
      FG.status('add a target first', true);
      return;
    }
    try {
      var state = await FG.dashboard.fetchState(name);
      if (!state) {
        state = FG.dashboard.emptyState(name);
      }
      state.graphs = (state.graphs || []).concat([FG.dashboard.graphEntry(graph, state)]);
      await FG.dashboard.saveState(name, state);
    } catch (e) {
      FG.status('not added: ' + e.message, true);
      return;
    }
    FG.status('added to dashboard ' + name);
  }
};
