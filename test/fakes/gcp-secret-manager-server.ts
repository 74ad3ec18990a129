/**
 * A local gRPC server speaking `google.cloud.secretmanager.v1.SecretManagerService`, backed by the in-memory model.
 * It loads the very .proto files that ship inside `@google-cloud/secret-manager`, so the real client talks to it
 * byte for byte as it would to Google. Binds 127.0.0.1 on a free port; `close()` force-shuts it so tests exit.
 *
 * The caller is identified by the `authorization` metadata (`Bearer <principal>`), `anonymous` without one;
 * the model decides what each principal may do.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Code, ModelError, SecretManagerModel, type MethodName } from './gcp-secret-manager-model.js';

/** A running fake server. */
export interface GcpSecretManagerServer {
  readonly port: number;
  /** `127.0.0.1:PORT`, as the adapter's `endpoint` option takes it. */
  readonly endpoint: string;
  readonly model: SecretManagerModel;
  close(): Promise<void>;
}

const METHODS: readonly MethodName[] = [
  'CreateSecret',
  'GetSecret',
  'UpdateSecret',
  'DeleteSecret',
  'AddSecretVersion',
  'GetSecretVersion',
  'AccessSecretVersion',
  'ListSecretVersions',
  'DisableSecretVersion',
  'EnableSecretVersion',
  'DestroySecretVersion',
  'TestIamPermissions',
];

let definition: Promise<grpc.ServiceDefinition> | undefined;

/** The service definition from the client package's own .proto files (loaded once per process). */
function serviceDefinition(): Promise<grpc.ServiceDefinition> {
  definition ??= (async () => {
    const require = createRequire(import.meta.url);
    // Both packages keep their .proto files in build/protos, two levels above their main module.
    const clientProtos = join(dirname(require.resolve('@google-cloud/secret-manager')), '..', 'protos');
    const gaxProtos = join(dirname(require.resolve('google-gax')), '..', 'protos');
    const packageDefinition = await protoLoader.load('google/cloud/secretmanager/v1/service.proto', {
      includeDirs: [clientProtos, gaxProtos],
      keepCase: false,
      longs: String,
      enums: String,
      defaults: false,
      arrays: true,
      objects: true,
      oneofs: true,
    });
    const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
      google: { cloud: { secretmanager: { v1: { SecretManagerService: { service: grpc.ServiceDefinition } } } } };
    };
    return loaded.google.cloud.secretmanager.v1.SecretManagerService.service;
  })();
  return definition;
}

/** The principal a call comes from: the bearer token's text, or `anonymous`. */
function principalOf(metadata: grpc.Metadata): string {
  const header = metadata.get('authorization')[0];
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1] ?? 'anonymous';
}

/** Start a server on 127.0.0.1 with a free port, over the given model or a fresh one. */
export async function start(model = new SecretManagerModel()): Promise<GcpSecretManagerServer> {
  const service = await serviceDefinition();
  const server = new grpc.Server();
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of METHODS) {
    handlers[method] = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      model.handle(method, call.request, principalOf(call.metadata)).then(
        (response) => callback(null, response),
        (error: unknown) => {
          if (error instanceof ModelError) callback({ code: error.code, details: error.details } as grpc.ServiceError);
          else callback({ code: Code.INTERNAL, details: error instanceof Error ? error.message : 'internal error' } as grpc.ServiceError);
        },
      );
    };
  }
  // Methods the model does not serve (ListSecrets, SetIamPolicy, …) answer UNIMPLEMENTED, as grpc-js does for absent handlers.
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    port,
    endpoint: `127.0.0.1:${port}`,
    model,
    async close() {
      // forceShutdown cancels open calls and frees the port at once; tryShutdown could wait on an idle client.
      server.forceShutdown();
    },
  };
}
