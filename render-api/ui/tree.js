// The metric tree, loaded one level at a time through /metrics/find
// (graphite-web's JSON: text, id, leaf, expandable), and the search box
// (/metrics/expand over a glob). A click on a leaf calls FG.tree.onLeaf.
'use strict';

var FG = window.FG;

// Deepest level a plain-text search looks at, and most results it lists.
FG.SEARCH_DEPTH = 8;
FG.SEARCH_SHOWN = 200;

FG.tree = {
  onLeaf: function () {},

  init: function () {
    var self = this;
    this.root = document.getElementById('tree');
    this.load(this.root, '*');
    var input = document.getElementById('tree-search-input');
    document.getElementById('tree-search').addEventListener('submit', function (ev) {
      ev.preventDefault();
      self.search(input.value.trim());
    });
    input.addEventListener('input', FG.debounce(function () {
      self.search(input.value.trim());
    }, 300));
    this.root.addEventListener('keydown', function (ev) { self.key(ev); });
  },

  // Arrow keys: up/down walk the visible nodes, right opens a branch,
  // left closes it (or goes to the parent); Enter and Space click.
  key: function (ev) {
    var button = ev.target.closest ? ev.target.closest('button.node') : null;
    if (!button) {
      return;
    }
    var li = button.parentNode;
    var visible = Array.prototype.filter.call(this.root.querySelectorAll('button.node'), function (b) {
      return b.offsetParent !== null;
    });
    var at = visible.indexOf(button);
    var open = li.getAttribute('aria-expanded') === 'true';
    var target = null;
    if (ev.key === 'ArrowDown') {
      target = visible[at + 1];
    } else if (ev.key === 'ArrowUp') {
      target = visible[at - 1];
    } else if (ev.key === 'ArrowRight' && li.classList.contains('branch') && !open) {
      button.click();
    } else if (ev.key === 'ArrowLeft' && open) {
      button.click();
    } else if (ev.key === 'ArrowLeft') {
      var parent = li.parentNode.closest('li.branch');
      target = parent ? parent.querySelector('button.node') : null;
    } else {
      return;
    }
    ev.preventDefault();
    if (target) {
      target.focus();
    }
  },

  // Fills `list` with the nodes `query` finds.
  load: async function (list, query) {
    list.setAttribute('aria-busy', 'true');
    var nodes;
    try {
      nodes = await FG.getJSON('/metrics/find', [['query', query]]);
    } catch (e) {
      list.replaceChildren(FG.el('li', { class: 'error', text: 'Could not list ' + query + ': ' + e.message }));
      list.removeAttribute('aria-busy');
      return;
    }
    var items = nodes.map(this.item.bind(this));
    if (!items.length) {
      items = [FG.el('li', {
        class: 'hint',
        text: query === '*' ? 'No metrics yet: send some (StatsD, carbon) and reload.' : 'empty'
      })];
    }
    list.replaceChildren.apply(list, items);
    list.removeAttribute('aria-busy');
  },

  item: function (node) {
    var self = this;
    var branch = !!node.expandable;
    var li = FG.el('li', { role: 'treeitem', class: branch ? 'branch' : 'leaf', 'data-path': node.id });
    var children = branch ? FG.el('ul', { role: 'group', hidden: true }) : null;
    var button = FG.el('button', {
      type: 'button',
      class: 'node',
      title: branch ? node.id : node.id + ' (add to the graph)',
      onclick: function () {
        if (branch) {
          self.toggle(li, children, node.id);
        } else {
          self.onLeaf(node.id);
        }
      }
    }, [
      FG.el('span', { class: 'twisty', 'aria-hidden': 'true', text: branch ? '\u25b8' : '\u2022' }),
      FG.el('span', { class: 'name', text: node.text })
    ]);
    if (branch) {
      li.setAttribute('aria-expanded', 'false');
    }
    li.appendChild(button);
    if (children) {
      li.appendChild(children);
    }
    return li;
  },

  toggle: function (li, children, id) {
    var open = li.getAttribute('aria-expanded') !== 'true';
    li.setAttribute('aria-expanded', String(open));
    li.querySelector('.twisty').textContent = open ? '\u25be' : '\u25b8';
    children.hidden = !open;
    if (open && !children.hasAttribute('data-loaded')) {
      children.setAttribute('data-loaded', '');
      children.appendChild(FG.el('li', { class: 'hint', text: 'loading\u2026' }));
      this.load(children, id + '.*');
    }
  },

  // The glob patterns a search text stands for: a glob as typed, a dotted
  // prefix as a prefix, a word anywhere in the last node at any depth.
  patterns: function (text) {
    if (/[*?[{]/.test(text)) {
      return [text];
    }
    if (text.indexOf('.') >= 0) {
      return [text + '*'];
    }
    var out = [];
    var prefix = '';
    for (var depth = 0; depth < FG.SEARCH_DEPTH; depth++) {
      out.push(prefix + '*' + text + '*');
      prefix += '*.';
    }
    return out;
  },

  search: async function (text) {
    var box = document.getElementById('search-results');
    if (!text) {
      box.hidden = true;
      box.replaceChildren();
      this.root.hidden = false;
      return;
    }
    var pairs = [['leavesOnly', '1']].concat(this.patterns(text).map(function (p) { return ['query', p]; }));
    var found;
    try {
      found = (await FG.getJSON('/metrics/expand', pairs)).results;
    } catch (e) {
      box.hidden = false;
      box.replaceChildren(FG.el('p', {
        class: 'error',
        text: e.status === 422 ? 'Too many matches: narrow the search.' : 'Search failed: ' + e.message
      }));
      return;
    }
    var self = this;
    var shown = found.slice(0, FG.SEARCH_SHOWN);
    var list = FG.el('ul', { class: 'tree flat', 'aria-label': 'Search results' }, shown.map(function (path) {
      return FG.el('li', { class: 'leaf', 'data-path': path }, [
        FG.el('button', {
          type: 'button', class: 'node', title: path + ' (add to the graph)',
          onclick: function () { self.onLeaf(path); }
        }, [FG.el('span', { class: 'name', text: path })])
      ]);
    }));
    var summary = found.length > shown.length
      ? shown.length + ' of ' + found.length + ' matches'
      : found.length + (found.length === 1 ? ' match' : ' matches');
    box.replaceChildren(FG.el('p', { class: 'hint', text: summary }), list);
    box.hidden = false;
    this.root.hidden = true;
  }
};
