/**
 * Telling people (`notify:` in rekey.yaml): a notifier sends each message to every channel whose `on:` lists its kind,
 * all at once, and `settle()` waits for them. A delivery that fails is retried (./deliver.ts), then reported through
 * `report`; it never throws, never changes a command's exit code and never undoes a rotation: a rotation that is done
 * is done whether or not anyone heard of it.
 */
import type { NotifyChannelConfig } from '../config/types.js';
import { type Delivery, type DeliverOptions, deliver } from './deliver.js';
import type { NotifyMessage } from './message.js';

export type { Delivery } from './deliver.js';
export * from './message.js';

export interface Notifier {
  /** Start delivering a message to the channels that want its kind. */
  send(message: NotifyMessage): void;
  /** Every delivery started so far, once each has succeeded or given up. */
  settle(): Promise<Delivery[]>;
}

export function createNotifier(channels: readonly NotifyChannelConfig[], options: DeliverOptions & { report?: (delivery: Delivery) => void }): Notifier {
  const pending: Promise<Delivery>[] = [];
  return {
    send(message) {
      for (const channel of channels) {
        if (!channel.on.includes(message.kind)) continue;
        pending.push(
          deliver(channel, message, options).then((delivery) => {
            options.report?.(delivery);
            return delivery;
          }),
        );
      }
    },
    settle: () => Promise.all(pending),
  };
}
