// Starts GraphiQL against this server's /graphql endpoint: queries and mutations over HTTP,
// subscriptions over a graphql-transport-ws websocket on the same path. Every request needs an
// API key; the page asks for one and keeps it in this tab's sessionStorage only.
(function () {
  var storageKey = 'teamaccess.apiKey';
  var root = document.getElementById('graphiql');

  function askForKey(message) {
    root.innerHTML = '';
    var form = document.createElement('form');
    form.style.cssText = 'max-width:32em;margin:4em auto;font-family:system-ui,sans-serif';
    form.innerHTML =
      '<h1 style="font-size:1.4em">teamaccess GraphiQL</h1>' +
      '<p>Paste an API key (it starts with <code>tak_</code>). The first start of teamaccess printed ' +
      'an admin key; once signed in, the <code>createApiKey</code> mutation makes more.</p>' +
      '<p style="color:#b00020" id="problem"></p>' +
      '<input id="key" type="password" autocomplete="off" style="width:100%;padding:.5em" ' +
      'placeholder="tak_…" aria-label="API key"> ' +
      '<p><button type="submit" style="padding:.5em 1.5em">Open GraphiQL</button></p>';
    form.querySelector('#problem').textContent = message || '';
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var key = form.querySelector('#key').value.trim();
      if (key.indexOf('tak_') !== 0) {
        form.querySelector('#problem').textContent = 'That is not a teamaccess API key.';
        return;
      }
      sessionStorage.setItem(storageKey, key);
      start(key);
    });
    root.appendChild(form);
    form.querySelector('#key').focus();
  }

  function start(key) {
    var base = window.location.origin + '/graphql';
    var auth = 'Bearer ' + key;
    var fetcher = GraphiQL.createFetcher({
      url: base,
      subscriptionUrl: base.replace(/^http/, 'ws'),
      headers: { Authorization: auth },
      wsConnectionParams: { Authorization: auth },
    });
    // A refused key sends the user back to the form instead of an opaque error.
    var checked = function (params, opts) {
      return fetch(base, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: auth },
        body: JSON.stringify({ query: '{ viewer { role } }' }),
      }).then(function (r) {
        if (r.status === 401) {
          sessionStorage.removeItem(storageKey);
          return r.json().then(function (body) {
            askForKey(body.errors && body.errors[0] ? body.errors[0].message : 'The key was refused.');
          });
        }
        ReactDOM.createRoot(root).render(React.createElement(GraphiQL, {
          fetcher: fetcher,
          defaultEditorToolsVisibility: true,
          defaultQuery: '# Welcome to teamaccess.\n{\n  viewer {\n    organization { name }\n    role\n  }\n  serverInfo {\n    version\n    storage { engine serverVersion embedded }\n  }\n}\n',
        }));
      });
    };
    root.textContent = 'Checking the key…';
    checked();
  }

  var saved = sessionStorage.getItem(storageKey);
  if (saved) {
    start(saved);
  } else {
    askForKey();
  }
})();
