// Target inputs: autocomplete of render function names (from /functions)
// and of metric paths (from /metrics/find), and the composer's list of
// targets. Keyboard: arrows pick a suggestion, Enter or Tab takes it,
// Escape closes the list; Enter with no suggestion picked submits the form.
'use strict';

var FG = window.FG;

// Most suggestions shown at once.
FG.SUGGESTIONS = 30;

FG.functionList = null;

// The functions graphite knows, loaded once: [{name, signature, description}].
FG.loadFunctions = function () {
  if (!FG.functionList) {
    FG.functionList = FG.getJSON('/functions').then(function (all) {
      return Object.keys(all).sort().map(function (name) {
        var f = all[name] || {};
        return { name: name, signature: f['function'] || name + '()', description: f.description || '' };
      });
    }).catch(function (e) {
      FG.status('function names unavailable: ' + e.message, true);
      return [];
    });
  }
  return FG.functionList;
};

var acCount = 0;

// Attaches autocomplete to `input` (which must sit in a positioned parent).
FG.autocomplete = function (input) {
  var id = 'ac-' + (++acCount);
  var menu = FG.el('ul', { class: 'ac-menu', role: 'listbox', id: id, hidden: true });
  input.parentNode.appendChild(menu);
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', id);
  input.setAttribute('aria-expanded', 'false');
  input.setAttribute('autocomplete', 'off');
  input.setAttribute('spellcheck', 'false');

  var items = [];
  var active = -1;
  var seq = 0;
  var token = { start: 0, end: 0, text: '' };

  function close() {
    menu.hidden = true;
    menu.replaceChildren();
    items = [];
    active = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  function highlight(i) {
    active = i;
    Array.prototype.forEach.call(menu.children, function (li, j) {
      li.setAttribute('aria-selected', String(j === i));
      if (j === i) {
        input.setAttribute('aria-activedescendant', li.id);
        li.scrollIntoView({ block: 'nearest' });
      }
    });
  }

  function accept(i) {
    var item = items[i];
    if (!item) {
      return;
    }
    var value = input.value;
    input.value = value.slice(0, token.start) + item.insert + value.slice(token.end);
    var caret = token.start + item.insert.length;
    input.setSelectionRange(caret, caret);
    close();
    input.dispatchEvent(new Event('input', { bubbles: true }));
  }

  function show(list) {
    items = list.slice(0, FG.SUGGESTIONS);
    if (!items.length) {
      close();
      return;
    }
    menu.replaceChildren.apply(menu, items.map(function (item, i) {
      return FG.el('li', {
        role: 'option', id: id + '-' + i, 'aria-selected': 'false', title: item.title || '',
        onmousedown: function (ev) { ev.preventDefault(); accept(i); }
      }, [FG.el('span', { class: 'ac-label', text: item.label }),
          item.detail ? FG.el('span', { class: 'ac-detail', text: item.detail }) : null]);
    }));
    menu.hidden = false;
    active = -1;
    input.setAttribute('aria-expanded', 'true');
  }

  async function suggest() {
    var caret = input.selectionStart || 0;
    var before = input.value.slice(0, caret);
    var m = /[A-Za-z0-9_.*?\-[\]{}:;=~^]*$/.exec(before);
    token = { start: caret - m[0].length, end: caret, text: m[0] };
    var mine = ++seq;
    if (!token.text) {
      close();
      return;
    }
    var list = [];
    if (/^[A-Za-z_]\w*$/.test(token.text)) {
      var lower = token.text.toLowerCase();
      var fns = await FG.loadFunctions();
      fns.forEach(function (f) {
        if (f.name.toLowerCase().indexOf(lower) === 0) {
          list.push({ label: f.name, detail: f.signature, title: f.description, insert: f.name + '(' });
        }
      });
    }
    // A metric path: complete its last node.
    if (!/[()]/.test(token.text)) {
      try {
        var nodes = await FG.getJSON('/metrics/find', [['query', token.text + '*']]);
        nodes.slice(0, FG.SUGGESTIONS).forEach(function (n) {
          list.push({
            label: n.id + (n.leaf ? '' : '.'),
            detail: n.leaf ? 'metric' : 'branch',
            insert: n.id + (n.leaf ? '' : '.')
          });
        });
      } catch (e) {
        // A pattern that does not parse yet while typing: no suggestions.
      }
    }
    if (mine === seq) {
      show(list);
    }
  }

  input.addEventListener('input', FG.debounce(suggest, 150));
  input.addEventListener('blur', function () { setTimeout(close, 100); });
  input.addEventListener('keydown', function (ev) {
    if (menu.hidden) {
      return;
    }
    if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      highlight((active + 1) % items.length);
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      highlight(active <= 0 ? items.length - 1 : active - 1);
    } else if ((ev.key === 'Enter' || ev.key === 'Tab') && active >= 0) {
      ev.preventDefault();
      accept(active);
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      close();
    } else if (ev.key === 'Enter') {
      close();
    }
  });
};

// A target input with autocomplete, wrapped for the menu's position.
FG.targetInput = function (value, label) {
  var input = FG.el('input', {
    type: 'text', class: 'target-input', value: value || '',
    'aria-label': label || 'Target', placeholder: 'target, e.g. sumSeries(servers.*.load)'
  });
  var wrap = FG.el('span', { class: 'ac' }, [input]);
  FG.autocomplete(input);
  return { wrap: wrap, input: input };
};

// The composer's list of targets.
FG.targetList = {
  init: function (list, addButton, targets) {
    var self = this;
    this.list = list;
    (targets.length ? targets : ['']).forEach(function (t) { self.add(t); });
    addButton.addEventListener('click', function () { self.add('').focus(); });
  },

  // Adds a row; returns its input.
  add: function (value) {
    var self = this;
    var t = FG.targetInput(value, 'Target');
    var li = FG.el('li', {}, [
      t.wrap,
      FG.el('button', {
        type: 'button', class: 'remove', title: 'Remove this target', 'aria-label': 'Remove this target', text: '\u00d7',
        onclick: function () {
          li.remove();
          if (!self.list.children.length) {
            self.add('');
          }
          self.list.dispatchEvent(new Event('change', { bubbles: true }));
        }
      })
    ]);
    this.list.appendChild(li);
    return t.input;
  },

  // Puts `value` in the first empty row, or a new one.
  append: function (value) {
    var inputs = this.list.querySelectorAll('input.target-input');
    for (var i = 0; i < inputs.length; i++) {
      if (!inputs[i].value.trim()) {
        inputs[i].value = value;
        return;
      }
    }
    this.add(value);
  },

  values: function () {
    return Array.prototype.map.call(this.list.querySelectorAll('input.target-input'), function (i) {
      return i.value.trim();
    }).filter(Boolean);
  }
};
