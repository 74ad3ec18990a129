/**
 * The direction of rekey's dependencies, checked by dependency-cruiser (`npm run deps`, run by .ci/run before the
 * tests). The CLI wires everything together: it builds the store registry and hands it to the engine and the config
 * loader, so that neither needs to know which stores exist. Lazy `await import(...)` calls count like static imports.
 * There is no exceptions file: a violation is fixed in the code.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'A cycle makes two modules one: neither can be read, tested or loaded without the other.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'contract-is-a-leaf',
      severity: 'error',
      comment:
        'src/contract/ is what an adapter author reads: the store and step-adapter contracts, the runbook types, the ' +
        'events, the errors and the Secret type. It imports nothing else of the project, so it can be read alone.',
      from: { path: '^src/contract/' },
      to: { pathNot: '^src/contract/', dependencyTypesNot: ['core'] },
    },
    {
      name: 'engine-and-config-not-to-adapters',
      severity: 'error',
      comment: 'The engine and the config loader get the store registry from the CLI; they never import an adapter.',
      from: { path: '^src/(engine|config)/' },
      to: { path: '^adapters/' },
    },
    {
      name: 'runbook-not-to-config',
      severity: 'error',
      comment:
        'Runbooks are read on their own (rekey runbook show, rehearse); the YAML and validation helpers they share ' +
        'with the config loader live in src/util/.',
      from: { path: '^src/runbook/' },
      to: { path: '^src/config/' },
    },
    {
      name: 'util-not-to-config',
      severity: 'error',
      comment: 'src/util/ is the bottom layer: everything may use it, so it uses nothing above it.',
      from: { path: '^src/util/' },
      to: { path: '^src/config/' },
    },
    {
      name: 'engine-not-to-ui-or-cli',
      severity: 'error',
      comment: 'The engine reports through events and the interaction it is handed; it neither draws nor parses commands.',
      from: { path: '^src/engine/' },
      to: { path: '^src/(ui|cli)/' },
    },
    {
      name: 'leak-search-stands-alone',
      severity: 'error',
      comment:
        'The leak search takes a value, a folder and the paths to leave out, and returns findings: it knows nothing of ' +
        'runs, stores, config or the screen (the engine hands it the stores\' files; the report prints its words).',
      from: { path: '^src/leak-search/' },
      to: { path: '^(src/(engine|config|ui|cli|report|runbook|store)|adapters)/' },
    },
    {
      name: 'doctor-gets-what-it-checks',
      severity: 'error',
      comment:
        "The doctor's checks (src/doctor/) are handed the config, the runbooks, the values read and the ages by the CLI: " +
        'they never open a store (adapters/), ask or draw (src/ui/), so each check can be tested on plain data.',
      from: { path: '^src/doctor/' },
      to: { path: '^(adapters|src/(ui|report|sandbox))/' },
    },
    {
      name: 'only-cli-to-cli',
      severity: 'error',
      comment:
        'The CLI is the top layer: nothing in the product imports it (tests may, to run its commands). src/api.ts, the ' +
        'programmatic entry point (package.json exports), is its twin at the top and reuses its wiring.',
      from: { path: '^(src|adapters)/', pathNot: ['^src/cli/', '^src/api\\.ts$'] },
      to: { path: '^src/cli/' },
    },
    {
      name: 'cli-main-loads-only-the-parser',
      severity: 'error',
      comment:
        'Start-up: the entry point imports only commander (required through node:module, which the cruiser does not ' +
        'follow) and its output guard; every command, and YAML, zod and the SDKs with it, is imported with import() ' +
        'when that command runs.',
      from: { path: '^src/cli/main\\.ts$' },
      to: { dependencyTypesNot: ['dynamic-import', 'type-only'], pathNot: ['^node_modules/commander/', '^module$', '^src/cli/output-guard\\.ts$'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve would make the rules above silently miss an edge.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
