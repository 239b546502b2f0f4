/**
 * Runs async read-modify-write steps one at a time, in call order: two updates of the same
 * stored document can never interleave and lose one of them.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.tail.then(step, step);
    // The chain goes on whether this step failed or not; the caller sees its own outcome.
    this.tail = result.catch(() => undefined);
    return result;
  }
}
