/** The seed's log-stream clients and a runner for client programs, for the tests that run them. */

/** The Node.js client published with the original log viewer (seed document 000), verbatim. */
export const NODE_SEED = `const WebSocket = require('ws');
const ws = new WebSocket('ws://localhost:5000/logs/ws?pr_number=123');
ws.on('open', function open() {
console.log('Connected to log stream');
});
ws.on('message', function message(data) {
const logEntry = JSON.parse(data);
console.log(\`[\${logEntry.timestamp}] [\${logEntry.level}] \${logEntry.message}\`);
});
ws.on('error', function error(err) {
console.error('WebSocket error:', err);
});
ws.on('close', function close(code, reason) {
console.log(\`Connection closed: \${code} - \${reason}\`);
});
`;

/** Runs a client program, collecting its stdout; resolves the process handle and a live output reader. */
export function runClient(cmd: string[], cwd: string, env: Record<string, string> = {}) {
  const child = Bun.spawn(cmd, { cwd, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  let output = "";
  const pump = (async () => {
    for await (const chunk of child.stdout) output += new TextDecoder().decode(chunk);
  })();
  return {
    child,
    output: () => output,
    done: async () => {
      await pump;
      return await child.exited;
    },
  };
}
