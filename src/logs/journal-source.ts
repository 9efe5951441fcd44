/**
 * The journal as a positioned source (src/stream/subscriber.ts): a position is an entry's seq, `published()`
 * the newest seq (entries are journaled before they are published), and a reader keeps its place in the
 * segment files between steps, so a catch-up reads each byte once. A page stops at the bytes the subscriber
 * asks for; the rest of the chunk read is held for the next page.
 */
import type { PositionedSource, StreamPage, StreamReader } from "../stream/subscriber.ts";
import type { Journal } from "./journal.ts";
import type { JournalLine } from "./journal-lines.ts";
import { RetentionGap, readJournal } from "./journal-read.ts";

/** The journal was replaced (the shared Redis lost its data): positions in the old one mean nothing now. */
export class HistoryReset extends Error {}

export interface JournalSource extends PositionedSource {
  /** Which lines this subscriber gets (its filters, and for a `since` start its time). */
  filter: (line: string) => boolean;
}

export function createJournalSource(journal: Journal, filter: (line: string) => boolean): JournalSource {
  const source: JournalSource = {
    filter,
    published: () => journal.endSeq() - 1,
    cursorOf: (position) => journal.cursorOf(position),
    positionOf(cursor) {
      const parsed = journal.parseCursor(cursor);
      return parsed.kind === "valid" ? parsed.seq : null;
    },
    origin: () => journal.startSeq() - 1,
    reader(): StreamReader {
      const epoch = journal.epoch;
      let iterator: ReturnType<typeof readJournal> | null = null;
      /** The seq the open iterator yields next. */
      let iteratorAt = -1;
      /** Lines of the last step read but not returned yet (a page stops at its bytes): they come next. */
      let held: JournalLine[] = [];
      const pruned = () => journal.startSeq() - 1;
      /**
       * The next step's lines after `after`, from what is held or from the iterator; where there are none now
       * (at the newest entry, or retention passed `after`), the page that says so.
       */
      const nextLines = async (after: number): Promise<JournalLine[] | StreamPage> => {
        if (held[0]?.seq === after + 1) return held;
        held = [];
        if (iterator === null || iteratorAt !== after + 1) {
          await iterator?.return(undefined);
          if (after + 1 < journal.startSeq()) {
            iterator = null;
            return { items: [], readThrough: pruned(), prunedThrough: pruned() };
          }
          iterator = readJournal(journal, after + 1);
          iteratorAt = after + 1;
        }
        let step: IteratorResult<JournalLine[], void>;
        try {
          step = await iterator.next();
        } catch (error) {
          iterator = null;
          if (journal.epoch !== epoch) throw new HistoryReset();
          if (error instanceof RetentionGap)
            return { items: [], readThrough: after, prunedThrough: pruned() };
          throw error;
        }
        if (step.done === true) {
          iterator = null; // at the newest entry: the next step opens a reader from there
          return { items: [], readThrough: after, prunedThrough: pruned() };
        }
        const last = step.value.at(-1);
        if (last !== undefined) iteratorAt = (last.line === null ? last.until - 1 : last.seq) + 1;
        return step.value;
      };
      return {
        async next(after, _through, maxBytes): Promise<StreamPage> {
          if (journal.epoch !== epoch) throw new HistoryReset();
          const lines = await nextLines(after);
          if (journal.epoch !== epoch) throw new HistoryReset();
          if (!Array.isArray(lines)) return lines;
          const items: StreamPage["items"] = [];
          let readThrough = after;
          let bytes = 0;
          let taken = 0;
          for (const line of lines) {
            if (taken > 0 && bytes >= maxBytes) break;
            taken++;
            if (line.line === null) {
              items.push({ from: line.seq, through: line.until - 1, reason: line.reason });
              readThrough = line.until - 1;
              continue;
            }
            if (source.filter(line.line)) {
              items.push({ position: line.seq, payload: line.line });
              bytes += line.line.length;
            }
            readThrough = line.seq;
          }
          held = lines.slice(taken);
          return { items, readThrough, prunedThrough: pruned() };
        },
        close() {
          void iterator?.return(undefined);
          iterator = null;
          held = [];
        },
      };
    },
  };
  return source;
}
