// The commanding bar: POST /api/command with the operator's name and token; hazardous commands
// (ACTIVATE_SLOT, ROLLBACK, SET_MODE SAFE) are confirmed first; the verification report is shown.
(function () {
  'use strict';
  const ARGS = { SET_MODE: 'NOMINAL|DEGRADED|SAFE', SET_SCRUB_BUDGET: 'bytes', ACTIVATE_SLOT: 'A|B' };

  function hazardous(name, args) {
    return name === 'ACTIVATE_SLOT' || name === 'ROLLBACK' ||
      (name === 'SET_MODE' && args.length === 1 && ['SAFE', '2'].includes(args[0].toUpperCase()));
  }

  window.SeuguardCommanding = function (form) {
    const $ = (sel) => form.querySelector(sel);
    const result = $('#cmd-result');
    const show = (state, text) => { result.dataset.state = state; result.textContent = text; };
    fetch('/api/dictionary').then((r) => r.json()).then(function (d) {
      d.commands.forEach(function (name) {
        const option = document.createElement('option');
        option.value = option.textContent = name;
        $('#cmd-name').appendChild(option);
      });
      if (!d.commanding) {
        show('idle', 'read-only: the console was started without --token');
      }
    });
    $('#cmd-name').addEventListener('change', function () {
      $('#cmd-args').placeholder = ARGS[this.value] || 'no argument';
    });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      const name = $('#cmd-name').value;
      const args = $('#cmd-args').value.trim().split(/\s+/).filter((w) => w);
      const body = { command: name, args: args, operator: $('#cmd-operator').value };
      if (hazardous(name, args)) {
        if (!window.confirm(name + ' ' + args.join(' ') + ' is hazardous. Send it?')) {
          show('idle', name + ' not sent');
          return;
        }
        body.confirm = true;
      }
      show('sending', name + ': sent, waiting for its verification report');
      fetch('/api/command', {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Seuguard-Token': $('#cmd-token').value },
        body: JSON.stringify(body)
      }).then((r) => r.json().then((j) => [r.status, j])).then(function ([status, j]) {
        if (status !== 200) {
          show('refused', name + ': refused (' + status + '): ' + j.error);
        } else if (j.completed) {
          show('completed', name + ': completed at cycle ' + j.cycle);
        } else {
          show('failed', name + ': ' + (j.accepted ? 'accepted, then failed' : 'rejected') + ': ' + j.reason + ' ' + j.detail);
        }
      }).catch((e) => show('failed', name + ': ' + e));
    });
  };
})();
