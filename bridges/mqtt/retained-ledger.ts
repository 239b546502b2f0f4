export interface RetainedLimits {
  count: number;
  bytes: number;
}

/**
 * Retained messages of the embedded broker, booked to the user who published them: the broker
 * keeps them in memory until replaced, so each user gets a share (count and payload bytes).
 */
export class RetainedLedger {
  private readonly byTopic = new Map<string, { owner: string; bytes: number }>();
  private readonly byOwner = new Map<string, { count: number; bytes: number }>();

  constructor(private readonly limits: () => RetainedLimits) {}

  /**
   * Books a retained publication of `bytes` on `topic` to `owner` (an empty payload clears the
   * topic); returns the limit it would pass instead, and then books nothing.
   */
  admit(owner: string, topic: string, bytes: number): string | undefined {
    const previous = this.byTopic.get(topic);
    if (bytes === 0) {
      if (previous) this.unbook(topic, previous);
      return undefined;
    }
    const usage = this.byOwner.get(owner) ?? { count: 0, bytes: 0 };
    const replacesOwn = previous?.owner === owner;
    const count = usage.count + (replacesOwn ? 0 : 1);
    const total = usage.bytes + bytes - (replacesOwn ? previous.bytes : 0);
    const limits = this.limits();
    if (count > limits.count) return `MQTT.MaxRetainedPerUser (${limits.count})`;
    if (total > limits.bytes) return `MQTT.MaxRetainedBytesPerUser (${limits.bytes})`;
    if (previous) this.unbook(topic, previous);
    this.byTopic.set(topic, { owner, bytes });
    const after = this.byOwner.get(owner) ?? { count: 0, bytes: 0 };
    this.byOwner.set(owner, { count: after.count + 1, bytes: after.bytes + bytes });
    return undefined;
  }

  private unbook(topic: string, entry: { owner: string; bytes: number }): void {
    this.byTopic.delete(topic);
    const usage = this.byOwner.get(entry.owner);
    if (!usage) return;
    if (usage.count <= 1) this.byOwner.delete(entry.owner);
    else this.byOwner.set(entry.owner, { count: usage.count - 1, bytes: usage.bytes - entry.bytes });
  }
}
