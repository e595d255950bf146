// Talking to the server: JSON reads, writes with the write token, render
// URLs, and small DOM helpers every view uses. Everything hangs off `FG`.
'use strict';

var FG = window.FG || {};
window.FG = FG;

FG.TOKEN_KEY = 'ferrograph.writeToken';

FG.token = function () {
  try {
    return window.localStorage.getItem(FG.TOKEN_KEY) || '';
  } catch (e) {
    return '';
  }
};

FG.setToken = function (token) {
  try {
    if (token) {
      window.localStorage.setItem(FG.TOKEN_KEY, token);
    } else {
      window.localStorage.removeItem(FG.TOKEN_KEY);
    }
  } catch (e) {
    FG.status('this browser keeps no local storage: the token is not kept', true);
  }
};

// `k=v&k=v` from a list of [key, value] pairs (repeated keys kept in
// order; undefined and null values left out, empty ones kept).
FG.query = function (pairs) {
  return pairs
    .filter(function (p) { return p[1] !== undefined && p[1] !== null; })
    .map(function (p) { return encodeURIComponent(p[0]) + '=' + encodeURIComponent(p[1]); })
    .join('&');
};

// The error text of a failed response: the server answers plain text.
async function failure(resp) {
  var text = '';
  try {
    text = (await resp.text()).trim();
  } catch (e) {
    text = '';
  }
  var err = new Error(resp.status + ' ' + (text || resp.statusText));
  err.status = resp.status;
  return err;
}

FG.getJSON = async function (path, pairs) {
  var url = pairs && pairs.length ? path + '?' + FG.query(pairs) : path;
  var resp = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!resp.ok) {
    throw await failure(resp);
  }
  return resp.json();
};

// A write: POST with the token when one is set. `body` is a list of form
// pairs, or an object sent as JSON.
FG.write = async function (path, body) {
  var headers = {};
  var payload;
  if (Array.isArray(body)) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    payload = FG.query(body);
  } else {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  var token = FG.token();
  if (token) {
    headers.Authorization = 'Bearer ' + token;
  }
  var resp = await fetch(path, { method: 'POST', headers: headers, body: payload });
  if (resp.status === 401) {
    var err = new Error('the server needs a write token: set it with "Write token" at the top right');
    err.status = 401;
    throw err;
  }
  if (!resp.ok) {
    throw await failure(resp);
  }
  var text = await resp.text();
  return text ? JSON.parse(text) : null;
};

// `/render?...` for a graph: `params` maps names to a value or a list.
FG.renderUrl = function (params) {
  var pairs = [];
  Object.keys(params).forEach(function (key) {
    var value = params[key];
    if (Array.isArray(value)) {
      value.forEach(function (v) { pairs.push([key, v]); });
    } else {
      pairs.push([key, value]);
    }
  });
  return '/render?' + FG.query(pairs);
};

// The target that draws events as vertical lines (graphite's idiom).
FG.eventsTarget = function (tags) {
  var words = (tags || '').split(/[\s,]+/).filter(Boolean);
  var args = words.length
    ? words.map(function (w) { return "'" + w.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'"; }).join(',')
    : "'*'";
  return "alias(drawAsInfinite(events(" + args + ")),'events')";
};

// An element with attributes and children (strings become text nodes, so
// names from the server never become markup).
FG.el = function (tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (key) {
    var value = attrs[key];
    if (value === undefined || value === null || value === false) {
      return;
    }
    if (key === 'text') {
      node.textContent = value;
    } else if (key.slice(0, 2) === 'on') {
      node.addEventListener(key.slice(2), value);
    } else if (key in node && typeof value !== 'string') {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? '' : value);
    }
  });
  (children || []).forEach(function (child) {
    if (child !== null && child !== undefined) {
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
  });
  return node;
};

// One line in the top bar: what just happened, or went wrong.
FG.status = function (message, isError) {
  var node = document.getElementById('status');
  if (!node) {
    return;
  }
  node.textContent = message || '';
  node.className = isError ? 'error' : '';
  if (FG.statusTimer) {
    clearTimeout(FG.statusTimer);
  }
  if (message && !isError) {
    FG.statusTimer = setTimeout(function () { node.textContent = ''; }, 4000);
  }
};

// Calls `fn` once `ms` passed without another call.
FG.debounce = function (fn, ms) {
  var timer = null;
  return function () {
    var args = arguments;
    var self = this;
    clearTimeout(timer);
    timer = setTimeout(function () { fn.apply(self, args); }, ms);
  };
};
