/** A local app receiving forwarded webhooks (Bun.serve on 127.0.0.1): records each request and answers. */
export interface Received {
  method: string;
  url: URL;
  headers: Headers;
  body: Uint8Array;
}

export interface Target {
  server: ReturnType<typeof Bun.serve>;
  received: Received[];
  /** The bodies received so far, as text. */
  texts(): string[];
  url(path?: string): string;
  [Symbol.dispose](): void;
}

/** `answer` decides the response (a pending promise holds the request open); `port` 0 picks a free one. */
export function startTarget(
  answer: (request: Received) => Response | Promise<Response> = () => new Response("ok"),
  port = 0,
): Target {
  const received: Received[] = [];
  const server = Bun.serve({
    port,
    hostname: "127.0.0.1",
    maxRequestBodySize: 64 * 1024 * 1024,
    async fetch(request) {
      const entry = {
        method: request.method,
        url: new URL(request.url),
        headers: request.headers,
        body: new Uint8Array(await request.arrayBuffer()),
      };
      received.push(entry);
      return answer(entry);
    },
  });
  return {
    server,
    received,
    texts: () => received.map((r) => new TextDecoder().decode(r.body)),
    url: (path = "/") => `http://127.0.0.1:${server.port}${path}`,
    [Symbol.dispose]: () => void server.stop(true),
  };
}
