// Starts GraphiQL against this server's /graphql endpoint: queries and mutations over HTTP,
// subscriptions over a graphql-transport-ws websocket on the same path.
(function () {
  var base = window.location.origin + '/graphql';
  var fetcher = GraphiQL.createFetcher({
    url: base,
    subscriptionUrl: base.replace(/^http/, 'ws'),
  });
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultEditorToolsVisibility: true,
    defaultQuery: '# Welcome to teamaccess.\n{\n  serverInfo {\n    version\n    storage { engine serverVersion embedded }\n  }\n}\n',
  }));
})();
