/**
 * A bare WebSocket client over node:net that can stop reading (`pause()`), so the server sees a real slow
 * consumer: its TCP window fills and data queues on the server side. Server frames are parsed by hand.
 */
import { existsSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";

export interface RawFrame {
  opcode: number;
  payload: Buffer;
}

export interface RawWebSocket {
  /** Text messages received so far (in order). */
  messages: string[];
  /** The close frame's code and reason once it arrived. */
  close: { code: number; reason: string } | null;
  pause(): void;
  resume(): void;
  end(): void;
  socket: Socket;
}

export function rawConnect(port: number, path: string): Promise<RawWebSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    const client: RawWebSocket = {
      messages: [],
      close: null,
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      end: () => socket.destroy(),
      socket,
    };
    const parseFrames = () => {
      while (buffer.length >= 2) {
        const opcode = (buffer[0] as number) & 0x0f;
        let length = (buffer[1] as number) & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffer.length < 4) return;
          length = buffer.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffer.length < 10) return;
          length = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + length) return;
        const payload = buffer.subarray(offset, offset + length);
        buffer = buffer.subarray(offset + length);
        if (opcode === 1) client.messages.push(payload.toString("utf8"));
        if (opcode === 8) {
          client.close = {
            code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
            reason: payload.subarray(2).toString("utf8"),
          };
        }
      }
    };
    socket.on("connect", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end === -1) return;
        const head = buffer.subarray(0, end).toString("latin1");
        if (!head.startsWith("HTTP/1.1 101")) {
          reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`));
          socket.destroy();
          return;
        }
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        resolve(client);
      }
      parseFrames();
    });
    socket.on("error", reject);
  });
}

const PROC_NET_TCP = "/proc/net/tcp";
export const procNetTcpAvailable = existsSync(PROC_NET_TCP);

/**
 * The server side's TCP state of `client`'s connection (Linux, IPv4), as /proc/net/tcp writes it: "01"
 * established, "04" FIN_WAIT1 (the server closed while the client has not read everything), null when gone.
 * What a client that reads nothing cannot see for itself: its own side stays established.
 */
export function serverSideTcpState(client: RawWebSocket, serverPort: number): string | null {
  const hex = (port: number) => `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const local = hex(serverPort);
  const remote = hex(client.socket.localPort as number);
  for (const row of readFileSync(PROC_NET_TCP, "utf8").split("\n").slice(1)) {
    const [, localAddress, remoteAddress, state] = row.trim().split(/\s+/);
    if (localAddress?.endsWith(local) && remoteAddress?.endsWith(remote)) return state ?? null;
  }
  return null;
}
