/**
 * Subscribers of the change feed: one poller per followed table and store, fanning committed changes out to each
 * subscriber in id order, from where that subscriber is. The log is in the database, so changes made by another
 * process on the same database reach these subscribers too.
 */
import { feedStatePath, followPath, readChangesPath, RETAINED_CHANGES, type FeedEvent, type FeedState } from './feed'
import type { Store } from './store/store'

/** How often a followed table's head is read: the most a change waits before it is sent. */
const POLL_MS = 100
/** A table stays followed this long after its last subscriber's last renewal, so a reconnecting client loses nothing. */
export const FOLLOW_TTL_MS = 10 * 60_000
const RENEW_MS = 60_000
const READ_BATCH = 500

/** Where a subscriber delivers; `send` answers false when the subscriber cannot take more (it is then dropped). */
export interface FeedSink {
  send(event: FeedEvent): boolean
  /** Changes between `from` and `to` (ids) are not in the log: the subscriber resumes after `to`. */
  gap(from: number, to: number, reason: string): void
  /** The subscription ends (too slow, or the server stops): the last thing the sink is told. */
  drop(reason: string): void
}

interface Subscriber {
  sink: FeedSink
  /** The last id sent to it. */
  after: number
}

/** One followed table of one store: its subscribers, and the poll that feeds them. */
class TableFeed {
  readonly subscribers = new Set<Subscriber>()
  private timer: ReturnType<typeof setInterval> | undefined
  private renewed = 0
  private polling = false

  constructor(
    private readonly store: Store,
    readonly table: string,
    private readonly onEmpty: () => void,
  ) {}

  /**
   * Follows the table (in a write, so the ids a later write takes are logged) and adds the subscriber: from `since`
   * when given and still continuous in the log, else from the head, with a gap when `since` cannot be honoured.
   */
  async add(sink: FeedSink, since: number | undefined): Promise<Subscriber> {
    const now = Date.now()
    const state = await this.store.writePath((s) => followPath(s, this.table, now + FOLLOW_TTL_MS, now))
    this.renewed = now
    const subscriber: Subscriber = { sink, after: startAfter(state, since, sink) }
    this.subscribers.add(subscriber)
    this.timer ??= setInterval(() => void this.poll(), POLL_MS)
    return subscriber
  }

  remove(subscriber: Subscriber): void {
    this.subscribers.delete(subscriber)
    if (this.subscribers.size === 0) this.stop()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.onEmpty()
  }

  /** Reads what is new since the subscriber furthest behind and gives each subscriber what it has not had. */
  private async poll(): Promise<void> {
    if (this.polling || this.subscribers.size === 0) return
    this.polling = true
    try {
      const now = Date.now()
      if (now - this.renewed > RENEW_MS) {
        this.renewed = now
        await this.store.writePath((s) => followPath(s, this.table, now + FOLLOW_TTL_MS, now))
      }
      const state = await this.store.readPath((s) => feedStatePath(s, this.table))
      if (!state) return
      for (;;) {
        const behind = [...this.subscribers].filter((subscriber) => subscriber.after < state.last)
        if (behind.length === 0) return
        const from = Math.min(...behind.map((subscriber) => subscriber.after))
        const events = await this.store.readPath((s) => readChangesPath(s, this.table, from, READ_BATCH))
        if (events.length === 0) return
        for (const subscriber of behind) this.deliver(subscriber, events)
        if (events.length < READ_BATCH) return
      }
    } catch (error) {
      for (const subscriber of this.subscribers) subscriber.sink.drop(`the feed could not be read: ${(error as Error).message}`)
      this.subscribers.clear()
      this.stop()
    } finally {
      this.polling = false
    }
  }

  private deliver(subscriber: Subscriber, events: FeedEvent[]): void {
    for (const event of events) {
      if (event.id <= subscriber.after) continue
      // Ids of one table are taken in commit order and never skipped: a hole means the log was pruned under a
      // subscriber that fell far behind.
      if (event.id !== subscriber.after + 1) subscriber.sink.gap(subscriber.after, event.id - 1, 'the changes in between were pruned from the log')
      subscriber.after = event.id
      if (!subscriber.sink.send(event)) {
        subscriber.sink.drop('the subscriber did not keep up: too many changes were waiting to be sent to it')
        this.remove(subscriber)
        return
      }
    }
  }
}

/** Where a new subscriber starts: after `since` when the log still holds everything from there, else at the head. */
function startAfter(state: FeedState, since: number | undefined, sink: FeedSink): number {
  if (since === undefined) return state.last
  if (since > state.last) {
    sink.gap(since, state.last, 'the id is ahead of the log (it comes from another database, or one that was reset)')
    return state.last
  }
  // Not logged: changes before the current run of following began, or pruned since.
  const firstKept = Math.max(state.first, state.oldest ?? state.last + 1, state.last - RETAINED_CHANGES + 1)
  if (since + 1 < firstKept) {
    sink.gap(since, firstKept - 1, 'the log does not reach back that far (the table was not followed then, or the changes were pruned)')
    return firstKept - 1
  }
  return since
}

/** Every feed of the server, by store and table. */
export class FeedHub {
  private readonly feeds = new Map<Store, Map<string, TableFeed>>()

  async subscribe(store: Store, table: string, sink: FeedSink, since?: number): Promise<() => void> {
    let tables = this.feeds.get(store)
    if (!tables) this.feeds.set(store, (tables = new Map()))
    let feed = tables.get(table)
    if (!feed) {
      const forTable = tables
      feed = new TableFeed(store, table, () => forTable.delete(table))
      tables.set(table, feed)
    }
    const subscriber = await feed.add(sink, since)
    const joined = feed
    return () => joined.remove(subscriber)
  }

  /** Ends every subscription, telling each why (the server is stopping). */
  close(reason: string): void {
    for (const tables of this.feeds.values()) {
      for (const feed of tables.values()) {
        for (const subscriber of feed.subscribers) subscriber.sink.drop(reason)
        feed.subscribers.clear()
        feed.stop()
      }
    }
  }
}
