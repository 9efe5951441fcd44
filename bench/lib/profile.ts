/**
 * Reads a `.cpuprofile` (Chrome DevTools format, as `bun --cpu-prof` writes it) and sums self time per
 * function: the time samples spent in the function itself, not in what it called.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  location: string;
  selfMs: number;
  /** Share of the busy (non-idle) samples. */
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  busyMs: number;
  top: SelfTime[];
}

/** Pseudo-frames the profiler uses for time not spent in JavaScript. */
const IDLE_FRAMES = new Set(["(idle)"]);

function locationOf(frame: CallFrame, root: string): string {
  if (!frame.url) return "";
  const url = frame.url.replace(/^file:\/\//, "");
  const relative = url.startsWith(root) ? url.slice(root.length + 1) : url;
  return frame.lineNumber >= 0 ? `${relative}:${frame.lineNumber + 1}` : relative;
}

/**
 * Bun's sampler stops while the thread sleeps in the event loop, so a long delta means "idle", not "busy in
 * this frame": a sample stands for at most this many sampling intervals.
 */
const MAX_INTERVALS_PER_SAMPLE = 4;

export function summariseProfile(profile: CpuProfile, root: string, topN: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<string, { name: string; location: string; us: number }>();
  const sorted = [...profile.timeDeltas].sort((a, b) => a - b);
  const interval = sorted[Math.floor(sorted.length / 2)] ?? 1000;
  let totalUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, i) => {
    // timeDeltas[i] is the time since the previous sample; the next delta is the time this sample stood for.
    const delta = profile.timeDeltas[i + 1] ?? interval;
    const us = Math.min(delta, interval * MAX_INTERVALS_PER_SAMPLE);
    const node = byId.get(id);
    if (node === undefined) return;
    totalUs += us;
    const name = node.callFrame.functionName || "(anonymous)";
    if (IDLE_FRAMES.has(name)) {
      idleUs += us;
      return;
    }
    const location = locationOf(node.callFrame, root);
    const key = `${name}@${location}`;
    const entry = selfUs.get(key);
    if (entry) entry.us += us;
    else selfUs.set(key, { name, location, us });
  });
  const busyUs = totalUs - idleUs;
  const top = [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((e) => ({
      name: e.name,
      location: e.location,
      selfMs: e.us / 1000,
      share: busyUs > 0 ? e.us / busyUs : 0,
    }));
  return { totalMs: totalUs / 1000, busyMs: busyUs / 1000, top };
}

export async function readProfile(path: string): Promise<CpuProfile> {
  return (await Bun.file(path).json()) as CpuProfile;
}
