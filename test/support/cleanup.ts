/**
 * What a test file (or one test) started, released even when a start, a test or a hook fails or times out.
 * A part is registered the moment it is started, so a `before` that fails half-way still closes the half
 * that ran: one listening server left behind keeps the file's process alive and the runner waits forever
 * (node:test ends a file's process only when its event loop is empty).
 */
import { after } from 'node:test';

export interface Closable {
  close(): unknown;
}

export class Cleanup {
  #parts: Closable[] = [];

  /** Registers a started part and returns it: `idp = parts.add(await startTestIdp(…))`. */
  add<T extends Closable>(part: T): T {
    this.#parts.push(part);
    return part;
  }

  /** Closes every part, the last started first; one failing close does not keep the others open. */
  async close(): Promise<void> {
    const errors: unknown[] = [];
    for (const part of this.#parts.splice(0).reverse()) {
      try {
        await part.close();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'closing test resources failed');
  }
}

/** A Cleanup closed by an `after` hook of the enclosing suite (or file), registered before anything starts. */
export function closeAfter(): Cleanup {
  const parts = new Cleanup();
  after(() => parts.close());
  return parts;
}

/** Runs `start` with a Cleanup of its own: on failure what it had started is closed before rethrowing. */
export async function startOrRelease<T>(start: (parts: Cleanup) => Promise<T>): Promise<T> {
  const parts = new Cleanup();
  try {
    return await start(parts);
  } catch (err) {
    await parts.close().catch(() => {});
    throw err;
  }
}
