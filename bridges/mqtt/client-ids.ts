/**
 * Who holds each client id of the embedded broker. A client id names a session (its
 * subscriptions and queued messages), and a new connection under an id takes the old one's place:
 * so an id belongs to the user who first used it, for as long as a connection or a kept session
 * uses it. Another user is refused rather than given a fresh session, since even a fresh session
 * would first disconnect the owner's live connection.
 */
export class ClientIds {
  private readonly owners = new Map<string, { owner: string; live: number; kept: boolean; capped: boolean }>();
  private readonly byOwner = new Map<string, Set<string>>();

  constructor(private readonly maxPerOwner: () => number) {}

  /**
   * Takes `clientId` for one more connection of `owner`; returns why not when refused. An
   * `uncapped` claim (anonymous devices without a kept session: many devices, one identity) is
   * owned all the same but does not count against the owner's cap.
   */
  claim(clientId: string, owner: string, uncapped = false): string | undefined {
    const entry = this.owners.get(clientId);
    if (entry && entry.owner !== owner) return `client id '${clientId.slice(0, 64)}' belongs to another user`;
    const capped = !uncapped && !entry?.capped;
    if (capped) {
      const max = this.maxPerOwner();
      if (this.cappedCount(owner) >= max) return `MQTT.MaxClientIdsPerUser (${max}) reached for ${owner}`;
    }
    if (entry) {
      entry.live++;
      entry.capped ||= capped;
      return undefined;
    }
    const held = this.byOwner.get(owner) ?? new Set<string>();
    held.add(clientId);
    this.byOwner.set(owner, held);
    this.owners.set(clientId, { owner, live: 1, kept: false, capped });
    return undefined;
  }

  /** A connection under `clientId` ended; a clean session ends with it, a kept one stays owned. */
  disconnected(clientId: string, clean: boolean): void {
    const entry = this.owners.get(clientId);
    if (!entry) return;
    entry.live = Math.max(0, entry.live - 1);
    // The last connection says what remains: a clean one leaves no session behind.
    entry.kept = !clean;
    if (entry.live === 0 && !entry.kept) this.release(clientId);
  }

  /** The client ids `owner` holds. */
  heldBy(owner: string): string[] {
    return [...(this.byOwner.get(owner) ?? [])];
  }

  private cappedCount(owner: string): number {
    let count = 0;
    for (const id of this.byOwner.get(owner) ?? []) if (this.owners.get(id)?.capped) count++;
    return count;
  }

  release(clientId: string): void {
    const entry = this.owners.get(clientId);
    if (!entry) return;
    this.owners.delete(clientId);
    const held = this.byOwner.get(entry.owner);
    held?.delete(clientId);
    if (held?.size === 0) this.byOwner.delete(entry.owner);
  }
}
