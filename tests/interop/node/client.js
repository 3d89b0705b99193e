// The Node interop client for the AgentBridge shim: @grpc/grpc-js with the contract proto loaded
// at run time, a deadline on every call, and the same server_action(...) text as the Java client.
// Usage: node client.js <host:port> <deadline-ms> <command>...
//   agent:<name> | request:<context> | push:<payload> | stream:<context>
// Output lines: "ACTION server_action(...)", "ACK <ok> <detail>", "STREAM ...", "END",
// "RPC_ERROR <code name>", and "ELAPSED_MS <n>" after each request.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO = path.join(__dirname, '..', '..', '..', 'schemas', 'agent_bridge.proto');
const definition = protoLoader.loadSync(PROTO, {keepCase: true, enums: String, defaults: true});
const AgentBridge = grpc.loadPackageDefinition(definition).agentbridge.AgentBridge;
const codeName = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

function escape(text) {
  return text.replace(/\r/g, ' ').replace(/\n/g, ' ').replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function serverAction(reply) {
  let meta = reply.meta.length > 0
    ? reply.meta.map((e) => `${e.key}=${e.value}`).join(';')
    : reply.metadata;
  if (reply.status === 'ACTION_STATUS_ERROR') {
    meta += `;status=error;detail=${reply.error_detail}`;
  } else if (reply.status === 'ACTION_STATUS_PARTIAL') {
    meta += ';status=partial';
  }
  return `server_action("${escape(reply.action)}", "${escape(meta)}")`;
}

function unary(stub, method, message, deadlineMs) {
  return new Promise((resolve) => {
    stub[method](message, {deadline: Date.now() + deadlineMs}, (err, reply) => resolve({err, reply}));
  });
}

function stream(stub, message, deadlineMs, out) {
  return new Promise((resolve) => {
    const call = stub.StreamActions(message, {deadline: Date.now() + deadlineMs});
    call.on('data', (reply) => out.push(`STREAM ${serverAction(reply)}`));
    call.on('error', (err) => { out.push(`RPC_ERROR ${codeName[err.code]}`); resolve(); });
    call.on('end', () => { out.push('END'); resolve(); });
  });
}

async function main() {
  const [target, deadline, ...commands] = process.argv.slice(2);
  const deadlineMs = Number(deadline);
  const stub = new AgentBridge(target, grpc.credentials.createInsecure());
  const out = [];
  let agent = 'python_link';
  for (const command of commands) {
    const colon = command.indexOf(':');
    const verb = command.slice(0, colon);
    const value = command.slice(colon + 1);
    if (verb === 'agent') {
      agent = value;
    } else if (verb === 'request') {
      const started = Date.now();
      const {err, reply} = await unary(stub, 'RequestAction', {agent, context: value}, deadlineMs);
      out.push(err ? `RPC_ERROR ${codeName[err.code]}` : `ACTION ${serverAction(reply)}`);
      out.push(`ELAPSED_MS ${Date.now() - started}`);
    } else if (verb === 'push') {
      const {err, reply} = await unary(stub, 'PushPercept', {agent, payload: value}, deadlineMs);
      out.push(err ? `RPC_ERROR ${codeName[err.code]}` : `ACK ${reply.ok} ${reply.detail}`);
    } else if (verb === 'stream') {
      await stream(stub, {agent, context: value}, deadlineMs, out);
    } else {
      throw new Error(`unknown command ${command}`);
    }
  }
  stub.close();
  process.stdout.write(out.join('\n') + '\n');
}

main().catch((err) => { process.stderr.write(`${err.stack || err}\n`); process.exit(1); });
