/**
 * Child process for the four-store case (forked by cases/four-store.mjs): the sandbox provider and the local AWS,
 * GCP and Vault fakes, each answering every call after the same latency, seeded with one key. They run here and
 * not in the benchmark process so that their own CPU (gRPC framing, JSON, the models) is not charged to the engine's
 * event loop, as a real remote service's would not be.
 *
 * Every call is logged with its start and end on the shared wall clock (performance.timeOrigin + now(), ms) and
 * handed over on request. Messages: → {ready, …urls}; ← {type: 'calls'} → {type: 'calls', calls}; ← {type: 'close'}.
 */
const [fakesDir, distSandbox, latencyText] = process.argv.slice(2);
const L = Number(latencyText);
const fake = (name) => new URL(`${name}.js`, fakesDir).href;
const clock = () => performance.timeOrigin + performance.now();
// The parent (bench/cases/four-store.mjs) forks this file with an IPC channel; without one there is no one to answer.
const send = process.send?.bind(process);
if (send === undefined) throw new Error('four-store-servers.mjs runs as a child of bench/cases/four-store.mjs, with an IPC channel');
let calls = [];

const [{ startSandbox }, awsServer, awsModel, gcpServer, gcpModel, vaultServer] = await Promise.all([
  import(distSandbox),
  import(fake('aws-secrets-manager-server')),
  import(fake('aws-secrets-manager-model')),
  import(fake('gcp-secret-manager-server')),
  import(fake('gcp-secret-manager-model')),
  import(fake('vault-kv-server')),
]);

const sandbox = await startSandbox({ latencyMs: L });
const rtPush = sandbox.roundTrips.push;
sandbox.roundTrips.push = function logged(...items) {
  const end = clock();
  for (const rt of items) calls.push({ store: 'provider', op: `${rt.method} ${rt.route}`, start: end - rt.ms, end });
  return rtPush.apply(this, items);
};

const aws = await awsServer.start(new awsModel.SecretsManagerModel({ region: 'us-east-1' }));
aws.model.latencyMs = L;
const awsCall = aws.model.call.bind(aws.model);
aws.model.call = async (operation, input, principal) => {
  const start = clock();
  try {
    return await awsCall(operation, input, principal);
  } finally {
    calls.push({ store: 'aws', op: operation, start, end: clock() });
  }
};

const gcp = await gcpServer.start(new gcpModel.SecretManagerModel());
gcp.model.latencyMs = L;
const gcpHandle = gcp.model.handle.bind(gcp.model);
gcp.model.handle = async (method, request, principal) => {
  const start = clock();
  try {
    return await gcpHandle(method, request, principal);
  } finally {
    calls.push({ store: 'gcp', op: method, start, end: clock() });
  }
};

const vault = await vaultServer.startVaultServer({ latencyMs: L });
const vaultHandle = vault.model.handle.bind(vault.model);
// The server waits `latencyMs`, then calls handle() synchronously: the call began L ms earlier.
vault.model.handle = (request) => {
  const end = clock();
  calls.push({ store: 'vault', op: `${request.method} ${String(request.path).split('/').slice(0, 2).join('/')}`, start: end - L, end });
  return vaultHandle(request);
};

const key = sandbox.mintKey('four-store');
aws.model.createSecret({ Name: 'bench/app', SecretString: JSON.stringify({ API_KEY: key, DATABASE_URL: 'postgres://db.internal/app' }) });
gcp.model.seed('projects/rekey-bench/secrets/app', [JSON.stringify({ API_KEY: key, REGION: 'europe-west1' })], { aliases: { current: 1 } });
vault.model.put('secret', 'bench/app', { API_KEY: key, REGION: 'eu-west-1' });

process.on('message', async (/** @type {{ type: string }} */ message) => {
  if (message.type === 'calls') {
    send({ type: 'calls', calls });
    calls = [];
  } else if (message.type === 'close') {
    await Promise.allSettled([sandbox.close(), aws.close(), gcp.close(), vault.close()]);
    process.disconnect();
    process.exit(0);
  }
});
// The parent went away without saying so: do not linger.
process.on('disconnect', () => process.exit(0));

send({ type: 'ready', sandboxUrl: sandbox.url, awsUrl: aws.url, gcpEndpoint: gcp.endpoint, vaultUrl: vault.url, vaultToken: vault.model.rootToken, key });
