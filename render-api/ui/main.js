// Starts the page: picks the view from the address (/ and /composer/: the
// composer; /dashboard/ and /dashboard/NAME: the dashboards), starts the
// tree, the time bar, the events list and the token dialog.
'use strict';

var FG = window.FG;

FG.initToken = function () {
  var button = document.getElementById('token-button');
  var dialog = document.getElementById('token-dialog');
  var input = document.getElementById('token-input');
  var label = function () {
    button.textContent = FG.token() ? 'Write token \u2713' : 'Write token';
  };
  label();
  button.addEventListener('click', function () {
    input.value = FG.token();
    dialog.showModal();
    input.focus();
  });
  dialog.addEventListener('close', function () {
    if (dialog.returnValue === 'save') {
      FG.setToken(input.value.trim());
      FG.status(input.value.trim() ? 'write token kept in this browser' : 'write token forgotten');
    } else if (dialog.returnValue === 'clear') {
      FG.setToken('');
      FG.status('write token forgotten');
    }
    input.value = '';
    label();
  });
};

FG.start = function () {
  var path = location.pathname.replace(/\/+$/, '');
  var params = new URLSearchParams(location.search);
  var dashboard = /^\/dashboard(?:\/([^/]+))?$/.exec(path);
  FG.initToken();
  FG.tree.init();
  FG.events.init();
  if (dashboard) {
    document.getElementById('nav-dashboard').setAttribute('aria-current', 'page');
    document.getElementById('dashboard-view').hidden = false;
    FG.timebar.init(params, { from: '-2h' });
    var name = '';
    try {
      name = dashboard[1] ? decodeURIComponent(dashboard[1]) : '';
    } catch (e) {
      name = dashboard[1];
    }
    FG.dashboard.init(name, params);
  } else {
    document.getElementById('nav-composer').setAttribute('aria-current', 'page');
    document.getElementById('composer-view').hidden = false;
    FG.timebar.init(params, {});
    FG.composer.init(params);
  }
};

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', FG.start);
} else {
  FG.start();
}
