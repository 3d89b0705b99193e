// The Node interop client for the ResourceCoordinator gRPC edge: @grpc/grpc-js with
// schemas/events.proto loaded at run time and a deadline on every call.
// Usage: node resource_client.js <host:port> <deadline-ms>
// Requests 512 MEMORY_MB, reads the status, releases the grant, then sends a bad request.
// Output lines: "GRANT <granted> <amount> <type>", "STATUS <type> <allocated>/<capacity>",
// "RELEASED <released> <detail>", "RPC_ERROR <code name> <details>".
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const SCHEMAS = path.join(__dirname, '..', '..', '..');
const definition = protoLoader.loadSync('schemas/events.proto', {
  keepCase: true, enums: String, longs: Number, defaults: true, includeDirs: [SCHEMAS],
});
const pkg = grpc.loadPackageDefinition(definition).jimbot.events.v1;
const codeName = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

function call(stub, method, message, deadlineMs) {
  return new Promise((resolve) => {
    stub[method](message, {deadline: Date.now() + deadlineMs}, (err, reply) => resolve({err, reply}));
  });
}

async function main() {
  const [target, deadline] = process.argv.slice(2);
  const deadlineMs = Number(deadline);
  const stub = new pkg.ResourceCoordinator(target, grpc.credentials.createInsecure());
  const out = [];
  const ask = {
    component: 'node_client', type: 'MEMORY_MB', amount: 512, duration_ms: 60000,
    priority: 'PRIORITY_HIGH', request_id: 'node-1',
  };
  const granted = await call(stub, 'RequestResource', ask, deadlineMs);
  if (granted.err) {
    out.push(`RPC_ERROR ${codeName[granted.err.code]} ${granted.err.details}`);
  } else {
    const g = granted.reply;
    out.push(`GRANT ${g.granted} ${g.amount} ${g.type}`);
    const status = await call(stub, 'GetResourceStatus', {}, deadlineMs);
    for (const u of status.reply.resources) {
      if (u.type === 'MEMORY_MB') out.push(`STATUS ${u.type} ${u.allocated}/${u.capacity}`);
    }
    const released = await call(
      stub, 'ReleaseResource', {grant_id: g.grant_id, component: 'node_client'}, deadlineMs);
    out.push(released.err
      ? `RPC_ERROR ${codeName[released.err.code]} ${released.err.details}`
      : `RELEASED ${released.reply.released} ${released.reply.detail}`);
  }
  const bad = await call(stub, 'RequestResource', {...ask, amount: 0, request_id: 'node-2'}, deadlineMs);
  out.push(bad.err ? `RPC_ERROR ${codeName[bad.err.code]} ${bad.err.details}` : 'UNEXPECTED OK');
  stub.close();
  console.log(out.join('\n'));
}

main().catch((err) => { console.error(err); process.exit(1); });
