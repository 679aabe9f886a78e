// The layering of docs/architecture.md ("Layers"), written as rules. `npm run lint` runs them
// (`depcruise --config .dependency-cruiser.cjs src ui/src bench scripts test`); a broken rule fails lint and CI.
// Tests may reach across layers (a CLI test starts a server), so only the rules about circles apply to them.
/** Every rule below is an error: there are no warnings to grow used to. */
const TESTS = '\\.test\\.tsx?$|^test/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import circles, type-only imports included: a circle is two modules that are one module.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'agent-speaks-http-only',
      severity: 'error',
      comment: 'The agent runs on target hosts and talks to the server over HTTP: from the server tree it imports only the wire protocol.',
      from: { path: '^src/agent/', pathNot: TESTS },
      to: { path: '^src/', pathNot: '^src/(agent|protocol)/' },
    },
    {
      name: 'cli-speaks-http-only',
      severity: 'error',
      comment:
        'The CLI is an HTTP client of the API like any other: besides its own folder it imports the wire protocol, the pure helpers of src/core and the agent it starts (`gantry agent run`), never server code (server-host commands live in src/host/).',
      from: { path: '^src/cli/', pathNot: TESTS },
      to: { path: '^src/', pathNot: '^src/(cli|protocol|core|agent)/' },
    },
    {
      name: 'protocol-is-neutral',
      severity: 'error',
      comment: 'The wire protocol is shared by the server, the agent and the CLI, so it imports nothing of theirs.',
      from: { path: '^src/protocol/' },
      to: { path: '^src/', pathNot: '^src/protocol/' },
    },
    {
      name: 'core-imports-only-core',
      severity: 'error',
      comment: 'src/core holds the helpers every layer may use; it depends on nothing of ours.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'store-imports-no-domain',
      severity: 'error',
      comment: 'The store (pool, transactions, migrations, embedded PostgreSQL) knows no domain.',
      from: { path: '^src/store/' },
      to: { path: '^src/', pathNot: '^src/(store|core)/' },
    },
    {
      name: 'engine-imports-no-domain',
      severity: 'error',
      comment: 'The workflow engine runs steps that domains register; it imports no domain, only shared infrastructure.',
      from: { path: '^src/engine/', pathNot: TESTS },
      to: { path: '^src/', pathNot: '^src/(engine|core|store|protocol)/|^src/http/outbound' },
    },
    {
      name: 'domains-use-the-engine-surface',
      severity: 'error',
      comment: 'Outside the engine, code imports the engine only through src/engine/index.ts.',
      from: { path: '^src/', pathNot: `^src/engine/|${TESTS}` },
      to: { path: '^src/engine/', pathNot: '^src/engine/index\\.ts$' },
    },
    {
      name: 'server-imports-no-cli',
      severity: 'error',
      comment: 'The server never imports the CLI or the server-host commands; only the entry point composes them.',
      from: { path: '^src/', pathNot: `^src/(cli|host)/|^src/main\\.ts$|${TESTS}` },
      to: { path: '^src/(cli|host)/' },
    },
    {
      name: 'ui-imports-only-its-client',
      severity: 'error',
      comment: 'The web UI reaches the server only through its generated API client (ui/src/api); it imports no server code.',
      from: { path: '^ui/src/' },
      to: { path: '^(src|test|bench|scripts)/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing is a typo or a missing dependency.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|node_modules)/|\\.d\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.test.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
