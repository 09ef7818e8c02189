// seuguard plugin for Open MCT: objects and composition from the console's dictionary (which the
// server generates from flight's packet definitions), history over HTTP, realtime over a WebSocket,
// limits, and a default layout. Read-only: commanding is the form in index.html.
/* global openmct */
(function () {
  'use strict';

  const NS = 'seuguard';
  const TYPE = 'seuguard.telemetry';

  function id(key) {
    return { namespace: NS, key: key };
  }

  // One WebSocket for every subscription; re-subscribes after a reconnect.
  function realtime() {
    const listeners = {};
    let socket = null;
    let open = false;

    function send(message) {
      if (open) {
        socket.send(JSON.stringify(message));
      }
    }

    function connect() {
      socket = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
      socket.onopen = function () {
        open = true;
        Object.keys(listeners).forEach((key) => send({ subscribe: key }));
      };
      socket.onmessage = function (event) {
        JSON.parse(event.data).forEach(function (datum) {
          (listeners[datum.key] || []).forEach((callback) => callback(datum));
        });
      };
      socket.onclose = function () {
        open = false;
        setTimeout(connect, 1000);
      };
    }
    connect();

    return {
      subscribe(key, callback) {
        if (!listeners[key]) {
          listeners[key] = [];
          send({ subscribe: key });
        }
        listeners[key].push(callback);
        return function unsubscribe() {
          listeners[key] = listeners[key].filter((c) => c !== callback);
          if (listeners[key].length === 0) {
            delete listeners[key];
            send({ unsubscribe: key });
          }
        };
      }
    };
  }

  function valueMetadata(m) {
    const value = { key: 'value', name: m.name, format: m.format, hints: { range: 1 } };
    if (m.format === 'enum') {
      value.enumerations = m.enumerations;
    }
    return [value, { key: 'utc', source: 'timestamp', name: 'Time', format: 'utc', hints: { domain: 1 } },
      { key: 'cycle', name: 'Cycle', format: 'integer' }];
  }

  // The default layout: mode and active slot, cycle and command counters as values with limits;
  // vote outcomes and scrub repairs plotted over time; timing p99; the event list.
  function defaultObjects(byKey) {
    const objects = {};
    const plot = (key, name, keys) => {
      objects[key] = {
        identifier: id(key), name: name, type: 'telemetry.plot.overlay', location: NS + ':spacecraft',
        composition: keys.filter((k) => byKey[k]).map(id), configuration: { series: [] }
      };
    };
    plot('plot.votes', 'Vote outcomes', ['hk.votes_unanimous', 'hk.votes_corrected', 'hk.votes_failed']);
    plot('plot.scrub', 'Scrub repairs', ['hk.chunks_repaired', 'hk.chunks_reloaded', 'hk.chunks_unrepairable']);
    plot('plot.timing', 'Timing p99 (us)', Object.keys(byKey).filter((k) => k.startsWith('timing.') && k.endsWith('.p99')));
    objects['table.events'] = {
      identifier: id('table.events'), name: 'Events', type: 'table', location: NS + ':spacecraft',
      composition: [id('events'), id('tc.verification')],
      configuration: { columnWidths: {}, hiddenColumns: {} }
    };
    const layout = (key, name, values, views) => {
      const items = values.filter((k) => byKey[k]).map((k, i) => ({
        type: 'telemetry-view', id: 'v-' + k, identifier: id(k), x: 1, y: 1 + 3 * i, width: 26, height: 3,
        displayMode: 'all', value: 'value', stroke: '', fill: '', color: '', fontSize: 'default', font: 'default'
      }));
      views.forEach(([view, x, y]) => items.push({
        type: 'subobject-view', id: 's-' + view, identifier: id(view), x: x, y: y, width: 51, height: 26,
        hasFrame: true, fontSize: 'default', font: 'default'
      }));
      objects[key] = {
        identifier: id(key), name: name, type: 'layout', location: NS + ':spacecraft',
        composition: items.map((item) => item.identifier),
        configuration: { items: items, layoutGrid: [10, 10], objectStyles: {} }
      };
    };
    layout('layout', 'Default layout', ['hk.mode', 'hk.active_slot', 'hk.cycle', 'hk.replicas_in_vote',
      'hk.votes_corrected', 'hk.votes_failed', 'hk.chunks_repaired', 'hk.chunks_unrepairable', 'hk.cmd_accepted',
      'hk.cmd_rejected', 'timing.overruns', 'hk.uplink_state'],
    [['plot.votes', 28, 1], ['plot.scrub', 28, 28], ['plot.timing', 80, 1], ['table.events', 80, 28]]);
    // The uplink as the flight reports it: PDUs and files received, refusals, verification state,
    // the staged slot, the highest sequence accepted, and the activation (active slot, events).
    plot('plot.uplink', 'Uplink PDUs and files', ['hk.uplink_pdus', 'hk.uplink_files', 'hk.uplink_refusals']);
    layout('layout.uplink', 'Uplink', ['hk.uplink_state', 'hk.uplink_pdus', 'hk.uplink_files', 'hk.uplink_refusals',
      'hk.uplink_staged_slot', 'hk.uplink_highest_sequence', 'hk.active_slot', 'hk.mode', 'hk.rollbacks'],
    [['plot.uplink', 28, 1], ['table.events', 80, 1]]);
    return objects;
  }

  window.SeuguardPlugin = function SeuguardPlugin() {
    return function install(openmct) {
      const dictionary = fetch('/api/dictionary').then((r) => r.json());
      const byKeyPromise = dictionary.then(function (d) {
        const byKey = {};
        d.measurements.forEach((m) => { byKey[m.key] = m; });
        return byKey;
      });
      const layoutObjects = byKeyPromise.then(defaultObjects);
      const groups = { housekeeping: 'Housekeeping', timing: 'Timing', events: 'Events and verification' };

      openmct.objects.addRoot(id('spacecraft'));
      openmct.types.addType(TYPE, {
        name: 'seuguard telemetry point', description: 'A value from seuguard telemetry', cssClass: 'icon-telemetry'
      });
      // Views (plots, the layout) keep their own configuration in their object: keep those edits in
      // memory for the page's life, so a plot can add its series.
      const edited = {};
      openmct.objects.addProvider(NS, {
        create(object) {
          edited[object.identifier.key] = object;
          return Promise.resolve(true);
        },
        update(object) {
          edited[object.identifier.key] = object;
          return Promise.resolve(true);
        },
        get(identifier) {
          if (edited[identifier.key]) {
            return Promise.resolve(edited[identifier.key]);
          }
          return Promise.all([dictionary, byKeyPromise, layoutObjects]).then(function ([d, byKey, extra]) {
            const key = identifier.key;
            if (key === 'spacecraft') {
              return { identifier, name: 'seuguard', type: 'folder', location: 'ROOT' };
            }
            if (key.startsWith('group.')) {
              return { identifier, name: groups[key.slice(6)], type: 'folder', location: NS + ':spacecraft' };
            }
            if (extra[key]) {
              return extra[key];
            }
            const m = byKey[key];
            return {
              identifier, name: m.name, type: TYPE, location: NS + ':group.' + m.group,
              notes: m.doc, telemetry: { key: m.key, limits: m.limits, values: valueMetadata(m) }
            };
          });
        }
      });
      openmct.composition.addProvider({
        appliesTo: (o) => o.identifier.namespace === NS && (o.type === 'folder'),
        load(o) {
          return dictionary.then(function (d) {
            if (o.identifier.key === 'spacecraft') {
              return ['layout', 'layout.uplink', 'plot.votes', 'plot.scrub', 'plot.timing', 'plot.uplink', 'table.events']
                .concat(Object.keys(groups).map((g) => 'group.' + g)).map(id);
            }
            const group = o.identifier.key.slice(6);
            return d.measurements.filter((m) => m.group === group).map((m) => id(m.key));
          });
        }
      });

      const socket = realtime();
      openmct.telemetry.addProvider({
        supportsRequest: (o) => o.type === TYPE,
        request(o, options) {
          const q = new URLSearchParams({ start: Math.floor(options.start), end: Math.ceil(options.end) });
          if (options.strategy === 'latest') {
            q.set('strategy', 'latest');
          }
          return fetch('/api/history/' + encodeURIComponent(o.telemetry.key) + '?' + q, { signal: options.signal })
            .then((r) => r.json());
        },
        supportsSubscribe: (o) => o.type === TYPE,
        subscribe: (o, callback) => socket.subscribe(o.telemetry.key, callback),
        supportsLimits: (o) => o.type === TYPE && !!o.telemetry.limits,
        getLimitEvaluator(o) {
          const limits = o.telemetry.limits;
          return {
            evaluate(datum, metadatum) {
              if (metadatum && metadatum.key !== 'value') {
                return undefined;
              }
              if (limits.red !== null && limits.red !== undefined && datum.value >= limits.red) {
                return { cssClass: 'is-limit--upr is-limit--red', name: 'Red High' };
              }
              if (limits.yellow !== null && limits.yellow !== undefined && datum.value >= limits.yellow) {
                return { cssClass: 'is-limit--upr is-limit--yellow', name: 'Yellow High' };
              }
              return undefined;
            }
          };
        },
        getLimits: () => ({ limits: () => Promise.resolve({}) })
      });
    };
  };
})();
