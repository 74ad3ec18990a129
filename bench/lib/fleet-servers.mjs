/**
 * Child process for the fleet case (forked by cases/fleet.mjs): the sandbox provider and the AWS Secrets Manager wire
 * fake (test/fakes/, transpiled by lib/fakes.mjs), each answering every call after the same latency, the fake enforcing
 * the region's write quota (model.writesPerSecond: excess writes answered ThrottlingException) and keeping idle
 * connections as AWS does (KEEP_ALIVE_MS). Seeds `count` secrets `fleet/cNNNN` (a JSON secret, the key in API_KEY),
 * each holding a fresh sandbox key of account cNNNN. The fake's clock runs 100 days behind, so every version it holds
 * or writes reads as 100 days old: every credential is due (maxAge 30d), on the first run and on the next.
 *
 * Apart from the CLI under test and from the benchmark's own process, so that neither's CPU is charged to the other.
 * Messages: → {type: 'ready', sandboxUrl, awsUrl}; ← {type: 'stats'} → {type: 'stats', …counters}; ← {type: 'close'}.
 */
const [fakesDir, distSandbox, latencyText, writesText, countText] = process.argv.slice(2);
const L = Number(latencyText);
const count = Number(countText);
const fake = (name) => new URL(`${name}.js`, fakesDir).href;
const send = process.send?.bind(process);
if (send === undefined) throw new Error('fleet-servers.mjs runs as a child of bench/cases/fleet.mjs, with an IPC channel');

const [{ startSandbox }, awsServer, awsModel] = await Promise.all([
  import(distSandbox),
  import(fake('aws-secrets-manager-server')),
  import(fake('aws-secrets-manager-model')),
]);

const DAY = 86_400_000;
const sandbox = await startSandbox({ latencyMs: L });
const model = new awsModel.SecretsManagerModel({ region: 'us-east-1', writesPerSecond: Number(writesText) });
model.latencyMs = L;
model.clock = () => Date.now() - 100 * DAY;
const aws = await awsServer.start(model);
for (let i = 1; i <= count; i++) {
  const id = credentialId(i);
  model.createSecret({ Name: `fleet/${id}`, SecretString: JSON.stringify({ API_KEY: sandbox.mintKey(id), REGION: 'us-east-1' }) });
}
// The seeding's own writes are not the run's.
const seededWrites = model.requests;
model.requests = 0;
model.requestsByOperation.clear();
model.throttled = 0;
let providerSeen = sandbox.roundTrips.length;
let acceptedSeen = aws.connections.accepted;

/** `c0001`…: the credential, its sandbox account and its secret's last segment. */
function credentialId(i) {
  return `c${String(i).padStart(4, '0')}`;
}

process.on('message', async (/** @type {{ type: string }} */ message) => {
  if (message.type === 'stats') {
    send({
      type: 'stats',
      requests: model.requests,
      byOperation: Object.fromEntries(model.requestsByOperation),
      throttled: model.throttled,
      connections: { accepted: aws.connections.accepted - acceptedSeen, open: aws.connections.open },
      provider: sandbox.roundTrips.length - providerSeen,
    });
    providerSeen = sandbox.roundTrips.length;
    acceptedSeen = aws.connections.accepted;
    model.requests = 0;
    model.requestsByOperation.clear();
    model.throttled = 0;
  } else if (message.type === 'close') {
    await Promise.allSettled([sandbox.close(), aws.close()]);
    process.disconnect();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));

send({ type: 'ready', sandboxUrl: sandbox.url, awsUrl: aws.url, seededWrites });
